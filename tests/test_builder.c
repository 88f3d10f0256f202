/* test_builder.c: the offline builder through the public API, on real LMDB,
 * FAISS and files in a temporary directory. */
#include <criterion/criterion.h>
#include <limits.h>
#include <lmdb.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "helpers.h"
#include "manifest.h"
#include "metaidx.h"

#define DIM 24
#define R 8

static float *random_docs(uint64_t seed, size_t n) {
  mx_test_rng rng = {seed};
  float *v = malloc(n * R * DIM * sizeof(float));
  cr_assert_not_null(v);
  mx_test_random_unit_vectors(&rng, v, n * R, DIM);
  return v;
}

static char *path_in(const char *dir, const char *name) {
  char *p = malloc(PATH_MAX);
  snprintf(p, PATH_MAX, "%s/%s", dir, name);
  return p;
}

static mx_status build(const char *dir, const float *docs, size_t n, const mx_build_options *o,
                       mx_error *err) {
  mx_builder *b = NULL;
  mx_status s = mx_builder_open(dir, DIM, R, o, &b, err);
  if (s != MX_OK)
    return s;
  s = mx_builder_add(b, n, NULL, NULL, NULL, docs, MX_DTYPE_F32, err);
  if (s != MX_OK) {
    mx_builder_abort(b);
    return s;
  }
  return mx_builder_finish(b, err);
}

/* Every hit list of a batch of queries, for comparing two indexes. */
static void search_all(const char *dir, const float *queries, uint32_t nq, mx_hit *hits,
                       uint32_t *n_hits) {
  mx_index *ix = NULL;
  mx_error err;
  cr_assert_eq(mx_index_open(dir, NULL, &ix, &err), MX_OK, "%s", err.message);
  mx_search_options o;
  mx_search_options_init(&o);
  o.candidates = 50;
  cr_assert_eq(mx_search_batch(ix, queries, nq, R, &o, 1, hits, n_hits, NULL, &err), MX_OK, "%s",
               err.message);
  mx_index_close(ix);
}

Test(builder, several_adds_equal_one_add) {
  char *tmp = mx_test_tmpdir("builder_adds");
  char *one = path_in(tmp, "one"), *many = path_in(tmp, "many");
  size_t n = 300;
  float *docs = random_docs(1, n);
  mx_build_options o;
  mx_build_options_init(&o);
  mx_error err;
  cr_assert_eq(build(one, docs, n, &o, &err), MX_OK, "%s", err.message);
  mx_builder *b = NULL;
  cr_assert_eq(mx_builder_open(many, DIM, R, &o, &b, &err), MX_OK, "%s", err.message);
  size_t sizes[] = {1, 99, 0, 37, 163};
  size_t at = 0;
  for (size_t i = 0; i < 5; i++) {
    cr_assert_eq(mx_builder_add(b, sizes[i], NULL, NULL, NULL, docs + at * R * DIM, MX_DTYPE_F32,
                                &err),
                 MX_OK, "%s", err.message);
    at += sizes[i];
  }
  cr_assert_eq(at, n);
  cr_assert_eq(mx_builder_finish(b, &err), MX_OK, "%s", err.message);

  mx_hit h1[20 * 10], h2[20 * 10];
  uint32_t n1[20], n2[20];
  search_all(one, docs, 20, h1, n1);
  search_all(many, docs, 20, h2, n2);
  for (int q = 0; q < 20; q++) {
    cr_assert_eq(n1[q], n2[q]);
    cr_assert_eq(n1[q], 10);
    for (uint32_t i = 0; i < n1[q]; i++) {
      cr_assert_eq(h1[q * 10 + i].doc, h2[q * 10 + i].doc);
      cr_assert_float_eq(h1[q * 10 + i].score, h2[q * 10 + i].score, 0.0f);
    }
    cr_assert_eq(h1[q * 10].doc, (uint64_t)q, "a document's own vectors find it first");
  }
  free(docs);
  free(one);
  free(many);
  mx_test_tmpdir_remove(tmp);
}

