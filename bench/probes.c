/* probes.c: what the benchmark measures about the machine rather than the
 * index: process memory, bytes on disk, the disk's O_DIRECT random-read
 * bound (4 KiB at QD1/QD32, 128 KiB at QD32), which pages of a file are in
 * the page cache (mincore), and warming or evicting a file. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_internal.h"
#include "clock.h"
#include "pool.h"

void bench_proc_mem(double *rss, double *hwm) {
  *rss = NAN;
  *hwm = NAN;
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return;
  char line[256];
  while (fgets(line, sizeof line, f)) {
    unsigned long long kb;
    if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
      *rss = (double)kb * 1024.0;
    else if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
      *hwm = (double)kb * 1024.0;
  }
  fclose(f);
}

static _Thread_local uint64_t dir_bytes_acc, dir_alloc_acc;
static int dir_bytes_cb(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)path;
  (void)ftw;
  if (type == FTW_F) {
    dir_bytes_acc += (uint64_t)st->st_size;
    dir_alloc_acc += (uint64_t)st->st_blocks * 512u;
  }
  return 0;
}
/* Sum of file sizes under dir (apparent and allocated). */
void bench_dir_bytes(const char *dir, uint64_t *apparent, uint64_t *allocated) {
  dir_bytes_acc = dir_alloc_acc = 0;
  nftw(dir, dir_bytes_cb, 16, FTW_PHYS);
  *apparent = dir_bytes_acc;
  *allocated = dir_alloc_acc;
}

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

typedef struct disk_job {
  int fd;
  uint64_t pages;
  size_t block;
  uint64_t deadline_ns;
  atomic_uint_fast64_t reads;
  atomic_int failed;
} disk_job;

static void disk_worker(void *ctx, size_t item, unsigned worker) {
  disk_job *j = ctx;
  (void)worker;
  void *buf = NULL;
  if (posix_memalign(&buf, 4096, j->block) != 0) {
    atomic_store(&j->failed, 1);
    return;
  }
  uint64_t seed = 0x1234567ull + item * 7919u, n = 0;
  while (mx_now_ns() < j->deadline_ns) {
    uint64_t page = splitmix(&seed) % j->pages;
    if (pread(j->fd, buf, j->block, (off_t)(page * j->block)) != (ssize_t)j->block) {
      atomic_store(&j->failed, 1);
      break;
    }
    n++;
  }
  atomic_fetch_add(&j->reads, n);
  free(buf);
}

/* O_DIRECT random reads of `block` bytes (a multiple of 4 KiB) over path at
 * queue depth qd (qd threads). */
static int disk_random_read(const char *path, size_t block, unsigned qd, double seconds,
                            double *iops) {
  int fd = open(path, O_RDONLY | O_DIRECT);
  if (fd < 0)
    return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < block * 16) {
    close(fd);
    return -1;
  }
  disk_job j = {.fd = fd, .pages = (uint64_t)st.st_size / block, .block = block};
  atomic_init(&j.reads, 0);
  atomic_init(&j.failed, 0);
  uint64_t t0 = mx_now_ns();
  j.deadline_ns = t0 + (uint64_t)(seconds * 1e9);
  mx_parallel_for(qd, qd, disk_worker, &j);
  double el = (double)(mx_now_ns() - t0) / 1e9;
  close(fd);
  if (atomic_load(&j.failed))
    return -1;
  *iops = (double)atomic_load(&j.reads) / el;
  return 0;
}

/* Fraction of path's pages in the page cache (mincore over our own map). */
double bench_resident_fraction(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return NAN;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size == 0) {
    close(fd);
    return NAN;
  }
  size_t len = (size_t)st.st_size;
  void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (m == MAP_FAILED)
    return NAN;
  long ps = sysconf(_SC_PAGESIZE);
  size_t pages = (len + (size_t)ps - 1) / (size_t)ps;
  unsigned char *v = malloc(pages);
  double frac = NAN;
  if (v && mincore(m, len, v) == 0) {
    size_t in = 0;
    for (size_t i = 0; i < pages; i++)
      in += v[i] & 1;
    frac = (double)in / (double)pages;
  }
  free(v);
  munmap(m, len);
  return frac;
}

/* Reads path once so that its pages are in the page cache (the warm state). */
void bench_warm_file(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return;
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  size_t cap = 8u << 20;
  char *buf = malloc(cap);
  while (buf && read(fd, buf, cap) > 0) {
  }
  free(buf);
  close(fd);
}

int bench_evict_file(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return -1;
  int rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
  return rc;
}

/* Disk bound and the fadvise-with-an-open-map check. */
void bench_run_disk(bench *b) {
  char dp[PATH_MAX + 32];
  bench_data_path(b, dp, sizeof dp);
  const bench_cfg *c = &b->cfg;
  /* does DONTNEED drop pages that the open index has mapped? */
  {
    mx_search_options o;
    mx_search_options_init(&o);
    o.k = c->k;
    o.candidates = c->cands[c->n_cands - 1];
    mx_hit hits[256];
    uint32_t nh;
    mx_error e;
    size_t per = (size_t)b->qv * b->info.dim;
    for (uint32_t q = 0; q < b->nq && c->k <= 256; q++)
      mx_search(b->ix, b->queries + q * per, b->qv, &o, hits, &nh, NULL, &e);
    double before = bench_resident_fraction(dp);
    bench_evict_file(dp);
    double mapped_after = bench_resident_fraction(dp);
    mx_index_close(b->ix);
    b->ix = NULL;
    bench_evict_file(dp);
    double closed_after = bench_resident_fraction(dp);
    bench_reopen(b, &e);
    row r;
    bench_row_base(b, &r, "evict_check", "cold");
    r.resident_before = before;
    snprintf(r.note, sizeof r.note,
             "resident fraction: warm %.4f, after fadvise with the index open %.4f, after close+fadvise %.4f",
             before, mapped_after, closed_after);
    bench_emit(b, &r);
    bench_log(b, "  evict check: %s\n", r.note);
  }
  if (!c->disk)
    return;
  double iops;
  /* 4 KiB at QD1 and QD32 (page faults), 128 KiB at QD32 (bandwidth, since a
   * candidate's prefix is contiguous and read ahead in large requests) */
  const struct {
    size_t block;
    unsigned qd;
  } tests[] = {{4096, 1}, {4096, 32}, {131072, 32}};
  for (size_t t = 0; t < sizeof tests / sizeof *tests; t++) {
    unsigned qd = tests[t].qd;
    size_t block = tests[t].block;
    row r;
    bench_row_base(b, &r, "disk", "cold");
    r.threads = qd;
    r.block_bytes = (double)block;
    if (disk_random_read(dp, block, qd, c->disk_seconds, &iops) == 0) {
      r.iops = iops;
      r.mb_per_s = iops * (double)block / 1e6;
      r.mean_ms = (double)qd / iops * 1e3;
      if (block == 4096 && qd == 1)
        b->disk_iops1 = iops;
      else if (block == 4096)
        b->disk_iops32 = iops;
      else
        b->disk_bw = r.mb_per_s * 1e6;
      bench_sfmt(r.note, sizeof r.note, "O_DIRECT %zu KiB random pread over store/data.mdb, QD%u (%u threads)",
           block / 1024, qd, qd);
    } else {
      bench_sfmt(r.note, sizeof r.note, "O_DIRECT random reads failed: %s", strerror(errno));
    }
    r.seconds = c->disk_seconds;
    bench_emit(b, &r);
    bench_log(b, "  disk %zu KiB QD%u: %.0f reads/s (%.1f MB/s)\n", block / 1024, qd, r.iops,
          r.mb_per_s);
  }
}
