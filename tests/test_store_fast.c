/* test_store_fast.c: the store's fast read path (mx_store_view_prefix)
 * against its reference (mx_store_read_prefix) on real LMDB stores:
 * - random layouts of awkward shapes (N, d, R, dtype, budget lists), random
 *   sequences of reads (ids, prefixes, verified_from), from one thread and
 *   from several at once: the same status and the same view, byte for byte;
 * - a store holding records of another layout (served by the reference);
 * - a byte flipped in each segment and in the header of a record: reported
 *   by the first read after open that covers it (with the reference's
 *   error), by every later one, and by mx_store_verify, while reads that do
 *   not cover it succeed;
 * - each segment hashed by one read only, per open. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "index_internal.h"
#include "record.h"
#include "status.h"
#include "store.h"

typedef struct shape {
  mx_dtype dtype;
  uint32_t dim, n_vectors, n;
  mx_segments seg;
} shape;

typedef struct records {
  shape sh;
  size_t len; /* bytes of one record of the shape */
  unsigned char **rec;
  size_t *rec_len;
} records;

static char *store_dir(const char *name) {
  char *root = mx_test_tmpdir(name);
  size_t n = strlen(root) + 8;
  char *dir = malloc(n);
  snprintf(dir, n, "%s/store", root);
  free(root);
  return dir;
}

static void remove_store(char *dir) {
  *strrchr(dir, '/') = '\0';
  mx_test_tmpdir_remove(dir);
}

static unsigned char *encode(uint64_t id, const shape *sh, const mx_segments *seg, uint32_t nvec,
                             mx_dtype dtype, mx_test_rng *rng, size_t *len) {
  *len = mx_record_bytes(dtype, sh->dim, nvec, seg->n);
  unsigned char *out = malloc(*len);
  float *v = malloc(sizeof(float) * sh->dim * nvec);
  mx_test_random_unit_vectors(rng, v, nvec, sh->dim);
  mx_error err;
  cr_assert_eq(mx_record_encode(out, *len, id, v, MX_DTYPE_F32, dtype, sh->dim, nvec, seg, &err),
               MX_OK, "%s", err.message);
  free(v);
  return out;
}

/* n records of shape sh; every `odd_every`-th (0: none) has another layout
 * (one vector fewer, or another dtype). */
static records make_records(const shape *sh, uint64_t seed, uint32_t odd_every) {
  records r = {.sh = *sh};
  r.len = mx_record_bytes(sh->dtype, sh->dim, sh->n_vectors, sh->seg.n);
  r.rec = calloc(sh->n, sizeof *r.rec);
  r.rec_len = calloc(sh->n, sizeof *r.rec_len);
  mx_test_rng rng = {seed};
  for (uint32_t i = 0; i < sh->n; i++) {
    if (odd_every && i % odd_every == odd_every - 1) {
      if (sh->n_vectors > 1 && i % 2) {
        mx_segments s1;
        cr_assert_eq(mx_segments_from_budgets(NULL, 0, sh->n_vectors - 1, &s1, NULL), MX_OK);
        r.rec[i] = encode(i, sh, &s1, sh->n_vectors - 1, sh->dtype, &rng, &r.rec_len[i]);
      } else {
        mx_dtype other = sh->dtype == MX_DTYPE_F32 ? MX_DTYPE_INT8 : MX_DTYPE_F32;
        r.rec[i] = encode(i, sh, &sh->seg, sh->n_vectors, other, &rng, &r.rec_len[i]);
      }
    } else {
      r.rec[i] = encode(i, sh, &sh->seg, sh->n_vectors, sh->dtype, &rng, &r.rec_len[i]);
    }
  }
  return r;
}

static void free_records(records *r) {
  for (uint32_t i = 0; i < r->sh.n; i++)
    free(r->rec[i]);
  free(r->rec);
  free(r->rec_len);
}

