/* cmd_search.c: `metaidx search` (coarse stage + cascade + exact MaxSim
 * rescoring, mx_search_batch) and `metaidx exact` (brute force,
 * mx_exact_search), which share query loading and the run writers (TREC
 * and JSON lines). Query ids are query row numbers from 0. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "clock.h"
#include "cli.h"
#include "dtype.h"
#include "metrics.h"
#include "npy.h"
#include "queries.h"

void queries_close(queries *q) {
  free(q->owned);
  mx_npy_close(&q->f);
}

/* Loads [Q, R, d] (or [Q, d]: one vector per query) float32/float16. */
int queries_load(const char *cmd, const char *path, uint32_t dim, queries *q) {
  mx_error err = {0};
  if (mx_npy_open(path, &q->f, &err) != MX_OK)
    return cli_fail_err(cmd, &err);
  const mx_npy_header *h = &q->f.h;
  if (h->type != MX_NPY_F32 && h->type != MX_NPY_F16)
    return cli_fail(cmd, "%s: dtype '%s' is not supported: expected float32 ('<f4') or float16 "
                         "('<f2')",
                    path, mx_npy_type_descr(h->type));
  if (h->ndim != 3 && h->ndim != 2)
    return cli_fail(cmd, "%s: %u-dimensional array: expected shape [Q, R, d] or [Q, d]", path,
                    h->ndim);
  uint64_t n = h->shape[0], r = h->ndim == 3 ? h->shape[1] : 1, d = h->shape[h->ndim - 1];
  if (n == 0 || r == 0)
    return cli_fail(cmd, "%s: no queries", path);
  if (n > UINT32_MAX || r > UINT32_MAX)
    return cli_fail(cmd, "%s: too many queries or vectors", path);
  if (d != dim)
    return cli_fail(cmd, "%s: queries have d = %llu but the index has d = %u", path,
                    (unsigned long long)d, dim);
  q->n = (uint32_t)n;
  q->r = (uint32_t)r;
  q->dim = dim;
  size_t count = (size_t)(n * r * d);
  if (h->type == MX_NPY_F32 && ((uintptr_t)q->f.data % sizeof(float)) == 0) {
    q->data = q->f.data;
    return 0;
  }
  q->owned = malloc(count * sizeof(float));
  if (!q->owned)
    return cli_fail(cmd, "%s: out of memory", path);
  mx_dtype type = h->type == MX_NPY_F16 ? MX_DTYPE_F16 : MX_DTYPE_F32;
  for (size_t i = 0; i < count; i++)
    q->owned[i] = mx_load_element(q->f.data, type, i);
  q->data = q->owned;
  return 0;
}

typedef enum run_format { FORMAT_TREC, FORMAT_JSONL } run_format;

static int parse_format(const char *cmd, const char *name, run_format *out) {
  if (strcmp(name, "trec") == 0)
    *out = FORMAT_TREC;
  else if (strcmp(name, "jsonl") == 0)
    *out = FORMAT_JSONL;
  else
    return cli_usage_error(cmd, "invalid value '%s' for --format: expected trec or jsonl", name);
  return 0;
}

/* Writes every query's hits as TREC lines "qid Q0 docid rank score tag" or
 * JSON lines {"qid":..,"hits":[{"id":..,"score":..},..]}. */
