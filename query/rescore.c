/* rescore.c: one rescoring stage (see rescore.h): candidates read through
 * storage's fast path (mx_store_view_prefix), scored by the index's MaxSim
 * kernel, the best kept in a top-k; on one thread, or over several when the
 * stage is large.
 *
 * Several threads: the candidates are cut into chunks handed out in order
 * from an atomic cursor; each thread keeps its own top-k (ties go to the
 * smaller id: a total order, so merging the threads' top-k gives exactly
 * the one-thread answer) and its own read transaction (the calling thread
 * uses the search's). A failing candidate lowers an atomic limit to its
 * index: candidates past it are not read, every candidate before it is
 * (chunks are claimed in order and finished up to the limit), so the error
 * returned is the one of the first failing candidate, the one a single
 * thread would have met first. A thread that cannot get a read transaction
 * (reader slots exhausted) leaves its share to the others; the calling
 * thread finishes whatever is left. */
#include "rescore.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "record.h"
#include "status.h"
#include "topk.h"

/* While scoring candidate i, the first TOUCH_AHEAD_BYTES of candidate
 * i + TOUCH_AHEAD's vectors are prefetched into the cache: the kernel
 * prefetches within a document, not the start of the next one. Measured
 * (bench_candidates, 40k f16 d=128 at 4x16, k'=N, CPU time): 0.87-0.97 us
 * per candidate without, 0.74 with 2 x 1 KiB; 1, 4 or 8 ahead or the whole
 * 4 KiB prefix (into L1 or L2) measured no better. */
#define TOUCH_AHEAD 2
#define TOUCH_AHEAD_BYTES 1024

/* Largest chunk of candidates handed to a thread at once. */
#define MAX_CHUNK 256

/* Reads a candidate's first r_c vectors. The candidate came from the coarse
 * index and r_c was checked against the manifest, so any failure to read
 * it is damage to the index and reported as MX_ERR_CORRUPT (naming the
 * document): a missing record (a damaged B-tree key), a record with fewer
 * vectors, another dtype or dim than the manifest says (header fields are
 * not covered by the segment checksums), or a read transaction that LMDB
 * refuses after an earlier lookup in it hit a damaged page (MX_ERR_STATE;
 * *unusable is set: no later candidate can be read, so skip_corrupt cannot
 * go on). */
static mx_status read_candidate(const mx_index *ix, mx_store_txn *txn, uint64_t doc, uint32_t r_c,
                                uint32_t verified, mx_record_view *v, int *unusable,
                                mx_error *err) {
  mx_status rs = mx_store_view_prefix(txn, doc, r_c, verified, v, err);
  *unusable = rs == MX_ERR_STATE || rs == MX_ERR_STORAGE;
  if (rs == MX_OK && (v->dtype != ix->manifest.dtype || v->dim != ix->manifest.dim))
    return mx_fail(err, MX_ERR_CORRUPT,
                   "document %llu: record has dtype %s and dim %u, the manifest says %s and %u",
                   (unsigned long long)doc, mx_dtype_name(v->dtype) ? mx_dtype_name(v->dtype) : "?",
                   v->dim, mx_dtype_name(ix->manifest.dtype), ix->manifest.dim);
  if (rs == MX_ERR_NOT_FOUND || rs == MX_ERR_INVALID_ARGUMENT || rs == MX_ERR_STATE ||
      rs == MX_ERR_STORAGE) {
    return mx_fail_as(err, MX_ERR_CORRUPT,
                      "document %llu from the coarse index cannot be read (%s)",
                      (unsigned long long)doc, mx_status_name(rs));
  }
  return rs;
}

typedef struct counts {
  uint64_t scored, skipped, bytes;
} counts;

/* Scores candidates [a, b) into top, stopping early at the first index at
 * or past *limit (NULL: no limit); on failure returns it with *failed_at. */
