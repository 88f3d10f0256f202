/* bench_internal.h: what the files of the end-to-end benchmark share (see
 * driver.h for the entry point). One file per phase:
 *   config.c      presets, defaults and argv            (bench_cfg)
 *   collection.c  building or opening the index, queries and qrels
 *   probes.c      process memory, directory sizes, the disk's random-read
 *                 bound and page-cache state (fadvise, mincore)
 *   measure.c     exhaustive baseline, every search configuration warm and cold
 *   rows.c        result rows: JSON lines and CSV out, JSON lines back in
 *   report.c      paper_table.md and --replot
 *   plots.c       gnuplot data and script
 *   driver.c      mx_bench_main and the helpers driver.h exposes for tests
 * Public API and common/ helpers only. */
#ifndef MX_BENCH_INTERNAL_H
#define MX_BENCH_INTERNAL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "metaidx.h"

#define MAX_LIST 16
#define MAX_NS 8
#define RECALL_TARGET 0.95

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

/* snprintf without the truncation warning: truncation is fine for these. */
void bench_sfmt(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* fprintf to stderr unless --quiet. */
void bench_log(const bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* config.c */
void bench_cfg_defaults(bench_cfg *c);
int bench_apply_preset(bench_cfg *c, const char *name); /* 0, or -1 for an unknown name */
void bench_usage(FILE *f, const char *prog);
/* Applies --preset, then every flag of argv[first..argc) over it, then the
 * defaults that depend on them. Returns -1 to go on, 0 after --help, 2
 * after a usage error (printed, with the usage). */
int bench_parse_args(bench_cfg *c, int argc, char **argv, int first, const char *prog);

/* rows.c */
void bench_row_init(row *r);
void bench_row_base(const bench *b, row *r, const char *kind, const char *mode);
void bench_csv_header(FILE *f);
/* Writes r to results.jsonl and results.csv and keeps it for the reports. */
void bench_emit(bench *b, const row *r);
/* Reads the rows of an earlier run's results.jsonl back; -1 if unreadable. */
int bench_load_rows(bench *b, const char *path);

/* probes.c */
void bench_proc_mem(double *rss, double *hwm);
void bench_dir_bytes(const char *dir, uint64_t *apparent, uint64_t *allocated);
double bench_resident_fraction(const char *path);
void bench_warm_file(const char *path);
int bench_evict_file(const char *path);
/* The disk's random-read bound over the store and the fadvise check. */
void bench_run_disk(bench *b);

/* collection.c */
mx_status bench_build_index(bench *b, uint64_t n, mx_error *err);
mx_status bench_load_queries(bench *b, uint64_t n, mx_error *err);
void bench_collection_free(bench *b);
mx_status bench_reopen(bench *b, mx_error *err);
void bench_data_path(const bench *b, char *out, size_t cap); /* the store's data file */

/* measure.c: one collection of n documents, every configuration. */
mx_status bench_run_collection(bench *b, uint64_t n, mx_error *err);

/* report.c */
const row *bench_best_row(const bench *b, uint64_t n, mx_budget bu, const char *mode,
                          double target);
const row *bench_find_row(const bench *b, const char *kind, const char *mode, uint64_t n,
                          mx_budget bu, uint64_t threads, const char *cascade, uint64_t cand,
                          uint64_t nprobe);
void bench_write_paper_table(const bench *b, const uint64_t *ns, unsigned n_ns);
/* --replot: paper_table.md and plots again from results.jsonl at path. */
int bench_replot(bench *b, const char *path, const char *prog);

/* plots.c: 0, or -1 when gnuplot failed or a file could not be written. */
int bench_run_plots(const bench *b, const uint64_t *ns, unsigned n_ns);

#endif
