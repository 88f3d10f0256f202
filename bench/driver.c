/* driver.c: the end-to-end benchmark (`metaidx bench`): for a collection
 * (synthetic, or .npy files) it builds or opens an index and measures, per
 * configuration, latency, QPS, recall against brute force, nDCG/MRR against
 * qrels, bytes and FLOPs per query, warm and cold, beside the exhaustive and
 * coarse-only baselines and the disk's random-read bound. Public API and
 * common/ helpers only. Output: results.jsonl, results.csv, paper_table.md
 * and gnuplot plots under --out. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "budget.h"
#include "clock.h"
#include "driver.h"
#include "half.h"
#include "metaidx.h"
#include "metrics.h"
#include "npy.h"
#include "pool.h"
#include "status.h"
#include "synth.h"

#define MAX_LIST 16
#define MAX_NS 8
#define RECALL_TARGET 0.95

/* snprintf without the truncation warning: truncation is fine for these. */
static void sfmt(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sfmt(char *dst, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(dst, cap, fmt, ap);
  va_end(ap);
}

/* ------------------------------------------------------------ helpers */

int mx_bench_parse_cascade(const char *s, mx_stage *stages, uint32_t *n_stages, uint32_t max,
                           mx_error *err) {
  *n_stages = 0;
  if (s && strcmp(s, "none") == 0)
    return 0;
  if (s && strchr(s, '+')) {
    mx_fail(err, MX_ERR_INVALID_ARGUMENT,
            "cascade '%s': stages are separated by ',' as in 'metaidx search --cascade' (e.g. "
            "2x4:400,8x16:100), no longer by '+'; give --cascade once per cascade to compare "
            "several",
            s);
    return -1;
  }
  return mx_cascade_parse(s, stages, max, n_stages, err) == MX_OK ? 0 : -1;
}

size_t mx_bench_pareto(const double *cost, const double *gain, size_t n, size_t *out) {
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (isnan(cost[i]) || isnan(gain[i]))
      continue;
    int dominated = 0;
    for (size_t j = 0; j < n && !dominated; j++) {
      if (j == i || isnan(cost[j]) || isnan(gain[j]))
        continue;
      if (cost[j] <= cost[i] && gain[j] >= gain[i]) {
        if (cost[j] < cost[i] || gain[j] > gain[i])
          dominated = 1;
        else if (j < i) /* exact duplicate: keep the first */
          dominated = 1;
      }
    }
    if (!dominated)
      out[m++] = i;
  }
  for (size_t a = 1; a < m; a++) { /* insertion sort by cost, then gain desc */
    size_t v = out[a], b = a;
    while (b > 0 && (cost[out[b - 1]] > cost[v] ||
                     (cost[out[b - 1]] == cost[v] && gain[out[b - 1]] < gain[v]))) {
      out[b] = out[b - 1];
      b--;
    }
    out[b] = v;
  }
  return m;
}

double mx_bench_flops(uint32_t dim, uint64_t candidates, const mx_stage *stages,
                      uint32_t n_stages, uint32_t r_q, uint32_t r_c) {
  double flops = 0, n = (double)candidates;
  for (uint32_t i = 0; i <= n_stages; i++) {
    uint32_t q = i < n_stages ? stages[i].r_q : r_q;
    uint32_t c = i < n_stages ? stages[i].r_c : r_c;
    flops += 2.0 * q * c * dim * n;
    if (i < n_stages && (double)stages[i].keep < n)
      n = (double)stages[i].keep;
  }
  return flops;
}

static size_t dtype_bytes(mx_dtype t) {
  switch (t) {
  case MX_DTYPE_F32: return 4;
  case MX_DTYPE_F16:
  case MX_DTYPE_BF16: return 2;
  case MX_DTYPE_INT8: return 1;
  }
  return 4;
}

static void proc_mem(double *rss, double *hwm) {
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
static void dir_bytes(const char *dir, uint64_t *apparent, uint64_t *allocated) {
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

/* ------------------------------------------------------------ result rows */

/* Every output row has every column; NaN (or "") means not applicable. */
#define ROW_FIELDS(S, U, D)                                                      \
  S(kind) S(preset) S(mode) U(n_docs) U(dim) U(doc_vectors) U(query_vectors)     \
  S(dtype) U(n_queries) U(r_q) U(r_c) U(k) U(candidates) S(cascade) U(nprobe)   \
  U(threads) D(p50_ms) D(p95_ms) D(p99_ms) D(mean_ms) D(qps) D(recall_at_10)    \
  D(ndcg_at_10) D(mrr_at_10) D(bytes_per_query) D(scored_per_query)             \
  D(candidates_per_query) D(flops_per_query) D(coarse_ms) D(prefetch_ms)        \
  D(rescore_ms) S(stage_ms) D(total_ms) D(index_bytes) D(index_alloc_bytes)     \
  D(budget_bytes) D(vm_rss) D(vm_hwm) D(resident_before) D(disk_bound_qd1_ms)   \
  D(disk_bound_qd32_ms) D(disk_bound_bw_ms) D(block_bytes) D(iops) D(mb_per_s) D(seconds) S(note)

typedef struct row {
#define RS_(n) char n[160];
#define RU_(n) uint64_t n;
#define RD_(n) double n;
  ROW_FIELDS(RS_, RU_, RD_)
#undef RS_
#undef RU_
#undef RD_
} row;

#define U_NA UINT64_MAX

static void row_init(row *r) {
  memset(r, 0, sizeof *r);
#define RS_(n)
#define RU_(n) r->n = U_NA;
#define RD_(n) r->n = NAN;
  ROW_FIELDS(RS_, RU_, RD_)
#undef RS_
#undef RU_
#undef RD_
}

/* ------------------------------------------------------------ configuration */

typedef struct bench_cfg {
  char preset[32];
  char out[PATH_MAX];
  char index_dir[PATH_MAX];
  char docs[PATH_MAX], queries[PATH_MAX], qrels[PATH_MAX];
  uint64_t ns[MAX_NS];
  unsigned n_ns;
  uint32_t d, rc, rq, nq, k;
  mx_dtype dtype;
  mx_budget budgets[MAX_LIST];
  unsigned n_budgets;
  uint32_t cands[MAX_LIST];
  unsigned n_cands;
  char cascades[MAX_LIST][128];
  unsigned n_cascades;
  uint32_t nprobes[MAX_LIST];
  unsigned n_nprobes;
  uint32_t threads[MAX_LIST];
  unsigned n_threads;
  uint32_t reps;
  int warm, cold;
  uint32_t cold_queries, exact1_queries;
  float noise;
  uint64_t seed;
  int rebuild, plots, disk, build_only, replot;
  double disk_seconds;
  char factory[256];
  int quiet;
} bench_cfg;

static void cfg_defaults(bench_cfg *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->preset, sizeof c->preset, "custom");
  c->ns[0] = 10000;
  c->n_ns = 1;
  c->d = 128;
  c->rc = 64;
  c->rq = 16;
  c->nq = 100;
  c->k = 10;
  c->dtype = MX_DTYPE_F16;
  c->cands[0] = 100;
  c->n_cands = 1;
  snprintf(c->cascades[0], sizeof c->cascades[0], "none");
  c->n_cascades = 1;
  c->nprobes[0] = 0;
  c->n_nprobes = 1;
  c->threads[0] = 1;
  c->threads[1] = 2;
  c->n_threads = 2;
  c->reps = 3;
  c->warm = 1;
  c->cold = 1;
  c->cold_queries = 10;
  c->exact1_queries = 16;
  c->noise = 0.5f;
  c->seed = 42;
  c->plots = 1;
  c->disk = 1;
  c->disk_seconds = 2.0;
}

static void set_list_u32(uint32_t *dst, unsigned *n, const uint32_t *src, unsigned m) {
  memcpy(dst, src, m * sizeof *src);
  *n = m;
}
static void set_cascades(bench_cfg *c, const char *const *list, unsigned m) {
  for (unsigned i = 0; i < m; i++)
    snprintf(c->cascades[i], sizeof c->cascades[i], "%s", list[i]);
  c->n_cascades = m;
}

static int apply_preset(bench_cfg *c, const char *name) {
  snprintf(c->preset, sizeof c->preset, "%s", name);
  if (strcmp(name, "tiny") == 0) {
    c->ns[0] = 2000;
    c->n_ns = 1;
    c->d = 64;
    c->rc = 64;
    c->rq = 16;
    c->nq = 50;
    set_list_u32(c->cands, &c->n_cands, (uint32_t[]){50, 100, 200}, 3);
    set_cascades(c, (const char *[]){"none", "4x8:50"}, 2);
    c->reps = 3;
    c->cold_queries = 5;
    c->exact1_queries = 16;
    c->disk_seconds = 0.5;
  } else if (strcmp(name, "s128-100k") == 0) {
    c->ns[0] = 100000;
    c->n_ns = 1;
    c->d = 128;
    c->rc = 64;
    c->rq = 16;
    c->nq = 100;
    set_list_u32(c->cands, &c->n_cands, (uint32_t[]){100, 200, 500, 1000}, 4);
    set_cascades(c, (const char *[]){"none", "4x8:100", "4x8:200", "2x4:400,8x16:100"}, 4);
    c->reps = 3;
    c->cold_queries = 20;
  } else if (strcmp(name, "paper7b-20k") == 0) {
    c->ns[0] = 20000;
    c->n_ns = 1;
    c->d = 3584;
    c->rc = 64;
    c->rq = 16;
    c->nq = 50;
    set_list_u32(c->cands, &c->n_cands, (uint32_t[]){50, 100, 200}, 3);
    set_cascades(c, (const char *[]){"none", "2x4:50", "4x8:20", "4x8:25", "4x8:30", "4x8:40",
                                     "8x16:20", "2x4:100,8x16:20"},
                 8);
    /* the SQ8 coarse scan costs ~0.3 ms per probed list at d = 3584: probe
     * few lists (nprobe 0, the default, scans ~20 k' vectors: 7 ms at k' 100) */
    set_list_u32(c->nprobes, &c->n_nprobes, (uint32_t[]){2, 4}, 2);
    c->reps = 3;
    c->cold_queries = 10;
    c->exact1_queries = 8;
    /* The builder's default (IVF512 for N = 20k) wants 19968 training vectors
     * but its reservoir holds 256 MiB = 18724 vectors at d = 3584. */
    snprintf(c->factory, sizeof c->factory, "IVF256,SQ8");
  } else if (strcmp(name, "scale-1m") == 0) {
    c->ns[0] = 10000;
    c->ns[1] = 100000;
    c->ns[2] = 1000000;
    c->n_ns = 3;
    c->d = 128;
    c->rc = 16;
    c->rq = 16;
    c->nq = 100;
    set_list_u32(c->cands, &c->n_cands, (uint32_t[]){200}, 1);
    set_cascades(c, (const char *[]){"none"}, 1);
    c->reps = 3;
    c->cold_queries = 20;
  } else {
    return -1;
  }
  return 0;
}

static int parse_u32_list(const char *s, uint32_t *out, unsigned *n) {
  unsigned m = 0;
  const char *p = s;
  while (*p) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(p, &end, 10);
    if (end == p || errno || v > UINT32_MAX || m >= MAX_LIST)
      return -1;
    if (*end == 'k' || *end == 'K') {
      v *= 1000;
      end++;
    }
    out[m++] = (uint32_t)v;
    if (*end == ',')
      end++;
    else if (*end)
      return -1;
    p = end;
  }
  *n = m;
  return m ? 0 : -1;
}

