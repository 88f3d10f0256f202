/* store_fast.c: reads of a read-only store without a B-tree descent, a
 * header parse or a checksum per read (see "fast reads" in store.h).
 *
 * Per internal id the store keeps the record's address in the map (0 until
 * a read has located it) and how many of its vectors are verified (a
 * segment end; 0 until a read has hashed its first segment). Both are
 * filled by whichever thread reads the record first, with relaxed atomics:
 * every thread that fills an entry writes the same value (the address of
 * the same record, a count of vectors whose hashes matched), the bytes they
 * describe never change while the snapshot is alive, and a thread that sees
 * a stale 0 only repeats the work. Verified counts only grow (compare-and-
 * swap): reads are always prefixes, so "vectors [0, v) verified" is the
 * whole state a bitmap of segments would hold.
 *
 * Why the addresses stay valid: a read-only environment maps the file once
 * (MDB_RDONLY: fixed map size, never remapped), and a page of the snapshot
 * the addresses were taken from cannot be reused while some transaction
 * still reads that snapshot. Each read checks that its transaction's
 * snapshot (mdb_txn_id) is the one of mx_store_fast_enable; an index's
 * store is never written after its build, so in practice it always is.
 *
 * Measured (bench_candidates' "lookup", 40k-document f16 index, d=128, 16
 * vectors, one thread, warm, CPU time): a remembered, verified read of 16
 * vectors costs 0.006-0.04 us; mx_store_read_prefix (descent, parse, hashing
 * 4 KiB) 1.0-1.9 us. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "store_internal.h"

struct mx_store_fast {
  uint64_t n;
  size_t txnid; /* the snapshot the addresses belong to */
  mx_store_layout layout;
  size_t record_bytes, header_bytes, vector_bytes;
  _Atomic uintptr_t *rec;     /* n: record address, 0 = not located */
  _Atomic uint16_t *verified; /* n: vectors [0, v) hashed and matching */
  atomic_uint_fast64_t located; /* records located (for tests and benchmarks) */
  atomic_uint_fast64_t hashed;  /* reads that hashed segments */
};

void mx_store_fast_free(struct mx_store_fast *f) {
  if (!f)
    return;
  free(f->rec);
  free(f->verified);
  free(f);
}

mx_status mx_store_fast_enable(mx_store *s, uint64_t n_records, const mx_store_layout *layout,
                               mx_error *err) {
  if (!s || !layout)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_store_fast_enable: NULL argument");
  if (s->writer)
    return mx_fail(err, MX_ERR_STATE, "%s: fast reads need a read-only store", s->dir);
  if (s->fast)
    return mx_fail(err, MX_ERR_STATE, "%s: fast reads are already enabled", s->dir);
  size_t vb = mx_vector_bytes(layout->dtype, layout->dim);
  if (vb == 0 || layout->n_vectors == 0 || layout->n_vectors > MX_MAX_VECTORS ||
      layout->segments.n == 0 || layout->segments.n > MX_MAX_SEGMENTS ||
      layout->segments.end[layout->segments.n - 1] != layout->n_vectors)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "%s: fast reads: inconsistent record layout",
                   s->dir);
  if (n_records > SIZE_MAX / sizeof(uintptr_t))
    return mx_fail(err, MX_ERR_NO_MEMORY, "%s: fast reads: %llu records", s->dir,
                   (unsigned long long)n_records);
  struct mx_store_fast *f = calloc(1, sizeof *f);
  if (f && n_records > 0) {
    /* calloc: pages of the tables that no read touches are never mapped */
    f->rec = calloc((size_t)n_records, sizeof *f->rec);
    f->verified = calloc((size_t)n_records, sizeof *f->verified);
  }
  if (!f || (n_records > 0 && (!f->rec || !f->verified))) {
    mx_store_fast_free(f);
    return mx_fail(err, MX_ERR_NO_MEMORY,
                   "%s: cannot allocate the fast-read tables for %llu records", s->dir,
                   (unsigned long long)n_records);
  }
  f->n = n_records;
  f->layout = *layout;
  f->vector_bytes = vb;
  f->header_bytes = mx_record_header_bytes(layout->segments.n);
  f->record_bytes = f->header_bytes + (size_t)layout->n_vectors * vb;
  atomic_init(&f->located, 0);
  atomic_init(&f->hashed, 0);
  mx_store_txn *t;
  mx_status st = mx_store_txn_begin(s, &t, err);
  if (st != MX_OK) {
    mx_store_fast_free(f);
    return st;
  }
  f->txnid = mdb_txn_id(t->txn);
  mx_store_txn_end(t);
  s->fast = f;
  return MX_OK;
}

/* The fast tables, when they describe this transaction's snapshot. */
static struct mx_store_fast *usable(mx_store_txn *t, uint64_t id) {
  struct mx_store_fast *f = t->s->fast;
  if (!f || id >= f->n || mdb_txn_id(t->txn) != f->txnid)
    return NULL;
  return f;
}

/* Finds record id through the B-tree, checks that it has the layout, and
 * remembers its address. NULL when it is missing or has another layout
 * (the reference read then says what is wrong). */
