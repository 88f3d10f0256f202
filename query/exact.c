/* exact.c: brute-force MaxSim of every query against every document, the
 * ground truth for evaluation and the baseline for benchmarks. Documents
 * are streamed from the store in chunks over a thread pool; each worker
 * keeps its own top-k per query, merged at the end. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "index_internal.h"
#include "status.h"
#include "topk.h"

#define EXACT_CHUNK 256

typedef struct exact_worker {
  mx_store_txn *txn;
  mx_scored *storage; /* n_queries x k */
  mx_topk *tops;      /* n_queries */
  mx_status status;
  mx_error err;
} exact_worker;

typedef struct exact_job {
  mx_index *index;
  const float *queries;
  uint32_t n_queries, vectors_per_query, r_q, r_c, k;
  uint64_t n_docs;
  mx_maxsim_fn kernel;
  exact_worker *workers;
  atomic_int failed;
} exact_job;

static void exact_chunk(void *ctx, size_t chunk, unsigned worker) {
  exact_job *job = ctx;
  exact_worker *w = &job->workers[worker];
  if (atomic_load(&job->failed))
    return;
  if (!w->txn) {
    w->status = mx_store_txn_begin(mx_index_store(job->index), &w->txn, &w->err);
    if (w->status != MX_OK) {
      atomic_store(&job->failed, 1);
      return;
    }
  }
  uint32_t dim = mx_index_manifest(job->index)->dim;
  size_t stride = (size_t)job->vectors_per_query * dim;
  uint64_t end = (chunk + 1) * (uint64_t)EXACT_CHUNK;
  if (end > job->n_docs)
    end = job->n_docs;
  for (uint64_t doc = chunk * (uint64_t)EXACT_CHUNK; doc < end; doc++) {
    mx_record_view v;
    w->status = mx_store_read_prefix(w->txn, doc, job->r_c, 0, &v, &w->err);
    /* the kernel was chosen by the manifest's dtype: a record of another
     * dtype or dim is damage (as mx_search's read_candidate says) */
    const mx_manifest *m = mx_index_manifest(job->index);
    if (w->status == MX_OK && (v.dtype != m->dtype || v.dim != m->dim))
      w->status = mx_fail(&w->err, MX_ERR_CORRUPT,
                          "document %llu: record has dtype %s and dim %u, the manifest says %s "
                          "and %u",
                          (unsigned long long)doc,
                          mx_dtype_name(v.dtype) ? mx_dtype_name(v.dtype) : "?", v.dim,
                          mx_dtype_name(m->dtype), m->dim);
    if (w->status != MX_OK) {
      atomic_store(&job->failed, 1);
      return;
    }
    for (uint32_t q = 0; q < job->n_queries; q++)
      mx_topk_push(&w->tops[q], job->kernel(job->queries + q * stride, job->r_q, v.vectors,
                                            job->r_c, dim),
                   doc);
  }
}

static mx_status check_exact_args(mx_index *index, const float *queries, uint32_t n_queries,
                                  uint32_t vectors_per_query, uint32_t r_q, uint32_t r_c,
                                  uint32_t k, mx_error *err) {
  if (!index || (n_queries && !queries))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_exact_search: NULL index or queries");
  const mx_manifest *m = mx_index_manifest(index);
  if (k == 0)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "k must be at least 1");
  if (r_q == 0 || r_q > vectors_per_query)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "r_q %u must be in 1..%u (query vectors given)",
                   r_q, vectors_per_query);
  if (r_c == 0 || r_c > m->vectors_per_doc)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "r_c %u must be in 1..%u (vectors stored per document)", r_c,
                   m->vectors_per_doc);
  size_t stride = (size_t)vectors_per_query * m->dim;
  for (uint32_t q = 0; q < n_queries; q++)
    for (size_t i = 0; i < (size_t)r_q * m->dim; i++)
      if (!isfinite(queries[q * stride + i]))
        return mx_fail(err, MX_ERR_BAD_INPUT, "query %u vector %zu is not finite", q,
                       i / m->dim);
  return MX_OK;
}