static void write_store(const char *dir, const records *r) {
  mx_store *s;
  mx_error err;
  cr_assert_eq(mx_store_create(dir, (uint64_t)r->sh.n * (r->len + 64), &s, &err), MX_OK, "%s",
               err.message);
  for (uint32_t i = 0; i < r->sh.n; i++)
    cr_assert_eq(mx_store_append(s, i, r->rec[i], r->rec_len[i], &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_store_finish(s, &err), MX_OK, "%s", err.message);
  mx_store_close(s);
}

static mx_store *open_fast(const char *dir, const shape *sh, int verify) {
  mx_store_open_options o;
  mx_store_open_options_init(&o);
  o.verify = verify;
  mx_store *s;
  mx_error err;
  cr_assert_eq(mx_store_open(dir, &o, &s, &err), MX_OK, "%s", err.message);
  mx_store_layout layout = {.dtype = sh->dtype, .dim = sh->dim, .n_vectors = sh->n_vectors,
                            .segments = sh->seg};
  cr_assert_eq(mx_store_fast_enable(s, sh->n, &layout, &err), MX_OK, "%s", err.message);
  return s;
}

/* One read both ways: same status, same message, same view. */
static void compare_read(mx_store_txn *t, uint64_t id, uint32_t prefix, uint32_t from) {
  mx_record_view a, b;
  mx_error ea, eb;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  mx_error_clear(&ea);
  mx_error_clear(&eb);
  mx_status sa = mx_store_read_prefix(t, id, prefix, from, &a, &ea);
  mx_status sb = mx_store_view_prefix(t, id, prefix, from, &b, &eb);
  cr_assert_eq(sb, sa, "id %llu prefix %u from %u: fast %s, reference %s (%s)",
               (unsigned long long)id, prefix, from, mx_status_name(sb), mx_status_name(sa),
               ea.message);
  if (sa != MX_OK) {
    cr_assert_str_eq(eb.message, ea.message);
    return;
  }
  cr_assert(a.vectors == b.vectors, "id %llu prefix %u: another address", (unsigned long long)id,
            prefix);
  cr_assert_eq(b.vector_bytes, a.vector_bytes);
  cr_assert_eq(b.dtype, a.dtype);
  cr_assert_eq(b.dim, a.dim);
  cr_assert_eq(b.n_vectors, a.n_vectors);
  cr_assert_eq(b.stored_vectors, a.stored_vectors);
  cr_assert_eq(b.doc_id, a.doc_id);
}

static const mx_dtype dtypes[] = {MX_DTYPE_F32, MX_DTYPE_F16, MX_DTYPE_BF16, MX_DTYPE_INT8};

static shape random_shape(mx_test_rng *rng) {
  static const uint32_t dims[] = {1, 3, 17, 64, 130};
  static const uint32_t ns[] = {1, 2, 7, 61, 257};
  shape sh = {0};
  sh.dtype = dtypes[mx_test_rng_below(rng, 4)];
  sh.dim = dims[mx_test_rng_below(rng, 5)];
  sh.n_vectors = 1 + (uint32_t)mx_test_rng_below(rng, 20);
  sh.n = ns[mx_test_rng_below(rng, 5)];
  mx_budget b[4];
  uint32_t nb = (uint32_t)mx_test_rng_below(rng, 5);
  for (uint32_t i = 0; i < nb; i++)
    b[i] = (mx_budget){1, 1 + (uint32_t)mx_test_rng_below(rng, sh.n_vectors)};
  cr_assert_eq(mx_segments_from_budgets(b, nb, sh.n_vectors, &sh.seg, NULL), MX_OK);
  return sh;
}

Test(store_fast, equals_reference_on_random_layouts_and_reads) {
  mx_test_rng rng = {20261207};
  for (int trial = 0; trial < 12; trial++) {
    shape sh = random_shape(&rng);
    char name[64];
    snprintf(name, sizeof name, "fast_random_%d", trial);
    char *dir = store_dir(name);
    records r = make_records(&sh, 100 + trial, trial % 3 == 0 ? 5 : 0);
    write_store(dir, &r);
    for (int verify = 0; verify <= 1; verify++) {
      mx_store *s = open_fast(dir, &sh, verify);
      mx_store_txn *t;
      mx_error err;
      cr_assert_eq(mx_store_txn_begin(s, &t, &err), MX_OK, "%s", err.message);
      for (int i = 0; i < 600; i++) {
        /* ids past the end too (missing), prefixes past the stored count */
        uint64_t id = mx_test_rng_below(&rng, sh.n + 2);
        uint32_t prefix = (uint32_t)mx_test_rng_below(&rng, sh.n_vectors + 2);
        uint32_t from = mx_test_rng_below(&rng, 4) == 0 ? (uint32_t)mx_test_rng_below(&rng, prefix + 1)
                                                       : 0;
        compare_read(t, id, prefix, from);
      }
      uint64_t located = 0;
      mx_store_fast_counts(s, &located, NULL);
      cr_assert_gt(located, 0, "trial %d: the fast path never located a record", trial);
      cr_assert_leq(located, sh.n);
      mx_store_txn_end(t);
      mx_store_close(s);
    }
    free_records(&r);
    remove_store(dir);
  }
}

Test(store_fast, records_of_another_layout_take_the_reference_path) {
  shape sh = {.dtype = MX_DTYPE_F16, .dim = 24, .n_vectors = 8, .n = 40};
  mx_budget b[] = {{1, 1}, {2, 4}};
  cr_assert_eq(mx_segments_from_budgets(b, 2, 8, &sh.seg, NULL), MX_OK);
  char *dir = store_dir("fast_other_layout");
  records r = make_records(&sh, 3, 4); /* ids 3, 7, 11, ... differ */
  write_store(dir, &r);
  mx_store *s = open_fast(dir, &sh, 1);
  mx_store_txn *t;
  cr_assert_eq(mx_store_txn_begin(s, &t, NULL), MX_OK);
  for (int pass = 0; pass < 2; pass++)
    for (uint32_t id = 0; id < sh.n; id++)
      for (uint32_t p = 0; p <= sh.n_vectors; p++)
        compare_read(t, id, p, 0);
  uint64_t located;
  mx_store_fast_counts(s, &located, NULL);
  cr_assert_eq(located, sh.n - sh.n / 4, "only records of the layout are remembered");
  mx_store_txn_end(t);
  mx_store_close(s);
  free_records(&r);
  remove_store(dir);
}

Test(store_fast, each_segment_is_hashed_once_per_open) {
  shape sh = {.dtype = MX_DTYPE_BF16, .dim = 33, .n_vectors = 16, .n = 9};
  mx_budget b[] = {{1, 1}, {2, 4}, {4, 8}};
  cr_assert_eq(mx_segments_from_budgets(b, 3, 16, &sh.seg, NULL), MX_OK);
  char *dir = store_dir("fast_hash_once");
  records r = make_records(&sh, 11, 0);
  write_store(dir, &r);
  for (int round = 0; round < 2; round++) { /* a reopen starts over */
    mx_store *s = open_fast(dir, &sh, 1);
    mx_store_txn *t;
    cr_assert_eq(mx_store_txn_begin(s, &t, NULL), MX_OK);
    mx_record_view v;
    uint64_t hashed;
    for (int rep = 0; rep < 3; rep++)
      cr_assert_eq(mx_store_view_prefix(t, 2, 4, 0, &v, NULL), MX_OK);
    mx_store_fast_counts(s, NULL, &hashed);
    cr_assert_eq(hashed, 1, "three reads of [0, 4): one hashing");
    cr_assert_eq(mx_store_view_prefix(t, 2, 3, 0, &v, NULL), MX_OK); /* covered */
    cr_assert_eq(mx_store_view_prefix(t, 2, 1, 0, &v, NULL), MX_OK);
    mx_store_fast_counts(s, NULL, &hashed);
    cr_assert_eq(hashed, 1);
    cr_assert_eq(mx_store_view_prefix(t, 2, 6, 0, &v, NULL), MX_OK); /* [4, 8) */
    cr_assert_eq(mx_store_view_prefix(t, 2, 8, 0, &v, NULL), MX_OK);
    cr_assert_eq(mx_store_view_prefix(t, 2, 16, 0, &v, NULL), MX_OK); /* [8, 16) */
    cr_assert_eq(mx_store_view_prefix(t, 2, 16, 0, &v, NULL), MX_OK);
    mx_store_fast_counts(s, NULL, &hashed);
    cr_assert_eq(hashed, 3);
    mx_store_txn_end(t);
    mx_store_close(s);
  }
  free_records(&r);
  remove_store(dir);
}

static void flip_byte(const char *path, long at) {
  int fd = open(path, O_RDWR);
  cr_assert_geq(fd, 0);
  unsigned char c;
  cr_assert_eq(pread(fd, &c, 1, at), 1);
  c ^= 0x5a;
  cr_assert_eq(pwrite(fd, &c, 1, at), 1);
  close(fd);
}

static int count_problem(void *ctx, uint64_t id, mx_status st, const char *msg) {
  (void)msg;
  uint64_t *bad = ctx;
  if (st == MX_ERR_CORRUPT || st == MX_ERR_FORMAT)
    bad[id < 8 ? id : 7]++;
  return 0;
}

/* A flip at byte `at` of record `victim`'s bytes: the reads that cover it
 * fail as the reference does, every time; the others succeed. Reads of more
 * than `good` vectors cover the damage (every read when all_bad: the
 * header's structure or doc id). */
static void check_flip(const shape *sh, const records *r, uint32_t victim, size_t at,
                       uint32_t good, int all_bad, const char *name) {
  char *dir = store_dir(name);
  write_store(dir, r);
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, MX_STORE_DATA_FILE);
  mx_store *s = open_fast(dir, sh, 1);
  size_t len;
  long off = mx_test_record_offset(s, victim, &len);
  cr_assert_geq(off, 0, "%s: no record %u", name, victim);
  cr_assert_eq(len, r->rec_len[victim]);
  mx_store_close(s);
  flip_byte(path, off + (long)at);
  s = open_fast(dir, sh, 1);
  mx_store_txn *t;
  cr_assert_eq(mx_store_txn_begin(s, &t, NULL), MX_OK);
  /* reads that stop before the damage first (they must not mark it verified) */
  for (uint32_t p = 0; p <= sh->n_vectors; p++) {
    mx_record_view v;
    mx_error e;
    mx_status st = mx_store_view_prefix(t, victim, p, 0, &v, &e);
    if (p > good || all_bad)
      cr_assert_eq(st, MX_ERR_CORRUPT, "%s: prefix %u read the damage and said %s", name, p,
                   mx_status_name(st));
    else
      cr_assert_eq(st, MX_OK, "%s: prefix %u does not cover the damage: %s", name, p, e.message);
    compare_read(t, victim, p, 0);
  }
  for (uint32_t id = 0; id < sh->n; id++)
    if (id != victim)
      compare_read(t, id, sh->n_vectors, 0);
  mx_store_txn_end(t);
  uint64_t bad[8] = {0};
  mx_store_verify_report rep;
  cr_assert_eq(mx_store_verify(s, sh->dim, sh->n_vectors, (int)sh->dtype, count_problem, bad,
                               &rep, NULL),
               MX_OK);
  cr_assert_eq(rep.bad_records, 1, "%s: verify found %llu bad records", name,
               (unsigned long long)rep.bad_records);
  cr_assert_gt(bad[victim], 0, "%s: verify did not name the record", name);
  mx_store_close(s);

  /* after a reopen, the very first read that covers it reports it */
  s = open_fast(dir, sh, 1);
  cr_assert_eq(mx_store_txn_begin(s, &t, NULL), MX_OK);
  mx_record_view v;
  cr_assert_eq(mx_store_view_prefix(t, victim, sh->n_vectors, 0, &v, NULL), MX_ERR_CORRUPT,
               "%s: the first read after open", name);
  mx_store_txn_end(t);
  mx_store_close(s);
  remove_store(dir);
}

