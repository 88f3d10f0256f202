/* store_verify.c: mx_store_verify, a full scan of a store: every segment
 * of every record, contiguous ids, lookups that find what the scan sees, and
 * id maps that are inverse of each other. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "status.h"
#include "store_internal.h"

/* Bytes a verification scan asks the kernel to read ahead of its cursor. */
#define VERIFY_AHEAD_BYTES ((uint64_t)16 << 20)

typedef struct verify_state {
  mx_verify_fn fn;
  void *ctx;
  mx_store_verify_report *rep;
  int stop;
  /* the scan's open cursors, closed by mx_store_verify if LMDB is stopped
   * on a damaged page (a jump out of the scan) */
  MDB_cursor *volatile cur[2];
} verify_state;

__attribute__((format(printf, 4, 5))) static void vreport(verify_state *v, uint64_t id,
                                                          mx_status st, const char *fmt, ...) {
  char msg[MX_ERROR_MESSAGE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (v->fn && v->fn(v->ctx, id, st, msg))
    v->stop = 1;
}

static void verify_records(mx_store_txn *t, uint32_t dim, uint32_t vectors, int dtype,
                           verify_state *v, uint64_t *n_records) {
  mx_store *s = t->s;
  MDB_cursor *c;
  MDB_val k, d;
  *n_records = 0;
  int rc = mdb_cursor_open(t->txn, s->dbi[DB_GROUPS], &c);
  if (rc) {
    vreport(v, NO_ID, mx_store_lmdb_status(rc), "%s: cannot open a cursor: %s", s->dir, mdb_strerror(rc));
    v->stop = 1;
    return;
  }
  v->cur[0] = c;
  /* The reader's map is MADV_RANDOM (MDB_NORDAHEAD), so a cold scan would
   * fault one 4 KiB page at a time. A second cursor runs ahead and asks for
   * the next records' pages, keeping the disk busy with large reads. */
  MDB_cursor *ahead = NULL;
  uint64_t ahead_bytes = 0; /* hinted beyond the current record */
  int ahead_rc = mdb_cursor_open(t->txn, s->dbi[DB_GROUPS], &ahead);
  v->cur[1] = ahead;
  MDB_cursor_op ahead_op = MDB_FIRST;
  uint64_t next = 0;
  for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0 && !v->stop;
       rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
    ahead_bytes = ahead_bytes > d.mv_size ? ahead_bytes - d.mv_size : 0;
    while (ahead_rc == 0 && ahead_bytes < VERIFY_AHEAD_BYTES) {
      MDB_val ak, ad;
      ahead_rc = mdb_cursor_get(ahead, &ak, &ad, ahead_op);
      ahead_op = MDB_NEXT;
      if (ahead_rc == 0 && mx_store_val_in_file(s, &ad)) {
        mx_store_advise_range(s, ad.mv_data, ad.mv_size);
        ahead_bytes += ad.mv_size;
      }
    }
    v->rep->records++;
    (*n_records)++;
    if (k.mv_size != 8) {
      v->rep->bad_records++;
      vreport(v, NO_ID, MX_ERR_CORRUPT, "%s: record key of %zu bytes (expected 8)", s->dir,
              k.mv_size);
      continue;
    }
    uint64_t id = mx_get_be64(k.mv_data);
    int bad = 0;
    if (id != next) {
      bad = 1;
      vreport(v, id, MX_ERR_CORRUPT,
              "%s: ids are not contiguous: id %" PRIu64 " follows %" PRIu64 " (expected %" PRIu64
              ")",
              s->dir, id, next ? next - 1 : 0, next);
    }
    next = id + 1;
    /* Searches find records by key (a B-tree descent), not by this scan
     * along the leaves: a damaged branch key can hide a record from
     * lookups while the scan still sees it. */
    MDB_val lk = {8, k.mv_data}, ld;
    int lrc = mdb_get(t->txn, s->dbi[DB_GROUPS], &lk, &ld);
    if (lrc != 0 || ld.mv_data != d.mv_data || ld.mv_size != d.mv_size) {
      bad = 1;
      vreport(v, id, MX_ERR_CORRUPT,
              "%s: record id %" PRIu64 " is not found by a lookup of its key (%s): the B-tree "
              "is damaged",
              s->dir, id, lrc ? mdb_strerror(lrc) : "another value is found");
      if (lrc != 0 && lrc != MDB_NOTFOUND) {
        v->rep->bad_records++;
        v->stop = 1; /* the transaction is unusable now */
        break;
      }
    }
    if (!mx_store_val_in_file(s, &d)) {
      v->rep->bad_records++;
      vreport(v, id, MX_ERR_CORRUPT,
              "%s: record id %" PRIu64 " of %zu bytes lies outside the file: its page is damaged",
              s->dir, id, d.mv_size);
      continue;
    }
    mx_error e;
    mx_error_clear(&e);
    mx_record_view view;
    uint32_t nv = mx_record_vector_count(d.mv_data, d.mv_size);
    mx_status st = mx_record_view_prefix(d.mv_data, d.mv_size, id, dim, nv, 0, 1, &view, &e);
    if (st) {
      bad = 1;
      vreport(v, id, st, "%s: record id %" PRIu64 ": %s", s->dir, id, e.message);
    } else {
      v->rep->bytes += (uint64_t)view.n_vectors * view.vector_bytes;
      if (vectors && view.stored_vectors != vectors) {
        bad = 1;
        vreport(v, id, MX_ERR_FORMAT, "%s: record id %" PRIu64 " holds %u vectors, expected %u",
                s->dir, id, view.stored_vectors, vectors);
      }
      if (dtype >= 0 && (int)view.dtype != dtype) {
        bad = 1;
        vreport(v, id, MX_ERR_FORMAT, "%s: record id %" PRIu64 " has dtype %d, expected %d", s->dir,
                id, (int)view.dtype, dtype);
      }
    }
    if (bad)
      v->rep->bad_records++;
  }
  if (rc != 0 && rc != MDB_NOTFOUND) {
    vreport(v, NO_ID, mx_store_lmdb_status(rc), "%s: scan of records stopped: %s", s->dir, mdb_strerror(rc));
    v->stop = 1;
  }
  v->cur[0] = v->cur[1] = NULL;
  mdb_cursor_close(c);
  if (ahead)
    mdb_cursor_close(ahead);
}