static int write_run(const char *cmd, mx_index *index, const mx_info *info, const char *path,
                     run_format format, const char *tag, uint32_t n_queries, uint32_t k,
                     const mx_hit *hits, const uint32_t *n_hits) {
  FILE *out = cli_open_out(cmd, path);
  if (!out)
    return CLI_EXIT_FAIL;
  mx_error err = {0};
  char key[MX_MAX_KEY_BYTES + 1];
  int rc = 0;
  for (uint32_t q = 0; q < n_queries && !rc; q++) {
    const mx_hit *h = hits + (size_t)q * k;
    json_t *line = NULL, *arr = NULL;
    if (format == FORMAT_JSONL) {
      line = json_object();
      arr = json_array();
      json_object_set_new(line, "qid", json_integer(q));
      json_object_set_new(line, "hits", arr);
    }
    for (uint32_t i = 0; i < n_hits[q] && !rc; i++) {
      size_t len = 0;
      if (mx_index_doc_key(index, h[i].doc, key, sizeof key, &len, &err) != MX_OK) {
        rc = cli_fail_err(cmd, &err);
        break;
      }
      if (format == FORMAT_TREC) {
        if (strpbrk(key, " \t") || len == 0) {
          rc = cli_fail(cmd, "document %llu: id '%s' contains white space and cannot be written "
                             "as TREC; use --format jsonl",
                        (unsigned long long)h[i].doc, key);
          break;
        }
        fprintf(out, "%u Q0 %s %u %.6f %s\n", q, key, i + 1, (double)h[i].score, tag);
        continue;
      }
      json_t *id;
      if (info->id_kind == MX_IDS_STRING || h[i].id > (uint64_t)INT64_MAX)
        id = json_stringn(key, len);
      else
        id = json_integer((json_int_t)h[i].id);
      if (!id) {
        rc = cli_fail(cmd, "document %llu: id is not valid UTF-8; use --format trec",
                      (unsigned long long)h[i].doc);
        break;
      }
      json_t *hit = json_object();
      json_object_set_new(hit, "id", id);
      json_object_set_new(hit, "score", json_real(h[i].score));
      json_array_append_new(arr, hit);
    }
    if (line) {
      if (!rc)
        rc = cli_print_json(cmd, out, line, JSON_COMPACT | JSON_REAL_PRECISION(7));
      json_decref(line);
    }
  }
  int crc = cli_close_out(cmd, path, out);
  return rc ? rc : crc;
}

static int open_index(const char *cmd, const char *dir, int verify, mx_index **index,
                      mx_info *info) {
  mx_error err = {0};
  mx_open_options oo;
  mx_open_options_init(&oo);
  oo.verify = verify;
  if (mx_index_open(dir, &oo, index, &err) != MX_OK)
    return cli_fail_err(cmd, &err);
  if (mx_index_info(*index, info, &err) != MX_OK)
    return cli_fail_err(cmd, &err);
  return 0;
}

/* How k' was chosen (mx_search_stats.candidates_*), in words. */
static const char *const choice_flags[] = {"no_table", "no_entry", "other_budget", "not_met",
                                           "k_scaled", "cascade", "beyond_table"};

static const char *source_name(mx_candidates_source s) {
  return s == MX_CANDIDATES_EXPLICIT ? "explicit" : s == MX_CANDIDATES_TABLE ? "table" : "fallback";
}

static void choice_json(json_t *o, const mx_search_stats *s) {
  json_object_set_new(o, "candidates_source", json_string(source_name(s->candidates_source)));
  json_t *flags = json_array();
  for (unsigned b = 0; b < sizeof choice_flags / sizeof *choice_flags; b++)
    if (s->candidates_flags & (1u << b))
      json_array_append_new(flags, json_string(choice_flags[b]));
  json_object_set_new(o, "candidates_flags", flags);
  json_object_set_new(o, "candidates_asked", json_integer(s->candidates_asked));
  json_object_set_new(o, "nprobe_asked", json_integer(s->nprobe_asked));
  json_object_set_new(o, "recall_target", json_real(s->recall_target));
  json_object_set_new(o, "recall_expected",
                      s->recall_expected < 0 ? json_null() : json_real(s->recall_expected));
  if (s->table_budget.r_q) {
    char b[24];
    snprintf(b, sizeof b, "%ux%u", s->table_budget.r_q, s->table_budget.r_c);
    json_object_set_new(o, "table_budget", json_string(b));
  } else {
    json_object_set_new(o, "table_budget", json_null());
  }
}