/* Merges every worker's top-k of query q into hits. */
static mx_status merge_query(exact_job *job, unsigned n_workers, uint32_t q, mx_scored *merge,
                             mx_hit *hits, uint32_t *n_hits, mx_error *err) {
  mx_topk top;
  mx_topk_init(&top, merge, job->k);
  for (unsigned w = 0; w < n_workers; w++) {
    mx_topk *t = &job->workers[w].tops[q];
    for (size_t i = 0; i < t->n; i++)
      mx_topk_push(&top, t->items[i].score, t->items[i].doc);
  }
  size_t n = mx_topk_finish(&top);
  for (size_t i = 0; i < n; i++) {
    hits[i] = (mx_hit){merge[i].doc, merge[i].doc, merge[i].score};
    MX_TRY(mx_index_external_id(job->index, job->workers[0].txn, merge[i].doc, &hits[i].id, err));
  }
  *n_hits = (uint32_t)n;
  return MX_OK;
}

mx_status mx_exact_search(mx_index *index, const float *queries, uint32_t n_queries,
                          uint32_t vectors_per_query, uint32_t r_q, uint32_t r_c, uint32_t k,
                          uint32_t threads, mx_hit *hits, uint32_t *n_hits, mx_error *err) {
  MX_TRY(check_exact_args(index, queries, n_queries, vectors_per_query, r_q, r_c, k, err));
  if (n_queries == 0)
    return MX_OK;
  if (!hits || !n_hits)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_exact_search: NULL hits or n_hits");
  if (threads == 0)
    threads = mx_cpu_count();
  exact_job job = {.index = index,
                   .queries = queries,
                   .n_queries = n_queries,
                   .vectors_per_query = vectors_per_query,
                   .r_q = r_q,
                   .r_c = r_c,
                   .k = k,
                   .n_docs = mx_index_manifest(index)->n_docs,
                   .kernel = mx_index_kernel(index)};
  atomic_init(&job.failed, 0);
  job.workers = calloc(threads, sizeof *job.workers);
  mx_scored *merge = malloc((size_t)k * sizeof *merge);
  mx_status s = job.workers && merge ? MX_OK : MX_ERR_NO_MEMORY;
  for (unsigned w = 0; s == MX_OK && w < threads; w++) {
    exact_worker *ew = &job.workers[w];
    ew->storage = malloc((size_t)n_queries * k * sizeof *ew->storage);
    ew->tops = malloc((size_t)n_queries * sizeof *ew->tops);
    if (!ew->storage || !ew->tops) {
      s = MX_ERR_NO_MEMORY;
      break;
    }
    for (uint32_t q = 0; q < n_queries; q++)
      mx_topk_init(&ew->tops[q], ew->storage + (size_t)q * k, k);
  }
  if (s != MX_OK) {
    mx_fail(err, s, "cannot allocate top-k heaps for %u queries x %u", n_queries, k);
  } else {
    size_t chunks = (size_t)((job.n_docs + EXACT_CHUNK - 1) / EXACT_CHUNK);
    mx_parallel_for(threads, chunks, exact_chunk, &job);
    for (unsigned w = 0; w < threads; w++)
      if (job.workers[w].status != MX_OK) {
        s = job.workers[w].status;
        if (err)
          *err = job.workers[w].err;
        break;
      }
  }
  if (s == MX_OK && !job.workers[0].txn)
    s = mx_store_txn_begin(mx_index_store(index), &job.workers[0].txn, err);
  for (uint32_t q = 0; s == MX_OK && q < n_queries; q++)
    s = merge_query(&job, threads, q, merge, hits + (size_t)q * k, &n_hits[q], err);
  for (unsigned w = 0; job.workers && w < threads; w++) {
    mx_store_txn_end(job.workers[w].txn);
    free(job.workers[w].storage);
    free(job.workers[w].tops);
  }
  free(job.workers);
  free(merge);
  return s;
}
