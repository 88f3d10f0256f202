/* bench_storage.c: the LMDB store's costs, one JSON line per figure:
 * bulk-load rate beside a plain sequential write + fsync of the same bytes,
 * warm prefix-read throughput per r_c, cold prefix reads with and without
 * prefetch (and bytes the disk delivered vs bytes asked for), and the cost
 * of verification.
 *
 *   bench_storage [--dir D] [--docs N] [--dim D] [--vectors R] [--reads K]
 *                 [--warm-ms MS] [--load-repeat K] [--keep] [--load-only]
 * Defaults: 2000 docs x 64 x 2048 f16 (~525 MB) under ./bench_storage.tmp. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "clock.h"
#include "fsutil.h"
#include "hash.h"
#include "record.h"
#include "store.h"

typedef struct cfg {
  const char *dir;
  uint64_t docs;
  uint32_t dim;
  uint32_t vectors;
  uint32_t reads;
  double warm_ms;
  int keep;
  int load_only;
  int load_repeat;
} cfg;

static void die(const char *what, const mx_error *err) {
  fprintf(stderr, "bench_storage: %s: %s\n", what, err ? err->message : strerror(errno));
  exit(1);
}

static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* A pool of distinct encoded records; doc i stores pool[i % POOL] with its
 * doc_id set to i. */
#define POOL 16
static unsigned char *pool[POOL];
static size_t rec_len;

static void make_pool(const cfg *c) {
  mx_budget budgets[] = {{1, 1}, {2, 4}, {4, 8}, {8, 16}, {16, 64}};
  mx_segments seg;
  mx_error err;
  if (mx_segments_from_budgets(budgets, 5, c->vectors, &seg, &err))
    die("segments", &err);
  rec_len = mx_record_bytes(MX_DTYPE_F16, c->dim, c->vectors, seg.n);
  float *v = malloc(sizeof(float) * c->dim * c->vectors);
  uint64_t s = 42;
  for (int p = 0; p < POOL; p++) {
    for (size_t j = 0; j < (size_t)c->dim * c->vectors; j++)
      v[j] = (float)((double)(rng_next(&s) >> 11) / 9007199254740992.0 - 0.5);
    pool[p] = malloc(rec_len);
    if (mx_record_encode(pool[p], rec_len, 0, v, MX_DTYPE_F32, MX_DTYPE_F16, c->dim, c->vectors, &seg,
                         &err))
      die("encode", &err);
  }
  free(v);
}

static uint64_t proc_read_bytes(void) {
  FILE *f = fopen("/proc/self/io", "r");
  if (!f)
    return 0;
  char line[128];
  uint64_t v = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "read_bytes: %" SCNu64, &v) == 1)
      break;
  fclose(f);
  return v;
}

static void evict(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    die(path, NULL);
  fdatasync(fd);
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}

static double load_store(const cfg *c, const char *store_dir, int writemap, unsigned *grows) {
  mx_error err;
  setenv("MX_STORE_WRITEMAP", writemap ? "1" : "0", 1);
  uint64_t t0 = mx_now_ns();
  mx_store *s;
  if (mx_store_create(store_dir, c->docs * rec_len, &s, &err))
    die("create", &err);
  for (uint64_t i = 0; i < c->docs; i++) {
    void *dst;
    if (mx_store_append_reserve(s, i, rec_len, &dst, &err))
      die("append", &err);
    memcpy(dst, pool[i % POOL], rec_len);
    mx_put_le64((unsigned char *)dst + offsetof(mx_record_fixed_header, doc_id), i); /* its own id */
  }
  if (mx_store_finish(s, &err))
    die("finish", &err);
  double sec = (double)(mx_now_ns() - t0) / 1e9;
  *grows = mx_store_map_grows(s);
  mx_store_close(s);
  unsetenv("MX_STORE_WRITEMAP");
  return sec;
}

