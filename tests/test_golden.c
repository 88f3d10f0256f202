/* test_golden.c: the committed index tests/golden/v2.0-f16-strings (written
 * once by scripts/make_golden.sh, never regenerated) must open, describe
 * itself, and answer exactly as recorded, with every future reader; and
 * copies damaged in known ways must fail with the error each one names. A
 * writer and a reader that drift together fail here. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "metaidx.h"
#include "npy.h"

#define GOLDEN "tests/golden/v2.0-f16-strings"
#define K 10

/* A fresh copy of the golden index in a temporary directory: opening an
 * index writes its lock file, and the damage tests change files. */
static char *golden_copy(const char *name, char **tmp_out) {
  char *tmp = mx_test_tmpdir(name);
  char *src = mx_test_source_path(GOLDEN "/index");
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "cp -R '%s' '%s/index'", src, tmp);
  cr_assert_eq(system(cmd), 0, "%s", cmd);
  free(src);
  char *dir = malloc(strlen(tmp) + 8);
  sprintf(dir, "%s/index", tmp);
  *tmp_out = tmp;
  return dir;
}

typedef struct golden_queries {
  mx_npy f;
  uint32_t n, r;
} golden_queries;

static void queries_open(golden_queries *q) {
  char *path = mx_test_source_path(GOLDEN "/queries.npy");
  mx_error err = {0};
  cr_assert_eq(mx_npy_open(path, &q->f, &err), MX_OK, "%s", err.message);
  cr_assert_eq(q->f.h.type, MX_NPY_F32);
  cr_assert_eq(q->f.h.ndim, 3);
  cr_assert_eq(q->f.h.shape[2], 16);
  q->n = (uint32_t)q->f.h.shape[0];
  q->r = (uint32_t)q->f.h.shape[1];
  free(path);
}

/* The recorded run: TREC lines "qid Q0 key rank score tag", k per query. */
typedef struct run_line {
  char key[32];
  double score;
} run_line;

static void run_read(const char *name, uint32_t n_queries, run_line *out) {
  char *path = mx_test_source_path(name);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "%s", path);
  unsigned q, rank, lines = 0;
  char key[32], tag[32];
  double score;
  while (fscanf(f, "%u Q0 %31s %u %lf %31s", &q, key, &rank, &score, tag) == 5) {
    cr_assert(q < n_queries && rank >= 1 && rank <= K, "%s: q %u rank %u", path, q, rank);
    snprintf(out[q * K + rank - 1].key, sizeof out->key, "%s", key);
    out[q * K + rank - 1].score = score;
    lines++;
  }
  cr_assert_eq(lines, n_queries * K, "%s: %u lines", path, lines);
  fclose(f);
  free(path);
}

/* hits (k per query) name the recorded keys, in order, with the recorded
 * scores (6 decimals in the run; summation order may differ by SIMD path). */
static void expect_run(mx_index *ix, const mx_hit *hits, const uint32_t *n_hits, uint32_t n_q,
                       const run_line *want, const char *what) {
  for (uint32_t q = 0; q < n_q; q++) {
    cr_assert_eq(n_hits[q], K, "%s: query %u has %u hits", what, q, n_hits[q]);
    for (uint32_t i = 0; i < K; i++) {
      const run_line *w = &want[q * K + i];
      char key[64];
      size_t len = 0;
      mx_error err = {0};
      cr_assert_eq(mx_index_doc_key(ix, hits[q * K + i].doc, key, sizeof key, &len, &err), MX_OK,
                   "%s", err.message);
      cr_assert_str_eq(key, w->key, "%s: query %u rank %u", what, q, i + 1);
      cr_assert_float_eq(hits[q * K + i].score, w->score, 2e-5, "%s: query %u rank %u", what, q,
                         i + 1);
    }
  }
}

