/* coarse.c: the coarse stage over the FAISS C API (inner product over each
 * document's leading vector). The only file in metaidx that includes FAISS
 * headers; FAISS return codes are translated into mx_status here.
 *
 * Per-call search parameters without racing on the shared index
 * ---------------------------------------------------------------
 * FAISS keeps nprobe / efSearch as fields of the index object, so setting
 * them per call would race between concurrent searches. Three index kinds:
 *
 * - FLAT (exact; "IDMap,Flat"): no parameters, faiss_Index_search is const.
 * - IVF (the top-level index is an IndexIVF: "IVFn,Flat", "IVFn,SQ8", ...):
 *   lock-free for any nprobe. We search the quantizer for the p requested
 *   lists ourselves, then call faiss_IndexIVF_search_preassigned. In 1.7.3
 *   that function (IndexIVF.cpp:411) reads this->nprobe (clamped to nlist)
 *   as the *stride* of the assign array and skips entries < 0. We set the
 *   index's own nprobe to nlist once, when the handle is made, and never
 *   write it again; a search for p lists fills the first p entries of each
 *   row and pads the rest with -1 (skipping nlist - p entries costs a few
 *   microseconds; padding beats running ceil(p / S) passes and merging,
 *   which re-fills a k-heap per pass). Nothing shared is written. The
 *   quantizer (IndexFlatIP) search is const. With nprobe = 0 the number of
 *   lists grows with k (ivf_default_nprobe).
 * - OTHER (HNSW, IndexPreTransform+IVF, ...: the C API has no way to pass
 *   parameters or reach the inner IVF): a reader-writer lock. Searches with
 *   the default parameters take it shared (never serialised); a search with
 *   a non-default parameter takes it exclusive, sets the parameter through
 *   faiss_ParameterSpace, searches, and restores the default.
 * mx_coarse_set_defaults takes the lock exclusive, so it may be called
 * while other threads search.
 *
 * Threads: a search runs on the calling thread. We set OpenMP's nthreads ICV
 * to 1 for the duration of the call (omp_set_num_threads sets the calling
 * thread's ICV only, so other threads are unaffected) and restore it after.
 * For one query FAISS's Flat, IVF (parallel_mode 0, search_preassigned) and
 * HNSW paths parallelise over queries only, so one thread loses nothing;
 * but IndexIDMap::search (IndexIDMap.cpp:86) runs `omp parallel for` over
 * the n * k labels it translates, which with more threads wakes a team per
 * call. Measured (bench_coarse, Flat N = 20k d = 128, one query per call):
 * p50 1.3 ms with 1 thread, 12 ms with 2 threads on the shared 2-core
 * machine; IVF paths equal within noise. Hence 1, always, unless the caller
 * opts in with mx_coarse_set_search_threads for a large batch.
 * Exception: nq >= 20 on a flat index (or an IVF quantizer) goes to BLAS
 * sgemm, and Debian's OpenBLAS (pthread build) has its own thread pool;
 * OPENBLAS_NUM_THREADS=1 confines that too. Training and adding keep
 * FAISS's default (all cores): they are offline, one call at a time.
 */
#include "coarse.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/IndexIVF_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

#include "fsutil.h"
#include "hash.h"
#include "status.h"

typedef enum coarse_kind { KIND_FLAT, KIND_IVF, KIND_OTHER } coarse_kind;

struct mx_coarse {
  FaissIndex *index;     /* owned; what is written and searched */
  FaissIndexIVF *ivf;    /* == index when KIND_IVF, else NULL */
  FaissIndex *quantizer; /* ivf's, not owned */
  size_t nlist;
  coarse_kind kind;
  uint32_t dim;
  mx_coarse_params defaults; /* 0 = FAISS's own value */
  /* Whether FAISS accepts "nprobe" / "efSearch" through ParameterSpace on
   * this index: 0 not known yet, 1 yes, -1 no (then the parameter does not
   * apply and is ignored). Written under the exclusive lock. */
  int np_support, ef_support;
  int search_threads; /* OpenMP threads inside a search; <= 1: the caller's only */
  int build_threads;  /* OpenMP threads for train and add; 0: OpenMP's default */
  pthread_rwlock_t lock; /* see the top of the file */
};

/* FAISS's own defaults, restored after a non-default search on an OTHER
 * index whose defaults were never set. */
