/* index.c: the index handle's lifecycle: opening an index directory
 * (manifest, store, coarse stage, checked against each other), closing it,
 * describing it (mx_index_info), its documents' external keys, and the pool
 * of per-search scratch blocks. Searching is in search.c. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coarse.h"
#include "first_stage.h"
#include "fsutil.h"
#include "hash.h"
#include "index_internal.h"
#include "layout.h"
#include "manifest.h"
#include "metaidx.h"
#include "record.h"
#include "status.h"
#include "store.h"

void mx_open_options_init(mx_open_options *o) {
  if (!o)
    return;
  memset(o, 0, sizeof *o);
  o->verify = 1;
}

static void scratch_free(mx_scratch *s) {
  if (!s)
    return;
  free(s->coarse_ids);
  free(s->coarse_scores);
  free(s->docs);
  free(s->kept);
  free(s->verified);
  free(s->query_rows);
  free(s->gather);
  free(s);
}

void mx_index_close(mx_index *index) {
  if (!index)
    return;
  while (index->free_scratch) {
    mx_scratch *s = index->free_scratch;
    index->free_scratch = s->next;
    scratch_free(s);
  }
  pthread_mutex_destroy(&index->scratch_lock);
  free(index->calib);
  mx_coarse_free(index->coarse);
  mx_store_close(index->store);
  free(index);
}

/* Loads calibration.jsonl if there is one (see mx_index_open for what a
 * damaged or foreign table does) and checks its entries against the
 * manifest, so search can trust every value it reads from it. */
static mx_status load_calibration(mx_index *ix, mx_error *err) {
  mx_calib *c = malloc(sizeof *c);
  if (!c)
    return mx_fail(err, MX_ERR_NO_MEMORY, "cannot allocate the calibration table");
  mx_error local;
  mx_status s = mx_calib_read(ix->dir, c, &local);
  if (s == MX_ERR_NOT_FOUND) {
    free(c);
    return MX_OK;
  }
  for (uint32_t i = 0; s == MX_OK && i < c->pub.n_entries; i++) {
    const mx_calibration_entry *e = &c->pub.entries[i];
    int bad = e->budget.r_c > ix->manifest.vectors_per_doc || e->candidates > ix->manifest.n_docs;
    for (uint32_t j = 0; j < c->n_points[i]; j++)
      bad |= c->points[i][j].candidates > ix->manifest.n_docs;
    if (bad)
      s = mx_fail(&local, MX_ERR_CORRUPT,
                  "'%s/%s': budget %ux%u has values beyond this index (%u vectors per "
                  "document, %llu documents)",
                  ix->dir, MX_CALIBRATION_NAME, e->budget.r_q, e->budget.r_c,
                  ix->manifest.vectors_per_doc, (unsigned long long)ix->manifest.n_docs);
  }
  if (s != MX_OK) {
    free(c);
    if (err)
      *err = local;
    return s;
  }
  ix->calib = c;
  return MX_OK;
}

static void id_hex(const unsigned char *id, size_t n, char *out) {
  for (size_t i = 0; i < n; i++)
    snprintf(out + 2 * i, 3, "%02x", id[i]);
}

mx_status mx_index_check_identity(const char *dir, const mx_manifest *m, mx_store *store,
                                  mx_error *err) {
  mx_store_txn *txn;
  MX_TRY(mx_store_txn_begin(store, &txn, err));
  const void *v = NULL;
  size_t len = 0;
  mx_error e;
  mx_error_clear(&e);
  mx_status s = mx_store_get_meta(txn, MX_META_INDEX_ID, &v, &len, &e);
  char want[2 * MX_INDEX_ID_BYTES + 1], got[2 * MX_INDEX_ID_BYTES + 1];
  id_hex(m->index_id, MX_INDEX_ID_BYTES, want);
  if (s == MX_ERR_NOT_FOUND || (s == MX_OK && len != MX_INDEX_ID_BYTES)) {
    s = mx_fail(err, MX_ERR_CORRUPT,
                "'%s': its store has no index identity, the manifest says %s: the store is not "
                "this index's (restore the index whole or rebuild it)",
                dir, want);
  } else if (s != MX_OK) {
    s = mx_fail(err, s, "'%s': cannot read the store's index identity: %s", dir, e.message);
  } else if (memcmp(v, m->index_id, MX_INDEX_ID_BYTES) != 0) {
    id_hex(v, MX_INDEX_ID_BYTES, got);
    s = mx_fail(err, MX_ERR_CORRUPT,
                "'%s': its store belongs to another index (store identity %s, manifest %s): "
                "the parts of two indexes are mixed; restore the index whole or rebuild it",
                dir, got, want);
  }
  mx_store_txn_end(txn);
  return s;
}

