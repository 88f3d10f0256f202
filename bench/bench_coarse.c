/* bench_coarse.c: coarse-stage latency (one query per call, as the query
 * engine calls it), recall@k' of the default factory against exhaustive
 * Flat in the same run, build time and index bytes per document. Prints one
 * JSON object per line on stdout.
 *
 *   bench_coarse                   N = 20k, 100k at d = 128; N = 20k at d = 2048
 *   bench_coarse --large           adds N = 1M at d = 128 and N = 100k at d = 2048
 *   bench_coarse --n 50000 --d 256 one configuration
 *   options: --nq Q (queries, default 200; 100 at d >= 1024, 50 in the default d = 2048 run)
 *            --sweep (nprobe sweep around the default)
 *            --alt FACTORY (also measure this factory, e.g. IVF512,Flat)
 *            --train POINTS (training sample instead of mx_coarse_train_size)
 *
 * Data: N leading vectors around sqrt(N) random unit centres, noise of the
 * same norm as the centre, L2-normalised; queries drawn the same way.
 *
 * Bounds: "exact" lines report scan_gbps = N * d * 4 bytes / p50. Debian's
 * FAISS 1.7.3 is built for baseline x86-64, so fvec_inner_product is a
 * scalar mulss/addss loop: the exact scan is compute-bound near 8-12 GB/s
 * whether or not the data is in cache, below the DRAM bound (10-25 GB/s
 * here). IVF lines are dominated by the lists scanned (nprobe * N / nlist
 * vectors), at the same per-vector rate. "omp2" columns repeat the run
 * with FAISS's OpenMP allowed 2 threads (mx_coarse_set_search_threads). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "coarse.h"

typedef struct rng {
  uint64_t s;
} rng;
static uint64_t rng_next(rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static float rng_float(rng *r) { return (float)((double)(rng_next(r) >> 11) / 9007199254740992.0 * 2.0 - 1.0); }

static void normalise(float *v, uint32_t d) {
  double n = 0;
  for (uint32_t j = 0; j < d; j++)
    n += (double)v[j] * v[j];
  float inv = n > 0 ? (float)(1.0 / sqrt(n)) : 1.0f;
  for (uint32_t j = 0; j < d; j++)
    v[j] *= inv;
}

static float *clustered(rng *r, uint64_t n, uint32_t d, const float *centres, uint32_t nc) {
  float *x = malloc((size_t)n * d * sizeof *x);
  if (!x) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  float scale = sqrtf(3.0f / (float)d);
  for (uint64_t i = 0; i < n; i++) {
    const float *c = centres + (rng_next(r) % nc) * d;
    for (uint32_t j = 0; j < d; j++)
      x[i * d + j] = c[j] + scale * rng_float(r);
    normalise(x + i * d, d);
  }
  return x;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct timing {
  double p50_us, p99_us, mean_us;
} timing;

/* Runs nq single-query searches at k, returns latency percentiles; ids go
 * to out_ids (nq x k). */
static timing run_queries(const mx_coarse *c, const float *q, uint32_t nq, uint32_t d, uint32_t k,
                          const mx_coarse_params *p, int64_t *out_ids, float *scores) {
  double *lat = malloc(nq * sizeof *lat);
  double sum = 0;
  for (uint32_t i = 0; i < nq; i++) {
    mx_error err;
    uint64_t t0 = mx_now_ns();
    if (mx_coarse_search(c, 1, q + (size_t)i * d, k, p, scores + (size_t)i * k,
                         out_ids + (size_t)i * k, &err) != MX_OK) {
      fprintf(stderr, "search: %s\n", err.message);
      exit(1);
    }
    lat[i] = (double)(mx_now_ns() - t0) / 1e3;
    sum += lat[i];
  }
  qsort(lat, nq, sizeof *lat, cmp_double);
  timing t = {lat[nq / 2], lat[(size_t)(nq * 0.99) < nq ? (size_t)(nq * 0.99) : nq - 1], sum / nq};
  free(lat);
  return t;
}

static double recall_at(const int64_t *got, const int64_t *truth, uint32_t nq, uint32_t k,
                        uint32_t truth_k) {
  /* truth rows are truth_k long (>= k); recall of the first k */
  double sum = 0;
  for (uint32_t i = 0; i < nq; i++) {
    uint32_t hit = 0;
    const int64_t *t = truth + (size_t)i * truth_k;
    const int64_t *g = got + (size_t)i * k;
    /* ids are dense row numbers: mark and count */
    for (uint32_t a = 0; a < k; a++)
      for (uint32_t b = 0; b < k; b++)
        if (g[b] == t[a]) {
          hit++;
          break;
        }
    sum += (double)hit / k;
  }
  return sum / nq;
}

