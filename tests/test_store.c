/* test_store.c: the LMDB store (storage/store.h) on real environments in
 * temporary directories: round trips, writer errors, map growth, many
 * reader threads, reader-slot exhaustion, verification of a damaged file,
 * opening what is not a store. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "helpers.h"
#include "record.h"
#include "status.h"
#include "store.h"

#define DIM 64u
#define NVEC 16u

static char *store_dir(const char *name) {
  char *root = mx_test_tmpdir(name);
  size_t n = strlen(root) + 8;
  char *dir = malloc(n);
  snprintf(dir, n, "%s/store", root);
  free(root);
  return dir;
}

static void remove_store(char *dir) {
  char *slash = strrchr(dir, '/');
  *slash = '\0';
  mx_test_tmpdir_remove(dir);
}

/* n encoded f16 records (DIM x NVEC, segments 1,4,8,16), concatenated;
 * offsets[i] / lens[i] locate record i. */
typedef struct records {
  unsigned char *bytes;
  size_t *off;
  size_t len;
  size_t n;
} records;

static records make_records(size_t n, uint64_t seed) {
  static const mx_budget budgets[] = {{1, 1}, {2, 4}, {4, 8}, {8, 16}};
  mx_segments seg;
  mx_error err;
  cr_assert_eq(mx_segments_from_budgets(budgets, 4, NVEC, &seg, &err), MX_OK, "%s", err.message);
  records r = {0};
  r.n = n;
  r.len = mx_record_bytes(MX_DTYPE_F16, DIM, NVEC, seg.n);
  r.bytes = malloc(n * r.len);
  r.off = malloc(n * sizeof *r.off);
  float *v = malloc(sizeof(float) * DIM * NVEC);
  mx_test_rng rng = {seed};
  for (size_t i = 0; i < n; i++) {
    mx_test_random_unit_vectors(&rng, v, NVEC, DIM);
    r.off[i] = i * r.len;
    cr_assert_eq(mx_record_encode(r.bytes + r.off[i], r.len, i, v, MX_DTYPE_F32, MX_DTYPE_F16, DIM,
                                  NVEC, &seg, &err),
                 MX_OK, "%s", err.message);
  }
  free(v);
  return r;
}

static void free_records(records *r) {
  free(r->bytes);
  free(r->off);
}

