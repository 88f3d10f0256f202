/* coarse.h: the coarse stage, a single-vector FAISS index (inner product)
 * over each document's leading vector, with internal doc ids as labels.
 * The only place in metaidx that includes FAISS headers is coarse.c. */
#ifndef MX_INDEX_COARSE_H
#define MX_INDEX_COARSE_H

#include <stddef.h>
#include <stdint.h>

#include "metaidx.h"

typedef struct mx_coarse mx_coarse;

typedef struct mx_coarse_params {
  /* IVF lists probed; 0 = the index's default, which for IVF grows with k:
   * max(default nprobe, lists holding ~20 k vectors on average). */
  uint32_t nprobe;
  uint32_t ef_search; /* HNSW; 0 = the index's default */
} mx_coarse_params;

/* The factory string and default search parameters metaidx picks when the
 * user gives none, for n_docs leading vectors of dimension dim. The rule is
 * documented in coarse.c and docs/ARCHITECTURE.md. */
void mx_coarse_default_factory(uint64_t n_docs, uint32_t dim, char *factory, size_t cap,
                               mx_coarse_params *defaults);

/* Estimated bytes one entry takes in an index made from `factory` (what
 * the first-stage choice weighs against its memory budget): d for SQ8, d/2
 * for SQ4, 2d for SQfp16, M for PQM (M * nbits / 8 for PQMxnbits), 4d
 * otherwise (Flat codes). The list structure and ids (8 bytes per entry in
 * FAISS's inverted lists) come on top. */
uint32_t mx_coarse_code_bytes(const char *factory, uint32_t dim);

/* Creates an untrained index from a FAISS factory string, inner-product
 * metric. An "IDMap," prefix is added where the index type needs one for
 * explicit ids. A string FAISS cannot parse is MX_ERR_INVALID_ARGUMENT
 * naming it, with FAISS's message. */
mx_status mx_coarse_create(const char *factory, uint32_t dim, mx_coarse **out, mx_error *err);

/* Training sample size suited to this index for n_docs documents (at least
 * ~40 points per centroid, capped); 0 if it needs no training. */
uint64_t mx_coarse_train_size(const mx_coarse *c, uint64_t n_docs);

mx_status mx_coarse_train(mx_coarse *c, uint64_t n, const float *x, mx_error *err);

/* Adds n leading vectors (n x dim, f32) with the given internal ids. */
mx_status mx_coarse_add(mx_coarse *c, uint64_t n, const float *x, const uint64_t *ids,
                        mx_error *err);

/* Sets the defaults used when a search passes 0 for a parameter. May be
 * called while other threads search. Training and adding must not overlap
 * searches (FAISS's add is not safe against concurrent readers). */
mx_status mx_coarse_set_defaults(mx_coarse *c, const mx_coarse_params *defaults, mx_error *err);

/* k nearest by inner product for each of nq queries (nq x dim). Writes
 * nq x k scores and ids; missing results have id -1 and score -INFINITY.
 * Safe to call from many threads at once on one index, with different
 * params (IVF nprobe never serialises; other non-default parameters, e.g.
 * HNSW efSearch, take the index exclusively for the call). Parameters that
 * do not apply to the index type are ignored. Runs on the calling thread
 * only (FAISS's OpenMP is kept to one thread here; parallelism comes from
 * the caller's threads), except that nq >= 20 against a flat index or IVF
 * quantizer goes through BLAS, whose own (OpenBLAS) threads obey
 * OPENBLAS_NUM_THREADS. */
mx_status mx_coarse_search(const mx_coarse *c, uint64_t nq, const float *queries, uint32_t k,
                           const mx_coarse_params *params, float *scores, int64_t *ids,
                           mx_error *err);

/* The number of IVF lists a search with these params (may be NULL) and this
 * k probes; 0 for an index that is not IVF at the top level. For statistics
 * and benchmarks. */
uint32_t mx_coarse_effective_nprobe(const mx_coarse *c, uint32_t k, const mx_coarse_params *params);

/* Lets FAISS's OpenMP use up to `threads` threads inside each search (for
 * one large batch, e.g. evaluation); 0 or 1 (the default) keeps searches on
 * the calling thread. Not for use while other threads search. */
void mx_coarse_set_search_threads(mx_coarse *c, int threads);

/* OpenMP threads for training and adding; 0 (the default) leaves OpenMP's
 * own default (all cores, or OMP_NUM_THREADS). */
void mx_coarse_set_build_threads(mx_coarse *c, int threads);

uint64_t mx_coarse_count(const mx_coarse *c);
uint32_t mx_coarse_dim(const mx_coarse *c);

/* Writes the index to path (fsynced), returning its size and XXH3-64. */
mx_status mx_coarse_write(const mx_coarse *c, const char *path, uint64_t *bytes, uint64_t *xxh3,
                          mx_error *err);

/* Reads an index written by mx_coarse_write, first checking its size and
 * hash against the manifest's (MX_ERR_CORRUPT on mismatch, never a crash). */
mx_status mx_coarse_read(const char *path, uint64_t expected_bytes, uint64_t expected_xxh3,
                         mx_coarse **out, mx_error *err);

void mx_coarse_free(mx_coarse *c);

#endif