static mx_status score_range(mx_index *ix, mx_store_txn *txn, const float *q, const mx_stage *st,
                             int skip_corrupt, mx_scratch *s, size_t a, size_t b,
                             atomic_size_t *limit, mx_topk *top, counts *c, size_t *failed_at,
                             mx_error *err) {
  size_t ahead_bytes = (size_t)st->r_c * ix->vector_bytes;
  if (ahead_bytes > TOUCH_AHEAD_BYTES)
    ahead_bytes = TOUCH_AHEAD_BYTES;
  uint32_t dim = ix->manifest.dim;
  for (size_t i = a; i < b; i++) {
    if (limit && i >= atomic_load_explicit(limit, memory_order_relaxed))
      break;
    if (i + TOUCH_AHEAD < b)
      mx_store_touch_ahead(txn, s->docs[i + TOUCH_AHEAD], ahead_bytes);
    mx_record_view v;
    int unusable = 0;
    mx_status rs =
        read_candidate(ix, txn, s->docs[i], st->r_c, s->verified[i], &v, &unusable, err);
    if (rs == MX_ERR_CORRUPT && skip_corrupt && !unusable) {
      c->skipped++;
      continue;
    }
    if (rs != MX_OK) {
      *failed_at = i;
      return rs;
    }
    if (st->r_c > s->verified[i]) {
      c->bytes += (uint64_t)(st->r_c - s->verified[i]) * ix->vector_bytes;
      s->verified[i] = st->r_c;
    }
    mx_topk_push(top, ix->kernel(q, st->r_q, v.vectors, st->r_c, dim), s->docs[i]);
    c->scored++;
  }
  return MX_OK;
}

/* Automatic threads: one per MX_RESCORE_WORK_PER_THREAD multiply-adds.
 * 32 M of them are ~1.1 ms of one core's kernel time here (bench_candidates:
 * 0.28 us for a 4x16 d=128 candidate, 8192 multiply-adds, hot in cache;
 * more from RAM), against tens of microseconds to start a thread and renew
 * a read transaction, so a second thread is not started for less. The
 * threshold is that estimate, not a measured optimum (the shared test
 * machine's wall times were too noisy to find one). */
unsigned mx_rescore_threads(uint32_t requested, size_t n, uint32_t r_q, uint32_t r_c,
                            uint32_t dim) {
  unsigned t = requested;
  if (t == 0) {
    double work = (double)n * r_q * r_c * dim;
    double per = (double)MX_RESCORE_WORK_PER_THREAD;
    unsigned cores = mx_cpu_count();
    t = work / per >= cores ? cores : (unsigned)(work / per);
  }
  if (t < 1)
    t = 1;
  if (t > n)
    t = n > 0 ? (unsigned)n : 1u;
  return t;
}

typedef struct worker {
  mx_store_txn *txn; /* NULL: not started (or no transaction to be had) */
  int own_txn;
  int tried;
  mx_topk top;
  counts c;
} worker;

typedef struct stage_job {
  mx_index *ix;
  mx_store_txn *txn0;
  const float *q;
  const mx_stage *st;
  int skip_corrupt;
  mx_scratch *s;
  size_t n, chunk, n_chunks;
  atomic_size_t next_chunk;
  atomic_size_t limit; /* candidates at or past it need not be read: one before failed */
  pthread_mutex_t lock;
  size_t fail_at; /* the first failing candidate so far (n: none) */
  mx_status fail_status;
  mx_error fail_err;
  worker *w;
} stage_job;

static void run_chunks(stage_job *j, worker *w) {
  for (;;) {
    size_t c = atomic_fetch_add(&j->next_chunk, 1);
    if (c >= j->n_chunks)
      return;
    size_t a = c * j->chunk, b = a + j->chunk < j->n ? a + j->chunk : j->n;
    if (a >= atomic_load(&j->limit))
      return; /* so is every later chunk */
    mx_error e;
    mx_error_clear(&e);
    size_t at = j->n;
    mx_status rs = score_range(j->ix, w->txn, j->q, j->st, j->skip_corrupt, j->s, a, b, &j->limit,
                               &w->top, &w->c, &at, &e);
    if (rs != MX_OK) {
      pthread_mutex_lock(&j->lock);
      if (at < j->fail_at) {
        j->fail_at = at;
        j->fail_status = rs;
        j->fail_err = e;
      }
      size_t cur = atomic_load(&j->limit);
      while (at < cur && !atomic_compare_exchange_weak(&j->limit, &cur, at)) {
      }
      pthread_mutex_unlock(&j->lock);
      return;
    }
  }
}

