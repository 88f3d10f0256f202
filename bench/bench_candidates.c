/* bench_candidates.c: what one candidate costs in mx_search, split into its
 * parts, beside what mx_exact_search pays per document in the same run, on
 * one thread. One JSON line per row on stdout; progress on stderr.
 *
 *   bench_candidates --index DIR --queries Q.npy [--budgets 4x16,16x64]
 *                    [--kprime 100,500,2000,N] [--queries-used 20]
 *                    [--cold 3] [--no-split] [--threads 1]
 *
 * For each budget (r_q, r_c) and candidate count k' (N = every document):
 * - exact: one mx_exact_search of all used queries on one thread; its time
 *   per query per document (it reads each document once for all queries,
 *   so this is close to the arithmetic alone).
 * - warm rows (the index opened once, every page touched before timing), with
 *   prefetch on and off: medians over the queries of mx_search's total and
 *   coarse times; us_per_candidate = (total - coarse) / k'.
 * - the split (warm, prefetch off), per candidate:
 *     lookup  finding the record's verified prefix (mx_store_view_prefix,
 *             what the search path reads a candidate with, in steady state:
 *             the record located and its segments verified by earlier reads);
 *     verify  mx_search with checksums on minus with checksums off (both
 *             after a first pass: what a steady-state search pays);
 *     kernel  MaxSim on one document kept hot in L1 (the arithmetic);
 *     memory  the kernel over the candidates' own vectors, in search order,
 *             minus kernel (the traffic from RAM);
 *     other   the rest of the rescoring time (header parsing, faults, top-k,
 *             bookkeeping): us_per_candidate - the four above.
 * - cold rows: the index closed, store/data.mdb dropped from the page cache
 *   (posix_fadvise DONTNEED), reopened, then one search timed, per query
 *   (--cold of them), prefetch on and off.
 * --threads T: mx_search_options.threads for the timed searches (default 1:
 * one thread; 0 = the automatic choice); rows say which.
 * Times are wall-clock (mx_search_stats) and, beside them, the thread's CPU
 * time (CLOCK_THREAD_CPUTIME_ID: what the query cost when the machine's other
 * work takes the core away): cpu_ms_per_query, and cpu_us_per_candidate =
 * (CPU time - the coarse stage's CPU time, timed alone) / k'. The split is
 * measured in CPU time.
 * Each row carries the machine's bounds measured in the same run:
 * fma_us = 2 r_q r_c d flops at the measured single-core FMA peak, and
 * bw_us = the candidate's prefix bytes at the measured read bandwidth. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_peak.h"
#include "budget.h"
#include "clock.h"
#include "dtype.h"
#include "index_internal.h"
#include "metaidx.h"
#include "npy.h"
#include "record.h"
#include "store.h"

#define MAX_LIST 16

typedef struct cfg {
  const char *index, *queries;
  mx_budget budgets[MAX_LIST];
  unsigned n_budgets;
  uint64_t kprime[MAX_LIST]; /* 0 = N */
  unsigned n_kprime;
  uint32_t nq;
  uint32_t cold;
  uint32_t threads;
  int split;
} cfg;

