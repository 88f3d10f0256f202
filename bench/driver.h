/* driver.h: the end-to-end benchmark driver (`metaidx bench`, `metaidx-bench`):
 * latency, recall and cost per budget, side by side with the exhaustive and
 * coarse-only baselines, written as JSON lines, CSV, a MetaEmbed-style table
 * and gnuplot plots. See bench/README.md for the presets and flags. */
#ifndef MX_BENCH_DRIVER_H
#define MX_BENCH_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "metaidx.h"

/* Runs the benchmark. argv[0] is the program name; when argv[1] is "bench"
 * (called as `metaidx bench ...` with the full argv) it is skipped too.
 * Returns 0 on success, 1 on a failure, 2 on a usage error. */
int mx_bench_main(int argc, char **argv);

/* ---- helpers, exposed for tests ---- */

/* Parses one cascade: "none" (no stages) or stages as `metaidx search
 * --cascade` takes them (common/budget.h), e.g. "4x8:100,8x16:30". Returns
 * 0 and fills stages/n_stages (at most max), or -1 with err filled for a
 * malformed string (the old '+' between stages gets a message naming the
 * right syntax). */
int mx_bench_parse_cascade(const char *s, mx_stage *stages, uint32_t *n_stages, uint32_t max,
                           mx_error *err);

/* The Pareto front of n points (cost lower is better, gain higher is
 * better): writes the indexes of the points no other point dominates
 * (cost <= and gain >=, one of them strictly), sorted by cost ascending
 * (ties: higher gain first; exact duplicates appear once), into out (room
 * for n) and returns their count. NaN points are ignored. */
size_t mx_bench_pareto(const double *cost, const double *gain, size_t n, size_t *out);

/* Scoring FLOPs of one query through a cascade: the first stage scores
 * `candidates` documents, each later stage the previous stage's keep (never
 * more than it had); each score costs 2 * r_q * r_c * dim. The final stage
 * (r_q, r_c) follows the n_stages given ones. */
double mx_bench_flops(uint32_t dim, uint64_t candidates, const mx_stage *stages,
                      uint32_t n_stages, uint32_t r_q, uint32_t r_c);

#endif
