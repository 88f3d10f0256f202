/* rows.c: the benchmark's result rows: every row has every column
 * (ROW_FIELDS), written as one JSON line and one CSV line each, kept for
 * the reports, and read back from results.jsonl for --replot. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"

void bench_sfmt(char *dst, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(dst, cap, fmt, ap);
  va_end(ap);
}

/* Appends r to the rows the reports read; -1 when out of memory. */
static int keep_row(bench *b, const row *r) {
  if (b->n_rows == b->cap_rows) {
    size_t cap = b->cap_rows ? 2 * b->cap_rows : 64;
    row *nr = realloc(b->rows, cap * sizeof *nr);
    if (!nr)
      return -1;
    b->rows = nr;
    b->cap_rows = cap;
  }
  b->rows[b->n_rows++] = *r;
  return 0;
}

void bench_row_init(row *r) {
  memset(r, 0, sizeof *r);
#define RS_(n)
#define RU_(n) r->n = U_NA;
#define RD_(n) r->n = NAN;
  ROW_FIELDS(RS_, RU_, RD_)
#undef RS_
#undef RU_
#undef RD_
}

void bench_log(const bench *b, const char *fmt, ...) {
  if (b->cfg.quiet)
    return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fflush(stderr);
}

void bench_csv_header(FILE *f) {
  int first = 1;
#define H_(n)                                                                                      \
  fprintf(f, "%s%s", first ? "" : ",", #n);                                                        \
  first = 0;
  ROW_FIELDS(H_, H_, H_)
#undef H_
  fputc('\n', f);
}

void bench_emit(bench *b, const row *r) {
  json_t *o = json_object();
  int first = 1;
#define JS_(n)                                                                                     \
  json_object_set_new(o, #n, json_string(r->n));                                                   \
  fprintf(b->csv, "%s\"%s\"", first ? "" : ",", r->n);                                             \
  first = 0;
#define JU_(n)                                                                                     \
  json_object_set_new(o, #n, r->n == U_NA ? json_null() : json_integer((json_int_t)r->n));         \
  if (r->n == U_NA)                                                                                \
    fprintf(b->csv, "%s", first ? "" : ",");                                                       \
  else                                                                                             \
    fprintf(b->csv, "%s%llu", first ? "" : ",", (unsigned long long)r->n);                         \
  first = 0;
#define JD_(n)                                                                                     \
  json_object_set_new(o, #n, isfinite(r->n) ? json_real(r->n) : json_null());                     \
  if (isfinite(r->n))                                                                              \
    fprintf(b->csv, "%s%.6g", first ? "" : ",", r->n);                                             \
  else                                                                                             \
    fprintf(b->csv, "%s", first ? "" : ",");                                                       \
  first = 0;
  ROW_FIELDS(JS_, JU_, JD_)
#undef JS_
#undef JU_
#undef JD_
  fputc('\n', b->csv);
  char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
  if (s) {
    fprintf(b->jsonl, "%s\n", s);
    free(s);
  }
  json_decref(o);
  fflush(b->jsonl);
  fflush(b->csv);
  keep_row(b, r);
}

void bench_row_base(const bench *b, row *r, const char *kind, const char *mode) {
  bench_row_init(r);
  snprintf(r->kind, sizeof r->kind, "%s", kind);
  snprintf(r->preset, sizeof r->preset, "%s", b->cfg.preset);
  snprintf(r->mode, sizeof r->mode, "%s", mode);
  r->n_docs = b->n_docs;
  r->dim = b->info.dim;
  r->doc_vectors = b->info.vectors_per_doc;
  r->query_vectors = b->qv;
  snprintf(r->dtype, sizeof r->dtype, "%s", mx_dtype_name(b->info.dtype));
  r->n_queries = b->nq;
  r->k = b->cfg.k;
  r->index_bytes = (double)b->index_bytes;
  r->index_alloc_bytes = (double)b->index_alloc;
  bench_proc_mem(&r->vm_rss, &r->vm_hwm);
}

/* Reads the rows of an earlier run's results.jsonl back (for --replot). */
int bench_load_rows(bench *b, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    if (!o)
      continue;
    row r;
    bench_row_init(&r);
    json_t *v;
#define LS_(n)                                                                                     \
  if (json_is_string(v = json_object_get(o, #n)))                                                  \
    bench_sfmt(r.n, sizeof r.n, "%s", json_string_value(v));
#define LU_(n)                                                                                     \
  if (json_is_integer(v = json_object_get(o, #n)))                                                 \
    r.n = (uint64_t)json_integer_value(v);
#define LD_(n)                                                                                     \
  if (json_is_number(v = json_object_get(o, #n)))                                                  \
    r.n = json_number_value(v);
    ROW_FIELDS(LS_, LU_, LD_)
#undef LS_
#undef LU_
#undef LD_
    json_decref(o);
    if (keep_row(b, &r) != 0)
      break;
  }
  free(line);
  fclose(f);
  return 0;
}
