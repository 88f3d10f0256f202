/* test_misuse.c: the public API called wrongly: NULL handles and pointers,
 * k = 0, budgets of 0, r_q above the query's vector count, closing NULL,
 * aborting NULL, finishing after a failed add. Each must return a defined
 * status (and fill err when given), never crash, never leak (ASan build). */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "helpers.h"
#include "metaidx.h"

#define DIM 16
#define R 8
#define N 120

/* Status and, when err was given, a non-empty message with that status. */
#define EXPECT_STATUS(call, want)                                                             \
  do {                                                                                        \
    mx_error e_;                                                                              \
    memset(&e_, 0, sizeof e_);                                                                \
    mx_error *err = &e_;                                                                      \
    mx_status got_ = (call);                                                                  \
    cr_expect_eq(got_, want, "%s: %s (%s), expected %s", #call, mx_status_name(got_),         \
                 e_.message, mx_status_name(want));                                           \
    if (got_ != MX_OK)                                                                        \
      cr_expect(e_.message[0] != '\0' && e_.status == got_, "%s: no message", #call);         \
    err = NULL; /* the same call without an error struct: same status */                      \
    mx_status again_ = (call);                                                                \
    cr_expect_eq(again_, got_, "%s with err = NULL: %s", #call, mx_status_name(again_));      \
  } while (0)

static char *tmp;
static char dir[PATH_MAX];
static float *docs;

static void build_index(void) {
  tmp = mx_test_tmpdir("misuse");
  snprintf(dir, sizeof dir, "%s/ix", tmp);
  mx_test_rng rng = {99};
  docs = malloc((size_t)N * R * DIM * sizeof(float));
  mx_test_random_unit_vectors(&rng, docs, (size_t)N * R, DIM);
  mx_build_options o;
  mx_build_options_init(&o);
  o.coarse_factory = "Flat";
  mx_builder *b = NULL;
  mx_error e;
  cr_assert_eq(mx_builder_open(dir, DIM, R, &o, &b, &e), MX_OK, "%s", e.message);
  cr_assert_eq(mx_builder_add(b, N, NULL, NULL, NULL, docs, MX_DTYPE_F32, &e), MX_OK, "%s",
               e.message);
  cr_assert_eq(mx_builder_finish(b, &e), MX_OK, "%s", e.message);
}

static void cleanup(void) {
  free(docs);
  mx_test_tmpdir_remove(tmp);
}

Test(misuse, status_and_dtype_helpers_take_any_value) {
  cr_expect_not_null(mx_version());
  cr_expect_not_null(mx_simd_path());
  mx_status odd[] = {(mx_status)-1, (mx_status)18, (mx_status)1000000};
  for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
    cr_expect_not_null(mx_status_str(odd[i]));
    cr_expect_not_null(mx_status_name(odd[i]));
  }
  cr_expect_null(mx_dtype_name((mx_dtype)4));
  cr_expect_null(mx_dtype_name((mx_dtype)-1));
  mx_dtype d = MX_DTYPE_F32;
  EXPECT_STATUS(mx_dtype_parse(NULL, &d, err), MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_dtype_parse("f16", NULL, err), MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_dtype_parse("", &d, err), MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_dtype_parse("F16", &d, err), MX_ERR_INVALID_ARGUMENT);
  cr_expect_eq(d, MX_DTYPE_F32, "a failed parse leaves *out alone");
}

Test(misuse, options_init_accepts_null) {
  mx_build_options_init(NULL);
  mx_open_options_init(NULL);
  mx_search_options_init(NULL);
}

Test(misuse, null_handles_and_pointers, .init = build_index, .fini = cleanup) {
  /* closing and aborting nothing */
  mx_index_close(NULL);
  mx_builder_abort(NULL);

  /* builder */
  mx_builder *b = (mx_builder *)&b; /* must be overwritten or left alone, never freed */
  EXPECT_STATUS(mx_builder_open(NULL, DIM, R, NULL, &b, err), MX_ERR_INVALID_ARGUMENT);
  char other[PATH_MAX + 8];
  snprintf(other, sizeof other, "%s/other", tmp);
  EXPECT_STATUS(mx_builder_open(other, DIM, R, NULL, NULL, err), MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_builder_add(NULL, 1, NULL, NULL, NULL, docs, MX_DTYPE_F32, err),
                MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_builder_finish(NULL, err), MX_ERR_INVALID_ARGUMENT);
  cr_expect(!mx_path_exists(other), "nothing was created");

  /* index */
  mx_index *ix = NULL;
  EXPECT_STATUS(mx_index_open(NULL, NULL, &ix, err), MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_index_open(dir, NULL, NULL, err), MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_index_open(other, NULL, &ix, err), MX_ERR_NOT_FOUND);
  cr_expect_null(ix, "a failed open sets *out to NULL");
  mx_error e;
  cr_assert_eq(mx_index_open(dir, NULL, &ix, &e), MX_OK, "%s", e.message);
  mx_info info;
  EXPECT_STATUS(mx_index_info(NULL, &info, err), MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_index_info(ix, NULL, err), MX_ERR_INVALID_ARGUMENT);

  float q[R * DIM];
  memcpy(q, docs, sizeof q);
  mx_hit hits[N];
  uint32_t n = 99;
  EXPECT_STATUS(mx_search(NULL, q, R, NULL, hits, &n, NULL, err), MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_search(ix, NULL, R, NULL, hits, &n, NULL, err), MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_search(ix, q, R, NULL, NULL, &n, NULL, err), MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_search(ix, q, R, NULL, hits, NULL, NULL, err), MX_ERR_INVALID_ARGUMENT);
  /* opts and stats may be NULL: defaults */
  EXPECT_STATUS(mx_search(ix, q, R, NULL, hits, &n, NULL, err), MX_OK);
  cr_expect_eq(n, 10);

  uint32_t counts[2];
  EXPECT_STATUS(mx_search_batch(NULL, q, 1, R, NULL, 1, hits, counts, NULL, err),
                MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_search_batch(ix, NULL, 1, R, NULL, 1, hits, counts, NULL, err),
                MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_search_batch(ix, q, 1, R, NULL, 1, NULL, counts, NULL, err),
                MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_search_batch(ix, q, 1, R, NULL, 1, hits, NULL, NULL, err),
                MX_ERR_INVALID_ARGUMENT);
  /* no queries: nothing to do, NULL arrays allowed */
  EXPECT_STATUS(mx_search_batch(ix, NULL, 0, R, NULL, 1, NULL, NULL, NULL, err), MX_OK);

  EXPECT_STATUS(mx_exact_search(NULL, q, 1, R, R, R, 10, 1, hits, counts, err),
                MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_exact_search(ix, NULL, 1, R, R, R, 10, 1, hits, counts, err),
                MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_exact_search(ix, q, 1, R, R, R, 10, 1, NULL, counts, err),
                MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_exact_search(ix, q, 1, R, R, R, 10, 1, hits, NULL, err),
                MX_ERR_INVALID_ARGUMENT);

  char key[32];
  size_t len = 0;
  EXPECT_STATUS(mx_index_doc_key(NULL, 0, key, sizeof key, &len, err), MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_index_doc_key(ix, 0, NULL, 8, &len, err), MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_index_doc_key(ix, 0, key, sizeof key, NULL, err), MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_index_doc_key(ix, N, key, sizeof key, &len, err), MX_ERR_NOT_FOUND);
  EXPECT_STATUS(mx_index_doc_key(ix, UINT64_MAX, key, sizeof key, &len, err), MX_ERR_NOT_FOUND);
  /* a length query (no buffer) and a buffer too small: the length, truncated text */
  EXPECT_STATUS(mx_index_doc_key(ix, 117, NULL, 0, &len, err), MX_OK);
  cr_expect_eq(len, 3);
  EXPECT_STATUS(mx_index_doc_key(ix, 117, key, 2, &len, err), MX_OK);
  cr_expect_eq(len, 3);
  cr_expect_str_eq(key, "1");

  mx_verify_report rep;
  EXPECT_STATUS(mx_index_verify(NULL, NULL, NULL, &rep, err), MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_index_verify(dir, NULL, NULL, NULL, err), MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_index_verify(other, NULL, NULL, &rep, err), MX_ERR_NOT_FOUND);
  EXPECT_STATUS(mx_index_verify(dir, NULL, NULL, &rep, err), MX_OK); /* no callback: fine */
  cr_expect_eq(rep.problems, 0);

  /* the close-twice-safe pattern: close, forget, close(NULL) */
  mx_index_close(ix);
  ix = NULL;
  mx_index_close(ix);
}

Test(misuse, bad_search_parameters, .init = build_index, .fini = cleanup) {
  mx_index *ix = NULL;
  mx_error e;
  cr_assert_eq(mx_index_open(dir, NULL, &ix, &e), MX_OK, "%s", e.message);
  float q[R * DIM];
  memcpy(q, docs + R * DIM, sizeof q);
  mx_hit hits[N];
  uint32_t n = 0;
  mx_search_options o;

  EXPECT_STATUS(mx_search(ix, q, 0, NULL, hits, &n, NULL, err), MX_ERR_INVALID_ARGUMENT);
  mx_search_options_init(&o);
  o.k = 0;
  EXPECT_STATUS(mx_search(ix, q, R, &o, hits, &n, NULL, err), MX_ERR_INVALID_ARGUMENT);
  cr_expect_eq(n, 0, "a failed search reports no hits");
  /* r_q above the query's vector count, r_c above what is stored */
  mx_search_options_init(&o);
  o.r_q = 3;
  EXPECT_STATUS(mx_search(ix, q, 2, &o, hits, &n, NULL, err), MX_ERR_INVALID_ARGUMENT);
  mx_search_options_init(&o);
  o.r_c = R + 1;
  EXPECT_STATUS(mx_search(ix, q, R, &o, hits, &n, NULL, err), MX_ERR_INVALID_ARGUMENT);
  /* cascade stages with a 0 budget or keep, too many stages */
  mx_stage zero[] = {{0, 4, 10}, {2, 0, 10}, {2, 4, 0}, {R + 1, 4, 10}, {2, R + 1, 10}};
  for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++) {
    mx_search_options_init(&o);
    o.n_stages = 1;
    o.stages[0] = zero[i];
    EXPECT_STATUS(mx_search(ix, q, R, &o, hits, &n, NULL, err), MX_ERR_INVALID_ARGUMENT);
  }
  mx_search_options_init(&o);
  o.n_stages = MX_MAX_STAGES + 1;
  for (int i = 0; i < MX_MAX_STAGES; i++)
    o.stages[i] = (mx_stage){1, 1, 50};
  EXPECT_STATUS(mx_search(ix, q, R, &o, hits, &n, NULL, err), MX_ERR_INVALID_ARGUMENT);
  o.n_stages = UINT32_MAX;
  EXPECT_STATUS(mx_search(ix, q, R, &o, hits, &n, NULL, err), MX_ERR_INVALID_ARGUMENT);
  /* NaN and infinity in a query vector that is used; unused rows are not read */
  float bad[R * DIM];
  memcpy(bad, q, sizeof bad);
  bad[DIM + 3] = NAN;
  EXPECT_STATUS(mx_search(ix, bad, R, NULL, hits, &n, NULL, err), MX_ERR_BAD_INPUT);
  bad[DIM + 3] = INFINITY;
  EXPECT_STATUS(mx_search(ix, bad, R, NULL, hits, &n, NULL, err), MX_ERR_BAD_INPUT);
  mx_search_options_init(&o);
  o.r_q = 1; /* only row 0 is scored, and row 0 is fine */
  EXPECT_STATUS(mx_search(ix, bad, R, &o, hits, &n, NULL, err), MX_OK);

  /* legal edge values: candidates 0 (raised to k), k above the document
   * count (all documents), budget (1, 1) */
  mx_search_options_init(&o);
  o.candidates = 0;
  EXPECT_STATUS(mx_search(ix, q, R, &o, hits, &n, NULL, err), MX_OK);
  cr_expect_eq(n, 10);
  mx_search_options_init(&o);
  o.k = N + 50;
  mx_hit *many = malloc((N + 50) * sizeof *many);
  EXPECT_STATUS(mx_search(ix, q, R, &o, many, &n, NULL, err), MX_OK);
  cr_expect_eq(n, N);
  free(many);
  mx_search_options_init(&o);
  o.r_q = 1, o.r_c = 1, o.k = 1;
  EXPECT_STATUS(mx_search(ix, q, 1, &o, hits, &n, NULL, err), MX_OK);
  cr_expect_eq(n, 1);
  cr_expect_eq(hits[0].doc, 1, "the query is document 1's own vectors");

  /* batch: the same checks, the failing query is named */
  uint32_t counts[3];
  mx_search_options_init(&o);
  o.k = 0;
  EXPECT_STATUS(mx_search_batch(ix, q, 1, R, &o, 2, hits, counts, NULL, err),
                MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_search_batch(ix, q, 1, 0, NULL, 2, hits, counts, NULL, err),
                MX_ERR_INVALID_ARGUMENT);
  float three[3 * R * DIM];
  memcpy(three, docs, sizeof three);
  three[2 * R * DIM + 5] = NAN;
  EXPECT_STATUS(mx_search_batch(ix, three, 3, R, NULL, 2, hits, counts, NULL, err),
                MX_ERR_BAD_INPUT);
  mx_error be;
  cr_expect_eq(mx_search_batch(ix, three, 3, R, NULL, 2, hits, counts, NULL, &be),
               MX_ERR_BAD_INPUT);
  cr_expect(strstr(be.message, "query 2") != NULL, "%s", be.message);

  /* exact search: k 0, r_q 0 or above the given vectors, r_c 0 or above stored */
  EXPECT_STATUS(mx_exact_search(ix, q, 1, R, R, R, 0, 1, hits, counts, err),
                MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_exact_search(ix, q, 1, R, 0, R, 10, 1, hits, counts, err),
                MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_exact_search(ix, q, 1, 2, 3, R, 10, 1, hits, counts, err),
                MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_exact_search(ix, q, 1, R, R, 0, 10, 1, hits, counts, err),
                MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_exact_search(ix, q, 1, R, R, R + 1, 10, 1, hits, counts, err),
                MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_exact_search(ix, bad, 1, R, R, R, 10, 1, hits, counts, err), MX_ERR_BAD_INPUT);
  EXPECT_STATUS(mx_exact_search(ix, NULL, 0, R, R, R, 10, 1, NULL, NULL, err), MX_OK);
  mx_index_close(ix);
}

