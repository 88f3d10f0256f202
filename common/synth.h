/* synth.h: deterministic MetaEmbed-shaped synthetic collections.
 *
 * Documents sit around topic clusters. Vector 0 carries the coarse topic;
 * later vectors carry finer facets (sub-topics, then document-specific
 * detail), so larger budgets separate documents better. Queries are noisy
 * views of a target document; qrels name those targets. Every vector is
 * L2-normalised. The same parameters always give the same bytes. */
#ifndef MX_COMMON_SYNTH_H
#define MX_COMMON_SYNTH_H

#include <stdint.h>

#include "metaidx.h"

typedef struct mx_synth_params {
  uint64_t n_docs;        /* default 10000 */
  uint64_t n_queries;     /* default 100 */
  uint32_t doc_vectors;   /* R_c, default 64 */
  uint32_t query_vectors; /* R_q, default 16 */
  uint32_t dim;           /* default 128 */
  uint64_t seed;          /* default 42 */
  uint32_t n_topics;      /* 0 = about sqrt(n_docs) */
  float query_noise;      /* default 0.5 */
} mx_synth_params;

void mx_synth_params_init(mx_synth_params *p);

/* Fills out (doc_vectors x dim floats) with document `doc`. Independent per
 * document, so any range can be generated in parallel or streamed; the
 * result depends on every field of p (n_docs sets the number of topics).
 * Thread-safe; does nothing if p has a zero size field. */
void mx_synth_doc(const mx_synth_params *p, uint64_t doc, float *out);

/* Fills out (query_vectors x dim) with query `query`, and returns the
 * document it was drawn from (its qrel). */
uint64_t mx_synth_query(const mx_synth_params *p, uint64_t query, float *out);

/* Writes <dir>/docs.npy [N, R_c, d], <dir>/queries.npy [Q, R_q, d] (dtype
 * MX_DTYPE_F32 or MX_DTYPE_F16; others are MX_ERR_UNSUPPORTED) and
 * <dir>/qrels (TREC qrels lines "qid 0 docid 1", where qid is the query's
 * row in queries.npy and docid the target's row in docs.npy, both decimal),
 * creating dir if needed and streaming in chunks of at most 1024 documents
 * (and about 64 MiB), each generated on all cores. */
mx_status mx_synth_write(const mx_synth_params *p, const char *dir, mx_dtype dtype,
                         mx_error *err);

#endif