static void die(const char *what, const mx_error *err) {
  fprintf(stderr, "bench_candidates: %s%s%s\n", what, err ? ": " : "", err ? err->message : "");
  exit(1);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
  if (n == 0)
    return 0;
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void parse_args(int argc, char **argv, cfg *c) {
  memset(c, 0, sizeof *c);
  c->budgets[0] = (mx_budget){4, 16};
  c->n_budgets = 1;
  uint64_t kp[] = {100, 500, 2000, 0};
  memcpy(c->kprime, kp, sizeof kp);
  c->n_kprime = 4;
  c->nq = 20;
  c->cold = 3;
  c->threads = 1;
  c->split = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--no-split")) {
      c->split = 0;
      continue;
    }
    if (!v)
      die("missing value after an option (see the header of bench_candidates.c)", NULL);
    i++;
    if (!strcmp(a, "--index")) {
      c->index = v;
    } else if (!strcmp(a, "--queries")) {
      c->queries = v;
    } else if (!strcmp(a, "--queries-used")) {
      c->nq = (uint32_t)strtoul(v, NULL, 10);
    } else if (!strcmp(a, "--threads")) {
      c->threads = (uint32_t)strtoul(v, NULL, 10);
    } else if (!strcmp(a, "--cold")) {
      c->cold = (uint32_t)strtoul(v, NULL, 10);
    } else if (!strcmp(a, "--budgets")) {
      mx_error e = {0};
      if (mx_budgets_parse(v, c->budgets, MAX_LIST, &c->n_budgets, &e) != MX_OK)
        die("--budgets", &e);
    } else if (!strcmp(a, "--kprime")) {
      c->n_kprime = 0;
      for (const char *p = v; *p && c->n_kprime < MAX_LIST;) {
        char *end;
        c->kprime[c->n_kprime++] = (*p == 'N') ? 0 : strtoull(p, &end, 10);
        p = (*p == 'N') ? p + 1 : end;
        if (*p == ',')
          p++;
        else if (*p)
          die("--kprime: expected e.g. 100,2000,N", NULL);
      }
    } else {
      die("unknown option (see the header of bench_candidates.c)", NULL);
    }
  }
  if (!c->index || !c->queries)
    die("--index and --queries are required", NULL);
}

/* Queries as f32 [n, r, dim]. */
static float *load_queries(const char *path, uint32_t dim, uint32_t *n, uint32_t *r) {
  mx_npy f;
  mx_error err;
  if (mx_npy_open(path, &f, &err) != MX_OK)
    die("queries", &err);
  if (f.h.ndim != 3 || f.h.shape[2] != dim || (f.h.type != MX_NPY_F32 && f.h.type != MX_NPY_F16))
    die("queries must be float32/float16 [Q, R, d] with the index's d", NULL);
  *n = (uint32_t)f.h.shape[0];
  *r = (uint32_t)f.h.shape[1];
  size_t count = (size_t)f.h.n_elements;
  float *q = malloc(count * sizeof *q);
  if (!q)
    die("out of memory", NULL);
  mx_dtype qt = f.h.type == MX_NPY_F32 ? MX_DTYPE_F32 : MX_DTYPE_F16;
  for (size_t i = 0; i < count; i++)
    q[i] = mx_load_element(f.data, qt, i);
  mx_npy_close(&f);
  return q;
}

static mx_index *open_index(const char *dir, int verify) {
  mx_open_options o;
  mx_open_options_init(&o);
  o.verify = verify;
  mx_index *ix;
  mx_error err;
  if (mx_index_open(dir, &o, &ix, &err) != MX_OK)
    die("open", &err);
  return ix;
}

static void evict(const char *index) {
  char path[4096];
  snprintf(path, sizeof path, "%s/store/data.mdb", index);
  int fd = open(path, O_RDONLY);
  if (fd >= 0) {
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
  }
}

/* CPU time of the calling thread, ns. */
static uint64_t cpu_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct run {
  double total_ms, coarse_ms, rescore_ms; /* medians over queries */
  double cpu_ms;                          /* thread CPU time, median */
} run;

static run search_all(mx_index *ix, const float *q, uint32_t nq, uint32_t r, uint32_t dim,
                      const mx_search_options *so, mx_hit *hits) {
  double tot[4096], co[4096], re[4096], cpu[4096];
  for (uint32_t i = 0; i < nq; i++) {
    mx_search_stats st;
    uint32_t nh;
    mx_error err;
    uint64_t c0 = cpu_now_ns();
    if (mx_search(ix, q + (size_t)i * r * dim, r, so, hits, &nh, &st, &err) != MX_OK)
      die("search", &err);
    cpu[i] = (double)(cpu_now_ns() - c0) / 1e6;
    tot[i] = st.total_ms;
    co[i] = st.coarse_ms;
    re[i] = st.rescore_ms + st.prefetch_ms;
  }
  return (run){median(tot, nq), median(co, nq), median(re, nq), median(cpu, nq)};
}

static const char *dtype_name(mx_dtype d) {
  const char *n = mx_dtype_name(d);
  return n ? n : "?";
}

static volatile float sink;

/* The split's lookup and memory parts over the candidates of each query
 * (coarse order, as the search scores them); per candidate, medians. */