Test(builder, manifest_records_the_build) {
  char *tmp = mx_test_tmpdir("builder_manifest");
  char *dir = path_in(tmp, "ix");
  float *docs = random_docs(2, 100);
  mx_build_options o;
  mx_build_options_init(&o);
  o.dtype = MX_DTYPE_BF16;
  o.keep = 5;
  mx_error err;
  cr_assert_eq(build(dir, docs, 100, &o, &err), MX_OK, "%s", err.message);
  mx_manifest m;
  cr_assert_eq(mx_manifest_read(dir, &m, &err), MX_OK, "%s", err.message);
  cr_assert_eq(m.dim, DIM);
  cr_assert_eq(m.vectors_per_doc, 5);
  cr_assert_eq(m.input_vectors_per_doc, R);
  cr_assert_eq(m.dtype, MX_DTYPE_BF16);
  cr_assert_eq(m.n_docs, 100);
  /* MetaEmbed's list clipped to 5 kept vectors: (1,1) (2,4) then (4,5). */
  cr_assert_eq(m.n_budgets, 3);
  cr_assert_eq(m.budgets[2].r_c, 5);
  cr_assert_eq(m.budgets[1].r_c, 4);
  cr_assert_neq(m.coarse_factory[0], '\0');
  cr_assert_neq(m.coarse_xxh3, 0);
  char *lock = path_in(tmp, "ix.building.lock"), *building = path_in(tmp, "ix.building");
  cr_assert_not(mx_path_exists(lock), "the lock file is gone after a build");
  cr_assert_not(mx_path_exists(building), "the build directory is gone after publishing");
  mx_index *ix = NULL;
  cr_assert_eq(mx_index_open(dir, NULL, &ix, &err), MX_OK, "%s", err.message);
  mx_search_options so;
  mx_search_options_init(&so);
  so.r_c = 6;
  mx_hit hits[10];
  uint32_t nh;
  cr_assert_eq(mx_search(ix, docs, R, &so, hits, &nh, NULL, &err), MX_ERR_INVALID_ARGUMENT,
               "r_c beyond --keep is refused");
  cr_assert(strstr(err.message, "r_c 6") != NULL, "%s", err.message);
  mx_index_close(ix);
  free(lock);
  free(building);
  free(docs);
  free(dir);
  mx_test_tmpdir_remove(tmp);
}

