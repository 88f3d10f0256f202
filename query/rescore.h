/* rescore.h: one rescoring stage of a search: read each candidate's prefix
 * (storage's fast path), exact MaxSim at the stage's budget, keep the best;
 * on the calling thread or spread over several (mx_search_options.threads),
 * with the same answer either way. */
#ifndef MX_QUERY_RESCORE_H
#define MX_QUERY_RESCORE_H

#include <stddef.h>
#include <stdint.h>

#include "index_internal.h"
#include "metaidx.h"
#include "store.h"

/* Threads a stage of n candidates at budget (r_q, r_c) uses: `requested`
 * when non-zero, else (automatic) one per MX_RESCORE_WORK_PER_THREAD
 * multiply-adds of the stage's work, at most one per core, at least 1;
 * never more than there are chunks of candidates. */
unsigned mx_rescore_threads(uint32_t requested, size_t n, uint32_t r_q, uint32_t r_c,
                            uint32_t dim);

/* Multiply-adds (n x r_q x r_c x d) that pay for one more thread in the
 * automatic choice (see rescore.c for the measurement behind it). */
#define MX_RESCORE_WORK_PER_THREAD (32ull * 1000 * 1000)

/* Scores s->docs[0..n) at stage st, keeping the best st->keep in s->kept
 * (best first; *n_kept of them) and raising s->verified[i] to st->r_c for
 * every candidate read; adds scored, corrupt_skipped and bytes_touched to
 * stats. txn is the search's transaction (the calling thread's); other
 * threads take their own. The answer, and the error when one is returned
 * (the first failing candidate in s->docs order, as one thread meets it),
 * do not depend on `threads`. */
mx_status mx_rescore_stage(mx_index *ix, mx_store_txn *txn, const float *q, const mx_stage *st,
                           int skip_corrupt, unsigned threads, mx_scratch *s, size_t n,
                           size_t *n_kept, mx_search_stats *stats, mx_error *err);

#endif