enum { FAISS_DEFAULT_NPROBE = 1, FAISS_DEFAULT_EF_SEARCH = 16 };

/* ---------------------------------------------------------------- errors */

static mx_status faiss_fail(mx_error *err, mx_status status, int rc, const char *what) {
  const char *msg = faiss_get_last_error();
  if (msg && strstr(msg, "bad_alloc"))
    status = MX_ERR_NO_MEMORY;
  return mx_fail(err, status, "%s: FAISS error %d: %s", what, rc, msg ? msg : "(no message)");
}

#define FAISS_TRY(call, what)                                \
  do {                                                       \
    int faiss_rc_ = (call);                                  \
    if (faiss_rc_ != 0)                                      \
      return faiss_fail(err, MX_ERR_COARSE, faiss_rc_, what); \
  } while (0)

/* ---------------------------------------------------------------- OpenMP */

/* Confines FAISS's OpenMP to the calling thread (or to `threads`) for one
 * call; returns the value to restore. */
static int omp_single_begin(int threads) {
  int saved = omp_get_max_threads();
  omp_set_num_threads(threads > 1 ? threads : 1);
  return saved;
}
static void omp_single_end(int saved) { omp_set_num_threads(saved); }

/* --------------------------------------------------------------- factory */

/* The default rule, for n leading vectors of dimension d (all figures from
 * bench/bench_coarse.c on clustered data, 2 cores, AVX2):
 * - Exact "IDMap,Flat" while a query scans at most 16 MiB of f32 (n * d <=
 *   4M: n <= 32k at d = 128, n <= 2k at d = 2048) or n < 1000: below that an
 *   exact scan costs ~1-2 ms and needs no training.
 * - Otherwise IVF with nlist = 4 * sqrt(n), capped at n / 39 so training
 *   sees >= 39 points per centroid; "Flat" codes for d < 1024, "SQ8" codes
 *   (4x fewer bytes scanned and stored, recall measured within 1% of Flat)
 *   for d >= 1024.
 * - Default nprobe = 8 (capped at nlist). It is a floor: a search with
 *   nprobe = 0 probes enough lists to scan ~20 k' vectors on average
 *   (ivf_default_nprobe). Measured (bench_coarse --sweep, clustered data,
 *   recall of the exact top k'): nprobe 8 gives recall@100 >= 0.999 at
 *   N = 20k, 100k, 1M; the k' = 1000 term gives 0.958 (100k, 253 of 1265
 *   lists) and 0.9975 (1M, 80 of 4000 lists). */
void mx_coarse_default_factory(uint64_t n_docs, uint32_t dim, char *factory, size_t cap,
                               mx_coarse_params *defaults) {
  mx_coarse_params p = {0, 0};
  if (n_docs < 1000 || (double)n_docs * dim <= 4.0 * 1024 * 1024) {
    snprintf(factory, cap, "IDMap,Flat");
  } else {
    uint64_t nlist = (uint64_t)(4.0 * sqrt((double)n_docs) + 0.5);
    if (nlist > n_docs / 39)
      nlist = n_docs / 39;
    if (nlist < 1)
      nlist = 1;
    snprintf(factory, cap, "IVF%llu,%s", (unsigned long long)nlist, dim >= 1024 ? "SQ8" : "Flat");
    uint64_t np = 8;
    if (np > nlist)
      np = nlist;
    p.nprobe = (uint32_t)np;
  }
  if (defaults)
    *defaults = p;
}

uint32_t mx_coarse_code_bytes(const char *factory, uint32_t dim) {
  const char *pq = strstr(factory, "PQ");
  if (pq && pq[2] >= '1' && pq[2] <= '9') {
    char *end = NULL;
    unsigned long m = strtoul(pq + 2, &end, 10), nbits = 8;
    if (end && *end == 'x')
      nbits = strtoul(end + 1, NULL, 10);
    uint64_t bytes = ((uint64_t)m * nbits + 7) / 8;
    return bytes > 0 && bytes < UINT32_MAX ? (uint32_t)bytes : 4 * dim;
  }
  if (strstr(factory, "SQ8"))
    return dim;
  if (strstr(factory, "SQ4"))
    return (dim + 1) / 2;
  if (strstr(factory, "SQfp16"))
    return 2 * dim;
  return 4 * dim;
}