static void split_parts(mx_index *ix, const float *q, uint32_t nq, uint32_t r, uint32_t dim,
                        mx_budget b, uint32_t kp, mx_hit *cand, double *lookup_us,
                        double *stream_us, double *hot_us) {
  mx_store *store = mx_index_store(ix);
  mx_maxsim_fn kernel = mx_index_kernel(ix);
  const unsigned char **vec = malloc(kp * sizeof *vec);
  double lk[4096], st[4096], ht[4096];
  for (uint32_t i = 0; i < nq; i++) {
    const float *qi = q + (size_t)i * r * dim;
    mx_search_options so;
    mx_search_options_init(&so);
    so.coarse_only = 1;
    so.k = so.candidates = kp;
    so.nprobe = 1u << 20; /* as the timed searches */
    uint32_t nh;
    mx_error err;
    if (kp >= mx_index_manifest(ix)->n_docs) { /* mx_search's order: storage order */
      nh = kp;
      for (uint32_t j = 0; j < nh; j++)
        cand[j].doc = j;
    } else if (mx_search(ix, qi, r, &so, cand, &nh, NULL, &err) != MX_OK) {
      die("coarse", &err);
    }
    mx_store_txn *txn;
    if (mx_store_txn_begin(store, &txn, &err) != MX_OK)
      die("txn", &err);
    for (uint32_t j = 0; j < nh; j++) { /* the search did this already: steady state */
      mx_record_view v;
      if (mx_store_view_prefix(txn, cand[j].doc, b.r_c, 0, &v, &err) != MX_OK)
        die("read", &err);
    }
    uint64_t t0 = cpu_now_ns();
    for (uint32_t j = 0; j < nh; j++) {
      mx_record_view v;
      if (mx_store_view_prefix(txn, cand[j].doc, b.r_c, 0, &v, &err) != MX_OK)
        die("read", &err);
      vec[j] = v.vectors;
    }
    lk[i] = (double)(cpu_now_ns() - t0) / 1e3 / nh;
    float acc = 0;
    t0 = cpu_now_ns();
    for (uint32_t j = 0; j < nh; j++)
      acc += kernel(qi, b.r_q, vec[j], b.r_c, dim);
    st[i] = (double)(cpu_now_ns() - t0) / 1e3 / nh;
    t0 = cpu_now_ns();
    for (uint32_t j = 0; j < nh; j++)
      acc += kernel(qi, b.r_q, vec[0], b.r_c, dim);
    ht[i] = (double)(cpu_now_ns() - t0) / 1e3 / nh;
    sink = acc;
    mx_store_txn_end(txn);
  }
  *lookup_us = median(lk, nq);
  *stream_us = median(st, nq);
  *hot_us = median(ht, nq);
  free(vec);
}

