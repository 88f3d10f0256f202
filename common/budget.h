/* budget.h: budget lists and cascades as text, one syntax for the library,
 * the command line and the benchmarks, and the default budget list:
 *
 *   budgets   "1x1,2x4,16x64"      RQxRC[,RQxRC...]
 *   cascade   "4x8:200,16x64:20"   RQxRC:KEEP[,RQxRC:KEEP...]
 *
 * Every number is a decimal integer from 1 to UINT32_MAX, without sign or
 * spaces. The parsers check the syntax only; whether a budget fits an index
 * is the library's check (the builder, mx_search). */
#ifndef MX_COMMON_BUDGET_H
#define MX_COMMON_BUDGET_H

#include <stdint.h>

#include "metaidx.h"

/* MetaEmbed's budgets (1,1) (2,4) (4,8) (8,16) (16,64): the default list. */
#define MX_METAEMBED_N_BUDGETS 5
extern const mx_budget mx_metaembed_budgets[MX_METAEMBED_N_BUDGETS];

/* Parses a budget list into out (room for cap), its length in *n. Returns
 * MX_OK, or MX_ERR_INVALID_ARGUMENT with a message quoting the bad item (an
 * empty list, an empty item, a zero, a number above UINT32_MAX, junk, more
 * than cap items). *n is 0 on failure. */
mx_status mx_budgets_parse(const char *text, mx_budget *out, uint32_t cap, uint32_t *n,
                           mx_error *err);

/* Parses a cascade (stages in order, e.g. "4x8:200,16x64:20") into out
 * (room for cap), as mx_budgets_parse. */
mx_status mx_cascade_parse(const char *text, mx_stage *out, uint32_t cap, uint32_t *n,
                           mx_error *err);

/* The default budget list for at most max_r_q query vectors and max_r_c
 * document vectors: MetaEmbed's budgets that fit, then, when the last of
 * them stops short of max_r_c, (min(2 x its r_q, max_r_q), max_r_c), so
 * that the full document count is always a budget. Writes at most
 * MX_METAEMBED_N_BUDGETS + 1 budgets into out; returns their count (0 only
 * for a zero argument). */
uint32_t mx_budgets_default(uint32_t max_r_q, uint32_t max_r_c, mx_budget *out);

#endif
