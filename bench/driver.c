/* driver.c: the end-to-end benchmark (`metaidx-bench`; `metaidx bench`
 * runs it): for a collection (synthetic, or .npy files) it builds or opens
 * an index and measures, per configuration, latency, QPS, recall against
 * brute force, nDCG/MRR against qrels, bytes and FLOPs per query, warm and
 * cold, beside the exhaustive and coarse-only baselines and the disk's
 * random-read bound. This file is the entry point and the helpers driver.h
 * exposes; the phases are in the files bench_internal.h lists. Public API
 * and common/ helpers only. Output: results.jsonl, results.csv,
 * paper_table.md and gnuplot plots under --out. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_internal.h"
#include "budget.h"
#include "driver.h"
#include "pool.h"
#include "status.h"

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
  int first = 1;
  if (argc > 0 && argv[0]) {
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    if (strcmp(base, "bench") == 0 || strcmp(base, "metaidx") == 0 ||
        strcmp(base, "metaidx bench") == 0)
      prog = "metaidx bench";
  }
  if (first < argc && strcmp(argv[first], "bench") == 0) {
    prog = "metaidx bench";
    first++;
  }
  bench *b = calloc(1, sizeof *b);
  if (!b)
    return 1;
  bench_cfg *c = &b->cfg;
  int rc = bench_parse_args(c, argc, argv, first, prog);
  if (rc >= 0) {
    free(b);
    return rc;
  }
  if (mkdir_p(c->out) != 0) {
    fprintf(stderr, "%s: cannot create %s: %s\n", prog, c->out, strerror(errno));
    free(b);
    return 1;
  }
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/results.jsonl", c->out);
  if (c->replot) {
    rc = bench_replot(b, path, prog);
    free(b->rows);
    free(b);
    return rc;
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
  bench_csv_header(b->csv);
  bench_log(b, "%s: preset %s, out %s, simd %s, %u cpus\n", prog, c->preset, c->out, mx_simd_path(),
        mx_cpu_count());
  rc = 0;
  bench_cfg saved = *c;
  uint64_t done_ns[MAX_NS];
  unsigned n_done = 0;
  for (unsigned ni = 0; ni < saved.n_ns; ni++) {
    mx_error err = {0};
    c->n_budgets = saved.n_budgets;
    memcpy(c->budgets, saved.budgets, sizeof c->budgets);
    mx_status s = bench_run_collection(b, saved.ns[ni], &err);
    if (s == MX_OK && !c->build_only)
      done_ns[n_done++] = b->n_docs;
    bench_collection_free(b);
    if (s != MX_OK) {
      fprintf(stderr, "%s: %s: %s\n", prog, mx_status_name(s), err.message);
      rc = 1;
      break;
    }
  }
  if (n_done) {
    bench_write_paper_table(b, done_ns, n_done);
    if (c->plots && bench_run_plots(b, done_ns, n_done) != 0)
      rc = rc ? rc : 0; /* plots are best effort: reported, not fatal */
  }
  fclose(b->jsonl);
  fclose(b->csv);
  free(b->rows);
  free(b);
  return rc;
}
