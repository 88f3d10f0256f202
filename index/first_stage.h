/* first_stage.h: what the coarse stage holds for each document and what it
 * searches with, for each mx_first_stage kind (docs/first_stage.md). One
 * definition, used by the builder (entries it adds), the search (query rows
 * it sends) and the build-time trial that picks a kind.
 *
 *   kind     entries per doc           query rows (r = vectors used)
 *   leading  1: vector 0               1: query vector 0
 *   pooled   1: normalised mean of     1: normalised sum of query
 *               vectors 0..m-1            vectors 0..r-1
 *   multi    m: vectors 0..m-1         r: query vectors 0..r-1
 *
 * Every entry is labelled with its document's internal id, so a multi
 * index holds m entries per label. */
#ifndef MX_INDEX_FIRST_STAGE_H
#define MX_INDEX_FIRST_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "manifest.h"
#include "metaidx.h"

/* The m a kind uses when the caller gives 0 and no trial chose one. */
#define MX_FIRST_STAGE_DEFAULT_VECTORS 4u
/* Coarse bytes per document an automatic choice may spend by default. */
#define MX_FIRST_STAGE_DEFAULT_MAX_BYTES 4096u

/* Coarse entries per document: 1, or m for multi. */
uint32_t mx_first_stage_entries_per_doc(mx_first_stage kind, uint32_t m);

/* The document's coarse entries (entries_per_doc x dim floats) from its
 * first m vectors `doc` (m x dim floats, unit norm). */
void mx_first_stage_doc_entries(mx_first_stage kind, uint32_t m,
                                const float *doc, uint32_t dim, float *out);

/* Query vectors the first stage uses for a search whose final budget scores
 * r_q of them: 1 for leading, else min(r_q, cap) (cap 0 = no cap). */
uint32_t mx_first_stage_query_vectors(mx_first_stage kind, uint32_t r_q,
                                      uint32_t cap);

/* Rows the coarse search runs: 1, or r for multi. */
uint32_t mx_first_stage_query_rows(mx_first_stage kind, uint32_t r);

/* Writes the coarse query rows (query_rows x dim) from the query's first r
 * vectors q (r x dim). */
void mx_first_stage_make_query(mx_first_stage kind, const float *q, uint32_t r,
                               uint32_t dim, float *out);

/* Entries the coarse index of an index with this manifest holds. */
uint64_t mx_first_stage_coarse_entries(const mx_manifest *m);

/* Normalises v (n floats) to unit L2 norm in place; a zero vector stays 0. */
void mx_normalize_f32(float *v, uint32_t n);

#endif