static int parse_u64_list(const char *s, uint64_t *out, unsigned *n, unsigned max) {
  unsigned m = 0;
  const char *p = s;
  while (*p) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (end == p || errno || m >= max)
      return -1;
    if (*end == 'k' || *end == 'K') {
      v *= 1000;
      end++;
    } else if (*end == 'm' || *end == 'M') {
      v *= 1000000;
      end++;
    }
    out[m++] = v;
    if (*end == ',')
      end++;
    else if (*end)
      return -1;
    p = end;
  }
  *n = m;
  return m ? 0 : -1;
}

/* MetaEmbed's budgets clipped to (rq, rc), plus (rq, rc) itself. */
static void default_budgets(bench_cfg *c) {
  unsigned m = mx_budgets_default(c->rq, c->rc, c->budgets);
  if (m == 0 || c->budgets[m - 1].r_q != c->rq || c->budgets[m - 1].r_c != c->rc)
    c->budgets[m++] = (mx_budget){c->rq, c->rc};
  c->n_budgets = m;
}

static void usage(FILE *f, const char *prog) {
  fprintf(f,
          "usage: %s [--preset NAME] [options]\n"
          "\n"
          "Benchmarks an index end to end: latency, QPS, recall@10 against brute force,\n"
          "nDCG@10/MRR@10 against qrels, bytes/FLOPs per query, warm and cold, beside the\n"
          "exhaustive and coarse-only baselines. Writes results.jsonl, results.csv,\n"
          "paper_table.md and plots (SVG, PNG) under --out.\n"
          "\n"
          "presets: tiny (N=2000, d=64; < 1 min), s128-100k (d=128, N=100k, R_c=64),\n"
          "         paper7b-20k (d=3584, N=20k, f16, R_q=16, R_c=64),\n"
          "         scale-1m (d=128, R_c=16, N = 10k,100k,1M)\n"
          "\n"
          "collection (default: synthetic, generated with the synth generator):\n"
          "  --n N[,N...]        documents (k/M suffixes); several = one run per N\n"
          "  --d D --rc R_C --rq R_Q --queries Q --noise X --seed S\n"
          "  --docs X.npy --query-file Q.npy [--qrels FILE]   use these instead\n"
          "  --index DIR         open this index instead of building one\n"
          "  --dtype f16|f32|bf16|int8   stored dtype (default f16)\n"
          "  --factory STR       FAISS factory for the coarse stage\n"
          "  --rebuild           build again even if the out dir holds the index\n"
          "  --build-only        build (or find) the index, measure nothing\n"
          "  --replot            redo paper_table.md and the plots from --out's results.jsonl\n"
          "search configurations (lists are comma separated):\n"
          "  --budgets 1x1,2x4,...    (default MetaEmbed's, clipped to R_q, R_c)\n"
          "  --candidates K'[,...]    coarse candidates\n"
          "  --cascade C              'none' or stages RQxRC:KEEP[,RQxRC:KEEP...] as in\n"
          "                           'metaidx search'; once per cascade compared\n"
          "  --nprobe P[,...]         (0 = index default)\n"
          "  --threads T[,...]        batch QPS threads (default 1,2)\n"
          "  --k K --reps R --cold-queries N --exact1-queries N\n"
          "  --warm | --cold          only warm / only cold (default both)\n"
          "  --no-disk --disk-seconds S --no-plots --quiet\n"
          "  --out DIR               (default bench-out/PRESET)\n",
          prog);
}

/* ------------------------------------------------------------ run state */

typedef struct bench {
  bench_cfg cfg;
  FILE *jsonl, *csv;
  row *rows;
  size_t n_rows, cap_rows;
  /* current collection */
  char index_dir[PATH_MAX];
  mx_index *ix;
  mx_info info;
  uint64_t n_docs;
  float *queries; /* nq x rq x d */
  uint32_t nq, qv;
  uint64_t *qrels;   /* relevant ids, grouped per query */
  size_t *qrel_off;  /* nq + 1 offsets */
  uint64_t index_bytes, index_alloc;
  double build_s;
  double disk_iops1, disk_iops32, disk_bw;
  mx_hit *truth[MAX_LIST];
  uint32_t *truth_n[MAX_LIST];
  double exact_ms_per_query[MAX_LIST];
} bench;

static void logf_(const bench *b, const char *fmt, ...) {
  if (b->cfg.quiet)
    return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fflush(stderr);
}

