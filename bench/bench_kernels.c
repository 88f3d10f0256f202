/* bench_kernels.c: MaxSim kernel throughput per (dtype, budget, d, path),
 * hot in cache and streaming from a buffer larger than L3, next to this
 * machine's measured single-core FMA peak and read bandwidth. One JSON line
 * per row on stdout.
 *
 *   bench_kernels [--stream-mb N] [--reps N] [--ms N] [--dtype NAME] [--d N]
 *                 [--path scalar|avx2] [--doc-offset N]
 *
 * hot: the same document scored over and over (in L1/L2).
 * stream: consecutive documents from a --stream-mb buffer (default 512 MB),
 *   each row starting where the previous one stopped, so nothing is cached.
 * Each figure is the median of --reps timed runs of about --ms ms; after
 * every run the FMA peak and the read bandwidth are measured again and the
 * row's fractions are medians of the per-run ratios (the machine is shared:
 * ceilings drift). fma_peak_gflops and read_gbps are those medians.
 * stream_bound says which ceiling binds the streaming case by the roofline
 * (2*r_q*r_c*d flops against the document's bytes): "fma" or "memory", and
 * stream_frac_bound is the fraction of that ceiling reached. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_peak.h"
#include "clock.h"
#include "cpu.h"
#include "half.h"
#include "maxsim.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint64_t rng_state = 0x1234567u;
static uint64_t rng(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Fills n bytes at p with elements of dtype in [-1, 1) (no NaN, no
 * subnormals); int8 gets random bytes, its scales included. */
static void fill(mx_dtype dtype, unsigned char *p, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t r = rng();
    switch (dtype) {
    case MX_DTYPE_F32:
      r = (r & 0x807fffff807fffffull) | 0x3f0000003f000000ull;
      break;
    case MX_DTYPE_F16:
      r = (r & 0x83ff83ff83ff83ffull) | 0x3800380038003800ull;
      break;
    case MX_DTYPE_BF16:
      r = (r & 0x807f807f807f807full) | 0x3f003f003f003f00ull;
      break;
    case MX_DTYPE_INT8:
      break;
    }
    memcpy(p + i, &r, 8);
  }
  memset(p + i, 0, n - i);
}

typedef struct figure {
  double gflops, gbps;           /* kernel, medians */
  double frac_peak, frac_bw;     /* medians of per-rep ratios to the adjacent ceilings */
  double peak_gflops, read_gbps; /* medians of the ceilings measured beside it */
} figure;

static volatile float sink;

/* Ceilings measured next to every timed run, so the ratios compare like
 * with like on a shared, noisy machine: FMA peak over ~10 ms, read
 * bandwidth over a 128 MB slice of the buffer (well past L3). */
static double peak_now(void) { return mx_bench_fma_peak_gflops(5u * 1000 * 1000); }

static double bw_now(const unsigned char *aligned_buf, size_t buf_bytes) {
  size_t n = buf_bytes < (128u << 20) ? buf_bytes : (128u << 20);
  return mx_bench_read_gbps(aligned_buf, n & ~(size_t)255);
}

/* Median over reps of scoring documents for about ms each; stream walks the
 * buffer from *cursor. */