static double load_plain(const cfg *c, const char *plain_path) {
  uint64_t t0 = mx_now_ns();
  int fd = open(plain_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    die(plain_path, NULL);
  for (uint64_t i = 0; i < c->docs; i++) {
    const unsigned char *p = pool[i % POOL];
    size_t left = rec_len;
    while (left) {
      ssize_t w = write(fd, p, left);
      if (w < 0)
        die("write", NULL);
      p += w;
      left -= (size_t)w;
    }
  }
  if (fsync(fd))
    die("fsync", NULL);
  close(fd);
  double sec = (double)(mx_now_ns() - t0) / 1e9;
  unlink(plain_path);
  return sec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The store (MDB_WRITEMAP, the default, and the copying mode) beside a plain
 * write() + fsync of the same bytes, interleaved `load_repeat` times; the
 * medians are reported, because a shared disk drifts a lot between runs.
 * The last MDB_WRITEMAP store is kept for the read benchmarks. */
static void bulk_load(const cfg *c, const char *store_dir, const char *plain_path) {
  char other[4200];
  snprintf(other, sizeof other, "%s.copying", store_dir);
  enum { MAXR = 15 };
  int reps = c->load_repeat < 1 ? 1 : c->load_repeat > MAXR ? MAXR : c->load_repeat;
  double plain[MAXR], wm[MAXR], copy[MAXR];
  unsigned g_wm = 0, g_copy = 0;
  for (int r = 0; r < reps; r++) {
    mx_remove_tree(store_dir, NULL);
    plain[r] = load_plain(c, plain_path);
    wm[r] = load_store(c, store_dir, 1, &g_wm);
    copy[r] = load_store(c, other, 0, &g_copy);
    mx_remove_tree(other, NULL);
  }
  double p = median(plain, reps);
  uint64_t total = c->docs * rec_len;
  double mb = (double)total / 1e6;
  const char *names[2] = {"writemap", "copying"};
  double secs[2] = {median(wm, reps), median(copy, reps)};
  unsigned grows[2] = {g_wm, g_copy};
  for (int m = 0; m < 2; m++)
    printf("{\"bench\":\"bulk_load\",\"mode\":\"%s\",\"docs\":%" PRIu64 ",\"dim\":%u,"
           "\"vectors\":%u,\"dtype\":\"f16\",\"bytes\":%" PRIu64 ",\"repeats\":%d,"
           "\"store_s\":%.3f,\"store_mb_s\":%.1f,\"plain_s\":%.3f,\"plain_mb_s\":%.1f,"
           "\"ratio\":%.3f,\"map_grows\":%u}\n",
           names[m], c->docs, c->dim, c->vectors, total, reps, secs[m], mb / secs[m], p, mb / p,
           p / secs[m], grows[m]);
  fflush(stdout);
}

static mx_store *open_ro(const char *dir, int verify) {
  mx_store_open_options o;
  mx_store_open_options_init(&o);
  o.verify = verify;
  mx_store *s;
  mx_error err;
  if (mx_store_open(dir, &o, &s, &err))
    die("open", &err);
  return s;
}

/* What a rescoring kernel does at least: read every byte of the prefix. */
static uint64_t consume(const mx_record_view *v) {
  size_t n = (size_t)v->n_vectors * v->vector_bytes;
  uint64_t acc = 0;
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, v->vectors + i, 8);
    acc += w;
  }
  return acc;
}

static volatile uint64_t sink;

static long minor_faults(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt + ru.ru_majflt;
}