Test(builder, bad_input_leaves_no_index) {
  char *tmp = mx_test_tmpdir("builder_bad");
  char *dir = path_in(tmp, "ix");
  size_t n = 50;
  mx_build_options o;
  mx_build_options_init(&o);
  struct {
    const char *what;
    size_t doc, vec, elem;
    float value;
    const char *message;
  } cases[] = {
      {"NaN", 7, 2, 3, NAN, "document 7 vector 2 element 3 is NaN"},
      {"Inf", 9, 0, 0, INFINITY, "is infinite"},
      {"not normalised", 11, 1, 0, 5.0f, "has norm"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    float *docs = random_docs(3, n);
    docs[(cases[c].doc * R + cases[c].vec) * DIM + cases[c].elem] = cases[c].value;
    mx_error err;
    cr_assert_eq(build(dir, docs, n, &o, &err), MX_ERR_BAD_INPUT, "%s", cases[c].what);
    cr_assert(strstr(err.message, cases[c].message) != NULL, "%s: %s", cases[c].what,
              err.message);
    cr_assert_not(mx_path_exists(dir), "%s: no index directory", cases[c].what);
    free(docs);
  }
  float *docs = random_docs(4, n);
  memset(docs + (3 * R + 4) * DIM, 0, DIM * sizeof(float));
  mx_error err;
  cr_assert_eq(build(dir, docs, n, &o, &err), MX_ERR_BAD_INPUT);
  cr_assert(strstr(err.message, "document 3 vector 4 is all zeros") != NULL, "%s", err.message);
  cr_assert_not(mx_path_exists(dir));
  /* normalize accepts what was rejected for its norm */
  float *big = random_docs(5, n);
  for (size_t i = 0; i < n * R * DIM; i++)
    big[i] *= 3.0f;
  cr_assert_eq(build(dir, big, n, &o, &err), MX_ERR_BAD_INPUT);
  o.normalize = 1;
  cr_assert_eq(build(dir, big, n, &o, &err), MX_OK, "%s", err.message);
  cr_assert(mx_path_exists(dir));
  free(big);
  free(docs);
  free(dir);
  mx_test_tmpdir_remove(tmp);
}

Test(builder, existing_target_needs_overwrite_and_must_be_an_index) {
  char *tmp = mx_test_tmpdir("builder_exists");
  char *dir = path_in(tmp, "ix");
  float *docs = random_docs(6, 40);
  mx_build_options o;
  mx_build_options_init(&o);
  mx_error err;
  cr_assert_eq(build(dir, docs, 40, &o, &err), MX_OK, "%s", err.message);
  cr_assert_eq(build(dir, docs, 30, &o, &err), MX_ERR_EXISTS);
  cr_assert(strstr(err.message, "already exists") != NULL, "%s", err.message);
  o.overwrite = 1;
  cr_assert_eq(build(dir, docs, 30, &o, &err), MX_OK, "%s", err.message);
  mx_manifest m;
  cr_assert_eq(mx_manifest_read(dir, &m, &err), MX_OK, "%s", err.message);
  cr_assert_eq(m.n_docs, 30, "the new index replaced the old one");
  char *building = path_in(tmp, "ix.building");
  cr_assert_not(mx_path_exists(building), "the old index was removed after the swap");
  /* a directory with someone else's files is never replaced */
  char *other = path_in(tmp, "other");
  cr_assert_eq(mx_mkdir_p(other, &err), MX_OK);
  char *precious = path_in(other, "precious.txt");
  cr_assert_eq(mx_write_file_atomic(precious, "x", 1, &err), MX_OK);
  cr_assert_eq(build(other, docs, 30, &o, &err), MX_ERR_EXISTS);
  cr_assert(strstr(err.message, "not a metaidx index") != NULL, "%s", err.message);
  cr_assert(mx_path_exists(precious));
  free(precious);
  free(other);
  free(building);
  free(docs);
  free(dir);
  mx_test_tmpdir_remove(tmp);
}

/* Changes the "ids" map of the store under dir: deletes the key of
 * `missing` and gives `short_key` a 7-byte key, as damage would. */
static void damage_id_map(const char *dir, uint64_t missing, uint64_t short_key) {
  char store[PATH_MAX];
  snprintf(store, sizeof store, "%s/store", dir);
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  cr_assert_eq(mdb_env_create(&env), 0);
  cr_assert_eq(mdb_env_set_maxdbs(env, 8), 0);
  cr_assert_eq(mdb_env_set_mapsize(env, (size_t)1 << 30), 0);
  cr_assert_eq(mdb_env_open(env, store, 0, 0644), 0);
  cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
  cr_assert_eq(mdb_dbi_open(txn, "ids", 0, &dbi), 0);
  unsigned char kb[8];
  for (int i = 0; i < 8; i++)
    kb[i] = (unsigned char)(missing >> (56 - 8 * i));
  MDB_val k = {8, kb}, v = {7, "1234567"};
  cr_assert_eq(mdb_del(txn, dbi, &k, NULL), 0);
  for (int i = 0; i < 8; i++)
    kb[i] = (unsigned char)(short_key >> (56 - 8 * i));
  cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
  cr_assert_eq(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

Test(builder, a_damaged_u64_id_map_is_corrupt_not_the_internal_id) {
  char *tmp = mx_test_tmpdir("builder_ids_damaged");
  char *dir = path_in(tmp, "u64");
  size_t n = 60;
  float *docs = random_docs(9, n);
  uint64_t ids[60];
  for (size_t i = 0; i < n; i++)
    ids[i] = 1000000 + 7 * i;
  mx_build_options o;
  mx_build_options_init(&o);
  o.id_kind = MX_IDS_U64;
  mx_error err;
  mx_builder *b = NULL;
  cr_assert_eq(mx_builder_open(dir, DIM, R, &o, &b, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_builder_add(b, n, ids, NULL, NULL, docs, MX_DTYPE_F32, &err), MX_OK, "%s",
               err.message);
  cr_assert_eq(mx_builder_finish(b, &err), MX_OK, "%s", err.message);
  damage_id_map(dir, 13, 14);

  mx_index *ix = NULL;
  cr_assert_eq(mx_index_open(dir, NULL, &ix, &err), MX_OK, "%s", err.message);
  mx_hit hits[10];
  uint32_t nh = 99;
  for (uint64_t d = 13; d <= 14; d++) {
    cr_assert_eq(mx_search(ix, docs + d * R * DIM, R, NULL, hits, &nh, NULL, &err),
                 MX_ERR_CORRUPT, "doc %llu: %s", (unsigned long long)d, err.message);
    cr_assert_eq(nh, 0);
    char want[32];
    snprintf(want, sizeof want, "document %llu", (unsigned long long)d);
    cr_assert(strstr(err.message, want), "%s", err.message);
    cr_assert_eq(mx_exact_search(ix, docs + d * R * DIM, 1, R, R, R, 1, 1, hits, &nh, &err),
                 MX_ERR_CORRUPT, "%s", err.message);
    char key[32];
    size_t len;
    cr_assert_eq(mx_index_doc_key(ix, d, key, sizeof key, &len, &err), MX_ERR_CORRUPT, "%s",
                 err.message);
  }
  /* documents whose ids are intact still answer */
  cr_assert_eq(mx_search(ix, docs + 40 * R * DIM, R, NULL, hits, &nh, NULL, &err), MX_OK, "%s",
               err.message);
  cr_assert_eq(hits[0].id, ids[40]);
  mx_index_close(ix);
  free(docs);
  free(dir);
  mx_test_tmpdir_remove(tmp);
}

Test(builder, external_ids_round_trip) {
  char *tmp = mx_test_tmpdir("builder_ids");
  char *dir_u64 = path_in(tmp, "u64"), *dir_str = path_in(tmp, "str");
  size_t n = 60;
  float *docs = random_docs(7, n);
  uint64_t ids[60];
  char keys_buf[60][32];
  const char *keys[60];
  for (size_t i = 0; i < n; i++) {
    ids[i] = 0xfedcba9876543210ull - i * 1000003ull;
    snprintf(keys_buf[i], sizeof keys_buf[i], "doc-%03zu-é", i);
    keys[i] = keys_buf[i];
  }
  mx_build_options o;
  mx_build_options_init(&o);
  mx_error err;
  mx_builder *b = NULL;
  o.id_kind = MX_IDS_U64;
  cr_assert_eq(mx_builder_open(dir_u64, DIM, R, &o, &b, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_builder_add(b, n, ids, NULL, NULL, docs, MX_DTYPE_F32, &err), MX_OK, "%s",
               err.message);
  cr_assert_eq(mx_builder_finish(b, &err), MX_OK, "%s", err.message);
  o.id_kind = MX_IDS_STRING;
  cr_assert_eq(mx_builder_open(dir_str, DIM, R, &o, &b, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_builder_add(b, n, NULL, keys, NULL, docs, MX_DTYPE_F32, &err), MX_OK, "%s",
               err.message);
  cr_assert_eq(mx_builder_finish(b, &err), MX_OK, "%s", err.message);

  mx_index *ix = NULL;
  cr_assert_eq(mx_index_open(dir_u64, NULL, &ix, &err), MX_OK, "%s", err.message);
  mx_hit hits[10];
  uint32_t nh;
  cr_assert_eq(mx_search(ix, docs + 13 * R * DIM, R, NULL, hits, &nh, NULL, &err), MX_OK, "%s",
               err.message);
  cr_assert_eq(hits[0].doc, 13);
  cr_assert_eq(hits[0].id, ids[13], "64-bit external id comes back whole");
  char key[64];
  size_t len;
  cr_assert_eq(mx_index_doc_key(ix, 13, key, sizeof key, &len, &err), MX_OK, "%s", err.message);
  char want[32];
  snprintf(want, sizeof want, "%llu", (unsigned long long)ids[13]);
  cr_assert_str_eq(key, want);
  mx_index_close(ix);
  cr_assert_eq(mx_index_open(dir_str, NULL, &ix, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_index_doc_key(ix, 42, key, sizeof key, &len, &err), MX_OK, "%s", err.message);
  cr_assert_str_eq(key, keys[42]);
  cr_assert_eq(len, strlen(keys[42]));
  cr_assert_eq(mx_index_doc_key(ix, 60, key, sizeof key, &len, &err), MX_ERR_NOT_FOUND);
  mx_index_close(ix);

  /* a duplicate id fails the build and leaves nothing */
  char *dir_dup = path_in(tmp, "dup");
  ids[30] = ids[10];
  o.id_kind = MX_IDS_U64;
  cr_assert_eq(mx_builder_open(dir_dup, DIM, R, &o, &b, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_builder_add(b, n, ids, NULL, NULL, docs, MX_DTYPE_F32, &err), MX_ERR_EXISTS);
  cr_assert_eq(mx_builder_add(b, 1, ids, NULL, NULL, docs, MX_DTYPE_F32, &err), MX_ERR_STATE);
  mx_builder_abort(b);
  cr_assert_not(mx_path_exists(dir_dup));
  free(dir_dup);
  free(docs);
  free(dir_u64);
  free(dir_str);
  mx_test_tmpdir_remove(tmp);
}

Test(builder, invalid_options_are_clear_errors) {
  char *tmp = mx_test_tmpdir("builder_opts");
  char *dir = path_in(tmp, "ix");
  mx_build_options o;
  mx_build_options_init(&o);
  mx_builder *b = NULL;
  mx_error err;
  cr_assert_eq(mx_builder_open(dir, 0, R, &o, &b, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mx_builder_open(dir, DIM, 0, &o, &b, &err), MX_ERR_INVALID_ARGUMENT);
  o.keep = R + 1;
  cr_assert_eq(mx_builder_open(dir, DIM, R, &o, &b, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "keep") != NULL, "%s", err.message);
  o.keep = 0;
  o.n_budgets = 1;
  o.budgets[0] = (mx_budget){4, R + 2};
  cr_assert_eq(mx_builder_open(dir, DIM, R, &o, &b, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "budget 4x10") != NULL, "%s", err.message);
  o.n_budgets = 0;
  o.coarse_factory = "NotAnIndex123";
  float *docs = random_docs(8, 20);
  cr_assert_eq(build(dir, docs, 20, &o, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "NotAnIndex123") != NULL, "%s", err.message);
  cr_assert_not(mx_path_exists(dir));
  cr_assert_null(b);
  cr_assert_eq(mx_builder_add(NULL, 1, NULL, NULL, NULL, docs, MX_DTYPE_F32, &err),
               MX_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mx_builder_finish(NULL, &err), MX_ERR_INVALID_ARGUMENT);
  mx_builder_abort(NULL);
  cr_assert_eq(mx_builder_open(dir, DIM, R, NULL, &b, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_builder_finish(b, &err), MX_ERR_BAD_INPUT, "an empty build is an error");
  cr_assert_not(mx_path_exists(dir));
  free(docs);
  free(dir);
  mx_test_tmpdir_remove(tmp);
}

Test(builder, ivf_build_on_one_thread_finds_each_document) {
  char *tmp = mx_test_tmpdir("builder_threads");
  char *dir = path_in(tmp, "ix");
  size_t n = 400;
  float *docs = random_docs(9, n);
  mx_build_options o;
  mx_build_options_init(&o);
  o.coarse_factory = "IVF4,Flat";
  o.coarse_nprobe = 4; /* every list: the coarse stage is exact */
  o.threads = 1;       /* FAISS training and adding on one OpenMP thread */
  mx_error err;
  cr_assert_eq(build(dir, docs, n, &o, &err), MX_OK, "%s", err.message);
  mx_hit hits[20 * 10];
  uint32_t nh[20];
  search_all(dir, docs, 20, hits, nh);
  for (int q = 0; q < 20; q++)
    cr_assert_eq(hits[q * 10].doc, (uint64_t)q, "query %d", q);
  free(docs);
  free(dir);
  mx_test_tmpdir_remove(tmp);
}

/* normalize on vectors whose norm is below ~3e-39 (where 1/norm overflows a
 * float) gives unit vectors, not infinite ones (issue 12 item 6). */
Test(builder, normalize_handles_tiny_norms) {
  char *tmp = mx_test_tmpdir("builder_tiny");
  char *dir = path_in(tmp, "ix");
  size_t n = 40;
  float *docs = random_docs(21, n);
  float *tiny = malloc(n * R * DIM * sizeof(float));
  for (size_t i = 0; i < n * R * DIM; i++)
    tiny[i] = docs[i] * 1e-39f; /* subnormal floats */
  mx_build_options o;
  mx_build_options_init(&o);
  o.normalize = 1;
  o.dtype = MX_DTYPE_F32;
  mx_error err;
  cr_assert_eq(build(dir, tiny, n, &o, &err), MX_OK, "%s", err.message);
  mx_index *ix = NULL;
  cr_assert_eq(mx_index_open(dir, NULL, &ix, &err), MX_OK, "%s", err.message);
  for (size_t d = 0; d < n; d += 13) {
    mx_hit hits[10];
    uint32_t nh = 0;
    cr_assert_eq(mx_search(ix, docs + d * R * DIM, R, NULL, hits, &nh, NULL, &err), MX_OK, "%s",
                 err.message);
    cr_assert_gt(nh, 0, "no hits for document %zu", d);
    cr_assert_eq(hits[0].doc, d);
    cr_assert(isfinite(hits[0].score) && fabsf(hits[0].score - (float)R) < 0.05f,
              "document %zu scores %g against itself, want about %d", d, hits[0].score, R);
  }
  mx_index_close(ix);
  free(tiny);
  free(docs);
  free(dir);
  mx_test_tmpdir_remove(tmp);
}

/* String ids that some run format cannot print are refused, naming the
 * document and byte (issue 12 item 17); any UTF-8 without spaces passes. */
Test(builder, unprintable_string_ids_are_refused) {
  char *tmp = mx_test_tmpdir("builder_badids");
  char *dir = path_in(tmp, "ix");
  size_t n = 4;
  float *docs = random_docs(22, n);
  mx_build_options o;
  mx_build_options_init(&o);
  o.id_kind = MX_IDS_STRING;
  static const struct {
    const char *id;
    size_t len;
    int ok;
  } cases[] = {
      {"caf\xc3\xa9", 5, 1},   {"\xe2\x82\xac-1", 5, 1}, {"\xf0\x9f\x98\x80", 4, 1},
      {"a b", 3, 0},           {"a\tb", 3, 0},           {"a\nb", 3, 0},
      {"a\rb", 3, 0},          {"a\0b", 3, 0},           {"\xff", 1, 0},
      {"\xc3", 1, 0},          {"\xc0\xaf", 2, 0},       {"\xed\xa0\x80", 3, 0},
      {"\xf4\x90\x80\x80", 4, 0}, {"x\x7f", 2, 0},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const char *keys[4] = {"k0", "k1", cases[c].id, "k3"};
    size_t lens[4] = {2, 2, cases[c].len, 2};
    mx_builder *b = NULL;
    mx_error err;
    cr_assert_eq(mx_builder_open(dir, DIM, R, &o, &b, &err), MX_OK, "%s", err.message);
    mx_status s = mx_builder_add(b, n, NULL, keys, lens, docs, MX_DTYPE_F32, &err);
    if (cases[c].ok) {
      cr_assert_eq(s, MX_OK, "case %zu: %s", c, err.message);
    } else {
      cr_assert_eq(s, MX_ERR_BAD_INPUT, "case %zu was accepted", c);
      cr_assert(strstr(err.message, "document 2: id byte"), "case %zu: %s", c, err.message);
    }
    mx_builder_abort(b);
  }
  free(docs);
  free(dir);
  mx_test_tmpdir_remove(tmp);
}