Test(golden, opens_describes_itself_and_answers_as_recorded) {
  char *tmp;
  char *dir = golden_copy("golden_read", &tmp);
  mx_index *ix = NULL;
  mx_error err = {0};
  cr_assert_eq(mx_index_open(dir, NULL, &ix, &err), MX_OK, "%s", err.message);
  mx_info info;
  cr_assert_eq(mx_index_info(ix, &info, &err), MX_OK, "%s", err.message);
  cr_assert_eq(info.dim, 16);
  cr_assert_eq(info.vectors_per_doc, 8);
  cr_assert_eq(info.dtype, MX_DTYPE_F16);
  cr_assert_eq(info.n_docs, 40);
  cr_assert_eq(info.id_kind, MX_IDS_STRING);
  cr_assert_eq(info.n_budgets, 3);
  cr_assert(info.budgets[1].r_q == 2 && info.budgets[1].r_c == 4);
  cr_assert(info.budgets[2].r_q == 4 && info.budgets[2].r_c == 8);
  char key[64];
  size_t len;
  cr_assert_eq(mx_index_doc_key(ix, 7, key, sizeof key, &len, &err), MX_OK, "%s", err.message);
  cr_assert_str_eq(key, "doc-007");

  golden_queries q;
  queries_open(&q);
  run_line *want = calloc((size_t)q.n * K, sizeof *want);
  mx_hit *hits = calloc((size_t)q.n * K, sizeof *hits);
  uint32_t *n_hits = calloc(q.n, sizeof *n_hits);
  const char *runs[] = {GOLDEN "/exact-2x4.trec", GOLDEN "/exact-4x8.trec"};
  const mx_budget budgets[] = {{2, 4}, {4, 8}};
  for (int b = 0; b < 2; b++) {
    run_read(runs[b], q.n, want);
    cr_assert_eq(mx_exact_search(ix, q.f.data, q.n, q.r, budgets[b].r_q, budgets[b].r_c, K, 2,
                                 hits, n_hits, &err),
                 MX_OK, "%s", err.message);
    expect_run(ix, hits, n_hits, q.n, want, "exact");
    /* search over every document (the coarse stage is exact Flat) agrees */
    mx_search_options so;
    mx_search_options_init(&so);
    so.k = K;
    so.r_q = budgets[b].r_q;
    so.r_c = budgets[b].r_c;
    so.candidates = 40;
    cr_assert_eq(mx_search_batch(ix, q.f.data, q.n, q.r, &so, 2, hits, n_hits, NULL, &err), MX_OK,
                 "%s", err.message);
    expect_run(ix, hits, n_hits, q.n, want, "search");
  }
  mx_index_close(ix);
  mx_verify_report rep;
  cr_assert_eq(mx_index_verify(dir, NULL, NULL, &rep, &err), MX_OK, "%s", err.message);
  cr_assert_eq(rep.records, 40);
  cr_assert_eq(rep.problems, 0);
  free(want);
  free(hits);
  free(n_hits);
  mx_npy_close(&q.f);
  free(dir);
  mx_test_tmpdir_remove(tmp);
}

static char *slurp_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  rewind(f);
  char *buf = malloc(*len + 1);
  cr_assert_eq(fread(buf, 1, *len, f), *len);
  buf[*len] = '\0';
  fclose(f);
  return buf;
}

static void spit_file(const char *path, const char *buf, size_t len) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "%s", path);
  cr_assert_eq(fwrite(buf, 1, len, f), len);
  fclose(f);
}

/* Replaces the first `from` in dir/name with `to` (same length or not). */
static void replace_in(const char *dir, const char *name, const char *from, const char *to) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  size_t len;
  char *buf = slurp_file(path, &len);
  char *at = strstr(buf, from);
  cr_assert_not_null(at, "%s has no '%s'", path, from);
  size_t head = (size_t)(at - buf), fl = strlen(from), tl = strlen(to);
  char *out = malloc(len - fl + tl);
  memcpy(out, buf, head);
  memcpy(out + head, to, tl);
  memcpy(out + head + tl, at + fl, len - head - fl);
  spit_file(path, out, len - fl + tl);
  free(out);
  free(buf);
}