/* One line on standard error saying what k' the search used and why
 * (every query of a run gets the same choice: it depends on the options
 * and the table only). Without --stats only a warning: a target the table
 * does not reach, or a --recall asked of an index without a usable table. */
static void print_choice(const mx_search_stats *s, int warn_only, int recall_asked) {
  uint32_t f = s->candidates_flags;
  int warn = (f & MX_CHOICE_NOT_MET) ||
             (recall_asked && s->candidates_source == MX_CANDIDATES_FALLBACK);
  if (warn_only && !warn)
    return;
  char line[512];
  int n = 0;
  if (s->candidates_source == MX_CANDIDATES_EXPLICIT) {
    n = snprintf(line, sizeof line, "k'=%u given (--candidates)", s->candidates_asked);
  } else if (s->candidates_source == MX_CANDIDATES_FALLBACK) {
    n = snprintf(line, sizeof line, "k'=%u fallback for recall %.3f: %s", s->candidates_asked,
                 (double)s->recall_target,
                 f & MX_CHOICE_NO_TABLE
                     ? "the index has no calibration table (run 'metaidx tune')"
                     : "the calibration table measured no budget");
  } else {
    n = snprintf(line, sizeof line, "k'=%u nprobe=%u from the calibration table (budget %ux%u%s)",
                 s->candidates_asked, s->nprobe_asked, s->table_budget.r_q, s->table_budget.r_c,
                 f & MX_CHOICE_OTHER_BUDGET   ? ", the smallest larger measured budget"
                 : f & MX_CHOICE_BEYOND_TABLE ? ", the largest measured: this budget is beyond "
                                                "the table, k' may be too small"
                                              : "");
    if (f & MX_CHOICE_NOT_MET)
      n += snprintf(line + n, sizeof line - (size_t)n,
                    ": the table does NOT reach recall %.3f; best measured %.4f at this k' (run "
                    "'metaidx tune --recall %.3f')",
                    (double)s->recall_target, (double)s->recall_expected,
                    (double)s->recall_target);
    else if (s->recall_expected >= 0)
      n += snprintf(line + n, sizeof line - (size_t)n, ": measured recall %.4f for target %.3f",
                    (double)s->recall_expected, (double)s->recall_target);
    if (f & MX_CHOICE_K_SCALED)
      n += snprintf(line + n, sizeof line - (size_t)n,
                    "; scaled up for a k above the table's (recall not measured)");
    if (f & MX_CHOICE_CASCADE)
      snprintf(line + n, sizeof line - (size_t)n, "; the table was measured without a cascade");
  }
  fprintf(stderr, "metaidx search: %s%s\n", warn ? "warning: " : "", line);
}