static figure measure(mx_maxsim_fn fn, const float *q, uint32_t r_q, uint32_t r_c, uint32_t d,
                      size_t doc_bytes, const unsigned char *buf, size_t buf_docs, int stream,
                      size_t *cursor, int reps, double ms, const unsigned char *aligned_buf,
                      size_t buf_bytes) {
  double flops_per_doc = 2.0 * r_q * r_c * d;
  double g[64], b[64], fp[64], fb[64], pk[64], bw[64];
  if (reps > 64)
    reps = 64;
  for (int r = 0; r < reps; r++) {
    uint64_t t0 = mx_now_ns(), budget = (uint64_t)(ms * 1e6), docs = 0;
    float acc = 0;
    for (;;) {
      /* batches of 16 documents between clock reads */
      for (int k = 0; k < 16; k++) {
        const unsigned char *doc = buf;
        if (stream) {
          doc = buf + *cursor * doc_bytes;
          if (++*cursor == buf_docs)
            *cursor = 0;
        }
        acc += fn(q, r_q, doc, r_c, d);
      }
      docs += 16;
      if (mx_now_ns() - t0 >= budget)
        break;
    }
    double sec = (double)(mx_now_ns() - t0) / 1e9;
    sink = acc;
    g[r] = docs * flops_per_doc / sec / 1e9;
    b[r] = docs * (double)doc_bytes / sec / 1e9;
    /* The bandwidth slice starts past where the stream cursor is heading,
     * alternating halves, so it does not warm the next documents. */
    pk[r] = peak_now();
    bw[r] = bw_now(aligned_buf + ((r & 1) ? buf_bytes / 2 : 0) , buf_bytes / 2);
    fp[r] = g[r] / pk[r];
    fb[r] = b[r] / bw[r];
  }
  return (figure){median(g, reps), median(b, reps), median(fp, reps),
                  median(fb, reps), median(pk, reps), median(bw, reps)};
}

static double fma_peak(int reps) {
  double v[64];
  for (int r = 0; r < reps && r < 64; r++)
    v[r] = mx_bench_fma_peak_gflops(20u * 1000 * 1000);
  return median(v, reps < 64 ? reps : 64);
}

static double read_bw(const void *buf, size_t bytes, int reps) {
  double v[64];
  for (int r = 0; r < reps && r < 64; r++)
    v[r] = mx_bench_read_gbps(buf, bytes);
  return median(v, reps < 64 ? reps : 64);
}