/* Works out the kind of a freshly made or read index. */
static mx_status coarse_wrap(FaissIndex *index, mx_coarse **out, mx_error *err) {
  mx_coarse *c = calloc(1, sizeof *c);
  if (!c) {
    faiss_Index_free(index);
    return mx_fail(err, MX_ERR_NO_MEMORY, "coarse index: out of memory");
  }
  c->index = index;
  c->dim = (uint32_t)faiss_Index_d(index);
  c->ivf = faiss_IndexIVF_cast(index);
  if (c->ivf) {
    c->kind = KIND_IVF;
    c->quantizer = faiss_IndexIVF_quantizer(c->ivf);
    c->nlist = faiss_IndexIVF_nlist(c->ivf);
    /* The assign stride of search_preassigned; never changed after this. */
    faiss_IndexIVF_set_nprobe(c->ivf, c->nlist);
    if (faiss_IndexFlat_cast(c->quantizer))
      c->ef_support = -1; /* efSearch only applies to an HNSW quantizer */
  } else {
    FaissIndexIDMap *idmap = faiss_IndexIDMap_cast(index);
    FaissIndex *sub = idmap ? faiss_IndexIDMap_sub_index(idmap) : index;
    c->kind = faiss_IndexFlat_cast(sub) ? KIND_FLAT : KIND_OTHER;
    if (c->kind == KIND_FLAT)
      c->np_support = c->ef_support = -1;
  }
  if (pthread_rwlock_init(&c->lock, NULL) != 0) {
    faiss_Index_free(index);
    free(c);
    return mx_fail(err, MX_ERR_INTERNAL, "coarse index: cannot create lock");
  }
  *out = c;
  return MX_OK;
}

/* 1 if the index can take explicit ids as built (IVF, or already an IDMap). */
static int takes_ids(FaissIndex *index) {
  return faiss_IndexIVF_cast(index) != NULL || faiss_IndexIDMap_cast(index) != NULL ||
         faiss_IndexIDMap2_cast(index) != NULL;
}

mx_status mx_coarse_create(const char *factory, uint32_t dim, mx_coarse **out, mx_error *err) {
  if (!out)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "coarse index: out is NULL");
  *out = NULL;
  if (!factory || !*factory)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "coarse index: empty factory string");
  if (dim == 0 || dim > (1u << 20))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "coarse index \"%s\": dimension %u out of range [1, 1048576]", factory, dim);
  FaissIndex *index = NULL;
  int rc = faiss_index_factory(&index, (int)dim, factory, METRIC_INNER_PRODUCT);
  if (rc != 0)
    return faiss_fail(err, MX_ERR_INVALID_ARGUMENT, rc, factory);
  if (!takes_ids(index)) {
    /* Flat, HNSW, PQ, ...: wrap in an IDMap so add_with_ids works. */
    faiss_Index_free(index);
    index = NULL;
    size_t n = strlen(factory) + sizeof "IDMap,";
    char *wrapped = malloc(n);
    if (!wrapped)
      return mx_fail(err, MX_ERR_NO_MEMORY, "coarse index: out of memory");
    snprintf(wrapped, n, "IDMap,%s", factory);
    rc = faiss_index_factory(&index, (int)dim, wrapped, METRIC_INNER_PRODUCT);
    if (rc != 0) {
      mx_status s = faiss_fail(err, MX_ERR_INVALID_ARGUMENT, rc, wrapped);
      free(wrapped);
      return s;
    }
    free(wrapped);
  }
  return coarse_wrap(index, out, err);
}

/* -------------------------------------------------------------- building */

uint64_t mx_coarse_train_size(const mx_coarse *c, uint64_t n_docs) {
  if (!c || faiss_Index_is_trained(c->index))
    return 0;
  /* Centroids to fit: IVF nlist; other trained indexes (PQ, SQ, PCA inside
   * an IDMap or PreTransform) are sized as if for 256 centroids. 128 points
   * per centroid, capped at 1M points, but never below 40 per centroid
   * (k-means quality drops below ~39; FAISS warns there). Measured at
   * N = 100k, IVF1265: recall@1000 0.955 with 40 per centroid, 0.958 with
   * 79, so more only costs training time (linear in the sample). */
  uint64_t centroids = c->kind == KIND_IVF ? c->nlist : 256;
  uint64_t want = centroids * 128;
  uint64_t floor = centroids * 40;
  if (want > 1000000)
    want = 1000000;
  if (want < floor)
    want = floor;
  return want < n_docs ? want : n_docs;
}

