/* report.c: paper_table.md (the best configuration per budget beside the
 * exhaustive baseline and MetaEmbed's Table 3) and --replot. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"
#include "pool.h"

const row *bench_best_row(const bench *b, uint64_t n, mx_budget bu, const char *mode,
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

const row *bench_find_row(const bench *b, const char *kind, const char *mode, uint64_t n,
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

void bench_write_paper_table(const bench *b, const uint64_t *ns, unsigned n_ns) {
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
      const row *r = bench_best_row(b, n, bu, "warm", RECALL_TARGET);
      if (!r)
        continue;
      const row *ex = bench_find_row(b, "exhaustive", "warm", n, bu, all, NULL, U_NA, U_NA);
      const row *cold = bench_find_row(b, "search", "cold", n, bu, 1, r->cascade, r->candidates, r->nprobe);
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
      const row *r = bench_best_row(b, n, top, "warm", RECALL_TARGET);
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
      const row *r = bench_best_row(b, n, bu, "warm", RECALL_TARGET);
      if (!r)
        continue;
      const row *co = bench_find_row(b, "coarse_only", "warm", n, bu, 1, NULL, U_NA, U_NA);
      const row *cold = bench_find_row(b, "search", "cold", n, bu, 1, r->cascade, r->candidates, r->nprobe);
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

int bench_replot(bench *b, const char *path, const char *prog) {
  bench_cfg *c = &b->cfg;
  if (bench_load_rows(b, path) != 0) {
    fprintf(stderr, "%s: cannot read %s\n", prog, path);
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
    bench_sfmt(c->preset, sizeof c->preset, "%s", w->preset);
  }
  c->n_budgets = nb;
  int rc2 = 1;
  if (n_ns && nb) {
    bench_write_paper_table(b, ns, n_ns);
    rc2 = c->plots ? (bench_run_plots(b, ns, n_ns) == 0 ? 0 : 1) : 0;
  }
  return rc2;
}