static uint64_t g_train = 0; /* --train: training points, 0 = mx_coarse_train_size */

static mx_coarse *build(const char *factory, uint32_t d, uint64_t n, const float *x,
                        const uint64_t *ids, double *train_s, double *add_s, uint64_t *bytes) {
  mx_coarse *c = NULL;
  mx_error err;
  if (mx_coarse_create(factory, d, &c, &err) != MX_OK) {
    fprintf(stderr, "%s\n", err.message);
    exit(1);
  }
  uint64_t t0 = mx_now_ns();
  uint64_t nt = mx_coarse_train_size(c, n);
  if (nt && g_train)
    nt = g_train < n ? g_train : n;
  if (nt && mx_coarse_train(c, nt, x, &err) != MX_OK) {
    fprintf(stderr, "%s\n", err.message);
    exit(1);
  }
  *train_s = mx_ms_since(t0) / 1e3;
  t0 = mx_now_ns();
  if (mx_coarse_add(c, n, x, ids, &err) != MX_OK) {
    fprintf(stderr, "%s\n", err.message);
    exit(1);
  }
  *add_s = mx_ms_since(t0) / 1e3;
  char path[256];
  snprintf(path, sizeof path, "/tmp/bench_coarse.%ld.faiss", (long)getpid());
  uint64_t h;
  if (mx_coarse_write(c, path, bytes, &h, &err) != MX_OK) {
    fprintf(stderr, "%s\n", err.message);
    exit(1);
  }
  unlink(path);
  return c;
}

static void measure(const char *role, const char *factory, mx_coarse *c, uint64_t n, uint32_t d,
                    const float *q, uint32_t nq, const int64_t *truth, uint32_t truth_k,
                    uint32_t nprobe, double train_s, double add_s, uint64_t bytes) {
  static const uint32_t kps[] = {100, 1000};
  int64_t *ids = malloc((size_t)nq * 1000 * sizeof *ids);
  float *scores = malloc((size_t)nq * 1000 * sizeof *scores);
  mx_coarse_params p = {.nprobe = nprobe};
  for (size_t ki = 0; ki < 2; ki++) {
    uint32_t k = kps[ki];
    uint32_t eff = mx_coarse_effective_nprobe(c, k, &p);
    timing t1 = run_queries(c, q, nq, d, k, &p, ids, scores);
    double rec = truth ? recall_at(ids, truth, nq, k, truth_k) : 1.0;
    mx_coarse_set_search_threads(c, 2);
    timing t2 = run_queries(c, q, nq, d, k, &p, ids, scores);
    mx_coarse_set_search_threads(c, 0);
    printf("{\"bench\":\"coarse\",\"role\":\"%s\",\"factory\":\"%s\",\"n\":%llu,\"d\":%u,"
           "\"nq\":%u,\"kprime\":%u,\"nprobe\":%u,\"nprobe_default\":%s,\"recall\":%.4f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
           "\"mean_us\":%.1f,\"omp2_p50_us\":%.1f,\"omp2_p99_us\":%.1f,\"index_bytes\":%llu,"
           "\"bytes_per_doc\":%.1f,\"train_s\":%.2f,\"add_s\":%.2f,\"scan_gbps\":%.2f}\n",
           role, factory, (unsigned long long)n, d, nq, k, eff, nprobe ? "false" : "true", rec, t1.p50_us, t1.p99_us,
           t1.mean_us, t2.p50_us, t2.p99_us, (unsigned long long)bytes, (double)bytes / n,
           train_s, add_s, strcmp(role, "exact") == 0 ? (double)n * d * 4 / (t1.p50_us * 1e3) : 0.0);
    fflush(stdout);
  }
  free(ids);
  free(scores);
}