Test(misuse, builder_states, .init = build_index, .fini = cleanup) {
  char path[PATH_MAX + 16];
  mx_builder *b = NULL;
  mx_error e;
  mx_status s;

  /* bad shapes and options */
  snprintf(path, sizeof path, "%s/b1", tmp);
  EXPECT_STATUS(mx_builder_open(path, 0, R, NULL, &b, err), MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_builder_open(path, DIM, 0, NULL, &b, err), MX_ERR_INVALID_ARGUMENT);
  mx_build_options o;
  mx_build_options_init(&o);
  o.dtype = (mx_dtype)9;
  EXPECT_STATUS(mx_builder_open(path, DIM, R, &o, &b, err), MX_ERR_INVALID_ARGUMENT);
  mx_build_options_init(&o);
  o.keep = R + 1;
  EXPECT_STATUS(mx_builder_open(path, DIM, R, &o, &b, err), MX_ERR_INVALID_ARGUMENT);
  mx_build_options_init(&o);
  o.n_budgets = 1;
  o.budgets[0] = (mx_budget){0, 0};
  EXPECT_STATUS(mx_builder_open(path, DIM, R, &o, &b, err), MX_ERR_INVALID_ARGUMENT);
  mx_build_options_init(&o);
  o.n_budgets = MX_MAX_BUDGETS + 1;
  EXPECT_STATUS(mx_builder_open(path, DIM, R, &o, &b, err), MX_ERR_INVALID_ARGUMENT);
  mx_build_options_init(&o);
  o.id_kind = (mx_id_kind)7;
  EXPECT_STATUS(mx_builder_open(path, DIM, R, &o, &b, err), MX_ERR_INVALID_ARGUMENT);
  cr_expect(!mx_path_exists(path));
  /* an existing index without overwrite */
  EXPECT_STATUS(mx_builder_open(dir, DIM, R, NULL, &b, err), MX_ERR_EXISTS);

  /* adds with missing arrays or a bad input dtype; n = 0 is a no-op */
  cr_assert_eq(mx_builder_open(path, DIM, R, NULL, &b, &e), MX_OK, "%s", e.message);
  EXPECT_STATUS(mx_builder_add(b, 0, NULL, NULL, NULL, NULL, MX_DTYPE_F32, err), MX_OK);
  EXPECT_STATUS(mx_builder_add(b, 1, NULL, NULL, NULL, NULL, MX_DTYPE_F32, err),
                MX_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(mx_builder_add(b, 1, NULL, NULL, NULL, docs, MX_DTYPE_BF16, err),
                MX_ERR_INVALID_ARGUMENT);
  /* finish with nothing added: a clear error, the builder is freed, no index */
  s = mx_builder_finish(b, &e); /* frees b: call once */
  cr_expect_eq(s, MX_ERR_BAD_INPUT, "%s: %s", mx_status_name(s), e.message);
  b = NULL;
  cr_expect(!mx_path_exists(path));

  /* a failed add: every later add is MX_ERR_STATE, finish fails and frees */
  cr_assert_eq(mx_builder_open(path, DIM, R, NULL, &b, &e), MX_OK, "%s", e.message);
  cr_assert_eq(mx_builder_add(b, 10, NULL, NULL, NULL, docs, MX_DTYPE_F32, &e), MX_OK, "%s",
               e.message);
  float *badv = malloc((size_t)2 * R * DIM * sizeof(float));
  memcpy(badv, docs, (size_t)2 * R * DIM * sizeof(float));
  badv[R * DIM + 1] = NAN;
  s = mx_builder_add(b, 2, NULL, NULL, NULL, badv, MX_DTYPE_F32, &e);
  cr_expect_eq(s, MX_ERR_BAD_INPUT, "%s", e.message);
  cr_expect(strstr(e.message, "document 11") != NULL, "names the document: %s", e.message);
  s = mx_builder_add(b, 10, NULL, NULL, NULL, docs, MX_DTYPE_F32, &e);
  cr_expect_eq(s, MX_ERR_STATE, "%s", mx_status_name(s));
  s = mx_builder_finish(b, &e);
  cr_expect_eq(s, MX_ERR_STATE, "finish after a failed add: %s", mx_status_name(s));
  cr_expect(!mx_path_exists(path), "no index after a failed build");
  free(badv);

  /* abort in the middle, then the same directory builds cleanly */
  cr_assert_eq(mx_builder_open(path, DIM, R, NULL, &b, &e), MX_OK, "%s", e.message);
  cr_assert_eq(mx_builder_add(b, 10, NULL, NULL, NULL, docs, MX_DTYPE_F32, &e), MX_OK, "%s",
               e.message);
  mx_builder_abort(b);
  cr_expect(!mx_path_exists(path));
  mx_build_options_init(&o);
  o.coarse_factory = "Flat";
  cr_assert_eq(mx_builder_open(path, DIM, R, &o, &b, &e), MX_OK, "%s", e.message);
  cr_assert_eq(mx_builder_add(b, N, NULL, NULL, NULL, docs, MX_DTYPE_F32, &e), MX_OK, "%s",
               e.message);
  cr_assert_eq(mx_builder_finish(b, &e), MX_OK, "%s", e.message);
  cr_expect(mx_path_exists(path));
}