static void verify_keys(mx_store_txn *t, uint64_t n_records, verify_state *v) {
  mx_store *s = t->s;
  if (!s->has_db[DB_IDS] || !s->has_db[DB_EXT])
    return;
  MDB_stat si, se;
  if (mdb_stat(t->txn, s->dbi[DB_IDS], &si) || mdb_stat(t->txn, s->dbi[DB_EXT], &se))
    return;
  if (si.ms_entries == 0 && se.ms_entries == 0)
    return; /* no key map */
  if (si.ms_entries != se.ms_entries || si.ms_entries != n_records) {
    v->rep->bad_keys++;
    vreport(v, NO_ID, MX_ERR_CORRUPT, "%s: %zu records but %zu ids entries and %zu ext entries",
            s->dir, (size_t)n_records, (size_t)si.ms_entries, (size_t)se.ms_entries);
  }
  MDB_cursor *c;
  MDB_val k, d, o;
  char text[512];
  if (mdb_cursor_open(t->txn, s->dbi[DB_IDS], &c) == 0) {
    v->cur[0] = c;
    int rc;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0 && !v->stop;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
      uint64_t id = k.mv_size == 8 ? mx_get_be64(k.mv_data) : NO_ID;
      if (!mx_store_val_in_file(s, &d)) {
        v->rep->bad_keys++;
        vreport(v, id, MX_ERR_CORRUPT, "%s: the key of id %" PRIu64 " lies outside the file",
                s->dir, id);
        continue;
      }
      mx_store_format_key(d.mv_data, d.mv_size, text, sizeof text);
      if (id == NO_ID || id >= n_records) {
        v->rep->bad_keys++;
        vreport(v, id, MX_ERR_CORRUPT, "%s: key %s maps from id %" PRIu64 " with no record", s->dir,
                text, id);
        continue;
      }
      if (mdb_get(t->txn, s->dbi[DB_EXT], &d, &o) != 0 || o.mv_size != 8 ||
          mx_get_be64(o.mv_data) != id) {
        v->rep->bad_keys++;
        vreport(v, id, MX_ERR_CORRUPT,
                "%s: id %" PRIu64 " has key %s but \"ext\" does not map it back", s->dir, id, text);
      }
    }
    v->cur[0] = NULL;
    mdb_cursor_close(c);
  }
  if (mdb_cursor_open(t->txn, s->dbi[DB_EXT], &c) == 0) {
    v->cur[0] = c;
    int rc;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0 && !v->stop;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
      mx_store_format_key(k.mv_data, k.mv_size, text, sizeof text);
      uint64_t id = d.mv_size == 8 ? mx_get_be64(d.mv_data) : NO_ID;
      unsigned char kb[8];
      key_be64(kb, id);
      MDB_val ik = {8, kb};
      if (id == NO_ID || mdb_get(t->txn, s->dbi[DB_IDS], &ik, &o) != 0 || o.mv_size != k.mv_size ||
          memcmp(o.mv_data, k.mv_data, k.mv_size) != 0) {
        v->rep->bad_keys++;
        vreport(v, id, MX_ERR_CORRUPT,
                "%s: \"ext\" maps key %s to id %" PRIu64 " but \"ids\" does not map it back",
                s->dir, text, id);
      }
    }
    v->cur[0] = NULL;
    mdb_cursor_close(c);
  }
}

/* Both scans under one fault guard: a damaged page can trip LMDB's
 * assertions (a cursor stepping onto a page that is not a leaf) or send it
 * off the map, and the guard brings the scan back here to report that
 * where it would have aborted. */
static void scan(mx_store_txn *t, verify_state *v, uint32_t dim, uint32_t vectors, int dtype) {
  mx_fault_guard g;
  mx_store_guard_push(t->s, &g);
  if (!MX_FAULT_GUARD_ENTER(&g)) {
    mx_error e;
    mx_error_clear(&e);
    mx_store_guard_fail(t->s, t, &g, &e, "the scan stopped");
    for (int i = 0; i < 2; i++)
      if (v->cur[i])
        mdb_cursor_close(v->cur[i]);
    v->rep->bad_records++;
    vreport(v, NO_ID, MX_ERR_CORRUPT, "%s", e.message);
    return;
  }
  uint64_t n = 0;
  verify_records(t, dim, vectors, dtype, v, &n);
  if (!v->stop)
    verify_keys(t, n, v);
  mx_fault_guard_pop(&g);
}

mx_status mx_store_verify(mx_store *s, uint32_t expected_dim, uint32_t expected_vectors,
                          int expected_dtype, mx_verify_fn fn, void *ctx, mx_store_verify_report *report,
                          mx_error *err) {
  mx_store_verify_report local;
  if (!report)
    report = &local;
  memset(report, 0, sizeof *report);
  if (!s)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_store_verify: NULL store");
  mx_store_txn *t;
  MX_TRY(mx_store_txn_begin(s, &t, err));
  verify_state v = {fn, ctx, report, 0, {NULL, NULL}};
  scan(t, &v, expected_dim, expected_vectors, expected_dtype);
  mx_store_txn_end(t);
  return MX_OK;
}
