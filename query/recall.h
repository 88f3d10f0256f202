/* recall.h: how mx_search chooses k' (and nprobe) when the caller gives no
 * candidate count: from the index's calibration table (docs/recall.md). */
#ifndef MX_QUERY_RECALL_H
#define MX_QUERY_RECALL_H

#include "index_internal.h"
#include "metaidx.h"

/* Checks o->recall (MX_ERR_INVALID_ARGUMENT for NaN, < 0 or > 1) and writes
 * into *eff a copy of *o whose candidates (and, when the caller left it 0,
 * nprobe) are the ones to search with, for the final budget `final`.
 * Records the choice in st's candidates_* / nprobe_asked / recall_* /
 * table_budget fields (st is not otherwise touched). */
mx_status mx_recall_choose(const mx_index *ix, const mx_search_options *o, mx_budget final,
                           mx_search_options *eff, mx_search_stats *st, mx_error *err);

/* The same rule on a bare table (ix->calib may be NULL), for tests. */
void mx_recall_choose_in(const mx_calib *c, uint64_t n_docs, const mx_search_options *o,
                         mx_budget final, mx_search_options *eff, mx_search_stats *st);

#endif
