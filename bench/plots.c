/* plots.c: the gnuplot data files (recall vs latency, Pareto fronts,
 * latency vs N, bytes vs budget) and the script that draws them as SVG and
 * PNG; gnuplot failing is reported, not fatal. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"
#include "driver.h"
#include "pool.h"

int bench_run_plots(const bench *b, const uint64_t *ns, unsigned n_ns) {
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
    const row *co = bench_find_row(b, "coarse_only", "warm", nlast, top, 1, NULL, U_NA, U_NA);
    const row *ex = bench_find_row(b, "exhaustive", "warm", nlast, top, all, NULL, U_NA, U_NA);
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
      const row *r = bench_best_row(b, ns[ni], c->budgets[bi], "warm", RECALL_TARGET);
      const row *ex = bench_find_row(b, "exhaustive", "warm", ns[ni], c->budgets[bi], all, NULL, U_NA, U_NA);
      if (r) {
        const row *cold = bench_find_row(b, "search", "cold", ns[ni], c->budgets[bi], 1, r->cascade,
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
    const row *r = bench_best_row(b, nlast, c->budgets[bi], "warm", RECALL_TARGET);
    const row *ex = bench_find_row(b, "exhaustive", "warm", nlast, c->budgets[bi], all, NULL, U_NA, U_NA);
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