mx_status mx_coarse_train(mx_coarse *c, uint64_t n, const float *x, mx_error *err) {
  if (!c || (n && !x))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "coarse train: NULL argument");
  if (faiss_Index_is_trained(c->index))
    return MX_OK;
  /* FAISS's k-means prints a warning on stderr below 39 points per
   * centroid (Clustering.cpp, min_points_per_centroid); we refuse instead,
   * which keeps the library silent and the centroids sound. */
  if (c->kind == KIND_IVF && n < (uint64_t)c->nlist * 39)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "coarse train: %llu training vectors for %zu IVF lists; need at least 39 per "
                   "list (%llu): use fewer lists or Flat",
                   (unsigned long long)n, c->nlist, (unsigned long long)c->nlist * 39);
  int saved = c->build_threads > 0 ? omp_single_begin(c->build_threads) : 0;
  int rc = faiss_Index_train(c->index, (idx_t)n, x);
  if (c->build_threads > 0)
    omp_single_end(saved);
  FAISS_TRY(rc, "coarse train");
  return MX_OK;
}

mx_status mx_coarse_add(mx_coarse *c, uint64_t n, const float *x, const uint64_t *ids,
                        mx_error *err) {
  if (!c || (n && (!x || !ids)))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "coarse add: NULL argument");
  if (!faiss_Index_is_trained(c->index))
    return mx_fail(err, MX_ERR_STATE,
                   "coarse add: index is not trained (call mx_coarse_train with a sample of %llu "
                   "vectors first)",
                   (unsigned long long)mx_coarse_train_size(c, n));
  for (uint64_t i = 0; i < n; i++)
    if (ids[i] > (uint64_t)INT64_MAX)
      return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                     "coarse add: id %llu at row %llu exceeds INT64_MAX", (unsigned long long)ids[i],
                     (unsigned long long)i);
  if (n == 0)
    return MX_OK;
  /* uint64 ids <= INT64_MAX have the same representation as idx_t. */
  int saved = c->build_threads > 0 ? omp_single_begin(c->build_threads) : 0;
  int rc = faiss_Index_add_with_ids(c->index, (idx_t)n, x, (const idx_t *)ids);
  if (c->build_threads > 0)
    omp_single_end(saved);
  FAISS_TRY(rc, "coarse add");
  return MX_OK;
}

/* Sets one named parameter through ParameterSpace. Caller holds the lock
 * exclusive. A parameter FAISS does not know for this index type (nprobe on
 * HNSW, efSearch on IVF with a flat quantizer) is recorded in *support as
 * -1 and ignored: it does not apply. */
static mx_status set_param(mx_coarse *c, const char *name, int *support, double value,
                           mx_error *err) {
  if (*support < 0)
    return MX_OK;
  FaissParameterSpace *ps = NULL;
  FAISS_TRY(faiss_ParameterSpace_new(&ps), "coarse parameters");
  int rc = faiss_ParameterSpace_set_index_parameter(ps, c->index, name, value);
  faiss_ParameterSpace_free(ps);
  if (rc != 0) {
    const char *msg = faiss_get_last_error();
    if (msg && strstr(msg, "could not set parameter")) {
      *support = -1;
      return MX_OK;
    }
    return faiss_fail(err, MX_ERR_INVALID_ARGUMENT, rc, name);
  }
  *support = 1;
  return MX_OK;
}

/* The parameters that go through ParameterSpace (under the exclusive lock)
 * rather than the lock-free IVF path: bit 1 nprobe, bit 2 efSearch. */
enum { PARAM_NPROBE = 1, PARAM_EF = 2 };

static int params_needing_lock(const mx_coarse *c, uint32_t np, uint32_t ef) {
  int which = 0;
  if (c->kind == KIND_FLAT)
    return 0;
  if (c->kind == KIND_OTHER && np && np != c->defaults.nprobe && c->np_support >= 0)
    which |= PARAM_NPROBE;
  if (ef && ef != c->defaults.ef_search && c->ef_support >= 0)
    which |= PARAM_EF;
  return which;
}