static void warm(const cfg *c, const char *dir, int verify) {
  static const uint32_t rcs[] = {1, 4, 8, 16, 64};
  mx_store *s = open_ro(dir, verify);
  mx_error err;
  mx_store_txn *t;
  if (mx_store_txn_begin(s, &t, &err))
    die("txn", &err);
  /* bring everything into the page cache and the map */
  for (uint64_t i = 0; i < c->docs; i++) {
    mx_record_view v;
    if (mx_store_read_prefix(t, i, c->vectors, 0, &v, &err))
      die("read", &err);
    sink += consume(&v);
  }
  for (size_t k = 0; k < sizeof rcs / sizeof *rcs; k++) {
    uint32_t rc = rcs[k];
    if (rc > c->vectors)
      continue;
    uint64_t seed = 7, reads = 0, bytes = 0;
    long f0 = minor_faults();
    uint64_t t0 = mx_now_ns();
    double ms;
    do {
      for (int b = 0; b < 256; b++) {
        uint64_t id = rng_next(&seed) % c->docs;
        mx_record_view v;
        if (mx_store_read_prefix(t, id, rc, 0, &v, &err))
          die("read", &err);
        sink += consume(&v);
        bytes += (uint64_t)v.n_vectors * v.vector_bytes;
        reads++;
      }
      ms = mx_ms_since(t0);
    } while (ms < c->warm_ms);
    printf("{\"bench\":\"warm_prefix\",\"r_c\":%u,\"dim\":%u,\"dtype\":\"f16\",\"verify\":%d,"
           "\"reads\":%" PRIu64 ",\"ns_per_read\":%.0f,\"gb_s\":%.2f,\"page_faults\":%ld}\n",
           rc, c->dim, verify, reads, ms * 1e6 / (double)reads, (double)bytes / ms / 1e6,
           minor_faults() - f0);
    fflush(stdout);
  }
  mx_store_txn_end(t);
  mx_store_close(s);
}

static void cold(const cfg *c, const char *dir, uint32_t rc, int prefetch) {
  uint32_t n = c->reads;
  /* n distinct ids in random order: the head of a shuffled 0..docs-1 */
  uint64_t *ids = malloc(sizeof *ids * c->docs);
  uint64_t seed = 1000 + rc;
  for (uint64_t i = 0; i < c->docs; i++)
    ids[i] = i;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t j = i + rng_next(&seed) % (c->docs - i);
    uint64_t tmp = ids[i];
    ids[i] = ids[j];
    ids[j] = tmp;
  }
  const int rounds = 3;
  double ms_total = 0;
  uint64_t read_total = 0, asked_total = 0, hinted_total = 0;
  for (int r = 0; r < rounds; r++) {
    /* a fresh map each round: pages mapped by this process would survive
     * POSIX_FADV_DONTNEED */
    char data[4096];
    snprintf(data, sizeof data, "%s/data.mdb", dir);
    evict(data);
    mx_store *s = open_ro(dir, 1);
    mx_error err;
    mx_store_txn *t;
    if (mx_store_txn_begin(s, &t, &err))
      die("txn", &err);
    uint64_t io0 = proc_read_bytes();
    uint64_t t0 = mx_now_ns();
    if (prefetch)
      hinted_total += mx_store_prefetch(t, ids, n, rc);
    for (uint32_t i = 0; i < n; i++) {
      mx_record_view v;
      const void *rec;
      size_t len;
      if (mx_store_read_prefix(t, ids[i], rc, 0, &v, &err))
        die("read", &err);
      sink += consume(&v);
      mx_store_get(t, ids[i], &rec, &len, NULL);
      asked_total += mx_record_prefix_bytes(rec, len, rc);
    }
    ms_total += mx_ms_since(t0);
    read_total += proc_read_bytes() - io0;
    mx_store_txn_end(t);
    mx_store_close(s);
  }
  printf("{\"bench\":\"cold_prefix\",\"r_c\":%u,\"prefetch\":%d,\"reads\":%u,"
         "\"ms_per_reads\":%.1f,\"mb_s\":%.1f,\"bytes_read\":%" PRIu64 ",\"bytes_asked\":%" PRIu64
         ",\"read_ratio\":%.3f,\"bytes_hinted\":%" PRIu64 "}\n",
         rc, prefetch, n, ms_total / rounds,
         (double)asked_total / rounds / (ms_total / rounds) / 1e3, read_total / rounds,
         asked_total / rounds, asked_total ? (double)read_total / (double)asked_total : 0.0,
         hinted_total / rounds);
  fflush(stdout);
  free(ids);
}

