/* cmd_info.c: `metaidx info` (an index's manifest, counts and sizes as
 * JSON) and `metaidx verify` (a full checksum scan via mx_index_verify). */
#include <jansson.h>
#include <stdlib.h>

#include "cli.h"

static const char *id_kind_name(mx_id_kind k) {
  switch (k) {
  case MX_IDS_ROW:
    return "row";
  case MX_IDS_U64:
    return "u64";
  case MX_IDS_STRING:
    return "string";
  }
  return "unknown";
}

int cmd_info(int argc, char **argv) {
  cli_opt opts[] = {{NULL, 0, NULL, NULL, NULL, 0, 0}};
  cli_command cmd = {"info", "DIR",
                     "Prints the index's manifest fields, counts, sizes on disk and the SIMD "
                     "path of this machine as JSON.",
                     opts, 1, 1};
  char *pos[1];
  uint32_t n_pos;
  int rc = cli_parse(&cmd, argc, argv, pos, 1, &n_pos);
  if (rc >= 0)
    return rc;
  mx_error err = {0};
  mx_index *index = NULL;
  mx_info in;
  if (mx_index_open(pos[0], NULL, &index, &err) != MX_OK)
    return cli_fail_err("info", &err);
  if (mx_index_info(index, &in, &err) != MX_OK) {
    mx_index_close(index);
    return cli_fail_err("info", &err);
  }
  mx_index_close(index);

  json_t *o = json_object();
  char fmt[32];
  snprintf(fmt, sizeof fmt, "%u.%u", in.format_major, in.format_minor);
  json_object_set_new(o, "dir", json_string(pos[0]));
  json_object_set_new(o, "format", json_string(fmt));
  json_object_set_new(o, "dim", json_integer(in.dim));
  json_object_set_new(o, "vectors_per_doc", json_integer(in.vectors_per_doc));
  const char *dt = mx_dtype_name(in.dtype);
  json_object_set_new(o, "dtype", dt ? json_string(dt) : json_integer(in.dtype));
  json_object_set_new(o, "n_docs", json_integer((json_int_t)in.n_docs));
  json_t *budgets = json_array();
  for (uint32_t i = 0; i < in.n_budgets && i < MX_MAX_BUDGETS; i++) {
    char b[32];
    snprintf(b, sizeof b, "%ux%u", in.budgets[i].r_q, in.budgets[i].r_c);
    json_array_append_new(budgets, json_string(b));
  }
  json_object_set_new(o, "budgets", budgets);
  json_object_set_new(o, "id_kind", json_string(id_kind_name(in.id_kind)));
  json_object_set_new(o, "coarse_factory", json_string(in.coarse_factory));
  json_object_set_new(o, "coarse_nprobe", json_integer(in.coarse_nprobe));
  json_object_set_new(o, "coarse_ef_search", json_integer(in.coarse_ef_search));
  const char *fs = mx_first_stage_name(in.first_stage);
  json_object_set_new(o, "first_stage", fs ? json_string(fs) : json_integer(in.first_stage));
  json_object_set_new(o, "first_stage_vectors", json_integer(in.first_stage_vectors));
  json_object_set_new(o, "first_stage_query_vectors", json_integer(in.first_stage_query_vectors));
  json_object_set_new(o, "first_stage_trial", json_string(in.first_stage_trial));
  json_object_set_new(o, "coarse_entries", json_integer((json_int_t)in.coarse_entries));
  json_object_set_new(o, "coarse_bytes", json_integer((json_int_t)in.coarse_bytes));
  json_object_set_new(o, "coarse_bytes_per_doc",
                      json_real(in.n_docs ? (double)in.coarse_bytes / (double)in.n_docs : 0));
  json_object_set_new(o, "store_bytes", json_integer((json_int_t)in.store_bytes));
  json_object_set_new(o, "bytes_per_doc",
                      json_real(in.n_docs ? (double)in.store_bytes / (double)in.n_docs : 0));
  json_object_set_new(o, "created", json_string(in.created));
  json_object_set_new(o, "built_by", json_string(in.library_version));
  json_object_set_new(o, "library_version", json_string(mx_version()));
  json_object_set_new(o, "simd", json_string(mx_simd_path()));
  rc = cli_print_json("info", stdout, o,
                      JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
  json_decref(o);
  return rc ? rc : cli_close_out("info", NULL, stdout);
}

static void print_problem(void *ctx, const char *message) {
  (void)ctx;
  printf("%s\n", message);
}

int cmd_verify(int argc, char **argv) {
  cli_opt opts[] = {{NULL, 0, NULL, NULL, NULL, 0, 0}};
  cli_command cmd = {"verify", "DIR",
                     "Checks the manifest, coarse.faiss, every segment of every record and the "
                     "id maps;\nprints each problem on standard output and exits 1 if there is "
                     "any.",
                     opts, 1, 1};
  char *pos[1];
  uint32_t n_pos;
  int rc = cli_parse(&cmd, argc, argv, pos, 1, &n_pos);
  if (rc >= 0)
    return rc;
  mx_error err = {0};
  mx_verify_report rep = {0};
  if (mx_index_verify(pos[0], print_problem, NULL, &rep, &err) != MX_OK)
    return cli_fail_err("verify", &err);
  fflush(stdout);
  fprintf(stderr, "metaidx verify: %s: records=%llu bad_records=%llu bad_keys=%llu problems=%llu\n",
          pos[0], (unsigned long long)rep.records, (unsigned long long)rep.bad_records,
          (unsigned long long)rep.bad_keys, (unsigned long long)rep.problems);
  if (rep.problems)
    return cli_fail("verify", "%s: %llu problem%s found", pos[0],
                    (unsigned long long)rep.problems, rep.problems == 1 ? "" : "s");
  return CLI_EXIT_OK;
}
