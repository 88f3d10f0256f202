/* index_internal.h: an open index as the query/ files see it: the handle
 * (index.c owns its lifecycle), the per-search scratch pool, and the one
 * rule for external ids. search.c, exact.c and verify.c include this. */
#ifndef MX_QUERY_INDEX_INTERNAL_H
#define MX_QUERY_INDEX_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "calibration.h"
#include "coarse.h"
#include "manifest.h"
#include "maxsim.h"
#include "metaidx.h"
#include "store.h"
#include "topk.h"

/* Per-search working memory, reused across searches (never allocated per
 * candidate). Sized for the largest candidate count seen so far. */
typedef struct mx_scratch {
  struct mx_scratch *next;
  size_t cap;
  int64_t *coarse_ids;
  float *coarse_scores;
  uint64_t *docs;     /* the current stage's candidates */
  mx_scored *kept;    /* top-k storage of the current stage */
  uint32_t *verified; /* vectors already checksummed, per candidate */
  /* The first stage's working memory (candidates.c), grown on demand:
   * query rows sent to the coarse index, and multi's gathered entries. */
  float *query_rows;
  size_t query_rows_cap; /* floats */
  void *gather;          /* multi's results and accumulators */
  size_t gather_cap;     /* bytes */
} mx_scratch;

struct mx_index {
  char dir[PATH_MAX];
  mx_manifest manifest;
  mx_store *store;
  mx_coarse *coarse;
  mx_maxsim_fn kernel;
  size_t vector_bytes;
  pthread_mutex_t scratch_lock;
  mx_scratch *free_scratch;
  mx_calib *calib; /* the calibration table; NULL when the index has none */
};

/* MX_OK when the store's identity (meta MX_META_INDEX_ID) is the
 * manifest's index_id; else MX_ERR_CORRUPT saying the parts of two indexes
 * are mixed (or the store has no identity). Open and verify both ask. */
mx_status mx_index_check_identity(const char *dir, const mx_manifest *m, mx_store *store,
                                  mx_error *err);

/* 1 when dir's manifest now names another index than m: a rebuild was
 * published after m was read. */
int mx_index_manifest_moved(const char *dir, const mx_manifest *m);
/* How many times open and verify start again after such a swap. */
#define MX_OPEN_RETRIES 4

const mx_manifest *mx_index_manifest(const mx_index *index);
mx_store *mx_index_store(mx_index *index);
mx_maxsim_fn mx_index_kernel(const mx_index *index);

/* A scratch block with room for `cap` candidates, from the index's free
 * list or new; NULL when out of memory. Give it back with mx_scratch_put. */
mx_scratch *mx_scratch_get(mx_index *ix, size_t cap);
void mx_scratch_put(mx_index *ix, mx_scratch *s);

/* The external id of document `doc` as reported in mx_hit: doc itself for
 * row and string ids, the stored u64 for u64 ids. A u64 index whose id map
 * has no 8-byte key for doc is damaged: MX_ERR_CORRUPT naming the document
 * (never a silent fallback to the internal id). */
mx_status mx_index_external_id(const mx_index *ix, mx_store_txn *txn, uint64_t doc,
                               uint64_t *out, mx_error *err);

#endif
