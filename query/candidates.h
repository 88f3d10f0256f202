/* candidates.h: the first stage of a search: the coarse index's
 * candidates for a query, for each mx_first_stage kind (first_stage.h). */
#ifndef MX_QUERY_CANDIDATES_H
#define MX_QUERY_CANDIDATES_H

#include <stddef.h>
#include <stdint.h>

#include "coarse.h"
#include "index_internal.h"

/* Query vectors (rows of `query`, from the first) the first stage reads for
 * a search whose final budget scores r_q of them. */
uint32_t mx_candidates_query_vectors(const mx_index *ix, uint32_t r_q);

/* Finds up to n_cand candidates (n_cand <= the document count, <= s->cap)
 * for `query` (at least mx_candidates_query_vectors rows), best first:
 * s->docs[0..*n) and s->kept[0..*n) (first-stage score, doc), with
 * s->verified zeroed. n_cand equal to the document count (and not
 * coarse_only) takes every document without asking the coarse index, so
 * that such a search is exact over the collection. */
mx_status mx_first_stage_candidates(mx_index *ix, mx_scratch *s,
                                    const float *query, uint32_t r_q,
                                    size_t n_cand, int coarse_only,
                                    const mx_coarse_params *cp, size_t *n,
                                    mx_error *err);

/* Multi's gathering: rows x k coarse results (ids -1 for none; each row's
 * scores best first) turned into per-document approximate MaxSim scores:
 * the sum over rows of the document's best score in the row, or the row's
 * lowest returned score where the document is absent. Writes the best
 * n_out documents into out (best first; ties by smaller id) and returns
 * how many. work: mx_gather_work_bytes(rows, k) bytes, 8-byte aligned. */
size_t mx_gather_work_bytes(uint32_t rows, size_t k);
size_t mx_gather(const int64_t *ids, const float *scores, uint32_t rows,
                 size_t k, void *work, mx_scored *out, size_t n_out);

/* The same, plainly (quadratic): the reference tests compare mx_gather
 * with. 0 when out of memory. */
size_t mx_gather_reference(const int64_t *ids, const float *scores,
                           uint32_t rows, size_t k, mx_scored *out,
                           size_t n_out);

#endif
