/* candidates.c: the first stage of a search (candidates.h): one coarse
 * search for leading and pooled, one per query vector for multi, whose
 * results are gathered per document (XTR-style imputation: a query vector
 * that did not return a document contributes the lowest score it returned,
 * an upper bound on what the document can have scored there). */
#include "candidates.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "first_stage.h"
#include "status.h"
#include "topk.h"

uint32_t mx_candidates_query_vectors(const mx_index *ix, uint32_t r_q) {
  const mx_manifest *m = &ix->manifest;
  return mx_first_stage_query_vectors(m->first_stage, r_q,
                                      m->first_stage_query_vectors);
}

/* Grows *buf to at least `want` elements of `size` bytes. */
static int reserve(void **buf, size_t *cap, size_t want, size_t size) {
  if (*cap >= want)
    return 1;
  void *p = realloc(*buf, want * size);
  if (!p)
    return 0;
  *buf = p;
  *cap = want;
  return 1;
}

/* One document's accumulator: the rows already finished add `sum`; row
 * `row` is under way with best score `best`. */
typedef struct slot {
  int64_t doc; /* -1: empty */
  uint32_t row;
  float best;
  double sum;
} slot;

static size_t hash_doc(int64_t doc, size_t mask) {
  uint64_t h = (uint64_t)doc * 0x9e3779b97f4a7c15ull;
  return (size_t)(h >> 17) & mask;
}

static size_t slot_count(size_t results) {
  size_t n = 16;
  while (n < 2 * results)
    n *= 2;
  return n;
}

size_t mx_gather_work_bytes(uint32_t rows, size_t k) {
  size_t bytes = slot_count((size_t)rows * k) * sizeof(slot) + (size_t)rows * sizeof(float);
  return (bytes + 7) & ~(size_t)7; /* what follows it in a block stays 8-byte aligned */
}

/* Open addressing over a power-of-two table at most half full; each row's
 * results are contiguous, so a slot finishes its previous row (adding what
 * that row gave above its floor) when the next row reaches it. */
size_t mx_gather(const int64_t *ids, const float *scores, uint32_t rows,
                 size_t k, void *work, mx_scored *out, size_t n_out) {
  size_t mask = slot_count((size_t)rows * k) - 1;
  slot *slots = work;
  float *lowest = (float *)(slots + mask + 1);
  double floor_sum = 0;
  for (size_t i = 0; i <= mask; i++)
    slots[i].doc = -1;
  for (uint32_t r = 0; r < rows; r++) {
    lowest[r] = 0;
    for (size_t j = 0; j < k;
         j++) /* best first: the last valid is the lowest */
      if (ids[(size_t)r * k + j] >= 0)
        lowest[r] = scores[(size_t)r * k + j];
    floor_sum += lowest[r];
  }
  for (uint32_t r = 0; r < rows; r++)
    for (size_t j = 0; j < k; j++) {
      int64_t doc = ids[(size_t)r * k + j];
      if (doc < 0)
        continue;
      float sc = scores[(size_t)r * k + j];
      size_t h = hash_doc(doc, mask);
      while (slots[h].doc >= 0 && slots[h].doc != doc)
        h = (h + 1) & mask;
      slot *sl = &slots[h];
      if (sl->doc < 0) {
        *sl = (slot){doc, r, sc, 0};
      } else if (sl->row != r) {
        sl->sum += (double)sl->best - lowest[sl->row];
        sl->row = r;
        sl->best = sc;
      } else if (sc > sl->best) {
        sl->best = sc;
      }
    }
  mx_topk top;
  mx_topk_init(&top, out, n_out);
  for (size_t i = 0; i <= mask; i++)
    if (slots[i].doc >= 0) {
      double total = floor_sum + slots[i].sum +
                     ((double)slots[i].best - lowest[slots[i].row]);
      mx_topk_push(&top, (float)total, (uint64_t)slots[i].doc);
    }
  return mx_topk_finish(&top);
}