/* Searches read candidates through the store's fast path (store.h): the
 * records' layout is the manifest's, segmented as the builder segments
 * them. Out of memory for its tables only costs speed. */
static mx_status enable_fast_reads(mx_index *ix, mx_error *err) {
  const mx_manifest *m = &ix->manifest;
  mx_store_layout layout = {.dtype = m->dtype, .dim = m->dim, .n_vectors = m->vectors_per_doc};
  if (mx_segments_from_budgets(m->budgets, m->n_budgets, m->vectors_per_doc, &layout.segments,
                               NULL) != MX_OK)
    return MX_OK; /* not a layout the builder writes: every read takes the reference path */
  mx_error local;
  mx_status s = mx_store_fast_enable(ix->store, m->n_docs, &layout, &local);
  if (s == MX_ERR_NO_MEMORY || s == MX_ERR_INVALID_ARGUMENT)
    return MX_OK;
  if (s != MX_OK && err)
    *err = local;
  return s;
}

static mx_status open_parts(mx_index *ix, const mx_open_options *opts, mx_error *err) {
  mx_manifest *m = &ix->manifest;
  MX_TRY(mx_manifest_read(ix->dir, m, err));
  char path[PATH_MAX];
  MX_TRY(mx_path_join(path, sizeof path, ix->dir, MX_STORE_NAME, err));
  mx_store_open_options so;
  mx_store_open_options_init(&so);
  so.max_readers = opts->max_readers;
  so.verify = opts->verify;
  MX_TRY(mx_store_open(path, &so, &ix->store, err));
  MX_TRY(mx_index_check_identity(ix->dir, m, ix->store, err));
  uint64_t count = 0;
  MX_TRY(mx_store_count(ix->store, &count, err));
  if (count != m->n_docs)
    return mx_fail(err, MX_ERR_CORRUPT, "'%s': the store holds %llu documents, the manifest says %llu",
                   ix->dir, (unsigned long long)count, (unsigned long long)m->n_docs);
  MX_TRY(enable_fast_reads(ix, err));
  MX_TRY(mx_path_join(path, sizeof path, ix->dir, MX_COARSE_NAME, err));
  MX_TRY(mx_coarse_read(path, m->coarse_bytes, m->coarse_xxh3, &ix->coarse, err));
  uint64_t entries = mx_first_stage_coarse_entries(m);
  if (mx_coarse_dim(ix->coarse) != m->dim || mx_coarse_count(ix->coarse) != entries)
    return mx_fail(err, MX_ERR_CORRUPT,
                   "'%s': coarse index has %llu vectors of dimension %u, the manifest says %llu of %u",
                   path, (unsigned long long)mx_coarse_count(ix->coarse), mx_coarse_dim(ix->coarse),
                   (unsigned long long)entries, m->dim);
  mx_coarse_params defaults = {.nprobe = m->coarse_nprobe, .ef_search = m->coarse_ef_search};
  MX_TRY(mx_coarse_set_defaults(ix->coarse, &defaults, err));
  if (!opts->ignore_calibration)
    MX_TRY(load_calibration(ix, err));
  ix->kernel = mx_maxsim_best(m->dtype);
  ix->vector_bytes = mx_vector_bytes(m->dtype, m->dim);
  return MX_OK;
}

int mx_index_manifest_moved(const char *dir, const mx_manifest *m) {
  mx_manifest now;
  if (mx_manifest_read(dir, &now, NULL) != MX_OK)
    return 0;
  return memcmp(now.index_id, m->index_id, MX_INDEX_ID_BYTES) != 0;
}