static int write_stats(const char *cmd, const char *path, uint32_t n, const mx_search_stats *st) {
  FILE *out = cli_open_out(cmd, path);
  if (!out)
    return CLI_EXIT_FAIL;
  int rc = 0;
  for (uint32_t q = 0; q < n && !rc; q++) {
    const mx_search_stats *s = &st[q];
    json_t *o = json_object();
    json_object_set_new(o, "qid", json_integer(q));
    json_object_set_new(o, "total_ms", json_real(s->total_ms));
    json_object_set_new(o, "coarse_ms", json_real(s->coarse_ms));
    json_object_set_new(o, "prefetch_ms", json_real(s->prefetch_ms));
    json_object_set_new(o, "rescore_ms", json_real(s->rescore_ms));
    json_t *stages = json_array();
    for (uint32_t i = 0; i < s->n_stages_run && i < MX_MAX_STAGES + 1; i++)
      json_array_append_new(stages, json_real(s->stage_ms[i]));
    json_object_set_new(o, "stage_ms", stages);
    json_object_set_new(o, "candidates", json_integer((json_int_t)s->candidates));
    json_object_set_new(o, "scored", json_integer((json_int_t)s->scored));
    json_object_set_new(o, "bytes_touched", json_integer((json_int_t)s->bytes_touched));
    json_object_set_new(o, "bytes_prefetched", json_integer((json_int_t)s->bytes_prefetched));
    json_object_set_new(o, "corrupt_skipped", json_integer((json_int_t)s->corrupt_skipped));
    choice_json(o, s);
    rc = cli_print_json(cmd, out, o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(o);
  }
  int crc = cli_close_out(cmd, path, out);
  return rc ? rc : crc;
}

/* ---------------------------------------------------------------- search */

int cmd_search(int argc, char **argv) {
  const char *dir = NULL, *qpath = NULL, *cascade = NULL, *format_name = "trec", *out = NULL,
             *tag = "metaidx", *stats_path = NULL;
  mx_search_options so;
  mx_search_options_init(&so);
  uint32_t threads = 0;
  int no_prefetch = 0, no_verify = 0;
  double recall = 0;
  cli_opt opts[] = {
      {"index", CLI_STRING, &dir, "DIR", "index directory", 1, 0},
      {"queries", CLI_STRING, &qpath, "Q.npy", "queries [Q, R, d] float32/float16", 1, 0},
      {"k", CLI_U32, &so.k, "K", "hits per query (default 10)", 0, 0},
      {"rq", CLI_U32, &so.r_q, "R",
       "query vectors in the final budget (default all, or the last cascade stage's)", 0, 0},
      {"rc", CLI_U32, &so.r_c, "R",
       "document vectors in the final budget (default all stored, or the last cascade stage's)",
       0, 0},
      {"candidates", CLI_U32, &so.candidates, "K",
       "coarse candidates rescored (default: from the index's calibration table for --recall, "
       "100 without one; at least the first stage's keep)",
       0, 0},
      {"recall", CLI_DOUBLE, &recall, "X",
       "recall@k target in (0, 1] choosing the candidates from the calibration table (default "
       "the table's own target); --candidates wins",
       0, 0},
      {"nprobe", CLI_U32, &so.nprobe, "P", "IVF lists probed (default the index's)", 0, 0},
      {"ef-search", CLI_U32, &so.ef_search, "N", "HNSW efSearch (default the index's)", 0, 0},
      {"cascade", CLI_STRING, &cascade, "STAGES",
       "rescoring stages before the final budget, e.g. 4x8:200,16x64:20", 0, 0},
      {"threads", CLI_U32, &threads, "T", "search threads (default all cores)", 0, 0},
      {"format", CLI_STRING, &format_name, "trec|jsonl", "run format (default trec)", 0, 0},
      {"out", CLI_STRING, &out, "FILE", "write the run here (default standard output)", 0, 0},
      {"tag", CLI_STRING, &tag, "TAG", "run tag in TREC lines (default metaidx)", 0, 0},
      {"stats", CLI_STRING, &stats_path, "FILE", "write per-query statistics as JSON lines", 0,
       0},
      {"no-prefetch", CLI_FLAG, &no_prefetch, NULL, "do not prefetch candidates' pages", 0, 0},
      {"no-verify", CLI_FLAG, &no_verify, NULL, "do not check record checksums on read", 0, 0},
      {"skip-corrupt", CLI_FLAG, &so.skip_corrupt, NULL,
       "skip (and count) corrupt records instead of failing", 0, 0},
      {"coarse-only", CLI_FLAG, &so.coarse_only, NULL,
       "return the coarse ranking, without rescoring", 0, 0},
      {NULL, 0, NULL, NULL, NULL, 0, 0},
  };
  cli_command cmd = {"search", "",
                     "Searches an index: coarse candidates, optional cascade stages, then exact "
                     "MaxSim at the final budget.\nPrints a summary (queries, p50/p95 latency, "
                     "bytes touched per query) on standard error.",
                     opts, 0, 0};
  char *pos[1];
  uint32_t n_pos;
  int rc = cli_parse(&cmd, argc, argv, pos, 1, &n_pos);
  if (rc >= 0)
    return rc;
  run_format format = FORMAT_TREC;
  if (parse_format("search", format_name, &format))
    return CLI_EXIT_USAGE;
  if (so.k == 0)
    return cli_usage_error("search", "--k must be at least 1");
  if (cli_seen(opts, "recall") && !(recall > 0 && recall <= 1))
    return cli_usage_error("search", "--recall %g is outside (0, 1]", recall);
  so.recall = (float)recall;
  if (cli_seen(opts, "candidates") && so.candidates == 0)
    return cli_usage_error("search", "--candidates must be at least 1 (leave it out to choose "
                                     "from the calibration table)");
  if (cli_check_threads("search", threads))
    return CLI_EXIT_USAGE;
  if (cascade) {
    /* The last stage may be the final budget itself: room for one more than
     * the options hold. The library applies the cascade rules (README). */
    mx_error perr = {0};
    mx_stage parsed[MX_MAX_STAGES + 1];
    uint32_t n_parsed = 0, candidates = so.candidates;
    if (mx_cascade_parse(cascade, parsed, MX_MAX_STAGES + 1, &n_parsed, &perr) != MX_OK ||
        mx_search_options_set_cascade(&so, parsed, n_parsed, &perr) != MX_OK)
      return cli_usage_error("search", "invalid value for --cascade: %s", perr.message);
    if (cli_seen(opts, "candidates")) /* an explicit count wins */
      so.candidates = candidates;
  }
  so.prefetch = !no_prefetch;

  mx_index *index = NULL;
  mx_info info;
  queries q = {0};
  mx_hit *hits = NULL;
  uint32_t *n_hits = NULL;
  mx_search_stats *st = NULL;
  mx_error err = {0};
  rc = open_index("search", dir, !no_verify, &index, &info);
  if (!rc)
    rc = queries_load("search", qpath, info.dim, &q);
  if (!rc && so.k > info.n_docs) /* no more hits than documents: cap, not "out of memory" */
    so.k = (uint32_t)info.n_docs;
  if (!rc) {
    hits = malloc((size_t)q.n * so.k * sizeof *hits);
    n_hits = malloc((size_t)q.n * sizeof *n_hits);
    st = calloc(q.n, sizeof *st);
    if (!hits || !n_hits || !st)
      rc = cli_fail("search", "out of memory for %u queries x %u hits", q.n, so.k);
  }
  uint64_t t0 = mx_now_ns();
  if (!rc && mx_search_batch(index, q.data, q.n, q.r, &so, threads, hits, n_hits, st, &err) !=
                 MX_OK)
    rc = cli_fail_err("search", &err);
  double wall_ms = mx_ms_since(t0);
  if (!rc)
    rc = write_run("search", index, &info, out, format, tag, q.n, so.k, hits, n_hits);
  if (!rc && stats_path)
    rc = write_stats("search", stats_path, q.n, st);
  if (!rc && q.n > 0) /* what k' was and why: always with --stats, else only a warning */
    print_choice(&st[0], stats_path == NULL, cli_seen(opts, "recall"));
  if (!rc) {
    double *lat = malloc((size_t)q.n * sizeof *lat);
    if (!lat) {
      rc = cli_fail("search", "out of memory");
    } else {
      double bytes = 0;
      for (uint32_t i = 0; i < q.n; i++) {
        lat[i] = st[i].total_ms;
        bytes += (double)st[i].bytes_touched;
      }
      double p50 = mx_percentile(lat, q.n, 50), p95 = mx_percentile(lat, q.n, 95);
      fprintf(stderr,
              "metaidx search: queries=%u p50_ms=%.3f p95_ms=%.3f mean_bytes=%.0f wall_s=%.3f "
              "qps=%.1f\n",
              q.n, p50, p95, bytes / q.n, wall_ms / 1e3, wall_ms > 0 ? q.n / (wall_ms / 1e3) : 0);
      free(lat);
    }
  }
  free(hits);
  free(n_hits);
  free(st);
  queries_close(&q);
  mx_index_close(index);
  return rc;
}

/* ---------------------------------------------------------------- exact */

int cmd_exact(int argc, char **argv) {
  const char *dir = NULL, *qpath = NULL, *format_name = "trec", *out = NULL, *tag = "exact";
  uint32_t k = 10, r_q = 0, r_c = 0, threads = 0;
  cli_opt opts[] = {
      {"index", CLI_STRING, &dir, "DIR", "index directory", 1, 0},
      {"queries", CLI_STRING, &qpath, "Q.npy", "queries [Q, R, d] float32/float16", 1, 0},
      {"k", CLI_U32, &k, "K", "hits per query (default 10)", 0, 0},
      {"rq", CLI_U32, &r_q, "R", "query vectors scored (default all)", 0, 0},
      {"rc", CLI_U32, &r_c, "R", "document vectors scored (default all stored)", 0, 0},
      {"threads", CLI_U32, &threads, "T", "threads (default all cores)", 0, 0},
      {"format", CLI_STRING, &format_name, "trec|jsonl", "run format (default trec)", 0, 0},
      {"out", CLI_STRING, &out, "FILE", "write the run here (default standard output)", 0, 0},
      {"tag", CLI_STRING, &tag, "TAG", "run tag in TREC lines (default exact)", 0, 0},
      {NULL, 0, NULL, NULL, NULL, 0, 0},
  };
  cli_command cmd = {"exact", "",
                     "Brute force: exact MaxSim at (rq, rc) of every query against every "
                     "document; the ground truth for 'metaidx eval --truth'.",
                     opts, 0, 0};
  char *pos[1];
  uint32_t n_pos;
  int rc = cli_parse(&cmd, argc, argv, pos, 1, &n_pos);
  if (rc >= 0)
    return rc;
  run_format format = FORMAT_TREC;
  if (parse_format("exact", format_name, &format))
    return CLI_EXIT_USAGE;
  if (k == 0)
    return cli_usage_error("exact", "--k must be at least 1");
  if (cli_check_threads("exact", threads))
    return CLI_EXIT_USAGE;

  mx_index *index = NULL;
  mx_info info;
  queries q = {0};
  mx_hit *hits = NULL;
  uint32_t *n_hits = NULL;
  mx_error err = {0};
  rc = open_index("exact", dir, 1, &index, &info);
  if (!rc)
    rc = queries_load("exact", qpath, info.dim, &q);
  if (!rc) {
    if (r_q == 0)
      r_q = q.r;
    if (r_c == 0)
      r_c = info.vectors_per_doc;
    if (k > info.n_docs) /* as in search */
      k = (uint32_t)info.n_docs;
    hits = malloc((size_t)q.n * k * sizeof *hits);
    n_hits = malloc((size_t)q.n * sizeof *n_hits);
    if (!hits || !n_hits)
      rc = cli_fail("exact", "out of memory for %u queries x %u hits", q.n, k);
  }
  uint64_t t0 = mx_now_ns();
  if (!rc && mx_exact_search(index, q.data, q.n, q.r, r_q, r_c, k, threads, hits, n_hits, &err) !=
                 MX_OK)
    rc = cli_fail_err("exact", &err);
  double wall_ms = mx_ms_since(t0);
  if (!rc)
    rc = write_run("exact", index, &info, out, format, tag, q.n, k, hits, n_hits);
  if (!rc)
    fprintf(stderr, "metaidx exact: queries=%u budget=%ux%u docs=%llu wall_s=%.3f\n", q.n, r_q,
            r_c, (unsigned long long)info.n_docs, wall_ms / 1e3);
  free(hits);
  free(n_hits);
  queries_close(&q);
  mx_index_close(index);
  return rc;
}