static mx_status apply_params(mx_coarse *c, int which, uint32_t np, uint32_t ef, mx_error *err) {
  if (which & PARAM_NPROBE)
    MX_TRY(set_param(c, "nprobe", &c->np_support, np, err));
  if (which & PARAM_EF)
    MX_TRY(set_param(c, "efSearch", &c->ef_support, ef, err));
  return MX_OK;
}

/* Puts the fields back to the recorded defaults (FAISS's own where none is
 * recorded). Caller holds the lock exclusive. */
static mx_status restore_defaults(mx_coarse *c, int which, mx_error *err) {
  uint32_t np = c->defaults.nprobe ? c->defaults.nprobe : FAISS_DEFAULT_NPROBE;
  uint32_t ef = c->defaults.ef_search ? c->defaults.ef_search : FAISS_DEFAULT_EF_SEARCH;
  return apply_params(c, which, np, ef, err);
}

mx_status mx_coarse_set_defaults(mx_coarse *c, const mx_coarse_params *defaults, mx_error *err) {
  if (!c || !defaults)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "coarse defaults: NULL argument");
  mx_status s = MX_OK;
  pthread_rwlock_wrlock(&c->lock);
  if (c->kind != KIND_FLAT) {
    int which = (c->kind == KIND_OTHER && defaults->nprobe ? PARAM_NPROBE : 0) |
                (defaults->ef_search ? PARAM_EF : 0);
    s = apply_params(c, which, defaults->nprobe, defaults->ef_search, err);
  }
  if (s == MX_OK)
    c->defaults = *defaults;
  pthread_rwlock_unlock(&c->lock);
  return s;
}

/* --------------------------------------------------------------- search */

/* Lists an IVF search probes when the call passes nprobe = 0: the recorded
 * default, raised so that on average at least MX_SCAN_FACTOR * k vectors
 * are scanned (a fixed nprobe that reaches 0.95 recall@1000 scans 10x too
 * much at k = 100; bench_coarse --sweep: on clustered data recall@k' of
 * the exact top k' reaches ~0.96 at 20 k' vectors scanned, N = 20k..100k). */
enum { MX_SCAN_FACTOR = 20 };

static size_t ivf_default_nprobe(const mx_coarse *c, uint32_t k) {
  size_t p = c->defaults.nprobe ? c->defaults.nprobe : 1;
  uint64_t n = (uint64_t)faiss_Index_ntotal(c->index);
  if (n > 0) {
    double want = ceil((double)MX_SCAN_FACTOR * k * (double)c->nlist / (double)n);
    if (want > (double)p)
      p = want >= (double)c->nlist ? c->nlist : (size_t)want;
  }
  return p;
}

/* The lock-free IVF path (see the top of the file): the IVF's own nprobe
 * field is nlist, set once in coarse_wrap, so FAISS reads each query's row
 * of `assign` as nlist entries; we fill the first p with the quantizer's
 * top-p lists and the rest with -1, which search_preassigned skips. */
static mx_status search_ivf(const mx_coarse *c, uint64_t nq, const float *x, uint32_t k,
                            size_t p, float *scores, int64_t *ids, mx_error *err) {
  size_t stride = c->nlist;
  if (p > stride)
    p = stride;
  if (p == 0)
    p = 1;
  /* queries per block, so that the padded arrays stay near 12 MiB */
  uint64_t block = ((size_t)1 << 20) / stride;
  if (block < 1)
    block = 1;
  if (block > nq)
    block = nq;
  idx_t *assign = malloc(block * stride * sizeof *assign);
  float *cdis = malloc(block * stride * sizeof *cdis);
  if (!assign || !cdis) {
    free(assign);
    free(cdis);
    return mx_fail(err, MX_ERR_NO_MEMORY, "coarse search: out of memory");
  }
  mx_status s = MX_OK;
  for (uint64_t q0 = 0; q0 < nq && s == MX_OK; q0 += block) {
    uint64_t nb = nq - q0 < block ? nq - q0 : block;
    const float *xb = x + q0 * c->dim;
    /* the quantizer writes nb x p, packed; spread into rows of stride */
    int rc = faiss_Index_search(c->quantizer, (idx_t)nb, xb, (idx_t)p, cdis, assign);
    if (rc != 0) {
      s = faiss_fail(err, MX_ERR_COARSE, rc, "coarse search (quantizer)");
      break;
    }
    for (uint64_t q = nb; q-- > 0;) {
      memmove(assign + q * stride, assign + q * p, p * sizeof *assign);
      memmove(cdis + q * stride, cdis + q * p, p * sizeof *cdis);
      for (size_t j = p; j < stride; j++) {
        assign[q * stride + j] = -1;
        cdis[q * stride + j] = 0.0f;
      }
    }
    rc = faiss_IndexIVF_search_preassigned(c->ivf, (idx_t)nb, xb, (idx_t)k, assign, cdis,
                                           scores + q0 * k, ids + q0 * k, 0);
    if (rc != 0)
      s = faiss_fail(err, MX_ERR_COARSE, rc, "coarse search");
  }
  free(assign);
  free(cdis);
  return s;
}