static const unsigned char *locate(mx_store_txn *t, struct mx_store_fast *f, uint64_t id) {
  const void *rec;
  size_t len;
  if (mx_store_get(t, id, &rec, &len, NULL) != MX_OK || len != f->record_bytes)
    return NULL;
  mx_record_view v;
  if (mx_record_view_prefix(rec, len, id, f->layout.dim, 0, 0, 0, &v, NULL) != MX_OK ||
      v.dtype != f->layout.dtype || v.stored_vectors != f->layout.n_vectors)
    return NULL;
  mx_segments seg;
  if (mx_record_segments(rec, len, &seg, NULL) != MX_OK || seg.n != f->layout.segments.n ||
      memcmp(seg.end, f->layout.segments.end, seg.n * sizeof seg.end[0]) != 0)
    return NULL;
  atomic_store_explicit(&f->rec[id], (uintptr_t)rec, memory_order_relaxed);
  atomic_fetch_add_explicit(&f->located, 1, memory_order_relaxed);
  return rec;
}

const void *mx_store_fast_record(mx_store_txn *t, uint64_t internal_id, size_t *len) {
  struct mx_store_fast *f = usable(t, internal_id);
  if (!f)
    return NULL;
  const void *rec =
      (const void *)atomic_load_explicit(&f->rec[internal_id], memory_order_relaxed);
  if (rec)
    *len = f->record_bytes;
  return rec;
}

/* The end of the segment that holds vector prefix - 1 (prefix >= 1). */
static uint32_t covering_end(const struct mx_store_fast *f, uint32_t prefix) {
  for (uint32_t i = 0; i < f->layout.segments.n; i++)
    if (f->layout.segments.end[i] >= prefix)
      return f->layout.segments.end[i];
  return f->layout.n_vectors;
}

static void raise_verified(struct mx_store_fast *f, uint64_t id, uint32_t to) {
  uint16_t cur = atomic_load_explicit(&f->verified[id], memory_order_relaxed);
  while (cur < to && !atomic_compare_exchange_weak_explicit(&f->verified[id], &cur, (uint16_t)to,
                                                            memory_order_relaxed,
                                                            memory_order_relaxed)) {
  }
}

mx_status mx_store_view_prefix(mx_store_txn *t, uint64_t internal_id, uint32_t prefix,
                               uint32_t verified_from, mx_record_view *out, mx_error *err) {
  struct mx_store_fast *f = t && out ? usable(t, internal_id) : NULL;
  if (!f || prefix > f->layout.n_vectors)
    return mx_store_read_prefix(t, internal_id, prefix, verified_from, out, err);
  const unsigned char *rec =
      (const unsigned char *)atomic_load_explicit(&f->rec[internal_id], memory_order_relaxed);
  if (!rec && !(rec = locate(t, f, internal_id)))
    return mx_store_read_prefix(t, internal_id, prefix, verified_from, out, err);
  if (t->s->verify) {
    uint32_t done = atomic_load_explicit(&f->verified[internal_id], memory_order_relaxed);
    if (done < verified_from)
      done = verified_from;
    if (done < prefix) {
      mx_record_view v;
      if (mx_record_view_prefix(rec, f->record_bytes, internal_id, 0, prefix, done, 1, &v,
                                NULL) != MX_OK) /* the reference read reports it */
        return mx_store_read_prefix(t, internal_id, prefix, verified_from, out, err);
      raise_verified(f, internal_id, covering_end(f, prefix));
      atomic_fetch_add_explicit(&f->hashed, 1, memory_order_relaxed);
    }
  }
  out->vectors = rec + f->header_bytes;
  out->vector_bytes = f->vector_bytes;
  out->dtype = f->layout.dtype;
  out->dim = f->layout.dim;
  out->n_vectors = prefix;
  out->stored_vectors = f->layout.n_vectors;
  out->doc_id = internal_id;
  return MX_OK;
}

void mx_store_touch_ahead(mx_store_txn *t, uint64_t internal_id, size_t bytes) {
  struct mx_store_fast *f = t->s->fast;
  if (!f || internal_id >= f->n)
    return;
  /* no snapshot check: a prefetch of a stale address reads nothing wrong */
  const unsigned char *rec =
      (const unsigned char *)atomic_load_explicit(&f->rec[internal_id], memory_order_relaxed);
  if (!rec)
    return;
  const unsigned char *p = rec + f->header_bytes;
  size_t max = f->record_bytes - f->header_bytes;
  if (bytes > max)
    bytes = max;
  for (size_t off = 0; off < bytes; off += 64)
    __builtin_prefetch(p + off, 0, 3);
}

void mx_store_fast_counts(const mx_store *s, uint64_t *located, uint64_t *hashed) {
  struct mx_store_fast *f = s ? s->fast : NULL;
  if (located)
    *located = f ? atomic_load_explicit(&f->located, memory_order_relaxed) : 0;
  if (hashed)
    *hashed = f ? atomic_load_explicit(&f->hashed, memory_order_relaxed) : 0;
}