static void write_store(const char *dir, const records *r, int keys) {
  mx_store *s;
  mx_error err;
  cr_assert_eq(mx_store_create(dir, r->n * r->len, &s, &err), MX_OK, "%s", err.message);
  for (size_t i = 0; i < r->n; i++) {
    if (i % 2) {
      cr_assert_eq(mx_store_append(s, i, r->bytes + r->off[i], r->len, &err), MX_OK, "%s",
                   err.message);
    } else {
      void *dst;
      cr_assert_eq(mx_store_append_reserve(s, i, r->len, &dst, &err), MX_OK, "%s", err.message);
      memcpy(dst, r->bytes + r->off[i], r->len);
    }
    if (keys) {
      char key[32];
      snprintf(key, sizeof key, "doc-%zu", i);
      cr_assert_eq(mx_store_put_key(s, i, key, strlen(key), &err), MX_OK, "%s", err.message);
    }
  }
  cr_assert_eq(mx_store_put_meta(s, "name", "value", 5, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_store_finish(s, &err), MX_OK, "%s", err.message);
  mx_store_close(s);
}

static mx_store *open_store(const char *dir, unsigned readers, int verify) {
  mx_store_open_options o;
  mx_store_open_options_init(&o);
  o.max_readers = readers;
  o.verify = verify;
  mx_store *s;
  mx_error err;
  cr_assert_eq(mx_store_open(dir, &o, &s, &err), MX_OK, "%s", err.message);
  return s;
}

typedef struct problems {
  int n;
  uint64_t first_id;
  mx_status first_status;
  char first_message[MX_ERROR_MESSAGE_MAX];
} problems;

static int on_problem(void *ctx, uint64_t id, mx_status st, const char *msg) {
  problems *p = ctx;
  if (p->n++ == 0) {
    p->first_id = id;
    p->first_status = st;
    snprintf(p->first_message, sizeof p->first_message, "%s", msg);
  }
  return 0;
}

Test(store, round_trip_records_keys_meta) {
  char *dir = store_dir("store_round_trip");
  records r = make_records(40, 1);
  write_store(dir, &r, 1);
  mx_store *s = open_store(dir, 0, 1);
  mx_error err;
  uint64_t count;
  cr_assert_eq(mx_store_count(s, &count, &err), MX_OK, "%s", err.message);
  cr_assert_eq(count, r.n);
  mx_store_txn *t;
  cr_assert_eq(mx_store_txn_begin(s, &t, &err), MX_OK, "%s", err.message);
  size_t hdr = r.len - (size_t)NVEC * mx_vector_bytes(MX_DTYPE_F16, DIM);
  static const uint32_t prefixes[] = {1, 3, 4, 8, 16};
  for (size_t i = 0; i < r.n; i++) {
    const void *rec;
    size_t len;
    cr_assert_eq(mx_store_get(t, i, &rec, &len, &err), MX_OK, "%s", err.message);
    cr_assert_eq(len, r.len);
    cr_assert_eq(memcmp(rec, r.bytes + r.off[i], len), 0, "record %zu differs", i);
    for (size_t p = 0; p < sizeof prefixes / sizeof *prefixes; p++) {
      mx_record_view v;
      cr_assert_eq(mx_store_read_prefix(t, i, prefixes[p], 0, &v, &err), MX_OK, "%s", err.message);
      cr_assert_eq(v.n_vectors, prefixes[p]);
      cr_assert_eq(v.stored_vectors, NVEC);
      cr_assert_eq(v.dim, DIM);
      cr_assert_eq(v.dtype, MX_DTYPE_F16);
      cr_assert_eq(memcmp(v.vectors, r.bytes + r.off[i] + hdr, prefixes[p] * v.vector_bytes), 0,
                   "record %zu prefix %u differs", i, prefixes[p]);
    }
    char want[32];
    snprintf(want, sizeof want, "doc-%zu", i);
    const void *key;
    size_t key_len;
    cr_assert_eq(mx_store_get_key(t, i, &key, &key_len, &err), MX_OK, "%s", err.message);
    cr_assert_eq(key_len, strlen(want));
    cr_assert_eq(memcmp(key, want, key_len), 0);
    uint64_t id;
    cr_assert_eq(mx_store_find_key(t, want, strlen(want), &id, &err), MX_OK, "%s", err.message);
    cr_assert_eq(id, i);
  }
  const void *val;
  size_t vlen;
  cr_assert_eq(mx_store_get_meta(t, "name", &val, &vlen, &err), MX_OK, "%s", err.message);
  cr_assert_eq(vlen, 5);
  cr_assert_eq(memcmp(val, "value", 5), 0);
  cr_assert_eq(mx_store_get_meta(t, "absent", &val, &vlen, &err), MX_ERR_NOT_FOUND);
  uint64_t id;
  cr_assert_eq(mx_store_find_key(t, "nope", 4, &id, &err), MX_ERR_NOT_FOUND);
  cr_assert(strstr(err.message, "\"nope\""), "%s", err.message);

  uint64_t ids[] = {0, 5, 39, 1000};
  uint64_t hinted = mx_store_prefetch(t, ids, 4, 8);
  cr_assert_gt(hinted, 0);
  mx_store_txn_end(t);

  problems p = {0};
  mx_store_verify_report rep;
  cr_assert_eq(mx_store_verify(s, DIM, NVEC, MX_DTYPE_F16, on_problem, &p, &rep, &err), MX_OK, "%s",
               err.message);
  cr_assert_eq(p.n, 0, "%s", p.first_message);
  cr_assert_eq(rep.records, r.n);
  cr_assert_eq(rep.bad_records, 0);
  cr_assert_eq(rep.bad_keys, 0);
  cr_assert_eq(rep.bytes, r.n * NVEC * mx_vector_bytes(MX_DTYPE_F16, DIM));
  /* Expectations that do not hold are reported for every record. */
  cr_assert_eq(mx_store_verify(s, DIM + 1, 0, -1, on_problem, &p, &rep, &err), MX_OK);
  cr_assert_eq(rep.bad_records, r.n);
  mx_store_close(s);
  free_records(&r);
  remove_store(dir);
}

Test(store, unknown_id_is_not_found_naming_it) {
  char *dir = store_dir("store_unknown");
  records r = make_records(3, 2);
  write_store(dir, &r, 0);
  mx_store *s = open_store(dir, 0, 1);
  mx_store_txn *t;
  mx_error err;
  cr_assert_eq(mx_store_txn_begin(s, &t, &err), MX_OK);
  mx_record_view v;
  cr_assert_eq(mx_store_read_prefix(t, 987654, 1, 0, &v, &err), MX_ERR_NOT_FOUND);
  cr_assert(strstr(err.message, "987654"), "%s", err.message);
  const void *key;
  size_t kl;
  cr_assert_eq(mx_store_get_key(t, 0, &key, &kl, &err), MX_ERR_NOT_FOUND);
  /* A prefix longer than the record is the codec's invalid argument. */
  cr_assert_eq(mx_store_read_prefix(t, 1, NVEC + 1, 0, &v, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "record id 1"), "%s", err.message);
  mx_store_txn_end(t);
  mx_store_close(s);
  free_records(&r);
  remove_store(dir);
}

Test(store, non_increasing_id_names_both) {
  char *dir = store_dir("store_order");
  mx_store *s;
  mx_error err;
  cr_assert_eq(mx_store_create(dir, 0, &s, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_store_append(s, 70, "abc", 3, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_store_append(s, 52, "abc", 3, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "52") && strstr(err.message, "70"), "%s", err.message);
  cr_assert_eq(mx_store_append(s, 70, "abc", 3, &err), MX_ERR_INVALID_ARGUMENT);
  void *dst;
  cr_assert_eq(mx_store_append_reserve(s, 69, 3, &dst, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert_null(dst);
  /* The writer stays usable after a refused call. */
  cr_assert_eq(mx_store_append(s, 71, "abc", 3, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_store_put_key(s, 71, "k", 1, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_store_put_key(s, 70, "j", 1, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "70") && strstr(err.message, "71"), "%s", err.message);
  cr_assert_eq(mx_store_finish(s, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_store_append(s, 72, "abc", 3, &err), MX_ERR_STATE);
  uint64_t n;
  cr_assert_eq(mx_store_count(s, &n, &err), MX_OK, "%s", err.message);
  cr_assert_eq(n, 2);
  mx_store_close(s);
  /* A second store in the same place is refused. */
  cr_assert_eq(mx_store_create(dir, 0, &s, &err), MX_ERR_EXISTS);
  cr_assert_null(s);
  remove_store(dir);
}

Test(store, duplicate_key_names_it) {
  char *dir = store_dir("store_dupkey");
  mx_store *s;
  mx_error err;
  cr_assert_eq(mx_store_create(dir, 0, &s, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_store_put_key(s, 0, "alpha", 5, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_store_put_key(s, 1, "alpha", 5, &err), MX_ERR_EXISTS);
  cr_assert(strstr(err.message, "\"alpha\""), "%s", err.message);
  const unsigned char bin[3] = {0x00, 0xff, 0x10};
  cr_assert_eq(mx_store_put_key(s, 2, bin, 3, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_store_put_key(s, 3, bin, 3, &err), MX_ERR_EXISTS);
  cr_assert(strstr(err.message, "0x00ff10"), "%s", err.message);
  cr_assert_eq(mx_store_put_key(s, 4, "", 0, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mx_store_finish(s, &err), MX_OK, "%s", err.message);
  mx_store_close(s);
  /* The refused keys left nothing behind. */
  mx_store *r = open_store(dir, 0, 1);
  mx_store_txn *t;
  cr_assert_eq(mx_store_txn_begin(r, &t, &err), MX_OK);
  uint64_t id;
  cr_assert_eq(mx_store_find_key(t, "alpha", 5, &id, &err), MX_OK);
  cr_assert_eq(id, 0);
  cr_assert_eq(mx_store_find_key(t, bin, 3, &id, &err), MX_OK);
  cr_assert_eq(id, 2);
  const void *k;
  size_t kl;
  cr_assert_eq(mx_store_get_key(t, 1, &k, &kl, &err), MX_ERR_NOT_FOUND);
  cr_assert_eq(mx_store_get_key(t, 3, &k, &kl, &err), MX_ERR_NOT_FOUND);
  mx_store_txn_end(t);
  mx_store_close(r);
  remove_store(dir);
}

/* Fills a raw value of record i (not a codec record: the writer does not
 * parse what it stores). */
static void fill_raw(unsigned char *buf, size_t len, uint64_t i) {
  mx_test_rng rng = {i * 7919 + 1};
  for (size_t j = 0; j + 8 <= len; j += 8)
    mx_put_le64(buf + j, mx_test_rng_next(&rng));
}

Test(store, map_grows_during_a_load_far_beyond_the_plan) {
  char *dir = store_dir("store_grow");
  mx_store *s;
  mx_error err;
  cr_assert_eq(mx_store_create(dir, 1, &s, &err), MX_OK, "%s", err.message);
  uint64_t initial = mx_store_map_size(s);
  const size_t len = (1u << 20) + 100; /* odd size: overflow runs not page multiples */
  const size_t n = 130;                /* ~130 MB, four times the initial map */
  unsigned char *buf = malloc(len);
  for (size_t i = 0; i < n; i++) {
    fill_raw(buf, len, i);
    if (i % 3) {
      cr_assert_eq(mx_store_append(s, i, buf, len, &err), MX_OK, "id %zu: %s", i, err.message);
    } else {
      void *dst;
      cr_assert_eq(mx_store_append_reserve(s, i, len, &dst, &err), MX_OK, "%s", err.message);
      memcpy(dst, buf, len);
    }
    char key[16];
    snprintf(key, sizeof key, "k%zu", i);
    cr_assert_eq(mx_store_put_key(s, i, key, strlen(key), &err), MX_OK, "%s", err.message);
  }
  cr_assert_eq(mx_store_finish(s, &err), MX_OK, "%s", err.message);
  cr_assert_gt((uint64_t)n * len, initial, "the load must exceed the initial map");
  cr_assert_gt(mx_store_map_size(s), initial);
  cr_assert_geq(mx_store_map_grows(s), 2, "grew %u times", mx_store_map_grows(s));
  /* Space reserved for the map beyond the data is given back at finish. */
  struct stat sb;
  cr_assert_eq(stat(mx_store_data_path(s), &sb), 0);
  cr_assert_geq((uint64_t)sb.st_size, (uint64_t)n * len);
  cr_assert_lt((uint64_t)sb.st_size, (uint64_t)n * len + ((uint64_t)4 << 20), "%lld bytes",
               (long long)sb.st_size);
  mx_store_close(s);

  mx_store *r = open_store(dir, 0, 1);
  uint64_t count;
  cr_assert_eq(mx_store_count(r, &count, &err), MX_OK);
  cr_assert_eq(count, n);
  mx_store_txn *t;
  cr_assert_eq(mx_store_txn_begin(r, &t, &err), MX_OK);
  for (size_t i = 0; i < n; i++) {
    const void *rec;
    size_t rl;
    fill_raw(buf, len, i);
    cr_assert_eq(mx_store_get(t, i, &rec, &rl, &err), MX_OK, "%s", err.message);
    cr_assert_eq(rl, len);
    cr_assert_eq(memcmp(rec, buf, len), 0, "record %zu differs", i);
  }
  mx_store_txn_end(t);
  mx_store_close(r);
  free(buf);
  remove_store(dir);
}

typedef struct reader_arg {
  mx_store *s;
  const records *r;
  int seed;
  int failures;
} reader_arg;

static void *reader_main(void *p) {
  reader_arg *a = p;
  mx_test_rng rng = {(uint64_t)a->seed};
  size_t hdr = a->r->len - (size_t)NVEC * mx_vector_bytes(MX_DTYPE_F16, DIM);
  for (int round = 0; round < 20; round++) {
    mx_store_txn *t;
    mx_error err;
    if (mx_store_txn_begin(a->s, &t, &err) != MX_OK) {
      a->failures++;
      continue;
    }
    for (int k = 0; k < 50; k++) {
      uint64_t id = mx_test_rng_below(&rng, a->r->n);
      uint32_t prefix = 1 + (uint32_t)mx_test_rng_below(&rng, NVEC);
      mx_record_view v;
      if (mx_store_read_prefix(t, id, prefix, 0, &v, &err) != MX_OK || v.n_vectors != prefix ||
          memcmp(v.vectors, a->r->bytes + a->r->off[id] + hdr, prefix * v.vector_bytes) != 0)
        a->failures++;
    }
    mx_store_txn_end(t);
  }
  return NULL;
}

Test(store, eight_threads_read_one_environment) {
  char *dir = store_dir("store_threads");
  records r = make_records(64, 3);
  write_store(dir, &r, 0);
  mx_store *s = open_store(dir, 16, 1);
  pthread_t th[8];
  reader_arg args[8];
  for (int i = 0; i < 8; i++) {
    args[i] = (reader_arg){s, &r, i + 1, 0};
    cr_assert_eq(pthread_create(&th[i], NULL, reader_main, &args[i]), 0);
  }
  for (int i = 0; i < 8; i++) {
    pthread_join(th[i], NULL);
    cr_expect_eq(args[i].failures, 0, "thread %d had %d failures", i, args[i].failures);
  }
  mx_store_close(s);
  free_records(&r);
  remove_store(dir);
}

Test(store, more_transactions_than_reader_slots_is_busy) {
  char *dir = store_dir("store_busy");
  records r = make_records(2, 4);
  write_store(dir, &r, 0);
  mx_store *s = open_store(dir, 4, 1);
  mx_store_txn *t[5];
  mx_error err;
  for (int i = 0; i < 4; i++)
    cr_assert_eq(mx_store_txn_begin(s, &t[i], &err), MX_OK, "txn %d: %s", i, err.message);
  cr_assert_eq(mx_store_txn_begin(s, &t[4], &err), MX_ERR_BUSY);
  cr_assert_null(t[4]);
  cr_assert(strstr(err.message, "reader slots") && strstr(err.message, "max_readers"), "%s",
            err.message);
  /* Ending one frees its slot for the next search. */
  mx_store_txn_end(t[0]);
  cr_assert_eq(mx_store_txn_begin(s, &t[0], &err), MX_OK, "%s", err.message);
  const void *rec;
  size_t len;
  cr_assert_eq(mx_store_get(t[0], 1, &rec, &len, &err), MX_OK, "%s", err.message);
  for (int i = 0; i < 4; i++)
    mx_store_txn_end(t[i]);
  mx_store_close(s);
  free_records(&r);
  remove_store(dir);
}

/* Offset of the only occurrence of pat in the file, or -1. */
static long find_unique(const char *path, const unsigned char *pat, size_t n) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc((size_t)size);
  cr_assert_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
  fclose(f);
  long found = -1;
  for (long i = 0; i + (long)n <= size; i++) {
    if (memcmp(buf + i, pat, n) == 0) {
      cr_assert_eq(found, -1, "pattern occurs twice");
      found = i;
    }
  }
  free(buf);
  return found;
}

Test(store, verify_finds_a_flipped_byte_and_names_the_id) {
  char *dir = store_dir("store_flip");
  records r = make_records(20, 5);
  write_store(dir, &r, 1);
  /* A byte inside record 7's vector 10 (segment [8,16)). */
  size_t vb = mx_vector_bytes(MX_DTYPE_F16, DIM);
  size_t hdr = r.len - NVEC * vb;
  const unsigned char *pat = r.bytes + r.off[7] + hdr + 10 * vb;
  char *path = malloc(strlen(dir) + 16);
  sprintf(path, "%s/data.mdb", dir);
  long at = find_unique(path, pat, 32);
  cr_assert_geq(at, 0, "vector bytes not found in data.mdb");
  int fd = open(path, O_RDWR);
  cr_assert_geq(fd, 0);
  unsigned char b;
  cr_assert_eq(pread(fd, &b, 1, at + 5), 1);
  b ^= 0x40;
  cr_assert_eq(pwrite(fd, &b, 1, at + 5), 1);
  close(fd);

  mx_store *s = open_store(dir, 0, 1);
  problems p = {0};
  mx_store_verify_report rep;
  mx_error err;
  cr_assert_eq(mx_store_verify(s, DIM, NVEC, MX_DTYPE_F16, on_problem, &p, &rep, &err), MX_OK, "%s",
               err.message);
  cr_assert_eq(p.n, 1, "%d problems, first: %s", p.n, p.first_message);
  cr_assert_eq(p.first_id, 7);
  cr_assert_eq(p.first_status, MX_ERR_CORRUPT);
  cr_assert(strstr(p.first_message, "record id 7"), "%s", p.first_message);
  cr_assert_eq(rep.records, 20);
  cr_assert_eq(rep.bad_records, 1);
  cr_assert_eq(rep.bad_keys, 0);
  /* Reads check only the segments they touch: the first 8 vectors are fine. */
  mx_store_txn *t;
  cr_assert_eq(mx_store_txn_begin(s, &t, &err), MX_OK);
  mx_record_view v;
  cr_assert_eq(mx_store_read_prefix(t, 7, 8, 0, &v, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_store_read_prefix(t, 7, 16, 0, &v, &err), MX_ERR_CORRUPT);
  cr_assert(strstr(err.message, "record id 7"), "%s", err.message);
  cr_assert_eq(mx_store_read_prefix(t, 7, 16, 8, &v, &err), MX_ERR_CORRUPT);
  mx_store_txn_end(t);
  mx_store_close(s);
  /* With verification off the damaged prefix reads (the caller's choice). */
  s = open_store(dir, 0, 0);
  cr_assert_eq(mx_store_txn_begin(s, &t, &err), MX_OK);
  cr_assert_eq(mx_store_read_prefix(t, 7, 16, 0, &v, &err), MX_OK, "%s", err.message);
  mx_store_txn_end(t);
  mx_store_close(s);
  free(path);
  free_records(&r);
  remove_store(dir);
}

/* A record whose header no longer parses (here: its reserved field) is
 * corrupt like one whose checksum fails: MX_ERR_CORRUPT from a read, so
 * that searches can skip it, with the codec's reason in the message. */
Test(store, a_record_header_that_does_not_parse_reads_as_corrupt) {
  char *dir = store_dir("store_hdr_flip");
  records r = make_records(10, 9);
  write_store(dir, &r, 0);
  char *path = malloc(strlen(dir) + 16);
  sprintf(path, "%s/data.mdb", dir);
  long at = find_unique(path, r.bytes + r.off[3], 64); /* header + hashes: unique */
  cr_assert_geq(at, 0, "record 3 not found in data.mdb");
  int fd = open(path, O_RDWR);
  cr_assert_geq(fd, 0);
  unsigned char b = 0x01;
  cr_assert_eq(pwrite(fd, &b, 1, at + 14), 1); /* reserved u16 at offset 14 */
  close(fd);

  mx_store *s = open_store(dir, 0, 1);
  mx_store_txn *t;
  mx_error err;
  cr_assert_eq(mx_store_txn_begin(s, &t, &err), MX_OK);
  mx_record_view v;
  cr_assert_eq(mx_store_read_prefix(t, 3, 1, 0, &v, &err), MX_ERR_CORRUPT);
  cr_assert_eq(err.status, MX_ERR_CORRUPT);
  cr_assert(strstr(err.message, "record id 3 is corrupt"), "%s", err.message);
  cr_assert(strstr(err.message, "reserved"), "%s", err.message);
  cr_assert_eq(mx_store_read_prefix(t, 3, 1, 0, &v, NULL), MX_ERR_CORRUPT);
  cr_assert_eq(mx_store_read_prefix(t, 4, 1, 0, &v, &err), MX_OK, "%s", err.message);
  mx_store_txn_end(t);
  problems p = {0};
  mx_store_verify_report rep;
  cr_assert_eq(mx_store_verify(s, DIM, NVEC, MX_DTYPE_F16, on_problem, &p, &rep, &err), MX_OK);
  cr_assert_eq(p.n, 1, "%d problems, first: %s", p.n, p.first_message);
  cr_assert_eq(p.first_id, 3);
  mx_store_close(s);
  free(path);
  free_records(&r);
  remove_store(dir);
}

Test(store, verify_reports_an_incomplete_key_map) {
  char *dir = store_dir("store_keys");
  records r = make_records(6, 6);
  mx_store *s;
  mx_error err;
  cr_assert_eq(mx_store_create(dir, 0, &s, &err), MX_OK, "%s", err.message);
  for (size_t i = 0; i < r.n; i++)
    cr_assert_eq(mx_store_append(s, i, r.bytes + r.off[i], r.len, &err), MX_OK);
  cr_assert_eq(mx_store_put_key(s, 0, "a", 1, &err), MX_OK);
  cr_assert_eq(mx_store_put_key(s, 9, "b", 1, &err), MX_OK); /* no record 9 */
  cr_assert_eq(mx_store_finish(s, &err), MX_OK, "%s", err.message);
  /* Verification works on a finished writer too. */
  problems p = {0};
  mx_store_verify_report rep;
  cr_assert_eq(mx_store_verify(s, 0, 0, -1, on_problem, &p, &rep, &err), MX_OK, "%s", err.message);
  cr_assert_eq(rep.records, 6);
  cr_assert_eq(rep.bad_records, 0);
  cr_assert_geq(rep.bad_keys, 2, "%s", p.first_message); /* counts differ; id 9 has no record */
  mx_store_close(s);
  free_records(&r);
  remove_store(dir);
}

Test(store, verify_reports_a_gap_in_ids) {
  char *dir = store_dir("store_gap");
  records r = make_records(5, 7);
  mx_store *s;
  mx_error err;
  cr_assert_eq(mx_store_create(dir, 0, &s, &err), MX_OK, "%s", err.message);
  uint64_t ids[] = {0, 1, 3, 4};
  for (size_t i = 0; i < 4; i++)
    cr_assert_eq(mx_store_append(s, ids[i], r.bytes + r.off[ids[i]], r.len, &err), MX_OK);
  cr_assert_eq(mx_store_finish(s, &err), MX_OK, "%s", err.message);
  mx_store_close(s);
  s = open_store(dir, 0, 1);
  problems p = {0};
  mx_store_verify_report rep;
  cr_assert_eq(mx_store_verify(s, DIM, NVEC, MX_DTYPE_F16, on_problem, &p, &rep, &err), MX_OK);
  cr_assert_eq(p.n, 1);
  cr_assert_eq(p.first_id, 3);
  cr_assert(strstr(p.first_message, "expected 2"), "%s", p.first_message);
  mx_store_close(s);
  free_records(&r);
  remove_store(dir);
}

/* A record found under another key than its own id (a damaged key, or a
 * B-tree that leads to a neighbour's valid record) is corrupt on read and
 * in verify, though its checksums hold (issue 12 item 4). */
Test(store, a_record_under_another_key_is_corrupt) {
  char *dir = store_dir("store_wrong_key");
  records r = make_records(4, 8);
  mx_store *s;
  mx_error err;
  cr_assert_eq(mx_store_create(dir, 0, &s, &err), MX_OK, "%s", err.message);
  const size_t from[] = {0, 2, 2, 3}; /* key 1 holds record 2's bytes */
  for (size_t i = 0; i < 4; i++)
    cr_assert_eq(mx_store_append(s, i, r.bytes + r.off[from[i]], r.len, &err), MX_OK);
  cr_assert_eq(mx_store_finish(s, &err), MX_OK, "%s", err.message);
  mx_store_close(s);
  s = open_store(dir, 0, 1);
  mx_store_txn *t;
  cr_assert_eq(mx_store_txn_begin(s, &t, &err), MX_OK, "%s", err.message);
  mx_record_view v;
  cr_assert_eq(mx_store_read_prefix(t, 2, 1, 0, &v, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_store_read_prefix(t, 1, 1, 0, &v, &err), MX_ERR_CORRUPT);
  cr_assert(strstr(err.message, "record id 1") && strstr(err.message, "document 2"), "%s",
            err.message);
  mx_store_txn_end(t);
  problems p = {0};
  mx_store_verify_report rep;
  cr_assert_eq(mx_store_verify(s, DIM, NVEC, MX_DTYPE_F16, on_problem, &p, &rep, &err), MX_OK);
  cr_assert_eq(rep.bad_records, 1);
  cr_assert_eq(p.first_id, 1);
  cr_assert(strstr(p.first_message, "document 2"), "%s", p.first_message);
  mx_store_close(s);
  free_records(&r);
  remove_store(dir);
}

Test(store, missing_directory_or_store_is_not_found) {
  mx_store *s = (mx_store *)1;
  mx_error err;
  cr_assert_eq(mx_store_open("/nonexistent/metaidx/store", NULL, &s, &err), MX_ERR_NOT_FOUND);
  cr_assert_null(s);
  cr_assert(strstr(err.message, "/nonexistent/metaidx/store"), "%s", err.message);
  char *dir = mx_test_tmpdir("store_empty_dir");
  cr_assert_eq(mx_store_open(dir, NULL, &s, &err), MX_ERR_NOT_FOUND);
  cr_assert(strstr(err.message, "data.mdb"), "%s", err.message);
  mx_test_tmpdir_remove(dir);
}

static void garbage_store(size_t size, uint64_t seed) {
  char *dir = mx_test_tmpdir("store_garbage");
  char *path = malloc(strlen(dir) + 16);
  sprintf(path, "%s/data.mdb", dir);
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  mx_test_rng rng = {seed};
  for (size_t i = 0; i < size; i++)
    fputc((int)(mx_test_rng_next(&rng) & 0xff), f);
  fclose(f);
  mx_store *s;
  mx_error err;
  mx_status st = mx_store_open(dir, NULL, &s, &err);
  cr_assert_eq(st, MX_ERR_FORMAT, "%zu bytes: %s: %s", size, mx_status_name(st), err.message);
  cr_assert(strstr(err.message, "data.mdb") && strstr(err.message, "not an LMDB store"), "%s",
            err.message);
  free(path);
  mx_test_tmpdir_remove(dir);
}

Test(store, garbage_data_file_is_a_format_error) {
  garbage_store(65536, 8);
  garbage_store(100, 9);
  garbage_store(0, 10);
}

/* A write that the file system refuses (here a file-size limit, which fails
 * like a full disk: EFBIG from fallocate or pwrite) is a clean error, and what
 * was committed before it stays readable. Run in both writer modes. */
static void refused_growth(int writemap) {
  char *dir = store_dir(writemap ? "store_fsize_wm" : "store_fsize_copy");
  setenv("MX_STORE_WRITEMAP", writemap ? "1" : "0", 1);
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = {(rlim_t)48 << 20, (rlim_t)48 << 20};
  mx_store *s;
  mx_error err;
  cr_assert_eq(mx_store_create(dir, 1, &s, &err), MX_OK, "%s", err.message);
  cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
  const size_t len = 1u << 20;
  unsigned char *buf = malloc(len);
  mx_status st = MX_OK;
  size_t i;
  for (i = 0; i < 100 && st == MX_OK; i++) {
    fill_raw(buf, len, i);
    st = mx_store_append(s, i, buf, len, &err);
  }
  if (st == MX_OK)
    st = mx_store_finish(s, &err);
  /* Copying mode: LMDB turns the short pwrite at commit into EIO. */
  cr_assert(st == MX_ERR_DISK_FULL || (!writemap && st == MX_ERR_IO), "%s: %s", mx_status_name(st),
            err.message);
  cr_assert(strstr(err.message, "data.mdb") && strstr(err.message, "ids below"), "%s", err.message);
  /* The writer refuses to go on rather than write around a hole. */
  cr_assert_eq(mx_store_append(s, 1000, buf, len, &err), MX_ERR_STATE);
  mx_store_close(s);
  lim.rlim_cur = lim.rlim_max = RLIM_INFINITY;
  setrlimit(RLIMIT_FSIZE, &lim);
  unsetenv("MX_STORE_WRITEMAP");

  mx_store *r = open_store(dir, 0, 1);
  uint64_t count;
  cr_assert_eq(mx_store_count(r, &count, &err), MX_OK, "%s", err.message);
  cr_assert_gt(count, 0);
  cr_assert_lt(count, 100);
  mx_store_txn *t;
  cr_assert_eq(mx_store_txn_begin(r, &t, &err), MX_OK);
  for (uint64_t k = 0; k < count; k++) {
    const void *rec;
    size_t rl;
    fill_raw(buf, len, k);
    cr_assert_eq(mx_store_get(t, k, &rec, &rl, &err), MX_OK, "%s", err.message);
    cr_assert_eq(memcmp(rec, buf, len), 0, "record %zu differs", (size_t)k);
  }
  mx_store_txn_end(t);
  mx_store_close(r);
  free(buf);
  remove_store(dir);
}

Test(store, refused_growth_is_a_clean_error_writemap) { refused_growth(1); }
Test(store, refused_write_is_a_clean_error_copying) { refused_growth(0); }

typedef struct busy_arg {
  mx_store *s;
  pthread_barrier_t *hold;
  int ok, busy, other;
} busy_arg;

static void *busy_main(void *p) {
  busy_arg *a = p;
  mx_store_txn *t = NULL;
  mx_error err;
  mx_status st = mx_store_txn_begin(a->s, &t, &err);
  if (st == MX_OK) {
    const void *rec;
    size_t len;
    a->ok = mx_store_get(t, 0, &rec, &len, &err) == MX_OK;
  } else if (st == MX_ERR_BUSY) {
    a->busy = 1;
  } else {
    a->other = 1;
  }
  pthread_barrier_wait(a->hold); /* every thread tries while the others hold theirs */
  mx_store_txn_end(t);
  return NULL;
}

Test(store, threads_beyond_reader_slots_get_busy_not_a_crash) {
  char *dir = store_dir("store_busy_threads");
  records r = make_records(2, 11);
  write_store(dir, &r, 0);
  mx_store *s = open_store(dir, 3, 1);
  pthread_barrier_t hold;
  pthread_barrier_init(&hold, NULL, 8);
  pthread_t th[8];
  busy_arg a[8];
  for (int i = 0; i < 8; i++) {
    a[i] = (busy_arg){s, &hold, 0, 0, 0};
    cr_assert_eq(pthread_create(&th[i], NULL, busy_main, &a[i]), 0);
  }
  int ok = 0, busy = 0, other = 0;
  for (int i = 0; i < 8; i++) {
    pthread_join(th[i], NULL);
    ok += a[i].ok;
    busy += a[i].busy;
    other += a[i].other;
  }
  pthread_barrier_destroy(&hold);
  cr_assert_eq(ok, 3, "%d readers got a transaction", ok);
  cr_assert_eq(busy, 5);
  cr_assert_eq(other, 0);
  mx_store_close(s);
  free_records(&r);
  remove_store(dir);
}

Test(store, prefetch_hints_the_pages_of_the_prefix) {
  char *dir = store_dir("store_prefetch");
  records r = make_records(4, 12);
  write_store(dir, &r, 0);
  mx_store *s = open_store(dir, 0, 1);
  mx_store_txn *t;
  mx_error err;
  cr_assert_eq(mx_store_txn_begin(s, &t, &err), MX_OK);
  long page = sysconf(_SC_PAGESIZE);
  uint64_t ids[] = {1, 3};
  for (uint32_t prefix = 1; prefix <= NVEC; prefix *= 2) {
    uint64_t want = 0;
    for (int k = 0; k < 2; k++) {
      const void *rec;
      size_t len;
      cr_assert_eq(mx_store_get(t, ids[k], &rec, &len, &err), MX_OK);
      uintptr_t a = (uintptr_t)rec / (uintptr_t)page * (uintptr_t)page;
      uintptr_t b = (uintptr_t)rec + mx_record_prefix_bytes(rec, len, prefix);
      b = (b + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
      want += b - a;
    }
    cr_assert_eq(mx_store_prefetch(t, ids, 2, prefix), want, "prefix %u", prefix);
  }
  uint64_t none[] = {77};
  cr_assert_eq(mx_store_prefetch(t, none, 1, 4), 0);
  mx_store_txn_end(t);
  mx_store_close(s);
  free_records(&r);
  remove_store(dir);
}

/* Small values live in leaf pages and random external keys split "ext"
 * pages all over: the map-room bound must hold for those too. */
Test(store, small_records_and_random_keys_grow_the_map) {
  char *dir = store_dir("store_small");
  mx_store *s;
  mx_error err;
  cr_assert_eq(mx_store_create(dir, 1, &s, &err), MX_OK, "%s", err.message);
  const size_t n = 150000;
  unsigned char val[200];
  for (size_t i = 0; i < n; i++) {
    fill_raw(val, sizeof val, i);
    cr_assert_eq(mx_store_append(s, i, val, 100 + i % 100, &err), MX_OK, "id %zu: %s", i,
                 err.message);
    char key[40];
    snprintf(key, sizeof key, "%016llx-%zu", (unsigned long long)mx_get_le64(val), i);
    cr_assert_eq(mx_store_put_key(s, i, key, strlen(key), &err), MX_OK, "%s", err.message);
  }
  cr_assert_eq(mx_store_finish(s, &err), MX_OK, "%s", err.message);
  cr_assert_geq(mx_store_map_grows(s), 1);
  mx_store_close(s);
  mx_store *r = open_store(dir, 0, 1);
  mx_store_txn *t;
  cr_assert_eq(mx_store_txn_begin(r, &t, &err), MX_OK);
  for (size_t i = 0; i < n; i += 997) {
    fill_raw(val, sizeof val, i);
    const void *rec;
    size_t len;
    cr_assert_eq(mx_store_get(t, i, &rec, &len, &err), MX_OK, "%s", err.message);
    cr_assert_eq(len, 100 + i % 100);
    cr_assert_eq(memcmp(rec, val, len), 0);
    char key[40];
    snprintf(key, sizeof key, "%016llx-%zu", (unsigned long long)mx_get_le64(val), i);
    uint64_t id;
    cr_assert_eq(mx_store_find_key(t, key, strlen(key), &id, &err), MX_OK, "%s", err.message);
    cr_assert_eq(id, i);
  }
  mx_store_txn_end(t);
  mx_store_verify_report rep;
  cr_assert_eq(mx_store_verify(r, 0, 0, -1, NULL, NULL, &rep, &err), MX_OK);
  cr_assert_eq(rep.records, n);
  cr_assert_eq(rep.bad_keys, 0); /* raw values are not records: only keys are checked here */
  mx_store_close(r);
  remove_store(dir);
}

Test(store, an_lmdb_environment_without_groups_is_not_a_store) {
  char *dir = mx_test_tmpdir("store_foreign");
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  cr_assert_eq(mdb_env_create(&env), 0);
  cr_assert_eq(mdb_env_set_maxdbs(env, 2), 0);
  cr_assert_eq(mdb_env_open(env, dir, 0, 0644), 0);
  cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
  cr_assert_eq(mdb_dbi_open(txn, "other", MDB_CREATE, &dbi), 0);
  MDB_val k = {1, "k"}, v = {1, "v"};
  cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
  cr_assert_eq(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
  mx_store *s;
  mx_error err;
  cr_assert_eq(mx_store_open(dir, NULL, &s, &err), MX_ERR_FORMAT);
  cr_assert(strstr(err.message, "not a metaidx store") && strstr(err.message, "groups"), "%s",
            err.message);
  mx_test_tmpdir_remove(dir);
}

/* The residency sample against a reference: mincore over every record's
 * whole prefix, after the test itself has read every byte (warm) and after
 * the file has been dropped from the page cache (cold). */
static int every_prefix_resident(mx_store_txn *t, const uint64_t *ids, size_t n, uint32_t prefix) {
  long page = sysconf(_SC_PAGESIZE);
  for (size_t i = 0; i < n; i++) {
    const void *rec;
    size_t len;
    mx_error err;
    cr_assert_eq(mx_store_get(t, ids[i], &rec, &len, &err), MX_OK, "%s", err.message);
    uintptr_t a = (uintptr_t)rec / (uintptr_t)page * (uintptr_t)page;
    unsigned char vec[8];
    cr_assert_eq(mincore((void *)a, (size_t)page, vec), 0);
    if (!(vec[0] & 1))
      return 0; /* before reading the header, which would fault it in */
    uintptr_t b = (uintptr_t)rec + mx_record_prefix_bytes(rec, len, prefix);
    b = (b + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
    for (uintptr_t p = a; p < b; p += (uintptr_t)page) {
      cr_assert_eq(mincore((void *)p, (size_t)page, vec), 0);
      if (!(vec[0] & 1))
        return 0;
    }
  }
  return 1;
}

Test(store, residency_sample_tells_warm_from_cold) {
  char *dir = store_dir("store_resident");
  records r = make_records(300, 21);
  write_store(dir, &r, 0);
  uint64_t ids[37]; /* an awkward count, spread over the store */
  for (size_t i = 0; i < 37; i++)
    ids[i] = (i * 131) % 300;
  mx_store *s = open_store(dir, 0, 1);
  mx_store_txn *t;
  mx_error err;
  cr_assert_eq(mx_store_txn_begin(s, &t, &err), MX_OK);
  for (size_t i = 0; i < 37; i++) { /* warm: read every prefix */
    mx_record_view v;
    cr_assert_eq(mx_store_read_prefix(t, ids[i], NVEC, 0, &v, &err), MX_OK, "%s", err.message);
  }
  cr_assert_eq(every_prefix_resident(t, ids, 37, NVEC), 1);
  cr_assert_eq(mx_store_prefixes_resident(t, ids, 37, NVEC), 1);
  mx_store_txn_end(t);
  mx_store_close(s);

  char path[4096];
  snprintf(path, sizeof path, "%s/data.mdb", dir);
  int fd = open(path, O_RDONLY);
  cr_assert_geq(fd, 0);
  cr_assert_eq(fdatasync(fd), 0);
  cr_assert_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
  close(fd);
  s = open_store(dir, 0, 1);
  cr_assert_eq(mx_store_txn_begin(s, &t, &err), MX_OK);
  int resident = mx_store_prefixes_resident(t, ids, 37, NVEC);
  int reference = every_prefix_resident(t, ids, 37, NVEC);
  cr_assert_eq(reference, 0, "the page cache kept %s after POSIX_FADV_DONTNEED", path);
  cr_assert_eq(resident, 0);
  cr_assert_eq(mx_store_prefixes_resident(t, ids, 0, NVEC), 1, "nothing to read is resident");
  mx_store_txn_end(t);
  mx_store_close(s);
  free_records(&r);
  remove_store(dir);
}