Test(store_fast, a_flipped_byte_in_any_segment_or_header_is_reported) {
  shape sh = {.dtype = MX_DTYPE_F16, .dim = 20, .n_vectors = 16, .n = 6};
  mx_budget b[] = {{1, 1}, {2, 4}, {4, 8}};
  cr_assert_eq(mx_segments_from_budgets(b, 3, 16, &sh.seg, NULL), MX_OK);
  records r = make_records(&sh, 99, 0);
  size_t hdr = mx_record_header_bytes(sh.seg.n);
  size_t vb = mx_vector_bytes(sh.dtype, sh.dim);
  mx_test_rng rng = {5};
  uint32_t start = 0;
  for (uint32_t i = 0; i < sh.seg.n; i++) {
    uint32_t end = sh.seg.end[i];
    size_t span = (size_t)(end - start) * vb;
    size_t at = hdr + (size_t)start * vb + (size_t)mx_test_rng_below(&rng, span);
    char name[64];
    snprintf(name, sizeof name, "fast_flip_seg%u", i);
    check_flip(&sh, &r, 3, at, start, 0, name);
    start = end;
  }
  /* header: doc id, a segment end, a stored hash (of segment 0) */
  check_flip(&sh, &r, 2, 17, 0, 1, "fast_flip_doc_id");
  check_flip(&sh, &r, 4, MX_RECORD_FIXED_HEADER_BYTES + 2, 0, 1, "fast_flip_end");
  check_flip(&sh, &r, 1, MX_RECORD_FIXED_HEADER_BYTES + 2 * sh.seg.n + 3, 0, 0, "fast_flip_hash");
  free_records(&r);
}

