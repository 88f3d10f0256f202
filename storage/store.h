/* store.h: the LMDB environment under <index>/store/ holding every
 * document's record, the internal <-> external id maps and metadata.
 *
 * Sub-databases: "groups" (8-byte big-endian internal id -> record),
 * "ids" (internal id -> external key bytes), "ext" (external key bytes ->
 * 8-byte big-endian internal id), "meta" (name -> bytes). External keys are
 * opaque byte strings of 1..MX_MAX_KEY_BYTES bytes (numeric ids are stored
 * as their 8-byte big-endian form by the builder).
 *
 * A store is opened either for bulk writing (one writer, one thread) or
 * read-only for searching (any number of threads, one read transaction each). */
#ifndef MX_STORAGE_STORE_H
#define MX_STORAGE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "metaidx.h"
#include "record.h"

/* MX_MAX_KEY_BYTES comes from metaidx.h. */

typedef struct mx_store mx_store;
typedef struct mx_store_txn mx_store_txn;

/* ---- bulk writing ---- */

/* Creates a new, empty store in directory `dir` (created if missing; must
 * not already hold a store). expected_bytes (0 = unknown) sizes the initial
 * map; the map grows on MDB_MAP_FULL, so a build never fails for that while
 * the disk has room. Opened with MDB_NOSYNC: durability comes from
 * mx_store_finish. */
mx_status mx_store_create(const char *dir, uint64_t expected_bytes, mx_store **out, mx_error *err);

/* Appends one record; internal ids must be strictly increasing (MDB_APPEND).
 * Commits every few hundred MB. */
mx_status mx_store_append(mx_store *s, uint64_t internal_id, const void *record, size_t len,
                          mx_error *err);

/* Like mx_store_append, but returns space for the record inside the map
 * (MDB_RESERVE) so the caller encodes straight into it; the pointer is
 * valid until the next call on the store. */
mx_status mx_store_append_reserve(mx_store *s, uint64_t internal_id, size_t len, void **dst,
                                  mx_error *err);

/* Records internal <-> external key in "ids" and "ext". A key already
 * present in "ext" is MX_ERR_EXISTS naming the key (as text if printable,
 * else hex). Internal ids must be increasing here too. */
mx_status mx_store_put_key(mx_store *s, uint64_t internal_id, const void *key, size_t key_len,
                           mx_error *err);

mx_status mx_store_put_meta(mx_store *s, const char *name, const void *value, size_t len,
                            mx_error *err);

/* Commits what is pending and makes everything durable (mdb_env_sync). */
mx_status mx_store_finish(mx_store *s, mx_error *err);

/* ---- reading ---- */

typedef struct mx_store_open_options {
  unsigned max_readers; /* concurrent read transactions on this handle; 0 = 126.
                         * Readers keep no LMDB reader table (see
                         * MX_STORE_READER_FLAGS): each handle counts its own. */
  int verify;           /* check segment hashes on every prefix read; default 1 */
} mx_store_open_options;
void mx_store_open_options_init(mx_store_open_options *o);

/* Opens an existing store read-only: MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS |
 * MDB_NORDAHEAD (no lock.mdb: a published store is immutable, so it can be
 * read from read-only media, by users who cannot write it, and opened any
 * number of times in one process). MX_ERR_NOT_FOUND if there is none,
 * MX_ERR_FORMAT if it is not LMDB. */
mx_status mx_store_open(const char *dir, const mx_store_open_options *opts, mx_store **out,
                        mx_error *err);

/* Closes either kind of store (a writer that was not finished loses its
 * uncommitted tail). NULL is a no-op. */
void mx_store_close(mx_store *s);

/* Number of records in "groups". */
mx_status mx_store_count(mx_store *s, uint64_t *out, mx_error *err);

/* A read transaction. Each searching thread uses its own. More concurrent
 * transactions than reader slots: MX_ERR_BUSY with a message saying so. */
mx_status mx_store_txn_begin(mx_store *s, mx_store_txn **out, mx_error *err);
void mx_store_txn_end(mx_store_txn *t);

/* Whole record bytes, in place (valid until the transaction ends).
 * MX_ERR_NOT_FOUND names the id. */
mx_status mx_store_get(mx_store_txn *t, uint64_t internal_id, const void **record, size_t *len,
                       mx_error *err);

/* The first `prefix` vectors of a record, in place, verified as the store
 * was opened (see mx_record_view_prefix for verified_from). */
mx_status mx_store_read_prefix(mx_store_txn *t, uint64_t internal_id, uint32_t prefix,
                               uint32_t verified_from, mx_record_view *out, mx_error *err);

/* Asks the kernel to bring in the pages of each record's first `prefix`
 * vectors (madvise MADV_WILLNEED over their page ranges), so cold reads of
 * many records overlap. Unknown ids are ignored here (the read reports
 * them). Returns the bytes hinted. */
uint64_t mx_store_prefetch(mx_store_txn *t, const uint64_t *internal_ids, size_t n,
                           uint32_t prefix);

/* 1 when a sample of the records (up to 8, spread over the list) has its
 * first `prefix` vectors in the page cache (mincore), else 0. Searches ask
 * before mx_store_prefetch: on a warm index the hints cost a second B-tree
 * lookup and a madvise per candidate for nothing, more than the rescoring
 * itself; one sampled page missing sends the whole list through the hints. */
int mx_store_prefixes_resident(mx_store_txn *t, const uint64_t *internal_ids, size_t n,
                               uint32_t prefix);