mx_status mx_coarse_search(const mx_coarse *c, uint64_t nq, const float *queries, uint32_t k,
                           const mx_coarse_params *params, float *scores, int64_t *ids,
                           mx_error *err) {
  if (!c || (nq && (!queries || !scores || !ids)))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "coarse search: NULL argument");
  if (k == 0)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "coarse search: k must be at least 1");
  if (nq == 0)
    return MX_OK;
  if ((double)nq * k > (double)(SIZE_MAX / 16))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "coarse search: nq * k too large");
  /* The lock and, under it exclusive, FAISS's parameter fields are all a
   * search changes. */
  mx_coarse *m = (mx_coarse *)c;
  uint32_t want_np = params ? params->nprobe : 0;
  uint32_t want_ef = params ? params->ef_search : 0;
  mx_status s = MX_OK;
  int omp_saved = omp_single_begin(c->search_threads);
  pthread_rwlock_rdlock(&m->lock);
  int which = params_needing_lock(c, want_np, want_ef);
  if (which) {
    /* rare: a non-default parameter with no lock-free path */
    pthread_rwlock_unlock(&m->lock);
    pthread_rwlock_wrlock(&m->lock);
    which = params_needing_lock(c, want_np, want_ef);
    s = apply_params(m, which, want_np, want_ef, err);
  }
  if (s == MX_OK) {
    if (c->kind == KIND_IVF) {
      size_t p = want_np ? want_np : ivf_default_nprobe(c, k);
      s = search_ivf(c, nq, queries, k, p, scores, ids, err);
    } else {
      int rc = faiss_Index_search(c->index, (idx_t)nq, queries, (idx_t)k, scores, ids);
      if (rc != 0)
        s = faiss_fail(err, MX_ERR_COARSE, rc, "coarse search");
    }
  }
  if (which) {
    mx_status r = restore_defaults(m, which, s == MX_OK ? err : NULL);
    if (s == MX_OK)
      s = r;
  }
  pthread_rwlock_unlock(&m->lock);
  omp_single_end(omp_saved);
  if (s == MX_OK) {
    size_t total = (size_t)nq * k;
    for (size_t i = 0; i < total; i++)
      if (ids[i] < 0) {
        ids[i] = -1;
        scores[i] = -INFINITY;
      }
  }
  return s;
}

uint32_t mx_coarse_effective_nprobe(const mx_coarse *c, uint32_t k, const mx_coarse_params *params) {
  if (!c || c->kind != KIND_IVF)
    return 0;
  mx_coarse *m = (mx_coarse *)c;
  pthread_rwlock_rdlock(&m->lock);
  size_t p = params && params->nprobe ? params->nprobe : ivf_default_nprobe(c, k);
  pthread_rwlock_unlock(&m->lock);
  if (p > c->nlist)
    p = c->nlist;
  return (uint32_t)(p ? p : 1);
}

void mx_coarse_set_build_threads(mx_coarse *c, int threads) {
  if (c)
    c->build_threads = threads > 0 ? threads : 0;
}

void mx_coarse_set_search_threads(mx_coarse *c, int threads) {
  if (c)
    c->search_threads = threads;
}

uint64_t mx_coarse_count(const mx_coarse *c) { return c ? (uint64_t)faiss_Index_ntotal(c->index) : 0; }

uint32_t mx_coarse_dim(const mx_coarse *c) { return c ? c->dim : 0; }

/* ------------------------------------------------------------------- I/O */