typedef struct reader_arg {
  mx_store *s;
  const shape *sh;
  uint64_t seed;
  int failures;
} reader_arg;

static void *reader(void *p) {
  reader_arg *a = p;
  mx_store_txn *t;
  if (mx_store_txn_begin(a->s, &t, NULL) != MX_OK) {
    a->failures++;
    return NULL;
  }
  mx_test_rng rng = {a->seed};
  for (int i = 0; i < 4000; i++) {
    uint64_t id = mx_test_rng_below(&rng, a->sh->n);
    uint32_t prefix = 1 + (uint32_t)mx_test_rng_below(&rng, a->sh->n_vectors);
    mx_record_view x, y;
    mx_status sx = mx_store_read_prefix(t, id, prefix, 0, &x, NULL);
    mx_status sy = mx_store_view_prefix(t, id, prefix, 0, &y, NULL);
    if (sx != sy || (sx == MX_OK && (x.vectors != y.vectors || x.n_vectors != y.n_vectors)))
      a->failures++;
  }
  mx_store_txn_end(t);
  return NULL;
}

Test(store_fast, concurrent_readers_agree_with_the_reference) {
  shape sh = {.dtype = MX_DTYPE_INT8, .dim = 31, .n_vectors = 12, .n = 300};
  mx_budget b[] = {{1, 1}, {2, 5}};
  cr_assert_eq(mx_segments_from_budgets(b, 2, 12, &sh.seg, NULL), MX_OK);
  char *dir = store_dir("fast_concurrent");
  records r = make_records(&sh, 17, 0);
  write_store(dir, &r);
  mx_store *s = open_fast(dir, &sh, 1);
  enum { T = 6 };
  pthread_t th[T];
  reader_arg args[T];
  for (int i = 0; i < T; i++) {
    args[i] = (reader_arg){s, &sh, 1000u + (uint64_t)i, 0};
    cr_assert_eq(pthread_create(&th[i], NULL, reader, &args[i]), 0);
  }
  for (int i = 0; i < T; i++) {
    pthread_join(th[i], NULL);
    cr_assert_eq(args[i].failures, 0, "thread %d disagreed %d times", i, args[i].failures);
  }
  uint64_t located;
  mx_store_fast_counts(s, &located, NULL);
  cr_assert_eq(located > 0 && located <= sh.n, 1);
  mx_store_close(s);
  free_records(&r);
  remove_store(dir);
}