static void csv_header(FILE *f) {
  int first = 1;
#define H_(n)                                                                                      \
  fprintf(f, "%s%s", first ? "" : ",", #n);                                                        \
  first = 0;
  ROW_FIELDS(H_, H_, H_)
#undef H_
  fputc('\n', f);
}

static void emit(bench *b, const row *r) {
  json_t *o = json_object();
  int first = 1;
#define JS_(n)                                                                                     \
  json_object_set_new(o, #n, json_string(r->n));                                                   \
  fprintf(b->csv, "%s\"%s\"", first ? "" : ",", r->n);                                             \
  first = 0;
#define JU_(n)                                                                                     \
  json_object_set_new(o, #n, r->n == U_NA ? json_null() : json_integer((json_int_t)r->n));         \
  if (r->n == U_NA)                                                                                \
    fprintf(b->csv, "%s", first ? "" : ",");                                                       \
  else                                                                                             \
    fprintf(b->csv, "%s%llu", first ? "" : ",", (unsigned long long)r->n);                         \
  first = 0;
#define JD_(n)                                                                                     \
  json_object_set_new(o, #n, isfinite(r->n) ? json_real(r->n) : json_null());                     \
  if (isfinite(r->n))                                                                              \
    fprintf(b->csv, "%s%.6g", first ? "" : ",", r->n);                                             \
  else                                                                                             \
    fprintf(b->csv, "%s", first ? "" : ",");                                                       \
  first = 0;
  ROW_FIELDS(JS_, JU_, JD_)
#undef JS_
#undef JU_
#undef JD_
  fputc('\n', b->csv);
  char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
  if (s) {
    fprintf(b->jsonl, "%s\n", s);
    free(s);
  }
  json_decref(o);
  fflush(b->jsonl);
  fflush(b->csv);
  if (b->n_rows == b->cap_rows) {
    size_t cap = b->cap_rows ? 2 * b->cap_rows : 64;
    row *nr = realloc(b->rows, cap * sizeof *nr);
    if (!nr)
      return;
    b->rows = nr;
    b->cap_rows = cap;
  }
  b->rows[b->n_rows++] = *r;
}

static void row_base(const bench *b, row *r, const char *kind, const char *mode) {
  row_init(r);
  snprintf(r->kind, sizeof r->kind, "%s", kind);
  snprintf(r->preset, sizeof r->preset, "%s", b->cfg.preset);
  snprintf(r->mode, sizeof r->mode, "%s", mode);
  r->n_docs = b->n_docs;
  r->dim = b->info.dim;
  r->doc_vectors = b->info.vectors_per_doc;
  r->query_vectors = b->qv;
  snprintf(r->dtype, sizeof r->dtype, "%s", mx_dtype_name(b->info.dtype));
  r->n_queries = b->nq;
  r->k = b->cfg.k;
  r->index_bytes = (double)b->index_bytes;
  r->index_alloc_bytes = (double)b->index_alloc;
  proc_mem(&r->vm_rss, &r->vm_hwm);
}

/* ------------------------------------------------------------ quality */

static void quality(const bench *b, const mx_hit *hits, const uint32_t *n_hits, int budget_i,
                    double *recall, double *ndcg, double *mrr) {
  uint32_t k = b->cfg.k;
  uint64_t *ranked = malloc(k * sizeof *ranked), *truth = malloc(k * sizeof *truth);
  double rs = 0, ns = 0, ms = 0;
  size_t rn = 0, qn = 0;
  for (uint32_t q = 0; q < b->nq; q++) {
    for (uint32_t i = 0; i < n_hits[q]; i++)
      ranked[i] = hits[(size_t)q * k + i].doc;
    if (budget_i >= 0) {
      const mx_hit *t = b->truth[budget_i] + (size_t)q * k;
      uint32_t tn = b->truth_n[budget_i][q];
      for (uint32_t i = 0; i < tn; i++)
        truth[i] = t[i].doc;
      double r = mx_recall_at_k(ranked, n_hits[q], truth, tn, 10 < k ? 10 : k);
      if (!isnan(r)) {
        rs += r;
        rn++;
      }
    }
    if (b->qrels) {
      size_t lo = b->qrel_off[q], hi = b->qrel_off[q + 1];
      for (uint32_t i = 0; i < n_hits[q]; i++)
        ranked[i] = hits[(size_t)q * k + i].id;
      double nd = mx_ndcg_at_k(ranked, n_hits[q], b->qrels + lo, hi - lo, 10);
      double mr = mx_mrr_at_k(ranked, n_hits[q], b->qrels + lo, hi - lo, 10);
      if (!isnan(nd)) {
        ns += nd;
        ms += mr;
        qn++;
      }
    }
  }
  *recall = rn ? rs / (double)rn : NAN;
  *ndcg = qn ? ns / (double)qn : NAN;
  *mrr = qn ? ms / (double)qn : NAN;
  free(ranked);
  free(truth);
}

static void lat_stats(row *r, double *lat, size_t n) {
  r->p50_ms = mx_percentile(lat, n, 50);
  r->p95_ms = mx_percentile(lat, n, 95);
  r->p99_ms = mx_percentile(lat, n, 99);
  r->mean_ms = mx_mean(lat, n);
}

static void stat_means(row *r, const mx_search_stats *st, size_t n) {
  double sums[MX_MAX_STAGES + 1] = {0};
  double bytes = 0, scored = 0, cand = 0, co = 0, pf = 0, rs = 0, tot = 0;
  uint32_t stages = 0;
  for (size_t i = 0; i < n; i++) {
    bytes += (double)st[i].bytes_touched;
    scored += (double)st[i].scored;
    cand += (double)st[i].candidates;
    co += st[i].coarse_ms;
    pf += st[i].prefetch_ms;
    rs += st[i].rescore_ms;
    tot += st[i].total_ms;
    if (st[i].n_stages_run > stages)
      stages = st[i].n_stages_run;
    for (uint32_t s = 0; s < st[i].n_stages_run && s <= MX_MAX_STAGES; s++)
      sums[s] += st[i].stage_ms[s];
  }
  double dn = n ? (double)n : 1;
  r->bytes_per_query = bytes / dn;
  r->scored_per_query = scored / dn;
  r->candidates_per_query = cand / dn;
  r->coarse_ms = co / dn;
  r->prefetch_ms = pf / dn;
  r->rescore_ms = rs / dn;
  r->total_ms = tot / dn;
  size_t off = 0;
  r->stage_ms[0] = '\0';
  for (uint32_t s = 0; s < stages && s <= MX_MAX_STAGES; s++)
    off += (size_t)snprintf(r->stage_ms + off, sizeof r->stage_ms - off, "%s%.4g", s ? ";" : "",
                            sums[s] / dn);
}

/* ------------------------------------------------------------ disk */

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
static double resident_fraction(const char *path) {
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
static void warm_file(const char *path) {
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

static int evict_file(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return -1;
  int rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
  return rc;
}

/* ------------------------------------------------------------ collection */

typedef struct gen_job {
  const mx_synth_params *p;
  uint64_t first;
  float *out;
  size_t per_doc;
} gen_job;
static void gen_doc(void *ctx, size_t item, unsigned worker) {
  gen_job *g = ctx;
  (void)worker;
  mx_synth_doc(g->p, g->first + item, g->out + item * g->per_doc);
}

static void progress_cb(void *ctx, const char *phase, uint64_t done, uint64_t total) {
  const bench *b = ctx;
  static uint64_t last_ns;
  uint64_t now = mx_now_ns();
  if (now - last_ns < 2000000000ull && done != total)
    return;
  last_ns = now;
  logf_(b, "  build %s %llu/%llu\n", phase, (unsigned long long)done, (unsigned long long)total);
}

static mx_status build_index(bench *b, uint64_t n, mx_error *err) {
  const bench_cfg *c = &b->cfg;
  mx_build_options bo;
  mx_build_options_init(&bo);
  bo.dtype = c->dtype;
  bo.expected_docs = n;
  bo.overwrite = 1;
  bo.normalize = c->docs[0] ? 1 : 0;
  if (c->factory[0])
    bo.coarse_factory = c->factory;
  bo.progress = progress_cb;
  bo.progress_ctx = b;
  mx_builder *bld = NULL;
  mx_status s;
  uint64_t t0 = mx_now_ns();
  if (c->docs[0]) {
    mx_npy f;
    if ((s = mx_npy_open(c->docs, &f, err)) != MX_OK)
      return s;
    if (f.h.ndim != 3 || (f.h.type != MX_NPY_F32 && f.h.type != MX_NPY_F16)) {
      mx_npy_close(&f);
      sfmt(err->message, sizeof err->message, "%s: want a [N, R, d] float32/float16 array",
               c->docs);
      return err->status = MX_ERR_BAD_INPUT;
    }
    uint64_t nd = f.h.shape[0];
    uint32_t r = (uint32_t)f.h.shape[1], d = (uint32_t)f.h.shape[2];
    mx_dtype in = f.h.type == MX_NPY_F32 ? MX_DTYPE_F32 : MX_DTYPE_F16;
    size_t doc_bytes = (size_t)r * d * mx_npy_type_size(f.h.type);
    s = mx_builder_open(b->index_dir, d, r, &bo, &bld, err);
    uint64_t batch = (64u << 20) / doc_bytes + 1;
    for (uint64_t i = 0; s == MX_OK && i < nd; i += batch) {
      uint64_t m = nd - i < batch ? nd - i : batch;
      s = mx_builder_add(bld, m, NULL, NULL, NULL, (const char *)f.data + i * doc_bytes, in, err);
    }
    if (s == MX_OK)
      s = mx_builder_finish(bld, err);
    else
      mx_builder_abort(bld);
    mx_npy_close(&f);
  } else {
    mx_synth_params p;
    mx_synth_params_init(&p);
    p.n_docs = n;
    p.n_queries = c->nq;
    p.doc_vectors = c->rc;
    p.query_vectors = c->rq;
    p.dim = c->d;
    p.seed = c->seed;
    p.query_noise = c->noise;
    size_t per_doc = (size_t)c->rc * c->d;
    uint64_t batch = (64u << 20) / (per_doc * sizeof(float)) + 1;
    float *buf = malloc(batch * per_doc * sizeof *buf);
    if (!buf)
      return err->status = MX_ERR_NO_MEMORY;
    s = mx_builder_open(b->index_dir, c->d, c->rc, &bo, &bld, err);
    uint64_t last = mx_now_ns();
    for (uint64_t i = 0; s == MX_OK && i < n; i += batch) {
      uint64_t m = n - i < batch ? n - i : batch;
      gen_job g = {&p, i, buf, per_doc};
      mx_parallel_for(0, (size_t)m, gen_doc, &g);
      s = mx_builder_add(bld, m, NULL, NULL, NULL, buf, MX_DTYPE_F32, err);
      if (mx_now_ns() - last > 5000000000ull) {
        last = mx_now_ns();
        logf_(b, "  generate+load %llu/%llu docs (%.0f s)\n", (unsigned long long)(i + m),
              (unsigned long long)n, mx_ms_since(t0) / 1e3);
      }
    }
    free(buf);
    if (s == MX_OK)
      s = mx_builder_finish(bld, err);
    else
      mx_builder_abort(bld);
  }
  b->build_s = mx_ms_since(t0) / 1e3;
  return s;
}

static int load_qrels(bench *b, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  size_t cap = 1024, n = 0;
  uint64_t *qid = malloc(cap * sizeof *qid), *did = malloc(cap * sizeof *did);
  char line[1024];
  while (qid && did && fgets(line, sizeof line, f)) {
    unsigned long long q, d;
    char it[64];
    long rel;
    if (sscanf(line, "%llu %63s %llu %ld", &q, it, &d, &rel) != 4 || rel <= 0 || q >= b->nq)
      continue;
    if (n == cap) {
      cap *= 2;
      uint64_t *a = realloc(qid, cap * sizeof *a), *c2 = a ? realloc(did, cap * sizeof *c2) : NULL;
      if (!a || !c2) {
        free(a ? a : qid);
        free(c2 ? c2 : did);
        qid = did = NULL;
        break;
      }
      qid = a;
      did = c2;
    }
    qid[n] = q;
    did[n] = d;
    n++;
  }
  fclose(f);
  if (!qid || !did) {
    free(qid);
    free(did);
    return -1;
  }
  b->qrel_off = calloc(b->nq + 1, sizeof *b->qrel_off);
  b->qrels = malloc((n ? n : 1) * sizeof *b->qrels);
  for (size_t i = 0; i < n; i++)
    b->qrel_off[qid[i] + 1]++;
  for (uint32_t q = 0; q < b->nq; q++)
    b->qrel_off[q + 1] += b->qrel_off[q];
  size_t *fill = calloc(b->nq, sizeof *fill);
  for (size_t i = 0; i < n; i++)
    b->qrels[b->qrel_off[qid[i]] + fill[qid[i]]++] = did[i];
  free(fill);
  free(qid);
  free(did);
  return 0;
}

static mx_status load_queries(bench *b, uint64_t n, mx_error *err) {
  const bench_cfg *c = &b->cfg;
  if (c->queries[0]) {
    mx_npy f;
    mx_status s = mx_npy_open(c->queries, &f, err);
    if (s != MX_OK)
      return s;
    if (f.h.ndim != 3 || (f.h.type != MX_NPY_F32 && f.h.type != MX_NPY_F16)) {
      mx_npy_close(&f);
      sfmt(err->message, sizeof err->message, "%s: want a [Q, R, d] float32/float16 array",
               c->queries);
      return err->status = MX_ERR_BAD_INPUT;
    }
    uint64_t nq = f.h.shape[0];
    if (c->nq && nq > c->nq)
      nq = c->nq;
    b->nq = (uint32_t)nq;
    b->qv = (uint32_t)f.h.shape[1];
    size_t elems = (size_t)nq * b->qv * f.h.shape[2];
    b->queries = malloc(elems * sizeof *b->queries);
    for (size_t i = 0; i < elems; i++)
      b->queries[i] = f.h.type == MX_NPY_F32 ? ((const float *)f.data)[i]
                                            : mx_f16_to_f32(((const uint16_t *)f.data)[i]);
    mx_npy_close(&f);
    if (c->qrels[0] && load_qrels(b, c->qrels) != 0) {
      sfmt(err->message, sizeof err->message, "cannot read qrels %s", c->qrels);
      return err->status = MX_ERR_IO;
    }
    return MX_OK;
  }
  mx_synth_params p;
  mx_synth_params_init(&p);
  p.n_docs = n;
  p.n_queries = c->nq;
  p.doc_vectors = c->rc;
  p.query_vectors = c->rq;
  p.dim = c->d;
  p.seed = c->seed;
  p.query_noise = c->noise;
  b->nq = c->nq;
  b->qv = c->rq;
  size_t per = (size_t)c->rq * c->d;
  b->queries = malloc((size_t)b->nq * per * sizeof *b->queries);
  b->qrels = malloc(b->nq * sizeof *b->qrels);
  b->qrel_off = malloc((b->nq + 1) * sizeof *b->qrel_off);
  if (!b->queries || !b->qrels || !b->qrel_off)
    return err->status = MX_ERR_NO_MEMORY;
  for (uint32_t q = 0; q < b->nq; q++) {
    b->qrels[q] = mx_synth_query(&p, q, b->queries + q * per);
    b->qrel_off[q] = q;
  }
  b->qrel_off[b->nq] = b->nq;
  /* Keep the queries and qrels beside the results, for re-runs elsewhere. */
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/queries-n%llu.npy", c->out, (unsigned long long)n);
  uint64_t shape[3] = {b->nq, c->rq, c->d};
  mx_error e2;
  mx_npy_write(path, MX_NPY_F32, 3, shape, b->queries, &e2);
  snprintf(path, sizeof path, "%s/qrels-n%llu", c->out, (unsigned long long)n);
  FILE *f = fopen(path, "w");
  if (f) {
    for (uint32_t q = 0; q < b->nq; q++)
      fprintf(f, "%u 0 %llu 1\n", q, (unsigned long long)b->qrels[q]);
    fclose(f);
  }
  return MX_OK;
}

static void collection_free(bench *b) {
  mx_index_close(b->ix);
  b->ix = NULL;
  free(b->queries);
  free(b->qrels);
  free(b->qrel_off);
  b->queries = NULL;
  b->qrels = NULL;
  b->qrel_off = NULL;
  for (unsigned i = 0; i < MAX_LIST; i++) {
    free(b->truth[i]);
    free(b->truth_n[i]);
    b->truth[i] = NULL;
    b->truth_n[i] = NULL;
  }
}

static mx_status reopen(bench *b, mx_error *err) {
  mx_index_close(b->ix);
  b->ix = NULL;
  return mx_index_open(b->index_dir, NULL, &b->ix, err);
}

static void data_path(const bench *b, char *out, size_t cap) {
  snprintf(out, cap, "%s/store/data.mdb", b->index_dir);
}

/* ------------------------------------------------------------ measurements */

/* Exhaustive baseline and ground truth at every budget. */
static mx_status run_exhaustive(bench *b, mx_error *err) {
  const bench_cfg *c = &b->cfg;
  unsigned all = mx_cpu_count();
  size_t vb = dtype_bytes(b->info.dtype);
  for (unsigned bi = 0; bi < c->n_budgets; bi++) {
    mx_budget bu = c->budgets[bi];
    b->truth[bi] = malloc((size_t)b->nq * c->k * sizeof(mx_hit));
    b->truth_n[bi] = malloc(b->nq * sizeof(uint32_t));
    if (!b->truth[bi] || !b->truth_n[bi])
      return err->status = MX_ERR_NO_MEMORY;
    uint64_t t0 = mx_now_ns();
    mx_status s = mx_exact_search(b->ix, b->queries, b->nq, b->qv, bu.r_q, bu.r_c, c->k, all,
                                  b->truth[bi], b->truth_n[bi], err);
    if (s != MX_OK)
      return s;
    double ms = mx_ms_since(t0);
    b->exact_ms_per_query[bi] = ms / b->nq;
    row r;
    row_base(b, &r, "exhaustive", "warm");
    r.r_q = bu.r_q;
    r.r_c = bu.r_c;
    r.candidates = b->n_docs;
    snprintf(r.cascade, sizeof r.cascade, "none");
    r.threads = all;
    r.mean_ms = r.p50_ms = ms / b->nq;
    r.qps = b->nq / (ms / 1e3);
    quality(b, b->truth[bi], b->truth_n[bi], bi, &r.recall_at_10, &r.ndcg_at_10, &r.mrr_at_10);
    r.bytes_per_query = (double)b->n_docs * bu.r_c * b->info.dim * vb;
    r.scored_per_query = (double)b->n_docs;
    r.flops_per_query = 2.0 * bu.r_q * bu.r_c * b->info.dim * (double)b->n_docs;
    r.budget_bytes = r.bytes_per_query;
    r.total_ms = ms;
    snprintf(r.note, sizeof r.note, "mx_exact_search over all %llu docs, %u queries at once",
             (unsigned long long)b->n_docs, b->nq);
    emit(b, &r);
    logf_(b, "  exhaustive %ux%u: %.2f ms/query (%u threads)\n", bu.r_q, bu.r_c, ms / b->nq, all);
    /* one thread, on a subset of queries */
    uint32_t n1 = c->exact1_queries < b->nq ? c->exact1_queries : b->nq;
    if (n1 > 0 && all > 1) {
      mx_hit *h = malloc((size_t)n1 * c->k * sizeof *h);
      uint32_t *hn = malloc(n1 * sizeof *hn);
      t0 = mx_now_ns();
      s = mx_exact_search(b->ix, b->queries, n1, b->qv, bu.r_q, bu.r_c, c->k, 1, h, hn, err);
      ms = mx_ms_since(t0);
      free(h);
      free(hn);
      if (s != MX_OK)
        return s;
      r.threads = 1;
      r.n_queries = n1;
      r.mean_ms = r.p50_ms = ms / n1;
      r.qps = n1 / (ms / 1e3);
      r.total_ms = ms;
      r.recall_at_10 = r.ndcg_at_10 = r.mrr_at_10 = NAN;
      proc_mem(&r.vm_rss, &r.vm_hwm);
      snprintf(r.note, sizeof r.note, "mx_exact_search, 1 thread, first %u queries", n1);
      emit(b, &r);
      logf_(b, "  exhaustive %ux%u: %.2f ms/query (1 thread)\n", bu.r_q, bu.r_c, ms / n1);
    }
  }
  return MX_OK;
}

typedef struct search_conf {
  mx_budget budget;
  uint32_t candidates, nprobe;
  mx_stage stages[MX_MAX_STAGES];
  uint32_t n_stages;
  const char *cascade;
  int coarse_only;
} search_conf;

static void conf_opts(const bench *b, const search_conf *sc, mx_search_options *o) {
  mx_search_options_init(o);
  o->k = b->cfg.k;
  o->r_q = sc->budget.r_q;
  o->r_c = sc->budget.r_c;
  o->candidates = sc->candidates;
  o->nprobe = sc->nprobe;
  o->n_stages = sc->n_stages;
  memcpy(o->stages, sc->stages, sizeof o->stages);
  o->coarse_only = sc->coarse_only;
}

static void conf_row(const bench *b, row *r, const search_conf *sc, const char *kind,
                     const char *mode, uint32_t threads) {
  row_base(b, r, kind, mode);
  r->r_q = sc->budget.r_q;
  r->r_c = sc->budget.r_c;
  r->candidates = sc->candidates;
  snprintf(r->cascade, sizeof r->cascade, "%s", sc->cascade);
  r->nprobe = sc->nprobe;
  r->threads = threads;
  r->budget_bytes = (double)b->n_docs * sc->budget.r_c * b->info.dim * dtype_bytes(b->info.dtype);
}

/* One search configuration, warm and/or cold. budget_i indexes the truth. */
static mx_status run_conf(bench *b, const search_conf *sc, int budget_i, mx_error *err) {
  const bench_cfg *c = &b->cfg;
  uint32_t nq = b->nq, k = c->k;
  size_t per = (size_t)b->qv * b->info.dim;
  mx_search_options o;
  conf_opts(b, sc, &o);
  mx_hit *hits = malloc((size_t)nq * k * sizeof *hits);
  uint32_t *nh = malloc(nq * sizeof *nh);
  mx_search_stats *st = malloc(nq * sizeof *st);
  size_t nl = (size_t)nq * (c->reps ? c->reps : 1);
  double *lat = malloc(nl * sizeof *lat);
  mx_status s = MX_OK;
  if (!hits || !nh || !st || !lat) {
    s = err->status = MX_ERR_NO_MEMORY;
    goto out;
  }
  double flops = sc->coarse_only ? 0
                                 : mx_bench_flops(b->info.dim,
                                                  sc->candidates < b->n_docs ? sc->candidates
                                                                             : b->n_docs,
                                                  sc->stages, sc->n_stages, sc->budget.r_q,
                                                  sc->budget.r_c);
  const char *kind = sc->coarse_only ? "coarse_only" : "search";
  if (c->warm) {
    /* warm-up pass, also the quality and statistics pass */
    for (uint32_t q = 0; q < nq && s == MX_OK; q++)
      s = mx_search(b->ix, b->queries + q * per, b->qv, &o, hits + (size_t)q * k, &nh[q], &st[q],
                    err);
    if (s != MX_OK)
      goto out;
    size_t m = 0;
    for (uint32_t rep = 0; rep < (c->reps ? c->reps : 1) && s == MX_OK; rep++)
      for (uint32_t q = 0; q < nq && s == MX_OK; q++) {
        mx_hit tmp[256];
        uint32_t n_tmp;
        int last = rep + 1 == (c->reps ? c->reps : 1);
        uint64_t t0 = mx_now_ns(); /* statistics from the last (warmest) pass */
        s = mx_search(b->ix, b->queries + q * per, b->qv, &o, tmp, &n_tmp, last ? &st[q] : NULL,
                      err);
        lat[m++] = mx_ms_since(t0);
      }
    if (s != MX_OK)
      goto out;
    row r;
    conf_row(b, &r, sc, kind, "warm", 1);
    lat_stats(&r, lat, m);
    quality(b, hits, nh, budget_i, &r.recall_at_10, &r.ndcg_at_10, &r.mrr_at_10);
    stat_means(&r, st, nq);
    r.flops_per_query = flops;
    double recall = r.recall_at_10, ndcg = r.ndcg_at_10, mrr = r.mrr_at_10;
    /* batch QPS per thread count */
    for (unsigned ti = 0; ti < c->n_threads && s == MX_OK; ti++) {
      uint32_t t = c->threads[ti];
      double qps[16];
      unsigned nr = c->reps ? (c->reps < 16 ? c->reps : 16) : 1;
      for (unsigned rep = 0; rep < nr && s == MX_OK; rep++) {
        uint64_t t0 = mx_now_ns();
        s = mx_search_batch(b->ix, b->queries, nq, b->qv, &o, t, hits, nh, st, err);
        qps[rep] = nq / (mx_ms_since(t0) / 1e3);
      }
      if (s != MX_OK)
        goto out;
      double q50 = mx_percentile(qps, nr, 50);
      if (t == 1) {
        r.qps = q50;
        continue;
      }
      row rt;
      conf_row(b, &rt, sc, kind, "warm", t);
      double *bl = malloc(nq * sizeof *bl);
      for (uint32_t q = 0; q < nq; q++)
        bl[q] = st[q].total_ms;
      lat_stats(&rt, bl, nq);
      free(bl);
      stat_means(&rt, st, nq);
      rt.qps = q50;
      rt.recall_at_10 = recall;
      rt.ndcg_at_10 = ndcg;
      rt.mrr_at_10 = mrr;
      rt.flops_per_query = flops;
      snprintf(rt.note, sizeof rt.note, "latency from stats.total_ms inside mx_search_batch");
      emit(b, &rt);
    }
    emit(b, &r);
    logf_(b, "  %s %ux%u k'=%u cascade=%s nprobe=%u: p50 %.3f ms p99 %.3f recall %.3f qps1 %.0f\n",
          kind, sc->budget.r_q, sc->budget.r_c, sc->candidates, sc->cascade, sc->nprobe, r.p50_ms,
          r.p99_ms, r.recall_at_10, r.qps);
  }
  if (c->cold && !sc->coarse_only) {
    uint32_t ncold = c->cold_queries < nq ? c->cold_queries : nq;
    char dp[PATH_MAX + 32];
    data_path(b, dp, sizeof dp);
    double res_sum = 0;
    size_t res_n = 0;
    for (uint32_t q = 0; q < ncold && s == MX_OK; q++) {
      mx_index_close(b->ix); /* drops our mappings, so DONTNEED can drop every page */
      b->ix = NULL;
      evict_file(dp);
      double fr = resident_fraction(dp);
      if (!isnan(fr)) {
        res_sum += fr;
        res_n++;
      }
      if ((s = mx_index_open(b->index_dir, NULL, &b->ix, err)) != MX_OK)
        goto out;
      uint64_t t0 = mx_now_ns();
      s = mx_search(b->ix, b->queries + q * per, b->qv, &o, hits + (size_t)q * k, &nh[q], &st[q],
                    err);
      lat[q] = mx_ms_since(t0);
    }
    if (s != MX_OK)
      goto out;
    row r;
    conf_row(b, &r, sc, kind, "cold", 1);
    r.n_queries = ncold;
    lat_stats(&r, lat, ncold);
    stat_means(&r, st, ncold);
    r.flops_per_query = flops;
    r.resident_before = res_n ? res_sum / (double)res_n : NAN;
    /* quality over the cold subset only */
    uint32_t save = b->nq;
    b->nq = ncold;
    quality(b, hits, nh, budget_i, &r.recall_at_10, &r.ndcg_at_10, &r.mrr_at_10);
    b->nq = save;
    /* the disk bound: one 4 KiB read per page touched */
    double pages = 0;
    for (uint32_t q = 0; q < ncold; q++)
      pages += ceil((double)st[q].bytes_touched / 4096.0);
    pages /= ncold ? ncold : 1;
    if (b->disk_iops1 > 0)
      r.disk_bound_qd1_ms = pages / b->disk_iops1 * 1e3;
    if (b->disk_iops32 > 0)
      r.disk_bound_qd32_ms = pages / b->disk_iops32 * 1e3;
    if (b->disk_bw > 0)
      r.disk_bound_bw_ms = r.bytes_per_query / b->disk_bw * 1e3;
    snprintf(r.note, sizeof r.note,
             "index closed, fadvise(DONTNEED) on store/data.mdb, reopened before each query");
    emit(b, &r);
    logf_(b, "  cold %ux%u k'=%u cascade=%s: p50 %.2f ms (resident before %.4f; bound qd1 %.1f qd32 %.1f bw %.1f ms)\n",
          sc->budget.r_q, sc->budget.r_c, sc->candidates, sc->cascade, r.p50_ms,
          r.resident_before, r.disk_bound_qd1_ms, r.disk_bound_qd32_ms, r.disk_bound_bw_ms);
  }
out:
  free(hits);
  free(nh);
  free(st);
  free(lat);
  return s;
}

/* Disk bound and the fadvise-with-an-open-map check. */
static void run_disk(bench *b) {
  char dp[PATH_MAX + 32];
  data_path(b, dp, sizeof dp);
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
    double before = resident_fraction(dp);
    evict_file(dp);
    double mapped_after = resident_fraction(dp);
    mx_index_close(b->ix);
    b->ix = NULL;
    evict_file(dp);
    double closed_after = resident_fraction(dp);
    reopen(b, &e);
    row r;
    row_base(b, &r, "evict_check", "cold");
    r.resident_before = before;
    snprintf(r.note, sizeof r.note,
             "resident fraction: warm %.4f, after fadvise with the index open %.4f, after close+fadvise %.4f",
             before, mapped_after, closed_after);
    emit(b, &r);
    logf_(b, "  evict check: %s\n", r.note);
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
    row_base(b, &r, "disk", "cold");
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
      sfmt(r.note, sizeof r.note, "O_DIRECT %zu KiB random pread over store/data.mdb, QD%u (%u threads)",
           block / 1024, qd, qd);
    } else {
      sfmt(r.note, sizeof r.note, "O_DIRECT random reads failed: %s", strerror(errno));
    }
    r.seconds = c->disk_seconds;
    emit(b, &r);
    logf_(b, "  disk %zu KiB QD%u: %.0f reads/s (%.1f MB/s)\n", block / 1024, qd, r.iops,
          r.mb_per_s);
  }
}

static int cascade_fits(const mx_stage *st, uint32_t n, mx_budget bu, uint32_t cand, uint32_t k) {
  uint32_t prev = cand;
  for (uint32_t i = 0; i < n; i++) {
    if (st[i].r_q > bu.r_q || st[i].r_c >= bu.r_c || st[i].keep < k || st[i].keep >= prev)
      return 0;
    prev = st[i].keep;
  }
  return 1;
}

static mx_status run_collection(bench *b, uint64_t n, mx_error *err) {
  bench_cfg *c = &b->cfg;
  b->build_s = NAN;
  if (c->index_dir[0]) {
    snprintf(b->index_dir, sizeof b->index_dir, "%s", c->index_dir);
  } else {
    if (c->docs[0])
      sfmt(b->index_dir, sizeof b->index_dir, "%s/index-npy-%s", c->out,
               mx_dtype_name(c->dtype));
    else
      sfmt(b->index_dir, sizeof b->index_dir, "%s/index-n%llu-d%u-rc%u-%s-s%llu", c->out,
               (unsigned long long)n, c->d, c->rc, mx_dtype_name(c->dtype),
               (unsigned long long)c->seed);
    char mpath[PATH_MAX + 32];
    snprintf(mpath, sizeof mpath, "%s/manifest.json", b->index_dir);
    if (c->rebuild || access(mpath, F_OK) != 0) {
      logf_(b, "building %s\n", b->index_dir);
      mx_status s = build_index(b, n, err);
      if (s != MX_OK)
        return s;
      logf_(b, "  built in %.1f s\n", b->build_s);
    } else {
      logf_(b, "reusing %s\n", b->index_dir);
    }
  }
  if (c->build_only)
    return MX_OK;
  mx_status s = mx_index_open(b->index_dir, NULL, &b->ix, err);
  if (s != MX_OK)
    return s;
  if ((s = mx_index_info(b->ix, &b->info, err)) != MX_OK)
    return s;
  b->n_docs = b->info.n_docs;
  dir_bytes(b->index_dir, &b->index_bytes, &b->index_alloc);
  if ((s = load_queries(b, n, err)) != MX_OK)
    return s;
  if (b->qv < c->rq || (c->docs[0] || c->index_dir[0])) {
    /* fit the budgets to what this collection has */
    c->rq = b->qv;
    c->rc = b->info.vectors_per_doc;
  }
  unsigned nb = 0;
  for (unsigned i = 0; i < c->n_budgets; i++)
    if (c->budgets[i].r_q <= b->qv && c->budgets[i].r_c <= b->info.vectors_per_doc)
      c->budgets[nb++] = c->budgets[i];
  c->n_budgets = nb;
  if (nb == 0) {
    snprintf(err->message, sizeof err->message, "no budget fits the collection");
    return err->status = MX_ERR_INVALID_ARGUMENT;
  }
  {
    row r;
    row_base(b, &r, "index", "warm");
    r.seconds = b->build_s;
    sfmt(r.note, sizeof r.note, "%s coarse=%s simd=%s", b->index_dir, b->info.coarse_factory,
             mx_simd_path());
    emit(b, &r);
  }
  logf_(b, "collection: N=%llu d=%u R_c=%u R_q=%u Q=%u dtype=%s coarse=%s, %.2f GB on disk\n",
        (unsigned long long)b->n_docs, b->info.dim, b->info.vectors_per_doc, b->qv, b->nq,
        mx_dtype_name(b->info.dtype), b->info.coarse_factory, b->index_bytes / 1e9);
  run_disk(b);
  {
    char dp[PATH_MAX + 32];
    data_path(b, dp, sizeof dp);
    uint64_t tw = mx_now_ns();
    warm_file(dp);
    logf_(b, "  warmed the store in %.1f s (resident %.3f)\n", mx_ms_since(tw) / 1e3,
          resident_fraction(dp));
  }
  if ((s = run_exhaustive(b, err)) != MX_OK)
    return s;
  /* coarse-only baseline: one measurement, compared with each budget's truth */
  {
    search_conf sc = {.budget = c->budgets[0], .candidates = c->k, .cascade = "none",
                      .coarse_only = 1};
    for (unsigned pi = 0; pi < c->n_nprobes && s == MX_OK; pi++) {
      sc.nprobe = c->nprobes[pi];
      for (unsigned bi = 0; bi < c->n_budgets && s == MX_OK; bi++) {
        sc.budget = c->budgets[bi];
        s = run_conf(b, &sc, (int)bi, err);
      }
    }
    if (s != MX_OK)
      return s;
  }
  for (unsigned bi = 0; bi < c->n_budgets; bi++) {
    for (unsigned pi = 0; pi < c->n_nprobes; pi++)
      for (unsigned ci = 0; ci < c->n_cands; ci++)
        for (unsigned xi = 0; xi < c->n_cascades; xi++) {
          search_conf sc = {.budget = c->budgets[bi], .candidates = c->cands[ci],
                            .nprobe = c->nprobes[pi], .cascade = c->cascades[xi]};
          if (mx_bench_parse_cascade(c->cascades[xi], sc.stages, &sc.n_stages, MX_MAX_STAGES,
                                     err))
            return err->status;
          if (!cascade_fits(sc.stages, sc.n_stages, sc.budget, sc.candidates, c->k))
            continue;
          if ((s = run_conf(b, &sc, (int)bi, err)) != MX_OK)
            return s;
        }
  }
  return MX_OK;
}

/* ------------------------------------------------------------ reports */

static const row *best_row(const bench *b, uint64_t n, mx_budget bu, const char *mode,
                           double target) {
  const row *best = NULL;
  int best_ok = 0;
  for (size_t i = 0; i < b->n_rows; i++) {
    const row *r = &b->rows[i];
    if (strcmp(r->kind, "search") || strcmp(r->mode, mode) || r->threads != 1 || r->n_docs != n ||
        r->r_q != bu.r_q || r->r_c != bu.r_c || isnan(r->p50_ms))
      continue;
    int ok = r->recall_at_10 >= target;
    if (!best || (ok && !best_ok) ||
        (ok == best_ok && (ok ? r->p50_ms < best->p50_ms
                              : r->recall_at_10 > best->recall_at_10 ||
                                    (r->recall_at_10 == best->recall_at_10 &&
                                     r->p50_ms < best->p50_ms)))) {
      best = r;
      best_ok = ok;
    }
  }
  return best;
}

static const row *find_row(const bench *b, const char *kind, const char *mode, uint64_t n,
                           mx_budget bu, uint64_t threads, const char *cascade, uint64_t cand,
                           uint64_t nprobe) {
  for (size_t i = 0; i < b->n_rows; i++) {
    const row *r = &b->rows[i];
    if (!strcmp(r->kind, kind) && !strcmp(r->mode, mode) && r->n_docs == n && r->r_q == bu.r_q &&
        r->r_c == bu.r_c && (threads == U_NA || r->threads == threads) &&
        (!cascade || !strcmp(r->cascade, cascade)) && (cand == U_NA || r->candidates == cand) &&
        (nprobe == U_NA || r->nprobe == nprobe))
      return r;
  }
  return NULL;
}

static void write_paper_table(const bench *b, const uint64_t *ns, unsigned n_ns) {
  const bench_cfg *c = &b->cfg;
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/paper_table.md", c->out);
  FILE *f = fopen(path, "w");
  if (!f)
    return;
  unsigned all = mx_cpu_count();
  fprintf(f, "# metaidx vs MetaEmbed Table 3 (preset %s)\n\n", c->preset);
  fprintf(f,
          "Index bytes = N x r_c x d x bytes(dtype) (the vectors a budget reads, as in the "
          "paper); FLOPs = 2 r_q r_c d per scored candidate summed over the cascade. p50 is "
          "single-query mx_search on 1 thread, warm page cache, best configuration with recall@10 "
          ">= %.2f against brute-force MaxSim at the same budget (else the most accurate). "
          "Exhaustive = mx_exact_search over all N documents with %u threads (ms per query = "
          "total / Q). Paper: MetaEmbed Table 3, 100,000 candidates, bf16, one A100.\n\n",
          RECALL_TARGET, all);
  for (unsigned ni = 0; ni < n_ns; ni++) {
    uint64_t n = ns[ni];
    const row *any = NULL;
    for (size_t i = 0; i < b->n_rows && !any; i++)
      if (b->rows[i].n_docs == n && !strcmp(b->rows[i].kind, "search"))
        any = &b->rows[i];
    if (!any)
      continue;
    fprintf(f, "## N = %llu, d = %llu, %s, Q = %llu, k = %u\n\n", (unsigned long long)n,
            (unsigned long long)any->dim, any->dtype, (unsigned long long)any->n_queries, c->k);
    fprintf(f, "| budget (r_q,r_c) | index bytes (N) | index GiB @100k | best config (k', nprobe, cascade) "
               "| FLOPs/query | p50 ms | p99 ms | recall@10 | nDCG@10 | MB read/query | cold p50 ms "
               "| exhaustive ms/query | exhaustive FLOPs/query | speed-up | paper GiB | paper ms |\n");
    fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (unsigned bi = 0; bi < c->n_budgets; bi++) {
      mx_budget bu = c->budgets[bi];
      const row *r = best_row(b, n, bu, "warm", RECALL_TARGET);
      if (!r)
        continue;
      const row *ex = find_row(b, "exhaustive", "warm", n, bu, all, NULL, U_NA, U_NA);
      const row *cold = find_row(b, "search", "cold", n, bu, 1, r->cascade, r->candidates, r->nprobe);
      double gib100k = 100000.0 * bu.r_c * r->dim * (r->budget_bytes / ((double)n * bu.r_c * r->dim)) /
                       (1024.0 * 1024 * 1024);
      const char *pg = "-", *pm = "-";
      if (bu.r_q == 1 && bu.r_c == 1) {
        pg = "0.68";
        pm = "1.67";
      } else if (bu.r_q == 8 && bu.r_c == 16) {
        pg = "10.68";
        pm = "1.92";
      } else if (bu.r_q == 16 && bu.r_c == 64) {
        pg = "42.72";
        pm = "6.25";
      }
      fprintf(f,
              "| (%u,%u) | %.3g GiB | %.2f | %llu, %llu, %s | %.3g | %.3f | %.3f | %.3f | %.3f | %.2f | "
              "%.2f | %.2f | %.3g | %.1fx | %s | %s |\n",
              bu.r_q, bu.r_c, r->budget_bytes / (1024.0 * 1024 * 1024), gib100k,
              (unsigned long long)r->candidates, (unsigned long long)r->nprobe, r->cascade,
              r->flops_per_query, r->p50_ms,
              r->p99_ms, r->recall_at_10, r->ndcg_at_10, r->bytes_per_query / 1e6,
              cold ? cold->p50_ms : NAN, ex ? ex->p50_ms : NAN,
              ex ? ex->flops_per_query : NAN, ex ? ex->p50_ms / r->p50_ms : NAN, pg, pm);
    }
    fprintf(f, "\n");
    {
      mx_budget top = {16, 64};
      const row *r = best_row(b, n, top, "warm", RECALL_TARGET);
      if (r)
        fprintf(f,
                "Target check (issue 5 states it at d = 3584, N = 20k), (16,64), k = 10: p50 <= 6.25 ms at recall@10 >= 0.95 -> %s "
                "(k' %llu, nprobe %llu, cascade %s: p50 %.3f ms, recall@10 %.3f).\n\n",
                r->p50_ms <= 6.25 && r->recall_at_10 >= 0.95 ? "MET" : "NOT MET",
                (unsigned long long)r->candidates, (unsigned long long)r->nprobe, r->cascade,
                r->p50_ms, r->recall_at_10);
    }
    /* cold numbers and coarse-only, as a second small table */
    fprintf(f, "| budget | coarse-only recall@10 | coarse-only p50 ms | best warm p50 ms | best cold "
               "p50 ms | cold disk bound 4K QD1 / 4K QD32 / 128K QD32 ms | resident before cold query |\n");
    fprintf(f, "|---|---|---|---|---|---|---|\n");
    for (unsigned bi = 0; bi < c->n_budgets; bi++) {
      mx_budget bu = c->budgets[bi];
      const row *r = best_row(b, n, bu, "warm", RECALL_TARGET);
      if (!r)
        continue;
      const row *co = find_row(b, "coarse_only", "warm", n, bu, 1, NULL, U_NA, U_NA);
      const row *cold = find_row(b, "search", "cold", n, bu, 1, r->cascade, r->candidates, r->nprobe);
      fprintf(f, "| (%u,%u) | %.3f | %.3f | %.3f | %.2f | %.1f / %.1f / %.1f | %.4f |\n", bu.r_q,
              bu.r_c, co ? co->recall_at_10 : NAN, co ? co->p50_ms : NAN, r->p50_ms,
              cold ? cold->p50_ms : NAN, cold ? cold->disk_bound_qd1_ms : NAN,
              cold ? cold->disk_bound_qd32_ms : NAN, cold ? cold->disk_bound_bw_ms : NAN,
              cold ? cold->resident_before : NAN);
    }
    fprintf(f, "\n");
  }
  fclose(f);
}

static int run_plots(const bench *b, const uint64_t *ns, unsigned n_ns) {
  const bench_cfg *c = &b->cfg;
  char path[PATH_MAX + 64];
  unsigned all = mx_cpu_count();
  uint64_t nlast = ns[n_ns - 1];
  /* recall vs p50 per budget (warm, 1 thread), last N */
  snprintf(path, sizeof path, "%s/recall_latency.dat", c->out);
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  size_t *idx = malloc((b->n_rows + 1) * sizeof *idx), *front = malloc((b->n_rows + 1) * sizeof *front);
  double *cost = malloc((b->n_rows + 1) * sizeof *cost), *gain = malloc((b->n_rows + 1) * sizeof *gain);
  size_t m = 0;
  size_t *bstart = calloc(c->n_budgets + 1, sizeof *bstart);
  for (unsigned bi = 0; bi < c->n_budgets; bi++) {
    fprintf(f, "# budget %ux%u\n", c->budgets[bi].r_q, c->budgets[bi].r_c);
    bstart[bi] = m;
    for (size_t i = 0; i < b->n_rows; i++) {
      const row *r = &b->rows[i];
      if (strcmp(r->kind, "search") || strcmp(r->mode, "warm") || r->threads != 1 ||
          r->n_docs != nlast || r->r_q != c->budgets[bi].r_q || r->r_c != c->budgets[bi].r_c)
        continue;
      fprintf(f, "%g %g %llu %s\n", r->p50_ms, r->recall_at_10, (unsigned long long)r->candidates,
              r->cascade);
      idx[m] = i;
      cost[m] = r->p50_ms;
      gain[m] = r->recall_at_10;
      m++;
    }
    fprintf(f, "\n\n");
  }
  bstart[c->n_budgets] = m;
  { /* baselines against the largest budget's truth: coarse-only, exhaustive */
    mx_budget top = c->budgets[c->n_budgets - 1];
    const row *co = find_row(b, "coarse_only", "warm", nlast, top, 1, NULL, U_NA, U_NA);
    const row *ex = find_row(b, "exhaustive", "warm", nlast, top, all, NULL, U_NA, U_NA);
    fprintf(f, "# baselines at (%u,%u)\n", top.r_q, top.r_c);
    if (co)
      fprintf(f, "%g %g coarse-only\n", co->p50_ms, co->recall_at_10);
    if (ex)
      fprintf(f, "%g %g exhaustive\n", ex->p50_ms, ex->recall_at_10);
    fprintf(f, "\n\n");
  }
  fclose(f);
  /* one Pareto front per budget (each against its own brute-force truth) */
  snprintf(path, sizeof path, "%s/pareto.dat", c->out);
  f = fopen(path, "w");
  for (unsigned bi = 0; f && bi < c->n_budgets; bi++) {
    size_t lo = bstart[bi], cnt = bstart[bi + 1] - lo;
    size_t nf = mx_bench_pareto(cost + lo, gain + lo, cnt, front);
    fprintf(f, "# budget %ux%u\n", c->budgets[bi].r_q, c->budgets[bi].r_c);
    for (size_t i = 0; i < nf; i++) {
      const row *r = &b->rows[idx[lo + front[i]]];
      fprintf(f, "%g %g %llu:%s\n", r->p50_ms, r->recall_at_10, (unsigned long long)r->candidates,
              r->cascade);
    }
    fprintf(f, "\n\n");
  }
  if (f)
    fclose(f);
  free(bstart);
  free(idx);
  free(front);
  free(cost);
  free(gain);
  /* latency vs N: best warm config and exhaustive per budget */
  snprintf(path, sizeof path, "%s/latency_n.dat", c->out);
  f = fopen(path, "w");
  for (unsigned bi = 0; f && bi < c->n_budgets; bi++) {
    fprintf(f, "# budget %ux%u: N best_p50 exhaustive_ms cold_p50\n", c->budgets[bi].r_q,
            c->budgets[bi].r_c);
    for (unsigned ni = 0; ni < n_ns; ni++) {
      const row *r = best_row(b, ns[ni], c->budgets[bi], "warm", RECALL_TARGET);
      const row *ex = find_row(b, "exhaustive", "warm", ns[ni], c->budgets[bi], all, NULL, U_NA, U_NA);
      if (r) {
        const row *cold = find_row(b, "search", "cold", ns[ni], c->budgets[bi], 1, r->cascade,
                                   r->candidates, r->nprobe);
        fprintf(f, "%llu %g %g %g\n", (unsigned long long)ns[ni], r->p50_ms, ex ? ex->p50_ms : NAN,
                cold ? cold->p50_ms : NAN);
      }
    }
    fprintf(f, "\n\n");
  }
  if (f)
    fclose(f);
  /* bytes per query vs budget */
  snprintf(path, sizeof path, "%s/bytes_budget.dat", c->out);
  f = fopen(path, "w");
  for (unsigned bi = 0; f && bi < c->n_budgets; bi++) {
    const row *r = best_row(b, nlast, c->budgets[bi], "warm", RECALL_TARGET);
    const row *ex = find_row(b, "exhaustive", "warm", nlast, c->budgets[bi], all, NULL, U_NA, U_NA);
    if (r)
      fprintf(f, "%u \"(%u,%u)\" %g %g\n", bi, c->budgets[bi].r_q, c->budgets[bi].r_c,
              r->bytes_per_query, ex ? ex->bytes_per_query : NAN);
  }
  if (f)
    fclose(f);
  snprintf(path, sizeof path, "%s/plots.gp", c->out);
  f = fopen(path, "w");
  if (!f)
    return -1;
  fprintf(f, "# gnuplot script written by metaidx bench; run from the out dir\n"
             "set datafile missing 'nan'\nset key outside right\nset grid\n");
  const char *terms[2][2] = {{"svg size 900,560 dynamic noenhanced", "svg"},
                             {"pngcairo size 900,560 noenhanced", "png"}};
  for (int t = 0; t < 2; t++) {
    fprintf(f, "set terminal %s\n", terms[t][0]);
    fprintf(f, "set output 'recall_vs_latency.%s'\nset logscale x\nunset logscale y\nset yrange [*:1.01]\n"
               "set xlabel 'p50 latency, ms (1 thread, warm)'\nset ylabel 'recall@10 vs brute force'\n"
               "set title 'recall@10 vs p50, N=%llu (lines: Pareto front per budget; circles: baselines at the largest budget)' font ',10'\n",
            terms[t][1], (unsigned long long)nlast);
    fprintf(f, "plot ");
    for (unsigned bi = 0; bi < c->n_budgets; bi++)
      fprintf(f,
              "'recall_latency.dat' index %u using 1:2 with points pt 7 lc %u title '(%u,%u)', "
              "'pareto.dat' index %u using 1:2 with lines lw 1.5 lc %u notitle, ",
              bi, bi + 1, c->budgets[bi].r_q, c->budgets[bi].r_c, bi, bi + 1);
    fprintf(f, "'recall_latency.dat' index %u using 1:2:3 with labels point pt 6 ps 2 offset 0,1 "
               "notitle\n",
            c->n_budgets);
    fprintf(f, "set output 'latency_vs_n.%s'\nset autoscale y\nset logscale xy\nset xlabel 'documents N'\n"
               "set ylabel 'ms per query'\nset title 'p50 latency (best config) and exhaustive ms/query vs N'\nplot ",
            terms[t][1]);
    for (unsigned bi = 0; bi < c->n_budgets; bi++)
      fprintf(f,
              "'latency_n.dat' index %u using 1:2 with linespoints pt 7 lc %u title '(%u,%u) metaidx', "
              "'latency_n.dat' index %u using 1:3 with linespoints dt 2 pt 6 lc %u "
              "title '(%u,%u) exhaustive'%s",
              bi, bi + 1, c->budgets[bi].r_q, c->budgets[bi].r_c, bi, bi + 1, c->budgets[bi].r_q,
              c->budgets[bi].r_c, bi + 1 < c->n_budgets ? ", " : "\n");
    fprintf(f, "set output 'bytes_vs_budget.%s'\nunset logscale x\nset logscale y\n"
               "set xlabel 'budget (r_q, r_c)'\nset ylabel 'bytes per query'\n"
               "set title 'bytes read per query vs budget, N=%llu'\nset offsets 0.5,0.5,0,0\n"
               "plot 'bytes_budget.dat' using 1:3:xtic(2) with linespoints pt 7 title 'metaidx (best config)', "
               "'bytes_budget.dat' using 1:4 with linespoints dt 2 pt 5 title 'exhaustive'\n"
               "set offsets 0,0,0,0\n",
            terms[t][1], (unsigned long long)nlast);
  }
  fclose(f);
  char cmd[PATH_MAX + 128];
  snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot plots.gp 2> gnuplot.log", c->out);
  int rc = system(cmd);
  if (rc != 0)
    fprintf(stderr, "metaidx bench: gnuplot failed (see %s/gnuplot.log)\n", c->out);
  return rc == 0 ? 0 : -1;
}

/* Reads the rows of an earlier run's results.jsonl back (for --replot). */
static int load_rows(bench *b, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    if (!o)
      continue;
    row r;
    row_init(&r);
    json_t *v;
#define LS_(n)                                                                                     \
  if (json_is_string(v = json_object_get(o, #n)))                                                  \
    sfmt(r.n, sizeof r.n, "%s", json_string_value(v));
#define LU_(n)                                                                                     \
  if (json_is_integer(v = json_object_get(o, #n)))                                                 \
    r.n = (uint64_t)json_integer_value(v);
#define LD_(n)                                                                                     \
  if (json_is_number(v = json_object_get(o, #n)))                                                  \
    r.n = json_number_value(v);
    ROW_FIELDS(LS_, LU_, LD_)
#undef LS_
#undef LU_
#undef LD_
    json_decref(o);
    if (b->n_rows == b->cap_rows) {
      size_t nc = b->cap_rows ? 2 * b->cap_rows : 64;
      row *nr = realloc(b->rows, nc * sizeof *nr);
      if (!nr)
        break;
      b->rows = nr;
      b->cap_rows = nc;
    }
    b->rows[b->n_rows++] = r;
  }
  free(line);
  fclose(f);
  return 0;
}

/* ------------------------------------------------------------ main */

static int mkdir_p(const char *dir) {
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", dir);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
        return -1;
      *p = '/';
    }
  return mkdir(tmp, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

int mx_bench_main(int argc, char **argv) {
  const char *prog = "metaidx-bench";
  int i = 1;
  if (argc > 0 && argv[0]) {
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    if (strcmp(base, "bench") == 0 || strcmp(base, "metaidx") == 0)
      prog = "metaidx bench";
  }
  if (i < argc && strcmp(argv[i], "bench") == 0) {
    prog = "metaidx bench";
    i++;
  }
  bench *b = calloc(1, sizeof *b);
  if (!b)
    return 1;
  bench_cfg *c = &b->cfg;
  cfg_defaults(c);
  /* the preset first, so that flags override it wherever they appear */
  for (int j = i; j + 1 < argc; j++)
    if (strcmp(argv[j], "--preset") == 0 && apply_preset(c, argv[j + 1]) != 0) {
      fprintf(stderr, "%s: unknown preset '%s'\n", prog, argv[j + 1]);
      usage(stderr, prog);
      free(b);
      return 2;
    }
  int budgets_given = 0, ns_given = 0, cascades_given = 0;
  for (; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE                                                                                 \
  do {                                                                                             \
    if (!v) {                                                                                      \
      fprintf(stderr, "%s: %s needs a value\n", prog, a);                                          \
      goto usage_err;                                                                              \
    }                                                                                              \
    i++;                                                                                           \
  } while (0)
    unsigned nn;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout, prog);
      free(b);
      return 0;
    } else if (!strcmp(a, "--preset")) {
      NEED_VALUE;
    } else if (!strcmp(a, "--out")) {
      NEED_VALUE;
      snprintf(c->out, sizeof c->out, "%s", v);
    } else if (!strcmp(a, "--index")) {
      NEED_VALUE;
      snprintf(c->index_dir, sizeof c->index_dir, "%s", v);
    } else if (!strcmp(a, "--docs")) {
      NEED_VALUE;
      snprintf(c->docs, sizeof c->docs, "%s", v);
    } else if (!strcmp(a, "--query-file")) {
      NEED_VALUE;
      snprintf(c->queries, sizeof c->queries, "%s", v);
    } else if (!strcmp(a, "--qrels")) {
      NEED_VALUE;
      snprintf(c->qrels, sizeof c->qrels, "%s", v);
    } else if (!strcmp(a, "--n")) {
      NEED_VALUE;
      if (parse_u64_list(v, c->ns, &c->n_ns, MAX_NS))
        goto bad_value;
      ns_given = 1;
    } else if (!strcmp(a, "--d") || !strcmp(a, "--rc") || !strcmp(a, "--rq") ||
               !strcmp(a, "--queries") || !strcmp(a, "--k") || !strcmp(a, "--reps") ||
               !strcmp(a, "--cold-queries") || !strcmp(a, "--exact1-queries")) {
      NEED_VALUE;
      uint32_t x[MAX_LIST];
      if (parse_u32_list(v, x, &nn) || nn != 1)
        goto bad_value;
      if (!strcmp(a, "--d"))
        c->d = x[0];
      else if (!strcmp(a, "--rc"))
        c->rc = x[0];
      else if (!strcmp(a, "--rq"))
        c->rq = x[0];
      else if (!strcmp(a, "--queries"))
        c->nq = x[0];
      else if (!strcmp(a, "--k"))
        c->k = x[0];
      else if (!strcmp(a, "--reps"))
        c->reps = x[0];
      else if (!strcmp(a, "--cold-queries"))
        c->cold_queries = x[0];
      else
        c->exact1_queries = x[0];
    } else if (!strcmp(a, "--dtype")) {
      NEED_VALUE;
      mx_error e;
      if (mx_dtype_parse(v, &c->dtype, &e) != MX_OK)
        goto bad_value;
    } else if (!strcmp(a, "--budgets")) {
      NEED_VALUE;
      uint32_t nb = 0;
      mx_error e = {0};
      if (mx_budgets_parse(v, c->budgets, MAX_LIST, &nb, &e) != MX_OK) {
        fprintf(stderr, "%s: --budgets: %s\n", prog, e.message);
        goto usage_err;
      }
      c->n_budgets = nb;
      budgets_given = 1;
    } else if (!strcmp(a, "--candidates")) {
      NEED_VALUE;
      if (parse_u32_list(v, c->cands, &c->n_cands))
        goto bad_value;
    } else if (!strcmp(a, "--nprobe")) {
      NEED_VALUE;
      if (parse_u32_list(v, c->nprobes, &c->n_nprobes))
        goto bad_value;
    } else if (!strcmp(a, "--threads")) {
      NEED_VALUE;
      if (parse_u32_list(v, c->threads, &c->n_threads))
        goto bad_value;
    } else if (!strcmp(a, "--cascade")) {
      NEED_VALUE;
      if (!cascades_given) /* the first --cascade replaces the preset's list */
        c->n_cascades = 0;
      cascades_given = 1;
      mx_stage st[MX_MAX_STAGES];
      uint32_t ns2;
      mx_error e = {0};
      if (c->n_cascades >= MAX_LIST || strlen(v) >= sizeof c->cascades[0]) {
        fprintf(stderr, "%s: at most %d --cascade values of fewer than %zu bytes\n", prog,
                MAX_LIST, sizeof c->cascades[0]);
        goto usage_err;
      }
      if (mx_bench_parse_cascade(v, st, &ns2, MX_MAX_STAGES, &e)) {
        fprintf(stderr, "%s: --cascade: %s\n", prog, e.message);
        goto usage_err;
      }
      snprintf(c->cascades[c->n_cascades++], sizeof c->cascades[0], "%s", v);
    } else if (!strcmp(a, "--factory")) {
      NEED_VALUE;
      snprintf(c->factory, sizeof c->factory, "%s", v);
    } else if (!strcmp(a, "--noise")) {
      NEED_VALUE;
      c->noise = strtof(v, NULL);
    } else if (!strcmp(a, "--seed")) {
      NEED_VALUE;
      c->seed = strtoull(v, NULL, 10);
    } else if (!strcmp(a, "--disk-seconds")) {
      NEED_VALUE;
      c->disk_seconds = strtod(v, NULL);
    } else if (!strcmp(a, "--warm")) {
      c->warm = 1;
      c->cold = 0;
    } else if (!strcmp(a, "--cold")) {
      c->cold = 1;
      c->warm = 0;
    } else if (!strcmp(a, "--replot")) {
      c->replot = 1;
    } else if (!strcmp(a, "--build-only")) {
      c->build_only = 1;
    } else if (!strcmp(a, "--rebuild")) {
      c->rebuild = 1;
    } else if (!strcmp(a, "--no-plots")) {
      c->plots = 0;
    } else if (!strcmp(a, "--no-disk")) {
      c->disk = 0;
    } else if (!strcmp(a, "--quiet")) {
      c->quiet = 1;
    } else {
      fprintf(stderr, "%s: unknown option '%s'\n", prog, a);
      goto usage_err;
    }
    continue;
  bad_value:
    fprintf(stderr, "%s: bad value '%s' for %s\n", prog, v, a);
    goto usage_err;
  }
#undef NEED_VALUE
  (void)ns_given;
  if (!c->out[0])
    snprintf(c->out, sizeof c->out, "bench-out/%s", c->preset);
  if (c->k == 0 || c->k > 256 || c->nq == 0 || c->d == 0 || c->rc == 0 || c->rq == 0) {
    fprintf(stderr, "%s: k must be in 1..256 and d, rc, rq, queries at least 1\n", prog);
    goto usage_err;
  }
  if ((c->docs[0] || c->index_dir[0]) && !c->queries[0]) {
    fprintf(stderr, "%s: --docs / --index need --query-file Q.npy\n", prog);
    goto usage_err;
  }
  if (c->docs[0] || c->index_dir[0])
    c->n_ns = 1;
  if (!budgets_given)
    default_budgets(c);
  if (mkdir_p(c->out) != 0) {
    fprintf(stderr, "%s: cannot create %s: %s\n", prog, c->out, strerror(errno));
    free(b);
    return 1;
  }
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/results.jsonl", c->out);
  if (c->replot) {
    if (load_rows(b, path) != 0) {
      fprintf(stderr, "%s: cannot read %s\n", prog, path);
      free(b);
      return 1;
    }
    uint64_t ns[MAX_NS];
    unsigned n_ns = 0, nb = 0;
    for (size_t r = 0; r < b->n_rows; r++) {
      const row *w = &b->rows[r];
      if (strcmp(w->kind, "search"))
        continue;
      unsigned j = 0;
      while (j < n_ns && ns[j] != w->n_docs)
        j++;
      if (j == n_ns && n_ns < MAX_NS)
        ns[n_ns++] = w->n_docs;
      j = 0;
      while (j < nb && (c->budgets[j].r_q != w->r_q || c->budgets[j].r_c != w->r_c))
        j++;
      if (j == nb && nb < MAX_LIST)
        c->budgets[nb++] = (mx_budget){(uint32_t)w->r_q, (uint32_t)w->r_c};
      if (w->k != U_NA)
        c->k = (uint32_t)w->k;
      sfmt(c->preset, sizeof c->preset, "%s", w->preset);
    }
    c->n_budgets = nb;
    int rc2 = 1;
    if (n_ns && nb) {
      write_paper_table(b, ns, n_ns);
      rc2 = c->plots ? (run_plots(b, ns, n_ns) == 0 ? 0 : 1) : 0;
    }
    free(b->rows);
    free(b);
    return rc2;
  }
  b->jsonl = fopen(path, "w");
  snprintf(path, sizeof path, "%s/results.csv", c->out);
  b->csv = fopen(path, "w");
  if (!b->jsonl || !b->csv) {
    fprintf(stderr, "%s: cannot write under %s\n", prog, c->out);
    if (b->jsonl)
      fclose(b->jsonl);
    if (b->csv)
      fclose(b->csv);
    free(b);
    return 1;
  }
  csv_header(b->csv);
  logf_(b, "%s: preset %s, out %s, simd %s, %u cpus\n", prog, c->preset, c->out, mx_simd_path(),
        mx_cpu_count());
  int rc = 0;
  bench_cfg saved = *c;
  uint64_t done_ns[MAX_NS];
  unsigned n_done = 0;
  for (unsigned ni = 0; ni < saved.n_ns; ni++) {
    mx_error err = {0};
    c->n_budgets = saved.n_budgets;
    memcpy(c->budgets, saved.budgets, sizeof c->budgets);
    mx_status s = run_collection(b, saved.ns[ni], &err);
    if (s == MX_OK && !c->build_only)
      done_ns[n_done++] = b->n_docs;
    collection_free(b);
    if (s != MX_OK) {
      fprintf(stderr, "%s: %s: %s\n", prog, mx_status_name(s), err.message);
      rc = 1;
      break;
    }
  }
  if (n_done) {
    write_paper_table(b, done_ns, n_done);
    if (c->plots && run_plots(b, done_ns, n_done) != 0)
      rc = rc ? rc : 0; /* plots are best effort: reported, not fatal */
  }
  fclose(b->jsonl);
  fclose(b->csv);
  free(b->rows);
  free(b);
  return rc;
usage_err:
  usage(stderr, prog);
  free(b);
  return 2;
}