static void expect_open_fails(const char *dir, mx_status want, const char *needle) {
  mx_index *ix = NULL;
  mx_error err = {0};
  mx_status s = mx_index_open(dir, NULL, &ix, &err);
  cr_assert_eq(s, want, "got %s: %s", mx_status_name(s), err.message);
  cr_assert_null(ix);
  cr_assert(strstr(err.message, needle), "'%s' not in: %s", needle, err.message);
}

Test(golden, a_newer_format_is_refused) {
  char *tmp, *dir = golden_copy("golden_newer", &tmp);
  replace_in(dir, "manifest.json", "\"format_major\": 2", "\"format_major\": 3");
  expect_open_fails(dir, MX_ERR_VERSION, "newer");
  free(dir);
  mx_test_tmpdir_remove(tmp);
}

Test(golden, an_edited_manifest_is_corrupt) {
  char *tmp, *dir = golden_copy("golden_edited", &tmp);
  replace_in(dir, "manifest.json", "\"n_docs\": 40", "\"n_docs\": 41");
  expect_open_fails(dir, MX_ERR_CORRUPT, "manifest");
  free(dir);
  mx_test_tmpdir_remove(tmp);
}

Test(golden, a_truncated_coarse_index_is_named) {
  char *tmp, *dir = golden_copy("golden_coarse", &tmp);
  char path[4096];
  snprintf(path, sizeof path, "%s/coarse.faiss", dir);
  cr_assert_eq(truncate(path, 1000), 0);
  expect_open_fails(dir, MX_ERR_CORRUPT, "coarse.faiss");
  free(dir);
  mx_test_tmpdir_remove(tmp);
}

Test(golden, a_missing_manifest_is_not_an_index) {
  char *tmp, *dir = golden_copy("golden_nomanifest", &tmp);
  char path[4096];
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  cr_assert_eq(unlink(path), 0);
  expect_open_fails(dir, MX_ERR_NOT_FOUND, "manifest.json");
  free(dir);
  mx_test_tmpdir_remove(tmp);
}

/* One flipped bit in document 7's vectors (found by its record header:
 * magic "MXR1", then doc_id 7 at offset 16): verify counts one bad record,
 * and brute force, which reads every record, refuses to answer. */
Test(golden, a_damaged_record_is_found) {
  char *tmp, *dir = golden_copy("golden_record", &tmp);
  char path[4096];
  snprintf(path, sizeof path, "%s/store/data.mdb", dir);
  size_t len;
  char *buf = slurp_file(path, &len);
  size_t at = 0;
  for (size_t i = 0; i + 64 + 16 < len && !at; i++)
    if (memcmp(buf + i, "MXR1", 4) == 0 && (unsigned char)buf[i + 16] == 7 &&
        memcmp(buf + i + 17, "\0\0\0\0\0\0\0", 7) == 0)
      at = i;
  cr_assert_neq(at, 0, "document 7's record not found in data.mdb");
  buf[at + 64 + 5] ^= 0x10; /* a vector byte: the header is 64 bytes with 3 segments */
  spit_file(path, buf, len);
  free(buf);
  mx_verify_report rep;
  mx_error err = {0};
  cr_assert_eq(mx_index_verify(dir, NULL, NULL, &rep, &err), MX_OK, "%s", err.message);
  cr_assert_eq(rep.records, 40);
  cr_assert_eq(rep.bad_records, 1);
  mx_index *ix = NULL;
  cr_assert_eq(mx_index_open(dir, NULL, &ix, &err), MX_OK, "%s", err.message);
  golden_queries q;
  queries_open(&q);
  mx_hit hits[K];
  uint32_t n_hits;
  mx_status s = mx_exact_search(ix, q.f.data, 1, q.r, 4, 8, K, 1, hits, &n_hits, &err);
  cr_assert_eq(s, MX_ERR_CORRUPT, "got %s: %s", mx_status_name(s), err.message);
  cr_assert(strstr(err.message, "7"), "%s", err.message);
  mx_index_close(ix);
  mx_npy_close(&q.f);
  free(dir);
  mx_test_tmpdir_remove(tmp);
}