Test(store_fast, bad_arguments) {
  shape sh = {.dtype = MX_DTYPE_F32, .dim = 4, .n_vectors = 2, .n = 3};
  cr_assert_eq(mx_segments_from_budgets(NULL, 0, 2, &sh.seg, NULL), MX_OK);
  char *dir = store_dir("fast_bad_args");
  records r = make_records(&sh, 1, 0);
  write_store(dir, &r);
  mx_store *s = open_fast(dir, &sh, 1);
  mx_store_layout layout = {.dtype = sh.dtype, .dim = sh.dim, .n_vectors = sh.n_vectors,
                            .segments = sh.seg};
  mx_error err;
  cr_assert_eq(mx_store_fast_enable(s, sh.n, &layout, &err), MX_ERR_STATE, "a second enable");
  mx_store_close(s);
  mx_store_open_options o;
  mx_store_open_options_init(&o);
  cr_assert_eq(mx_store_open(dir, &o, &s, NULL), MX_OK);
  layout.n_vectors = 3; /* segments end at 2 */
  cr_assert_eq(mx_store_fast_enable(s, sh.n, &layout, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "layout") != NULL, "%s", err.message);
  uint64_t located = 7, hashed = 7;
  mx_store_fast_counts(s, &located, &hashed);
  cr_assert_eq(located + hashed, 0, "not enabled: no counts");
  mx_store_txn *t; /* not enabled: the reference path serves */
  cr_assert_eq(mx_store_txn_begin(s, &t, NULL), MX_OK);
  compare_read(t, 1, 2, 0);
  compare_read(t, 5, 2, 0);
  mx_store_txn_end(t);
  mx_store_close(s);
  free_records(&r);
  remove_store(dir);
}

