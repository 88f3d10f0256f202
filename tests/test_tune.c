/* test_tune.c: the calibration table (mx_index_tune): it round-trips
 * through the index, says when a target cannot be met and what it reached,
 * validates its options, and a damaged, foreign or newer table is refused
 * with a clear error (never silently used or ignored). */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "calibration.h"
#include "hash.h"
#include "helpers.h"
#include "metaidx.h"

#define DIM 24
#define R 8
#define N 600

static void build(const char *dir, uint64_t seed) {
  mx_test_rng rng = {seed};
  float *docs = malloc((size_t)N * R * DIM * sizeof(float));
  mx_test_random_unit_vectors(&rng, docs, (size_t)N * R, DIM);
  mx_build_options o;
  mx_build_options_init(&o);
  o.dtype = MX_DTYPE_F32;
  o.seed = seed;
  mx_builder *b = NULL;
  mx_error err = {0};
  cr_assert_eq(mx_builder_open(dir, DIM, R, &o, &b, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_builder_add(b, N, NULL, NULL, NULL, docs, MX_DTYPE_F32, &err), MX_OK, "%s",
               err.message);
  cr_assert_eq(mx_builder_finish(b, &err), MX_OK, "%s", err.message);
  free(docs);
}

static char *table_path(const char *dir) {
  size_t n = strlen(dir) + sizeof "/calibration.jsonl";
  char *p = malloc(n);
  cr_assert(p);
  memcpy(p, dir, strlen(dir));
  memcpy(p + strlen(dir), "/calibration.jsonl", sizeof "/calibration.jsonl");
  return p;
}

static void tune(const char *dir, mx_calibration *rep) {
  mx_tune_options to;
  mx_tune_options_init(&to);
  to.pseudo_queries = 40;
  to.threads = 2;
  mx_error err = {0};
  cr_assert_eq(mx_index_tune(dir, NULL, 0, 0, &to, rep, &err), MX_OK, "%s", err.message);
}

Test(tune, table_round_trips_through_the_index) {
  char *tmp = mx_test_tmpdir("tune_roundtrip");
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/ix", tmp);
  build(dir, 5);
  mx_index *ix = NULL;
  mx_error err = {0};
  mx_calibration got;
  cr_assert_eq(mx_index_open(dir, NULL, &ix, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_index_calibration(ix, &got, &err), MX_ERR_NOT_FOUND, "no table yet");
  mx_index_close(ix);

  mx_calibration rep;
  tune(dir, &rep);
  mx_info info;
  cr_assert_eq(mx_index_open(dir, NULL, &ix, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_index_info(ix, &info, &err), MX_OK);
  cr_assert_eq(mx_index_calibration(ix, &got, &err), MX_OK, "%s", err.message);
  mx_index_close(ix);
  cr_assert_eq(rep.n_entries, info.n_budgets, "one entry per budget");
  cr_assert_eq(got.n_entries, rep.n_entries);
  cr_assert_eq(got.source, MX_QUERIES_PSEUDO);
  cr_assert_eq(got.n_queries, 40);
  cr_assert_float_eq(got.target, 0.95f, 1e-6);
  for (uint32_t i = 0; i < rep.n_entries; i++) {
    const mx_calibration_entry *a = &rep.entries[i], *b = &got.entries[i];
    cr_assert_eq(a->budget.r_q, b->budget.r_q);
    cr_assert_eq(a->budget.r_c, b->budget.r_c);
    cr_assert_eq(a->status, MX_CALIBRATION_MET, "budget %ux%u: %s", a->budget.r_q,
                 a->budget.r_c, a->note);
    cr_assert_eq(a->candidates, b->candidates);
    cr_assert_float_eq(a->recall, b->recall, 1e-6);
    cr_assert_geq(b->recall, 0.95f);
    cr_assert_leq(b->candidates, N);
    cr_assert_eq(b->queries, 40);
    cr_assert_gt(b->p50_ms, 0);
    if (i > 0) /* largest first */
      cr_assert_geq((uint64_t)rep.entries[i - 1].budget.r_q * rep.entries[i - 1].budget.r_c,
                    (uint64_t)a->budget.r_q * a->budget.r_c);
  }
  /* The stored curve: the chosen k' is its first point reaching the target. */
  mx_calib c;
  cr_assert_eq(mx_calib_read(dir, &c, &err), MX_OK, "%s", err.message);
  for (uint32_t i = 0; i < c.pub.n_entries; i++) {
    uint32_t first = 0;
    for (uint32_t j = 0; j < c.n_points[i] && !first; j++)
      if (mx_calib_point_meets(&c.points[i][j], 0.95f))
        first = c.points[i][j].candidates;
    cr_assert_eq(first, c.pub.entries[i].candidates);
  }
  /* format -> parse is the identity */
  char *text = NULL;
  cr_assert_eq(mx_calib_format(&c, &text, &err), MX_OK);
  mx_calib back;
  cr_assert_eq(mx_calib_parse(text, strlen(text), &back, &err), MX_OK, "%s", err.message);
  cr_assert_eq(memcmp(&back.pub, &c.pub, sizeof c.pub), 0);
  cr_assert_eq(back.manifest_xxh3, c.manifest_xxh3);
  free(text);
  mx_test_tmpdir_remove(tmp);
}

Test(tune, a_target_that_cannot_be_met_says_what_it_reached) {
  char *tmp = mx_test_tmpdir("tune_unmet");
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/ix", tmp);
  build(dir, 6);
  mx_tune_options to;
  mx_tune_options_init(&to);
  to.pseudo_queries = 30;
  to.recall = 1.0f;
  to.max_candidates = 12;
  mx_calibration rep;
  mx_error err = {0};
  cr_assert_eq(mx_index_tune(dir, NULL, 0, 0, &to, &rep, &err), MX_OK, "%s", err.message);
  const mx_calibration_entry *e = &rep.entries[0]; /* the largest budget, 4x8 */
  cr_assert_eq(e->budget.r_c, R);
  cr_assert_eq(e->status, MX_CALIBRATION_NOT_MET);
  cr_assert_lt(e->recall, 1.0f);
  cr_assert_gt(e->recall, 0.0f);
  cr_assert_eq(e->candidates, 12);
  cr_assert(strstr(e->note, "largest k'"), "note: %s", e->note);
  char want[32];
  snprintf(want, sizeof want, "recall %.4f", (double)e->recall);
  cr_assert(strstr(e->note, want), "note '%s' names the recall reached", e->note);
  mx_test_tmpdir_remove(tmp);
}

Test(tune, options_are_validated) {
  char *tmp = mx_test_tmpdir("tune_options");
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/ix", tmp);
  build(dir, 7);
  float bad[] = {0.0f, -0.5f, 1.5f, NAN};
  const char *names[] = {"recall 0 ", "recall -0.5", "recall 1.5", "recall nan"};
  for (int i = 0; i < 4; i++) {
    mx_tune_options to;
    mx_tune_options_init(&to);
    to.recall = bad[i];
    mx_error err = {0};
    cr_assert_eq(mx_index_tune(dir, NULL, 0, 0, &to, NULL, &err), MX_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, names[i]), "'%s' names the value", err.message);
  }
  mx_tune_options to;
  mx_tune_options_init(&to);
  to.k = 0;
  mx_error err = {0};
  cr_assert_eq(mx_index_tune(dir, NULL, 0, 0, &to, NULL, &err), MX_ERR_INVALID_ARGUMENT);
  mx_tune_options_init(&to);
  float q[2 * DIM] = {0};
  q[5] = NAN;
  cr_assert_eq(mx_index_tune(dir, q, 1, 2, &to, NULL, &err), MX_ERR_BAD_INPUT);
  cr_assert(strstr(err.message, "query 0 vector 0 element 5"), "%s", err.message);
  cr_assert_eq(mx_index_tune(dir, q, 0, 2, &to, NULL, &err), MX_ERR_INVALID_ARGUMENT);
  char *path = table_path(dir);
  cr_assert_neq(access(path, F_OK), 0, "nothing stored by failed calls");
  free(path);
  mx_test_tmpdir_remove(tmp);
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  cr_assert(f);
  char *buf = malloc(1 << 20);
  *len = fread(buf, 1, (1 << 20) - 1, f);
  buf[*len] = 0;
  fclose(f);
  return buf;
}

static void spit(const char *path, const char *text, size_t len) {
  FILE *f = fopen(path, "wb");
  cr_assert(f);
  cr_assert_eq(fwrite(text, 1, len, f), len);
  fclose(f);
}

static void expect_open_fails(const char *dir, mx_status want, const char *needle) {
  mx_index *ix = NULL;
  mx_error err = {0};
  cr_assert_eq(mx_index_open(dir, NULL, &ix, &err), want, "got %s: %s",
               mx_status_name(err.status), err.message);
  cr_assert_null(ix);
  cr_assert(strstr(err.message, "calibration.jsonl"), "'%s' names the file", err.message);
  cr_assert(strstr(err.message, needle), "'%s' says '%s'", err.message, needle);
  mx_open_options oo;
  mx_open_options_init(&oo);
  oo.ignore_calibration = 1;
  cr_assert_eq(mx_index_open(dir, &oo, &ix, &err), MX_OK, "%s", err.message);
  mx_calibration c;
  cr_assert_eq(mx_index_calibration(ix, &c, &err), MX_ERR_NOT_FOUND);
  mx_index_close(ix);
}

Test(tune, damaged_foreign_or_newer_tables_are_refused) {
  char *tmp = mx_test_tmpdir("tune_damaged");
  char a[PATH_MAX], b[PATH_MAX];
  snprintf(a, sizeof a, "%s/a", tmp);
  snprintf(b, sizeof b, "%s/b", tmp);
  build(a, 8);
  build(b, 9);
  mx_calibration rep;
  tune(a, &rep);
  char *pa = table_path(a), *pb = table_path(b);
  size_t len;
  char *good = slurp(pa, &len);

  /* one byte changed inside the table line */
  char *bad = malloc(len + 1);
  memcpy(bad, good, len + 1);
  char *digit = strstr(bad, "\"candidates\":") + strlen("\"candidates\":");
  *digit = *digit == '9' ? '8' : (char)(*digit + 1);
  spit(pa, bad, len);
  expect_open_fails(a, MX_ERR_CORRUPT, "checksum mismatch");
  /* truncated: no checksum line */
  spit(pa, good, (size_t)(strchr(good, '\n') - good));
  expect_open_fails(a, MX_ERR_CORRUPT, "no checksum line");
  /* a table of another index */
  spit(pb, good, len);
  expect_open_fails(b, MX_ERR_CORRUPT, "another index");
  /* a newer format, with a correct checksum */
  char *nl = strchr(good, '\n');
  size_t body = (size_t)(nl - good);
  char *newer = malloc(len + 64);
  memcpy(newer, good, body);
  newer[body] = 0;
  char *fmt = strstr(newer, "\"format\":2");
  cr_assert(fmt);
  fmt[strlen("\"format\":")] = '3';
  int n = snprintf(newer + body, 64, "\n{\"xxh3\":\"%016llx\"}\n",
                   (unsigned long long)mx_hash64(newer, body));
  spit(pa, newer, body + (size_t)n);
  expect_open_fails(a, MX_ERR_VERSION, "newer");
  /* tune replaces a damaged table */
  spit(pa, bad, len);
  tune(a, &rep);
  mx_index *ix = NULL;
  mx_error err = {0};
  cr_assert_eq(mx_index_open(a, NULL, &ix, &err), MX_OK, "%s", err.message);
  mx_index_close(ix);
  free(good);
  free(bad);
  free(newer);
  free(pa);
  free(pb);
  mx_test_tmpdir_remove(tmp);
}

/* A table of text `body` with its checksum line. */
static char *sealed(const char *body) {
  size_t n = strlen(body);
  char *text = malloc(n + 40);
  cr_assert(text);
  snprintf(text, n + 40, "%s\n{\"xxh3\":\"%016llx\"}\n", body,
           (unsigned long long)mx_hash64(body, n));
  return text;
}

Test(tune, format_1_tables_are_still_read) {
  /* format 1 (before standard errors were stored per point): three fields
   * per point, read with a standard error of 0 */
  const char *v1 =
      "{\"kind\":\"metaidx-calibration\",\"format\":1,\"manifest_xxh3\":\"00000000000000ab\","
      "\"target\":0.95,\"k\":10,\"source\":\"pseudo\",\"queries\":40,\"noise\":1.0,\"seed\":42,"
      "\"seconds\":1.5,\"created\":\"2026-12-07T00:00:00Z\",\"budgets\":[{\"r_q\":4,\"r_c\":8,"
      "\"status\":\"met\",\"candidates\":40,\"nprobe\":0,\"recall\":0.96,\"recall_se\":0.01,"
      "\"p50_ms\":0.2,\"exact_ms\":1.0,\"queries\":40,\"note\":\"\",\"points\":[[10,0,0.5],"
      "[20,0,0.8],[40,0,0.96]]}]}";
  char *text = sealed(v1);
  mx_calib c;
  mx_error err = {0};
  cr_assert_eq(mx_calib_parse(text, strlen(text), &c, &err), MX_OK, "%s", err.message);
  cr_assert_eq(c.n_points[0], 3);
  cr_assert_eq(c.points[0][2].candidates, 40);
  cr_assert_float_eq(c.points[0][2].recall, 0.96f, 1e-6);
  cr_assert_eq(c.points[0][2].recall_se, 0.0f);
  cr_assert(mx_calib_point_meets(&c.points[0][2], 0.95f));
  free(text);
  /* the same points in a format 2 table lack their standard error */
  char body[2048];
  snprintf(body, sizeof body, "%s", v1);
  memcpy(strstr(body, "\"format\":1") + 9, "2", 1);
  text = sealed(body);
  cr_assert_eq(mx_calib_parse(text, strlen(text), &c, &err), MX_ERR_FORMAT);
  cr_assert(strstr(err.message, "standard error"), "%s", err.message);
  free(text);
  /* and format 2 round-trips the standard errors */
  cr_assert_eq(MX_CALIB_FORMAT, 2);
}