mx_status mx_coarse_write(const mx_coarse *c, const char *path, uint64_t *bytes, uint64_t *xxh3,
                          mx_error *err) {
  if (!c || !path)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "coarse write: NULL argument");
  int rc = faiss_write_index_fname(c->index, path);
  if (rc != 0) {
    const char *msg = faiss_get_last_error();
    mx_status s = MX_ERR_IO;
    if (msg && strstr(msg, "No space left"))
      s = MX_ERR_DISK_FULL;
    return mx_fail(err, s, "%s: writing coarse index: FAISS error %d: %s", path, rc,
                   msg ? msg : "(no message)");
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return mx_fail(err, mx_status_from_errno(errno), "%s: %s", path, strerror(errno));
  struct stat st;
  if (fsync(fd) != 0 || fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return mx_fail(err, mx_status_from_errno(e), "%s: fsync: %s", path, strerror(e));
  }
  close(fd);
  /* the directory entry too, for a file that did not exist before */
  MX_TRY(mx_fsync_parent(path, err));
  uint64_t h = 0;
  MX_TRY(mx_hash_file(path, &h, err));
  if (bytes)
    *bytes = (uint64_t)st.st_size;
  if (xxh3)
    *xxh3 = h;
  return MX_OK;
}

mx_status mx_coarse_read(const char *path, uint64_t expected_bytes, uint64_t expected_xxh3,
                         mx_coarse **out, mx_error *err) {
  if (!path || !out)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "coarse read: NULL argument");
  *out = NULL;
  int fd;
  MX_TRY(mx_open_regular(path, &fd, err));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return mx_fail(err, mx_status_from_errno(e), "%s: %s", path, strerror(e));
  }
  if ((uint64_t)st.st_size != expected_bytes) {
    close(fd);
    return mx_fail(err, MX_ERR_CORRUPT,
                   "%s: coarse index is %llu bytes, the manifest says %llu (truncated or replaced)",
                   path, (unsigned long long)st.st_size, (unsigned long long)expected_bytes);
  }
  if (expected_bytes == 0 || expected_bytes > SIZE_MAX) {
    close(fd);
    return mx_fail(err, MX_ERR_CORRUPT, "%s: coarse index size %llu is not valid", path,
                   (unsigned long long)expected_bytes);
  }
  size_t len = (size_t)expected_bytes;
  char *buf = malloc(len);
  if (!buf) {
    close(fd);
    return mx_fail(err, MX_ERR_NO_MEMORY, "%s: cannot allocate %zu bytes", path, len);
  }
  size_t got = 0;
  while (got < len) {
    ssize_t r = read(fd, buf + got, len - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      int e = r < 0 ? errno : 0;
      close(fd);
      free(buf);
      if (r == 0)
        return mx_fail(err, MX_ERR_CORRUPT, "%s: coarse index shrank while reading", path);
      return mx_fail(err, mx_status_from_errno(e), "%s: %s", path, strerror(e));
    }
    got += (size_t)r;
  }
  close(fd);
  uint64_t h = mx_hash64(buf, len);
  if (h != expected_xxh3) {
    free(buf);
    return mx_fail(err, MX_ERR_CORRUPT,
                   "%s: coarse index checksum mismatch (xxh3 %016llx, manifest %016llx)", path,
                   (unsigned long long)h, (unsigned long long)expected_xxh3);
  }
  FILE *f = fmemopen(buf, len, "rb");
  if (!f) {
    int e = errno;
    free(buf);
    return mx_fail(err, mx_status_from_errno(e), "%s: fmemopen: %s", path, strerror(e));
  }
  FaissIndex *index = NULL;
  int rc = faiss_read_index(f, 0, &index);
  fclose(f);
  free(buf);
  if (rc != 0) {
    /* The bytes are the ones the builder wrote: a FAISS version mismatch or
     * an index type this build cannot read. */
    return faiss_fail(err, MX_ERR_FORMAT, rc, path);
  }
  if (faiss_Index_metric_type(index) != METRIC_INNER_PRODUCT) {
    faiss_Index_free(index);
    return mx_fail(err, MX_ERR_FORMAT, "%s: coarse index metric is not inner product", path);
  }
  return coarse_wrap(index, out, err);
}

void mx_coarse_free(mx_coarse *c) {
  if (!c)
    return;
  faiss_Index_free(c->index);
  pthread_rwlock_destroy(&c->lock);
  free(c);
}