/* Frees what open_parts opened, for another try. */
static void close_parts(mx_index *ix) {
  free(ix->calib);
  mx_coarse_free(ix->coarse);
  mx_store_close(ix->store);
  ix->calib = NULL;
  ix->coarse = NULL;
  ix->store = NULL;
}

mx_status mx_index_open(const char *dir, const mx_open_options *opts, mx_index **out,
                        mx_error *err) {
  if (!dir || !out)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_index_open: NULL dir or out");
  *out = NULL;
  mx_open_options defaults;
  mx_open_options_init(&defaults);
  if (!opts)
    opts = &defaults;
  mx_index *ix = calloc(1, sizeof *ix);
  if (!ix)
    return mx_fail(err, MX_ERR_NO_MEMORY, "cannot allocate an index handle");
  pthread_mutex_init(&ix->scratch_lock, NULL);
  snprintf(ix->dir, sizeof ix->dir, "%s", dir);
  /* manifest.json, store/ and coarse.faiss are read one after the other by
   * path: an --overwrite rebuild publishing in between (one atomic swap of
   * the directories) gives parts of two indexes, which the identity ties
   * refuse. If the manifest names another index by then, the open saw such
   * a swap, not damage: open again. */
  mx_status s;
  for (int attempt = 0;; attempt++) {
    memset(&ix->manifest, 0, sizeof ix->manifest);
    s = open_parts(ix, opts, err);
    if (s == MX_OK || attempt == MX_OPEN_RETRIES || ix->manifest.format_major == 0 ||
        !mx_index_manifest_moved(ix->dir, &ix->manifest))
      break;
    close_parts(ix);
  }
  if (s != MX_OK) {
    mx_index_close(ix);
    return s;
  }
  *out = ix;
  return MX_OK;
}

mx_status mx_index_info(const mx_index *index, mx_info *out, mx_error *err) {
  if (!index || !out)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_index_info: NULL index or out");
  const mx_manifest *m = &index->manifest;
  memset(out, 0, sizeof *out);
  out->format_major = m->format_major;
  out->format_minor = m->format_minor;
  out->dim = m->dim;
  out->vectors_per_doc = m->vectors_per_doc;
  out->dtype = m->dtype;
  out->n_docs = m->n_docs;
  out->n_budgets = m->n_budgets;
  memcpy(out->budgets, m->budgets, sizeof out->budgets);
  out->id_kind = m->id_kind;
  snprintf(out->coarse_factory, sizeof out->coarse_factory, "%s", m->coarse_factory);
  out->coarse_nprobe = m->coarse_nprobe;
  out->coarse_ef_search = m->coarse_ef_search;
  out->coarse_bytes = m->coarse_bytes;
  char path[PATH_MAX];
  if (mx_path_join(path, sizeof path, index->dir, MX_STORE_NAME, NULL) == MX_OK)
    out->store_bytes = mx_tree_bytes(path);
  snprintf(out->created, sizeof out->created, "%s", m->created);
  snprintf(out->library_version, sizeof out->library_version, "%s", m->library_version);
  out->first_stage = m->first_stage;
  out->first_stage_vectors = m->first_stage_vectors;
  out->first_stage_query_vectors = m->first_stage_query_vectors;
  out->coarse_entries = mx_first_stage_coarse_entries(m);
  snprintf(out->first_stage_trial, sizeof out->first_stage_trial, "%s", m->first_stage_trial);
  return MX_OK;
}


mx_status mx_index_calibration(const mx_index *index, mx_calibration *out, mx_error *err) {
  if (!index || !out)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_index_calibration: NULL index or out");
  if (!index->calib)
    return mx_fail(err, MX_ERR_NOT_FOUND, "'%s' has no calibration table", index->dir);
  *out = index->calib->pub;
  return MX_OK;
}

/* ---------------------------------------------------------------- scratch */

