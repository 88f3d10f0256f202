/* cmd_gen.c: `metaidx gen`, a deterministic synthetic MetaEmbed-shaped
 * collection (docs.npy, queries.npy, qrels) via mx_synth_write. */
#include <stdio.h>

#include "cli.h"
#include "fsutil.h"
#include "synth.h"

int cmd_gen(int argc, char **argv) {
  mx_synth_params p;
  mx_synth_params_init(&p);
  const char *out = NULL, *dtype_name = "f32";
  double noise = p.query_noise;
  int overwrite = 0;
  cli_opt opts[] = {
      {"out", CLI_STRING, &out, "DIR", "directory to write docs.npy, queries.npy, qrels", 1, 0},
      {"n", CLI_U64, &p.n_docs, "N", "documents (default 10000)", 0, 0},
      {"queries", CLI_U64, &p.n_queries, "Q", "queries (default 100)", 0, 0},
      {"rc", CLI_U32, &p.doc_vectors, "R", "vectors per document (default 64)", 0, 0},
      {"rq", CLI_U32, &p.query_vectors, "R", "vectors per query (default 16)", 0, 0},
      {"d", CLI_U32, &p.dim, "D", "dimension (default 128)", 0, 0},
      {"seed", CLI_U64, &p.seed, "S", "random seed (default 42)", 0, 0},
      {"topics", CLI_U32, &p.n_topics, "T", "topic clusters (default about sqrt(N))", 0, 0},
      {"noise", CLI_DOUBLE, &noise, "X", "query noise (default 0.5)", 0, 0},
      {"overwrite", CLI_FLAG, &overwrite, NULL, "replace files already in DIR", 0, 0},
      {"dtype", CLI_STRING, &dtype_name, "f32|f16", "element type of the .npy files (default f32)",
       0, 0},
      {NULL, 0, NULL, NULL, NULL, 0, 0},
  };
  cli_command cmd = {"gen", "", "Writes DIR/docs.npy [N, RC, D], DIR/queries.npy [Q, RQ, D] and "
                                "DIR/qrels (TREC: qid 0 docid 1).",
                     opts, 0, 0};
  char *pos[1];
  uint32_t n_pos;
  int rc = cli_parse(&cmd, argc, argv, pos, 1, &n_pos);
  if (rc >= 0)
    return rc;
  mx_error err = {0};
  mx_dtype dtype;
  if (mx_dtype_parse(dtype_name, &dtype, &err) != MX_OK ||
      (dtype != MX_DTYPE_F32 && dtype != MX_DTYPE_F16))
    return cli_usage_error("gen", "invalid value '%s' for --dtype: expected f32 or f16",
                           dtype_name);
  if (p.n_docs == 0 || p.doc_vectors == 0 || p.query_vectors == 0 || p.dim == 0)
    return cli_usage_error("gen", "--n, --rc, --rq and --d must be at least 1");
  if (noise < 0)
    return cli_usage_error("gen", "--noise must be >= 0");
  p.query_noise = (float)noise;
  static const char *const written[] = {"docs.npy", "queries.npy", "qrels"};
  for (size_t i = 0; i < sizeof written / sizeof written[0] && !overwrite; i++) {
    char path[4096];
    if (mx_path_join(path, sizeof path, out, written[i], &err) != MX_OK)
      return cli_fail_err("gen", &err);
    if (mx_path_exists(path))
      return cli_fail("gen", "%s already exists (pass --overwrite to replace it)", path);
  }
  if (mx_synth_write(&p, out, dtype, &err) != MX_OK)
    return cli_fail_err("gen", &err);
  fprintf(stderr,
          "metaidx gen: %s/docs.npy [%llu, %u, %u], %s/queries.npy [%llu, %u, %u], %s/qrels (%s)\n",
          out, (unsigned long long)p.n_docs, p.doc_vectors, p.dim, out,
          (unsigned long long)p.n_queries, p.query_vectors, p.dim, out, dtype_name);
  return CLI_EXIT_OK;
}