int main(int argc, char **argv) {
  size_t stream_mb = 512, doc_offset = 2;
  int reps = 5;
  double ms = 60;
  const char *only_dtype = NULL, *only_path = NULL;
  uint32_t only_d = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--stream-mb") == 0 && i + 1 < argc)
      stream_mb = strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
      reps = atoi(argv[++i]);
    else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc)
      ms = atof(argv[++i]);
    else if (strcmp(argv[i], "--dtype") == 0 && i + 1 < argc)
      only_dtype = argv[++i];
    else if (strcmp(argv[i], "--path") == 0 && i + 1 < argc)
      only_path = argv[++i];
    else if (strcmp(argv[i], "--doc-offset") == 0 && i + 1 < argc)
      doc_offset = strtoul(argv[++i], NULL, 10) % 64;
    else if (strcmp(argv[i], "--d") == 0 && i + 1 < argc)
      only_d = (uint32_t)strtoul(argv[++i], NULL, 10);
    else {
      fprintf(stderr,
              "usage: %s [--stream-mb N] [--reps N] [--ms N] [--dtype f32|f16|bf16|int8]\n"
              "          [--d N] [--path scalar|avx2] [--doc-offset 0..63]\n",
              argv[0]);
      return strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
  if (reps < 1)
    reps = 1;
  if (mx_simd_level_get() < MX_SIMD_AVX2) {
    fprintf(stderr, "bench_kernels: needs AVX2+FMA+F16C (and MX_SIMD unset) for the peaks\n");
    return 1;
  }

  size_t buf_bytes = stream_mb << 20;
  unsigned char *buf = aligned_alloc(64, buf_bytes + 64);
  if (!buf) {
    fprintf(stderr, "bench_kernels: cannot allocate %zu MB\n", stream_mb);
    return 1;
  }
  /* Documents start --doc-offset (default 2) bytes past a 64-byte aligned
   * address: LMDB guarantees values only 2-byte alignment. */
  unsigned char *docs = buf + doc_offset;
  memset(buf, 0, buf_bytes + 64);

  static const uint32_t dims[] = {128, 2048, 3584};
  static const uint32_t budgets[][2] = {{1, 1}, {2, 4}, {4, 8}, {8, 16}, {16, 64}};
  static const mx_dtype dtypes[] = {MX_DTYPE_F32, MX_DTYPE_F16, MX_DTYPE_BF16, MX_DTYPE_INT8};
  static const mx_simd_level levels[] = {MX_SIMD_SCALAR, MX_SIMD_AVX2};

  float *q = malloc(16u * 3584 * 4 + 4);
  if (!q)
    return 1;
  for (size_t i = 0; i < 16u * 3584 + 1; i++)
    q[i] = (float)((double)(rng() >> 11) / 9007199254740992.0 * 2 - 1) * 0.02f;
  const float *qp = q + 1; /* not 32-byte aligned */

  double peak0 = fma_peak(reps), bw0 = read_bw(buf, buf_bytes, reps);
  printf("{\"bench\":\"machine\",\"when\":\"start\",\"fma_peak_gflops\":%.2f,\"read_gbps\":%.2f,"
         "\"stream_mb\":%zu,\"reps\":%d,\"doc_offset\":%zu}\n",
         peak0, bw0, stream_mb, reps, doc_offset);
  fflush(stdout);

  size_t cursor = 0;
  for (size_t t = 0; t < sizeof dtypes / sizeof dtypes[0]; t++) {
    mx_dtype dtype = dtypes[t];
    if (only_dtype && strcmp(only_dtype, mx_dtype_name(dtype)) != 0)
      continue;
    fill(dtype, docs, buf_bytes - doc_offset);
    for (size_t a = 0; a < sizeof dims / sizeof dims[0]; a++) {
      uint32_t d = dims[a];
      if (only_d && d != only_d)
        continue;
      for (size_t b = 0; b < sizeof budgets / sizeof budgets[0]; b++) {
        uint32_t r_q = budgets[b][0], r_c = budgets[b][1];
        size_t doc_bytes = mx_vector_bytes(dtype, d) * r_c;
        size_t buf_docs = (buf_bytes - 64) / doc_bytes;
        if (cursor >= buf_docs)
          cursor = 0;
        for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
          if (only_path && strcmp(only_path, mx_simd_level_name(levels[l])) != 0)
            continue;
          mx_maxsim_fn fn = mx_maxsim_kernel(dtype, levels[l]);
          if (!fn)
            continue;
          figure hot = measure(fn, qp, r_q, r_c, d, doc_bytes, docs, buf_docs, 0, &cursor, reps,
                               ms, buf, buf_bytes);
          figure st = measure(fn, qp, r_q, r_c, d, doc_bytes, docs, buf_docs, 1, &cursor, reps,
                              ms, buf, buf_bytes);
          /* Roofline: streaming is bounded by the FMA peak when a document
           * needs more time to compute than to read at the read bandwidth. */
          double flops = 2.0 * r_q * r_c * d;
          int compute_bound = flops / st.peak_gflops > (double)doc_bytes / st.read_gbps;
          printf("{\"bench\":\"kernels\",\"dtype\":\"%s\",\"r_q\":%u,\"r_c\":%u,\"d\":%u,"
                 "\"path\":\"%s\",\"doc_bytes\":%zu,"
                 "\"hot_gflops\":%.2f,\"hot_gbps\":%.2f,\"hot_frac_fma_peak\":%.3f,"
                 "\"stream_gflops\":%.2f,\"stream_gbps\":%.2f,\"stream_frac_fma_peak\":%.3f,"
                 "\"stream_frac_read_bw\":%.3f,\"stream_bound\":\"%s\","
                 "\"stream_frac_bound\":%.3f,\"fma_peak_gflops\":%.1f,\"read_gbps\":%.2f}\n",
                 mx_dtype_name(dtype), r_q, r_c, d, mx_simd_level_name(levels[l]), doc_bytes,
                 hot.gflops, hot.gbps, hot.frac_peak, st.gflops, st.gbps, st.frac_peak,
                 st.frac_bw, compute_bound ? "fma" : "memory",
                 compute_bound ? st.frac_peak : st.frac_bw, (hot.peak_gflops + st.peak_gflops) / 2,
                 st.read_gbps);
          fflush(stdout);
        }
      }
    }
  }

  double peak1 = fma_peak(reps), bw1 = read_bw(buf, buf_bytes, reps);
  printf("{\"bench\":\"machine\",\"when\":\"end\",\"fma_peak_gflops\":%.2f,\"read_gbps\":%.2f}\n",
         peak1, bw1);
  free(q);
  free(buf);
  return 0;
}