size_t mx_gather_reference(const int64_t *ids, const float *scores,
                           uint32_t rows, size_t k, mx_scored *out,
                           size_t n_out) {
  /* Plainly: every distinct document, every row scanned for it. */
  size_t total = (size_t)rows * k, n_docs = 0;
  int64_t *docs = malloc((total ? total : 1) * sizeof *docs);
  mx_topk top;
  mx_topk_init(&top, out, n_out);
  if (!docs)
    return 0;
  for (size_t i = 0; i < total; i++) {
    int seen = ids[i] < 0;
    for (size_t j = 0; j < n_docs && !seen; j++)
      seen = docs[j] == ids[i];
    if (!seen)
      docs[n_docs++] = ids[i];
  }
  for (size_t d = 0; d < n_docs; d++) {
    double score = 0;
    for (uint32_t r = 0; r < rows; r++) {
      float best = -INFINITY, lowest = 0;
      for (size_t j = 0; j < k; j++) {
        if (ids[(size_t)r * k + j] < 0)
          continue;
        lowest = scores[(size_t)r * k + j];
        if (ids[(size_t)r * k + j] == docs[d] &&
            scores[(size_t)r * k + j] > best)
          best = scores[(size_t)r * k + j];
      }
      score += best > -INFINITY ? best : lowest;
    }
    mx_topk_push(&top, (float)score, (uint64_t)docs[d]);
  }
  free(docs);
  return mx_topk_finish(&top);
}

mx_status mx_first_stage_candidates(mx_index *ix, mx_scratch *s,
                                    const float *query, uint32_t r_q,
                                    size_t n_cand, int coarse_only,
                                    const mx_coarse_params *cp, size_t *n,
                                    mx_error *err) {
  const mx_manifest *m = &ix->manifest;
  const uint32_t d = m->dim;
  *n = 0;
  if (n_cand >= m->n_docs && !coarse_only) {
    for (size_t i = 0; i < n_cand; i++) {
      s->docs[i] = i;
      s->kept[i] = (mx_scored){0, i};
      s->verified[i] = 0;
    }
    *n = n_cand;
    return MX_OK;
  }
  uint32_t r = mx_candidates_query_vectors(ix, r_q);
  uint32_t rows = mx_first_stage_query_rows(m->first_stage, r);
  const float *q = query;
  if (m->first_stage != MX_FIRST_STAGE_LEADING) {
    if (!reserve((void **)&s->query_rows, &s->query_rows_cap, (size_t)rows * d,
                 sizeof(float)))
      return mx_fail(err, MX_ERR_NO_MEMORY, "cannot allocate %u query rows",
                     rows);
    mx_first_stage_make_query(m->first_stage, query, r, d, s->query_rows);
    q = s->query_rows;
  }
  if (m->first_stage != MX_FIRST_STAGE_MULTI) {
    MX_TRY(mx_coarse_search(ix->coarse, 1, q, (uint32_t)n_cand, cp,
                            s->coarse_scores, s->coarse_ids, err));
    for (size_t i = 0; i < n_cand; i++)
      if (s->coarse_ids[i] >= 0) {
        s->docs[*n] = (uint64_t)s->coarse_ids[i];
        s->kept[*n] = (mx_scored){s->coarse_scores[i], s->docs[*n]};
        s->verified[*n] = 0;
        (*n)++;
      }
    return MX_OK;
  }
  /* multi: k' entries per query vector (at most all of them). */
  uint64_t entries = mx_first_stage_coarse_entries(m);
  size_t k = n_cand < entries ? n_cand : (size_t)entries;
  size_t results = (size_t)rows * k;
  /* One block: the gathering's work area, then the results. */
  size_t work = mx_gather_work_bytes(rows, k);
  size_t bytes = work + results * (sizeof(int64_t) + sizeof(float));
  if (!reserve(&s->gather, &s->gather_cap, bytes, 1))
    return mx_fail(err, MX_ERR_NO_MEMORY,
                   "cannot allocate %zu first-stage results", results);
  int64_t *ids = (int64_t *)((char *)s->gather + work);
  float *scores = (float *)(ids + results);
  MX_TRY(
      mx_coarse_search(ix->coarse, rows, q, (uint32_t)k, cp, scores, ids, err));
  *n = mx_gather(ids, scores, rows, k, s->gather, s->kept, n_cand);
  for (size_t i = 0; i < *n; i++) {
    s->docs[i] = s->kept[i].doc;
    s->verified[i] = 0;
  }
  return MX_OK;
}