/* External key of an internal id; MX_ERR_NOT_FOUND if the store has no key
 * map or no such id. key points into the map. */
mx_status mx_store_get_key(mx_store_txn *t, uint64_t internal_id, const void **key,
                           size_t *key_len, mx_error *err);
/* Internal id of an external key. */
mx_status mx_store_find_key(mx_store_txn *t, const void *key, size_t key_len,
                            uint64_t *internal_id, mx_error *err);

mx_status mx_store_get_meta(mx_store_txn *t, const char *name, const void **value, size_t *len,
                            mx_error *err);

/* ---- fast reads (store_fast.c) ----
 *
 * mx_store_read_prefix is the reference read: a B-tree descent, a full
 * header parse and the hash of every segment it covers, on every call. A
 * search reads the same records over and over, so an opened read-only
 * store can remember, per internal id, where its record is in the map
 * (found and checked by the first read after open) and how many of its
 * vectors have been verified (each segment is hashed by the first read
 * after open that covers it, never again while the store stays open).
 * Damage is still reported at the first read that covers it after open,
 * with the reference path's error; damage that happens to the page cache
 * while the store is open and after that read is not (reopen, or
 * mx_store_verify, to check again). */

/* What every record of the store is expected to look like: the manifest's
 * dtype, dim and stored vectors, and the segments of its budget list. A
 * record that differs is never remembered: the reference path serves it
 * (and reports what is wrong with it). */
typedef struct mx_store_layout {
  mx_dtype dtype;
  uint32_t dim;
  uint32_t n_vectors;
  mx_segments segments;
} mx_store_layout;

/* Prepares a read-only store whose records are ids 0..n_records-1 for
 * mx_store_view_prefix: 10 bytes per record (an address and a verified
 * count), allocated now, filled in by reads. MX_ERR_STATE on a writer;
 * MX_ERR_NO_MEMORY leaves the store usable (every read then takes the
 * reference path). Call once, before the store is shared by threads. */
mx_status mx_store_fast_enable(mx_store *s, uint64_t n_records, const mx_store_layout *layout,
                               mx_error *err);

/* The same view and the same errors as mx_store_read_prefix(t, internal_id,
 * prefix, verified_from, out, err), without the B-tree descent, the header
 * parse and the hashing that an earlier read of the record since open has
 * already done. Thread-safe like mx_store_read_prefix (one transaction per
 * thread); the remembered addresses belong to the snapshot that was current
 * at mx_store_fast_enable, so a transaction that sees another one (a writer
 * committed since) takes the reference path. */
mx_status mx_store_view_prefix(mx_store_txn *t, uint64_t internal_id, uint32_t prefix,
                               uint32_t verified_from, mx_record_view *out, mx_error *err);

/* Asks the CPU to start loading the first `bytes` of record id's vectors
 * (software prefetch), when the fast path already knows where they are;
 * nothing otherwise. A search calls it for the next candidates while it
 * scores the current one, so their first cache lines are on the way when
 * the kernel starts on them. Never faults a page in, never fails. */
void mx_store_touch_ahead(mx_store_txn *t, uint64_t internal_id, size_t bytes);

/* For tests and benchmarks: how many records mx_store_view_prefix has
 * located through the B-tree since mx_store_fast_enable, and how many of
 * its reads hashed segments (0 and 0 when the fast path is not enabled). */
void mx_store_fast_counts(const mx_store *s, uint64_t *located, uint64_t *hashed);

/* ---- verification ---- */

/* Called for every problem found; return non-zero to stop the scan. */
typedef int (*mx_verify_fn)(void *ctx, uint64_t internal_id, mx_status status,
                            const char *message);

typedef struct mx_store_verify_report {
  uint64_t records;      /* records scanned */
  uint64_t bad_records;  /* records with any problem */
  uint64_t bad_keys;     /* id-map entries missing or inconsistent */
  uint64_t bytes;        /* bytes hashed */
} mx_store_verify_report;

/* Checks every segment of every record (and that ids are 0..n-1 with the
 * expected dim / vector count / dtype when those are non-zero / >= 0), and
 * that "ids" and "ext" are inverse maps when present. Reports each problem
 * through fn. Returns MX_OK if the scan itself ran (see report for
 * findings). */
mx_status mx_store_verify(mx_store *s, uint32_t expected_dim, uint32_t expected_vectors,
                          int expected_dtype, mx_verify_fn fn, void *ctx,
                          mx_store_verify_report *report, mx_error *err);

/* The files LMDB keeps in a store directory: the only ones the engine may
 * remove from it. */
#define MX_STORE_DATA_FILE "data.mdb"
#define MX_STORE_LOCK_FILE "lock.mdb"

/* Removes the lock file (LMDB's reader table) of the store in `dir`, so that
 * the next process to open it sizes the table from its own max_readers
 * instead of inheriting an earlier one's. Only for a store that no process
 * has open (e.g. one still private to a build); a writer's close does it
 * itself. Failure to remove it is ignored (the next open still works). */
void mx_store_remove_lock(const char *dir);

/* Path of the data file (for benchmarks that evict its pages). */
const char *mx_store_data_path(const mx_store *s);

/* Current map size in bytes (the writer's planned / grown size, or the
 * reader's), and how many times this writer grew the map. For tests,
 * benchmarks and progress reports. */
uint64_t mx_store_map_size(const mx_store *s);
unsigned mx_store_map_grows(const mx_store *s);

#endif