static void run_config(uint64_t n, uint32_t d, uint32_t nq, int sweep, const char *alt) {
  rng r = {n * 31 + d};
  uint32_t nc = (uint32_t)sqrt((double)n);
  if (nc < 1)
    nc = 1;
  float *centres = malloc((size_t)nc * d * sizeof *centres);
  for (size_t i = 0; i < (size_t)nc * d; i++)
    centres[i] = rng_float(&r);
  for (uint32_t i = 0; i < nc; i++)
    normalise(centres + (size_t)i * d, d);
  float *x = clustered(&r, n, d, centres, nc);
  float *q = clustered(&r, nq, d, centres, nc);
  uint64_t *ids = malloc(n * sizeof *ids);
  for (uint64_t i = 0; i < n; i++)
    ids[i] = i;

  /* exhaustive Flat: ground truth (tests check it equals brute force) */
  double tr, ad;
  uint64_t bytes;
  mx_coarse *flat = build("IDMap,Flat", d, n, x, ids, &tr, &ad, &bytes);
  uint32_t tk = 1000;
  int64_t *truth = malloc((size_t)nq * tk * sizeof *truth);
  float *ts = malloc((size_t)nq * tk * sizeof *ts);
  run_queries(flat, q, nq, d, tk, NULL, truth, ts);
  measure("exact", "IDMap,Flat", flat, n, d, q, nq, NULL, tk, 0, tr, ad, bytes);
  mx_coarse_free(flat);

  char factory[64];
  mx_coarse_params def;
  mx_coarse_default_factory(n, d, factory, sizeof factory, &def);
  char alt_buf[64];
  mx_coarse_params alt_def = def;
  if (!alt && strncmp(factory, "IVF", 3) != 0) {
    /* The rule picks exact Flat here; also show the IVF it would pick for a
     * larger d (same list sizing as mx_coarse_default_factory). */
    mx_coarse_default_factory(n, 1023, alt_buf, sizeof alt_buf, &alt_def);
    if (strncmp(alt_buf, "IVF", 3) == 0)
      alt = alt_buf;
  } else if (alt) {
    mx_coarse_params p0;
    char tmp[64];
    mx_coarse_default_factory(n, 1023, tmp, sizeof tmp, &p0);
    if (p0.nprobe)
      alt_def = p0;
  }
  const char *factories[2] = {factory, alt};
  for (int fi = 0; fi < 2; fi++) {
    if (!factories[fi])
      continue;
    mx_coarse *c = build(factories[fi], d, n, x, ids, &tr, &ad, &bytes);
    const mx_coarse_params *dp = fi == 0 ? &def : &alt_def;
    mx_coarse_set_defaults(c, dp, NULL);
    /* nprobe 0: the index's own (k-aware) default */
    measure(fi == 0 ? "default" : "alt", factories[fi], c, n, d, q, nq, truth, tk, 0, tr, ad,
            bytes);
    if (sweep && strncmp(factories[fi], "IVF", 3) == 0) {
      for (uint32_t np = 4;; np *= 2) {
        mx_coarse_params pp = {.nprobe = np};
        uint32_t eff = mx_coarse_effective_nprobe(c, 1, &pp);
        measure("sweep", factories[fi], c, n, d, q, nq, truth, tk, eff, tr, ad, bytes);
        if (eff < np)
          break; /* reached nlist */
      }
    }
    mx_coarse_free(c);
  }
  free(truth);
  free(ts);
  free(x);
  free(q);
  free(ids);
  free(centres);
}

int main(int argc, char **argv) {
  uint64_t n = 0;
  uint32_t d = 0, nq = 0;
  int large = 0, sweep = 0;
  const char *alt = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--n") && i + 1 < argc)
      n = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--d") && i + 1 < argc)
      d = (uint32_t)strtoul(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--nq") && i + 1 < argc)
      nq = (uint32_t)strtoul(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--train") && i + 1 < argc)
      g_train = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--alt") && i + 1 < argc)
      alt = argv[++i];
    else if (!strcmp(argv[i], "--large"))
      large = 1;
    else if (!strcmp(argv[i], "--sweep"))
      sweep = 1;
    else {
      fprintf(stderr,
              "usage: bench_coarse [--n N --d D] [--large] [--nq Q] [--sweep] [--alt FACTORY] "
              "[--train POINTS]\n");
      return 2;
    }
  }
  if (n || d) {
    run_config(n ? n : 20000, d ? d : 128, nq ? nq : (d >= 1024 ? 100 : 200), sweep, alt);
    return 0;
  }
  run_config(20000, 128, nq ? nq : 200, sweep, alt);
  run_config(100000, 128, nq ? nq : 200, sweep, alt);
  run_config(20000, 2048, nq ? nq : 50, sweep, alt);
  if (large) {
    run_config(1000000, 128, nq ? nq : 200, sweep, alt);
    run_config(100000, 2048, nq ? nq : 100, sweep, alt);
  }
  return 0;
}
