/* test_bench.c: the benchmark driver's helpers against hand-computed values,
 * and the tiny preset end to end into a temporary directory (no timing
 * assertions: files exist, recall fields are in [0, 1], the (16,64) budget
 * beats the coarse-only baseline). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "helpers.h"

Test(bench, parse_cascade) {
  mx_stage st[MX_MAX_STAGES];
  uint32_t n = 99;
  mx_error e = {0};
  cr_assert_eq(mx_bench_parse_cascade("none", st, &n, MX_MAX_STAGES, &e), 0);
  cr_assert_eq(n, 0);
  cr_assert_eq(mx_bench_parse_cascade("4x8:100", st, &n, MX_MAX_STAGES, &e), 0);
  cr_assert_eq(n, 1);
  cr_assert(st[0].r_q == 4 && st[0].r_c == 8 && st[0].keep == 100);
  /* the search syntax: stages separated by ',' */
  cr_assert_eq(mx_bench_parse_cascade("2x4:400,8x16:30", st, &n, MX_MAX_STAGES, &e), 0);
  cr_assert_eq(n, 2);
  cr_assert(st[0].r_q == 2 && st[0].r_c == 4 && st[0].keep == 400);
  cr_assert(st[1].r_q == 8 && st[1].r_c == 16 && st[1].keep == 30);
  const char *bad[] = {"", "4x8", "4x8:", "4x8:0", "0x8:5", "4x8:10,", "x", "none,4x8:5"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    cr_assert_eq(mx_bench_parse_cascade(bad[i], st, &n, MX_MAX_STAGES, &e), -1, "'%s'", bad[i]);
  /* the old '+' syntax is refused with the right one named */
  cr_assert_eq(mx_bench_parse_cascade("2x4:400+8x16:30", st, &n, MX_MAX_STAGES, &e), -1);
  cr_assert(strstr(e.message, "2x4:400,8x16:100") && strstr(e.message, "metaidx search"), "%s",
            e.message);
  cr_assert_eq(mx_bench_parse_cascade("1x1:5,1x2:4,1x3:3", st, &n, 2, &e), -1, "more than max");
  cr_assert_eq(mx_bench_parse_cascade(NULL, st, &n, 2, &e), -1);
}

Test(bench, pareto) {
  /* (cost, gain): A(1,.5) B(2,.9) C(2,.7) D(3,.9) E(4,1) F(0.5,.2) G(2,.9) dup of B, H NaN */
  double cost[] = {1, 2, 2, 3, 4, 0.5, 2, NAN};
  double gain[] = {.5, .9, .7, .9, 1, .2, .9, .99};
  size_t out[8];
  size_t m = mx_bench_pareto(cost, gain, 8, out);
  /* front by cost: F(5), A(0), B(1) (G is its duplicate), E(4); C and D dominated */
  cr_assert_eq(m, 4);
  cr_assert_eq(out[0], 5);
  cr_assert_eq(out[1], 0);
  cr_assert_eq(out[2], 1);
  cr_assert_eq(out[3], 4);
  cr_assert_eq(mx_bench_pareto(cost, gain, 0, out), 0);
  double c1[] = {3}, g1[] = {0.1};
  cr_assert_eq(mx_bench_pareto(c1, g1, 1, out), 1);
  cr_assert_eq(out[0], 0);
}

Test(bench, flops) {
  /* one stage: 2 * 16 * 64 * 3584 * 100 */
  cr_assert_float_eq(mx_bench_flops(3584, 100, NULL, 0, 16, 64), 734003200.0, 1e-3);
  /* (2,4) keep 10 on 100 candidates, then (4,8): 2*2*4*10*100 + 2*4*8*10*10 */
  mx_stage st[2] = {{2, 4, 10}, {3, 5, 50}};
  cr_assert_float_eq(mx_bench_flops(10, 100, st, 1, 4, 8), 22400.0, 1e-9);
  /* a keep above what the stage had keeps the count: 100 then 10 (not 50) */
  cr_assert_float_eq(mx_bench_flops(10, 100, st, 2, 4, 8),
                     2.0 * 2 * 4 * 10 * 100 + 2.0 * 3 * 5 * 10 * 10 + 2.0 * 4 * 8 * 10 * 10, 1e-9);
  st[0].keep = 500;
  cr_assert_float_eq(mx_bench_flops(10, 100, st, 1, 4, 8),
                     2.0 * 2 * 4 * 10 * 100 + 2.0 * 4 * 8 * 10 * 100, 1e-9);
}