static void stage_task(void *ctx, size_t item, unsigned worker_id) {
  (void)item;
  stage_job *j = ctx;
  worker *w = &j->w[worker_id];
  if (!w->tried) {
    w->tried = 1;
    if (worker_id == 0) {
      w->txn = j->txn0; /* the calling thread */
    } else if (mx_store_txn_begin(j->ix->store, &w->txn, NULL) == MX_OK) {
      w->own_txn = 1;
    } else {
      w->txn = NULL; /* the others do its share */
    }
  }
  if (w->txn)
    run_chunks(j, w);
}

static mx_status stage_parallel(mx_index *ix, mx_store_txn *txn, const float *q, const mx_stage *st,
                                int skip_corrupt, unsigned threads, mx_scratch *s, size_t n,
                                size_t keep, size_t *n_kept, mx_search_stats *stats,
                                mx_error *err) {
  stage_job j = {.ix = ix, .txn0 = txn, .q = q, .st = st, .skip_corrupt = skip_corrupt, .s = s,
                 .n = n, .fail_at = n};
  j.chunk = n / ((size_t)threads * 8);
  if (j.chunk > MAX_CHUNK)
    j.chunk = MAX_CHUNK;
  if (j.chunk < 1)
    j.chunk = 1;
  j.n_chunks = (n + j.chunk - 1) / j.chunk;
  atomic_init(&j.next_chunk, 0);
  atomic_init(&j.limit, n);
  j.w = calloc(threads, sizeof *j.w);
  mx_scored *storage = malloc((size_t)threads * keep * sizeof *storage);
  if (!j.w || !storage) {
    free(j.w);
    free(storage);
    return mx_fail(err, MX_ERR_NO_MEMORY, "cannot allocate rescoring scratch for %u threads",
                   threads);
  }
  for (unsigned t = 0; t < threads; t++)
    mx_topk_init(&j.w[t].top, storage + (size_t)t * keep, keep);
  pthread_mutex_init(&j.lock, NULL);
  mx_parallel_for(threads, threads, stage_task, &j);
  /* whatever no thread took (none could start, or they claimed no item) */
  j.w[0].tried = 1;
  j.w[0].txn = txn;
  run_chunks(&j, &j.w[0]);
  pthread_mutex_destroy(&j.lock);

  mx_status rc = MX_OK;
  if (j.fail_at < n) {
    rc = j.fail_status;
    if (err)
      *err = j.fail_err;
  } else {
    mx_topk top;
    mx_topk_init(&top, s->kept, keep);
    for (unsigned t = 0; t < threads; t++) {
      stats->scored += j.w[t].c.scored;
      stats->corrupt_skipped += j.w[t].c.skipped;
      stats->bytes_touched += j.w[t].c.bytes;
      for (size_t i = 0; i < j.w[t].top.n; i++)
        mx_topk_push(&top, j.w[t].top.items[i].score, j.w[t].top.items[i].doc);
    }
    *n_kept = mx_topk_finish(&top);
  }
  for (unsigned t = 0; t < threads; t++)
    if (j.w[t].own_txn)
      mx_store_txn_end(j.w[t].txn);
  free(j.w);
  free(storage);
  return rc;
}

mx_status mx_rescore_stage(mx_index *ix, mx_store_txn *txn, const float *q, const mx_stage *st,
                           int skip_corrupt, unsigned threads, mx_scratch *s, size_t n,
                           size_t *n_kept, mx_search_stats *stats, mx_error *err) {
  size_t keep = st->keep < n ? st->keep : n;
  if (threads > 1 && n > 1)
    return stage_parallel(ix, txn, q, st, skip_corrupt, threads, s, n, keep, n_kept, stats, err);
  mx_topk top;
  mx_topk_init(&top, s->kept, keep);
  counts c = {0};
  size_t at;
  mx_status rs = score_range(ix, txn, q, st, skip_corrupt, s, 0, n, NULL, &top, &c, &at, err);
  stats->scored += c.scored;
  stats->corrupt_skipped += c.skipped;
  stats->bytes_touched += c.bytes;
  if (rs != MX_OK)
    return rs;
  *n_kept = mx_topk_finish(&top);
  return MX_OK;
}