int main(int argc, char **argv) {
  cfg c;
  parse_args(argc, argv, &c);
  mx_index *ix = open_index(c.index, 1);
  mx_info info;
  mx_error err;
  if (mx_index_info(ix, &info, &err) != MX_OK)
    die("info", &err);
  uint32_t nq_all, r;
  float *q = load_queries(c.queries, info.dim, &nq_all, &r);
  uint32_t nq = c.nq < nq_all ? c.nq : nq_all;
  if (nq > 4096)
    nq = 4096;
  size_t vb = mx_vector_bytes(info.dtype, info.dim);

  /* ceilings */
  size_t bw_bytes = (size_t)256 << 20;
  unsigned char *bw_buf = aligned_alloc(64, bw_bytes);
  if (!bw_buf)
    die("out of memory", NULL);
  memset(bw_buf, 1, bw_bytes);
  double peak_v[5], bw_v[5];
  for (int i = 0; i < 5; i++) {
    peak_v[i] = mx_bench_fma_peak_gflops(20u * 1000 * 1000);
    bw_v[i] = mx_bench_read_gbps(bw_buf, bw_bytes);
  }
  double peak = median(peak_v, 5), bw = median(bw_v, 5);
  free(bw_buf);
  fprintf(stderr, "bench_candidates: N=%llu d=%u %s, %u queries; FMA peak %.1f GFLOP/s, read %.1f GB/s\n",
          (unsigned long long)info.n_docs, info.dim, dtype_name(info.dtype), nq, peak, bw);

  size_t max_k = (size_t)info.n_docs;
  mx_hit *hits = malloc(max_k * sizeof *hits);
  mx_hit *cand = malloc(max_k * sizeof *cand);
  uint32_t *nh = malloc(nq * sizeof *nh);
  if (!hits || !cand || !nh)
    die("out of memory", NULL);
  mx_index *ix_nv = open_index(c.index, 0);

  for (unsigned bi = 0; bi < c.n_budgets; bi++) {
    mx_budget b = c.budgets[bi];
    if (b.r_q > r || b.r_c > info.vectors_per_doc)
      die("a budget is larger than the queries or the stored vectors", NULL);
    /* exact, one thread, every used query at once; a first pass warms the pages */
    uint32_t ek = 10;
    mx_hit *eh = malloc((size_t)nq * ek * sizeof *eh);
    if (mx_exact_search(ix, q, nq, r, b.r_q, b.r_c, ek, 1, eh, nh, &err) != MX_OK)
      die("exact", &err);
    double ex_v[3], ex_cpu[3];
    for (int rep = 0; rep < 3; rep++) {
      uint64_t t0 = mx_now_ns(), c0 = cpu_now_ns();
      if (mx_exact_search(ix, q, nq, r, b.r_q, b.r_c, ek, 1, eh, nh, &err) != MX_OK)
        die("exact", &err);
      ex_v[rep] = mx_ms_since(t0);
      ex_cpu[rep] = (double)(cpu_now_ns() - c0) / 1e6;
    }
    free(eh);
    double exact_ms_q = median(ex_v, 3) / nq;
    double exact_cpu_ms_q = median(ex_cpu, 3) / nq;
    double exact_us_doc = exact_ms_q * 1e3 / (double)info.n_docs;
    double flops = 2.0 * b.r_q * b.r_c * info.dim;
    double fma_us = flops / (peak * 1e3);
    double bw_us = (double)b.r_c * vb / (bw * 1e3);
    printf("{\"bench\":\"candidates\",\"mode\":\"exact\",\"n_docs\":%llu,\"dim\":%u,\"dtype\":\"%s\","
           "\"budget\":\"%ux%u\",\"queries\":%u,\"ms_per_query\":%.4f,\"us_per_doc\":%.4f,"
           "\"cpu_ms_per_query\":%.4f,\"fma_us\":%.4f,\"bw_us\":%.4f,\"fma_peak_gflops\":%.1f,"
           "\"read_gbps\":%.2f}\n",
           (unsigned long long)info.n_docs, info.dim, dtype_name(info.dtype), b.r_q, b.r_c, nq,
           exact_ms_q, exact_us_doc, exact_cpu_ms_q, fma_us, bw_us, peak, bw);
    fflush(stdout);

    for (unsigned ki = 0; ki < c.n_kprime; ki++) {
      uint64_t kp64 = c.kprime[ki] == 0 || c.kprime[ki] > info.n_docs ? info.n_docs : c.kprime[ki];
      uint32_t kp = (uint32_t)kp64;
      mx_search_options so;
      mx_search_options_init(&so);
      so.r_q = b.r_q;
      so.r_c = b.r_c;
      so.candidates = kp;
      so.nprobe = 1u << 20; /* every list: k' candidates whatever the coarse index */
      so.k = 10;
      so.threads = c.threads;
      double coarse_cpu = 0; /* the coarse stage alone (none when every document is a candidate) */
      if (kp < info.n_docs) {
        mx_search_options co = so;
        co.coarse_only = 1;
        co.k = kp;
        coarse_cpu = search_all(ix, q, nq, r, info.dim, &co, hits).cpu_ms;
      }
      double res[2][5]; /* [prefetch][total, coarse, us_per_candidate, cpu_ms, cpu_us_per_cand] */
      for (int pf = 1; pf >= 0; pf--) {
        so.prefetch = pf;
        search_all(ix, q, nq, r, info.dim, &so, hits); /* warm-up pass */
        run w = search_all(ix, q, nq, r, info.dim, &so, hits);
        res[pf][0] = w.total_ms;
        res[pf][1] = w.coarse_ms;
        res[pf][2] = w.rescore_ms * 1e3 / kp;
        res[pf][3] = w.cpu_ms;
        res[pf][4] = (w.cpu_ms - coarse_cpu) * 1e3 / kp;
      }
      double lookup = 0, stream = 0, hot = 0, verify = 0;
      if (c.split) {
        so.prefetch = 0;
        search_all(ix_nv, q, nq, r, info.dim, &so, hits);
        run nv = search_all(ix_nv, q, nq, r, info.dim, &so, hits);
        verify = (res[0][3] - nv.cpu_ms) * 1e3 / kp;
        split_parts(ix, q, nq, r, info.dim, b, kp, cand, &lookup, &stream, &hot);
      }
      for (int pf = 1; pf >= 0; pf--) {
        printf("{\"bench\":\"candidates\",\"mode\":\"search\",\"state\":\"warm\",\"n_docs\":%llu,"
               "\"dim\":%u,\"dtype\":\"%s\",\"budget\":\"%ux%u\",\"kprime\":%u,\"threads\":%u,\"prefetch\":%d,"
               "\"queries\":%u,\"ms_per_query\":%.4f,\"coarse_ms\":%.4f,\"us_per_candidate\":%.4f,"
               "\"exact_us_per_doc\":%.4f,\"ratio_vs_exact\":%.3f,\"cpu_ms_per_query\":%.4f,"
               "\"cpu_us_per_candidate\":%.4f,\"cpu_ratio_vs_exact\":%.3f,\"fma_us\":%.4f,"
               "\"bw_us\":%.4f",
               (unsigned long long)info.n_docs, info.dim, dtype_name(info.dtype), b.r_q, b.r_c, kp,
               c.threads, pf, nq, res[pf][0], res[pf][1], res[pf][2], exact_us_doc,
               res[pf][2] / exact_us_doc, res[pf][3], res[pf][4],
               res[pf][4] * 1e-3 * (double)info.n_docs / exact_cpu_ms_q, fma_us, bw_us);
        if (pf == 0 && c.split)
          printf(",\"split_us\":{\"lookup\":%.4f,\"verify\":%.4f,\"kernel\":%.4f,\"memory\":%.4f,"
                 "\"other\":%.4f}",
                 lookup, verify, hot, stream - hot, res[0][4] - lookup - verify - stream);
        if (pf == 1)
          printf(",\"prefetch_over_none\":%.3f,\"cpu_prefetch_over_none\":%.3f",
                 res[1][0] / res[0][0], res[1][3] / res[0][3]);
        printf("}\n");
        fflush(stdout);
      }
      fprintf(stderr, "  %ux%u k'=%u warm: %.3f ms (prefetch) %.3f ms (none), %.3f us/cand, "
                      "exact %.3f us/doc\n",
              b.r_q, b.r_c, kp, res[1][0], res[0][0], res[0][2], exact_us_doc);
      /* cold */
      for (int pf = 1; pf >= 0 && c.cold > 0; pf--) {
        so.prefetch = pf;
        double tot[64], per[64];
        uint32_t nc = c.cold < 64 ? c.cold : 64;
        for (uint32_t i = 0; i < nc; i++) {
          mx_index_close(ix);
          evict(c.index);
          ix = open_index(c.index, 1);
          mx_search_stats st;
          uint32_t n;
          if (mx_search(ix, q + (size_t)(i % nq) * r * info.dim, r, &so, hits, &n, &st, &err) !=
              MX_OK)
            die("search", &err);
          tot[i] = st.total_ms;
          per[i] = (st.total_ms - st.coarse_ms) * 1e3 / kp;
        }
        printf("{\"bench\":\"candidates\",\"mode\":\"search\",\"state\":\"cold\",\"n_docs\":%llu,"
               "\"dim\":%u,\"dtype\":\"%s\",\"budget\":\"%ux%u\",\"kprime\":%u,\"threads\":%u,\"prefetch\":%d,"
               "\"queries\":%u,\"ms_per_query\":%.4f,\"us_per_candidate\":%.4f}\n",
               (unsigned long long)info.n_docs, info.dim, dtype_name(info.dtype), b.r_q, b.r_c, kp,
               c.threads, pf, nc, median(tot, nc), median(per, nc));
        fflush(stdout);
      }
    }
  }
  mx_index_close(ix_nv);
  mx_index_close(ix);
  free(hits);
  free(cand);
  free(nh);
  free(q);
  return 0;
}