/* A built index reads its candidates through the fast path (the layout
 * index.c derives from the manifest is the builder's), and its answers with
 * every document a candidate are mx_exact_search's (the reference read),
 * bit for bit, for each dtype. */
Test(store_fast, built_indexes_search_through_it_and_match_exact) {
  enum { D = 19, RC = 7, NDOC = 150, NQ = 3, RQ = 3, K = 12 };
  for (int di = 0; di < 4; di++) {
    char name[64];
    snprintf(name, sizeof name, "fast_index_%d", di);
    char *tmp = mx_test_tmpdir(name);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/ix", tmp);
    mx_test_rng rng = {31 + (uint64_t)di};
    float *docs = malloc(sizeof(float) * NDOC * RC * D);
    float q[NQ * RQ * D];
    mx_test_random_unit_vectors(&rng, docs, (size_t)NDOC * RC, D);
    mx_test_random_unit_vectors(&rng, q, (size_t)NQ * RQ, D);
    mx_build_options o;
    mx_build_options_init(&o);
    o.dtype = dtypes[di];
    mx_builder *b;
    mx_error err;
    cr_assert_eq(mx_builder_open(dir, D, RC, &o, &b, &err), MX_OK, "%s", err.message);
    cr_assert_eq(mx_builder_add(b, NDOC, NULL, NULL, NULL, docs, MX_DTYPE_F32, &err), MX_OK, "%s",
                 err.message);
    cr_assert_eq(mx_builder_finish(b, &err), MX_OK, "%s", err.message);
    mx_index *ix;
    cr_assert_eq(mx_index_open(dir, NULL, &ix, &err), MX_OK, "%s", err.message);
    mx_hit exact[NQ * K], hits[K];
    uint32_t ne[NQ], nh;
    cr_assert_eq(mx_exact_search(ix, q, NQ, RQ, RQ, 5, K, 1, exact, ne, &err), MX_OK, "%s",
                 err.message);
    mx_search_options so;
    mx_search_options_init(&so);
    so.k = K;
    so.r_q = RQ;
    so.r_c = 5;
    for (int rep = 0; rep < 2; rep++) /* the second time through remembered records */
      for (int i = 0; i < NQ; i++) {
        so.candidates = NDOC;
        cr_assert_eq(mx_search(ix, q + i * RQ * D, RQ, &so, hits, &nh, NULL, &err), MX_OK, "%s",
                     err.message);
        cr_assert_eq(nh, ne[i]);
        for (uint32_t h = 0; h < nh; h++) {
          cr_assert_eq(hits[h].doc, exact[i * K + h].doc, "%s q%d hit %u", mx_dtype_name(o.dtype),
                       i, h);
          cr_assert(hits[h].score == exact[i * K + h].score, "%s q%d hit %u: %.9g vs %.9g",
                    mx_dtype_name(o.dtype), i, h, hits[h].score, exact[i * K + h].score);
        }
        so.candidates = 40; /* through the coarse stage */
        cr_assert_eq(mx_search(ix, q + i * RQ * D, RQ, &so, hits, &nh, NULL, &err), MX_OK, "%s",
                     err.message);
      }
    uint64_t located = 0, hashed = 0;
    mx_store_fast_counts(mx_index_store(ix), &located, &hashed);
    cr_assert_eq(located, NDOC, "%s: every document located once", mx_dtype_name(o.dtype));
    cr_assert_eq(hashed, NDOC, "%s: one prefix, hashed once per document",
                 mx_dtype_name(o.dtype));
    mx_index_close(ix);
    free(docs);
    mx_test_tmpdir_remove(tmp);
  }
}