static void verify_scan(const cfg *c, const char *dir, int cold_cache) {
  if (cold_cache) {
    char data[4096];
    snprintf(data, sizeof data, "%s/data.mdb", dir);
    evict(data);
  }
  mx_store *s = open_ro(dir, 1);
  mx_store_verify_report rep;
  mx_error err;
  uint64_t t0 = mx_now_ns();
  if (mx_store_verify(s, c->dim, c->vectors, MX_DTYPE_F16, NULL, NULL, &rep, &err))
    die("verify", &err);
  double ms = mx_ms_since(t0);
  printf("{\"bench\":\"verify_scan\",\"cold\":%d,\"records\":%" PRIu64 ",\"bad\":%" PRIu64
         ",\"bytes\":%" PRIu64 ",\"ms\":%.1f,\"gb_s\":%.2f}\n",
         cold_cache, rep.records, rep.bad_records, rep.bytes, ms, (double)rep.bytes / ms / 1e6);
  mx_store_close(s);
}

int main(int argc, char **argv) {
  cfg c = {"bench_storage.tmp", 2000, 2048, 64, 200, 300.0, 0, 0, 3};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--keep")) {
      c.keep = 1;
    } else if (!strcmp(a, "--load-only")) {
      c.load_only = 1;
    } else if (v && !strcmp(a, "--dir")) {
      c.dir = v, i++;
    } else if (v && !strcmp(a, "--docs")) {
      c.docs = strtoull(v, NULL, 10), i++;
    } else if (v && !strcmp(a, "--dim")) {
      c.dim = (uint32_t)strtoul(v, NULL, 10), i++;
    } else if (v && !strcmp(a, "--vectors")) {
      c.vectors = (uint32_t)strtoul(v, NULL, 10), i++;
    } else if (v && !strcmp(a, "--reads")) {
      c.reads = (uint32_t)strtoul(v, NULL, 10), i++;
    } else if (v && !strcmp(a, "--load-repeat")) {
      c.load_repeat = atoi(v), i++;
    } else if (v && !strcmp(a, "--warm-ms")) {
      c.warm_ms = strtod(v, NULL), i++;
    } else {
      fprintf(stderr,
              "usage: bench_storage [--dir D] [--docs N] [--dim D] [--vectors R] [--reads K]\n"
              "                     [--warm-ms MS] [--load-repeat K] [--keep] [--load-only]\n");
      return a[0] == '-' && a[1] == 'h' ? 0 : 2;
    }
  }
  if (c.docs == 0 || c.dim == 0 || c.vectors == 0 || c.vectors > 64 || c.reads == 0) {
    fprintf(stderr, "bench_storage: bad sizes\n");
    return 2;
  }
  if (c.reads > c.docs)
    c.reads = (uint32_t)c.docs;
  mx_error err;
  if (mx_remove_tree(c.dir, &err) || mx_mkdir_p(c.dir, &err))
    die(c.dir, &err);
  char store_dir[4096], plain[4096];
  snprintf(store_dir, sizeof store_dir, "%s/store", c.dir);
  snprintf(plain, sizeof plain, "%s/plain.bin", c.dir);
  make_pool(&c);
  bulk_load(&c, store_dir, plain);
  if (c.load_only)
    goto done;
  warm(&c, store_dir, 1);
  warm(&c, store_dir, 0);
  static const uint32_t cold_rc[] = {1, 16, 64};
  for (size_t k = 0; k < sizeof cold_rc / sizeof *cold_rc; k++) {
    if (cold_rc[k] > c.vectors)
      continue;
    cold(&c, store_dir, cold_rc[k], 0);
    cold(&c, store_dir, cold_rc[k], 1);
  }
  verify_scan(&c, store_dir, 1);
  verify_scan(&c, store_dir, 0);
done:
  if (!c.keep)
    mx_remove_tree(c.dir, NULL);
  for (int p = 0; p < POOL; p++)
    free(pool[p]);
  return 0;
}