mx_scratch *mx_scratch_get(mx_index *ix, size_t cap) {
  pthread_mutex_lock(&ix->scratch_lock);
  mx_scratch *s = ix->free_scratch;
  if (s)
    ix->free_scratch = s->next;
  pthread_mutex_unlock(&ix->scratch_lock);
  if (!s && !(s = calloc(1, sizeof *s)))
    return NULL;
  if (s->cap < cap) {
    free(s->coarse_ids);
    free(s->coarse_scores);
    free(s->docs);
    free(s->kept);
    free(s->verified);
    s->coarse_ids = malloc(cap * sizeof *s->coarse_ids);
    s->coarse_scores = malloc(cap * sizeof *s->coarse_scores);
    s->docs = malloc(cap * sizeof *s->docs);
    s->kept = malloc(cap * sizeof *s->kept);
    s->verified = malloc(cap * sizeof *s->verified);
    s->cap = cap;
    if (!s->coarse_ids || !s->coarse_scores || !s->docs || !s->kept || !s->verified) {
      s->cap = 0;
      scratch_free(s);
      return NULL;
    }
  }
  return s;
}

void mx_scratch_put(mx_index *ix, mx_scratch *s) {
  pthread_mutex_lock(&ix->scratch_lock);
  s->next = ix->free_scratch;
  ix->free_scratch = s;
  pthread_mutex_unlock(&ix->scratch_lock);
}

/* ---------------------------------------------------------------- keys */

/* The external key bytes of doc, in place. A document of the index with no
 * key in a keyed index is damage: MX_ERR_CORRUPT. */
static mx_status stored_key(const mx_index *ix, mx_store_txn *txn, uint64_t doc, const void **key,
                            size_t *len, mx_error *err) {
  mx_status s = mx_store_get_key(txn, doc, key, len, err);
  if (s == MX_OK && ix->manifest.id_kind == MX_IDS_U64 && *len != 8)
    return mx_fail(err, MX_ERR_CORRUPT, "'%s': document %llu has a %zu-byte u64 id (expected 8)",
                   ix->dir, (unsigned long long)doc, *len);
  if (s == MX_ERR_NOT_FOUND) {
    return mx_fail_as(err, MX_ERR_CORRUPT, "'%s': document %llu has no external id", ix->dir,
                      (unsigned long long)doc);
  }
  return s;
}

mx_status mx_index_external_id(const mx_index *ix, mx_store_txn *txn, uint64_t doc,
                               uint64_t *out, mx_error *err) {
  *out = doc;
  if (ix->manifest.id_kind != MX_IDS_U64)
    return MX_OK;
  const void *key;
  size_t len;
  MX_TRY(stored_key(ix, txn, doc, &key, &len, err));
  *out = mx_get_be64(key);
  return MX_OK;
}

mx_status mx_index_doc_key(mx_index *index, uint64_t doc, char *buf, size_t cap, size_t *len,
                           mx_error *err) {
  if (!index || (!buf && cap) || !len)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_index_doc_key: NULL argument");
  if (doc >= index->manifest.n_docs)
    return mx_fail(err, MX_ERR_NOT_FOUND, "document %llu is not in the index (%llu documents)",
                   (unsigned long long)doc, (unsigned long long)index->manifest.n_docs);
  char digits[24];
  const void *key = digits;
  size_t n;
  mx_store_txn *txn = NULL;
  if (index->manifest.id_kind == MX_IDS_ROW) {
    n = (size_t)snprintf(digits, sizeof digits, "%llu", (unsigned long long)doc);
  } else {
    MX_TRY(mx_store_txn_begin(index->store, &txn, err));
    mx_status s = stored_key(index, txn, doc, &key, &n, err);
    if (s != MX_OK) {
      mx_store_txn_end(txn);
      return s;
    }
    if (index->manifest.id_kind == MX_IDS_U64) {
      uint64_t id = mx_get_be64(key);
      n = (size_t)snprintf(digits, sizeof digits, "%llu", (unsigned long long)id);
      key = digits;
    }
  }
  *len = n;
  if (cap > 0) {
    size_t copy = n < cap - 1 ? n : cap - 1;
    memcpy(buf, key, copy);
    buf[copy] = '\0';
  }
  mx_store_txn_end(txn);
  return MX_OK;
}

const mx_manifest *mx_index_manifest(const mx_index *index) { return &index->manifest; }
mx_store *mx_index_store(mx_index *index) { return index->store; }
mx_maxsim_fn mx_index_kernel(const mx_index *index) { return index->kernel; }