Test(bench, usage) {
  char *a1[] = {"metaidx-bench", "--no-such-flag", NULL};
  cr_assert_eq(mx_bench_main(2, a1), 2);
  char *a2[] = {"metaidx", "bench", "--preset", "nope", NULL};
  cr_assert_eq(mx_bench_main(4, a2), 2);
  char *a3[] = {"bench", "--cascade", "4x8", NULL};
  cr_assert_eq(mx_bench_main(3, a3), 2);
  char *a5[] = {"metaidx-bench", "--cascade", "2x4:400+8x16:100", NULL};
  cr_assert_eq(mx_bench_main(3, a5), 2, "the old '+' syntax");
  char *a4[] = {"metaidx-bench", "--docs", "x.npy", NULL};
  cr_assert_eq(mx_bench_main(3, a4), 2, "--docs without --query-file");
}

static int file_exists(const char *dir, const char *name) {
  char p[4096];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return access(p, R_OK) == 0;
}

static int field_is(json_t *o, const char *key, const char *want) {
  json_t *v = json_object_get(o, key);
  return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}
static double num(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Called as `metaidx bench ...` with the full argv, as tools/ will. */
Test(bench, tiny_end_to_end, .timeout = 240) {
  char *dir = mx_test_tmpdir("bench_tiny");
  char *argv[] = {"metaidx", "bench", "--preset", "tiny", "--out", dir, "--quiet", "--reps", "1",
                  "--cold-queries", "2", "--disk-seconds", "0.1", "--candidates", "50,200",
                  "--threads", "1,2", NULL};
  int argc = (int)(sizeof argv / sizeof *argv) - 1;
  cr_assert_eq(mx_bench_main(argc, argv), 0);
  cr_assert(file_exists(dir, "results.jsonl"));
  cr_assert(file_exists(dir, "results.csv"));
  cr_assert(file_exists(dir, "paper_table.md"));
  if (system("command -v gnuplot >/dev/null 2>&1") == 0) {
    cr_assert(file_exists(dir, "recall_vs_latency.svg"));
    cr_assert(file_exists(dir, "recall_vs_latency.png"));
    cr_assert(file_exists(dir, "latency_vs_n.svg"));
    cr_assert(file_exists(dir, "bytes_vs_budget.svg"));
  }
  char p[4096];
  snprintf(p, sizeof p, "%s/results.jsonl", dir);
  FILE *f = fopen(p, "r");
  cr_assert_not_null(f);
  char *line = NULL;
  size_t cap = 0;
  size_t rows = 0, search_rows = 0, exhaustive_rows = 0, cold_rows = 0;
  double best_1664 = -1, coarse_1664 = -1;
  while (getline(&line, &cap, f) > 0) {
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    cr_assert_not_null(o, "bad JSON line: %s", je.text);
    rows++;
    const char *keys[] = {"recall_at_10", "ndcg_at_10", "mrr_at_10", "resident_before"};
    for (size_t i = 0; i < 4; i++) {
      double v = num(o, keys[i]);
      if (!isnan(v))
        cr_assert(v >= 0.0 && v <= 1.0, "%s = %g", keys[i], v);
    }
    int is1664 = num(o, "r_q") == 16 && num(o, "r_c") == 64;
    if (field_is(o, "kind", "search")) {
      search_rows++;
      cr_assert(!isnan(num(o, "recall_at_10")));
      cr_assert(num(o, "p50_ms") > 0);
      cr_assert(num(o, "bytes_per_query") > 0);
      if (field_is(o, "mode", "cold"))
        cold_rows++;
      if (is1664 && field_is(o, "mode", "warm") && num(o, "recall_at_10") > best_1664)
        best_1664 = num(o, "recall_at_10");
    } else if (field_is(o, "kind", "coarse_only") && is1664 && field_is(o, "mode", "warm")) {
      coarse_1664 = num(o, "recall_at_10");
    } else if (field_is(o, "kind", "exhaustive")) {
      exhaustive_rows++;
    }
    json_decref(o);
  }
  free(line);
  fclose(f);
  cr_assert_gt(search_rows, 0);
  cr_assert_gt(cold_rows, 0);
  cr_assert_geq(exhaustive_rows, 5);
  cr_assert_geq(coarse_1664, 0.0);
  cr_assert_gt(best_1664, coarse_1664, "(16,64) recall %g vs coarse-only %g", best_1664,
               coarse_1664);
  /* CSV: a header and one line per JSON row */
  snprintf(p, sizeof p, "%s/results.csv", dir);
  f = fopen(p, "r");
  cr_assert_not_null(f);
  size_t lines = 0;
  int ch;
  while ((ch = fgetc(f)) != EOF)
    lines += ch == '\n';
  fclose(f);
  cr_assert_eq(lines, rows + 1);
  mx_test_tmpdir_remove(dir);
}
