/* topk.h: keep the k best (score, doc) pairs; ties broken by smaller doc id
 * so results are deterministic. A NaN score ranks below every number.
 * No allocation: the caller owns the storage. Not thread-safe per object. */
#ifndef MX_QUERY_TOPK_H
#define MX_QUERY_TOPK_H

#include <stddef.h>
#include <stdint.h>

typedef struct mx_scored {
  float score;
  uint64_t doc;
} mx_scored;

/* A bounded min-heap over caller-provided storage of capacity k. */
typedef struct mx_topk {
  mx_scored *items;
  size_t k, n;
} mx_topk;

/* k == 0 (or storage == NULL) keeps nothing. */
void mx_topk_init(mx_topk *t, mx_scored *storage, size_t k);
/* O(1) when the candidate does not get in, O(log k) when it does. */
void mx_topk_push(mx_topk *t, float score, uint64_t doc);
/* Sorts the kept items best first (in place) and returns their count,
 * min(k, pushes). The heap order is gone: call mx_topk_init before pushing
 * again. */
size_t mx_topk_finish(mx_topk *t);

#endif
