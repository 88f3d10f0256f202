/* store_internal.h: what the store's writer (store_write.c), reader
 * (store_read.c), verifier (store_verify.c) and common part (store.c)
 * share: the handle, the sub-database list and the LMDB error translation.
 * Only storage/ includes this; no MDB_* value leaves these files. */
#ifndef MX_STORAGE_STORE_INTERNAL_H
#define MX_STORAGE_STORE_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "faultguard.h"
#include "hash.h"
#include "store.h"

#define NO_ID UINT64_MAX /* "no record id" in the writer's bookkeeping and in reports */

enum { DB_GROUPS, DB_IDS, DB_EXT, DB_META, DB_COUNT };
extern const char *const mx_store_db_names[DB_COUNT];

struct mx_store_txn {
  mx_store *s;
  MDB_txn *txn;
  mx_store_txn *next_idle;
  int broken; /* LMDB was stopped inside it by a fault guard: abort, never reuse */
};

struct mx_store {
  MDB_env *env;
  MDB_dbi dbi[DB_COUNT];
  int has_db[DB_COUNT];
  int writer;
  int writemap; /* writer: MDB_WRITEMAP with the file's blocks preallocated */
  char *dir;
  char *data_path;
  size_t os_page;
  unsigned psize; /* LMDB page size */

  /* reader */
  int verify;
  const unsigned char *map; /* LMDB's map of data.mdb (readers; NULL for a writer) */
  size_t map_len;
  uint64_t file_bytes; /* data.mdb's size at open: no value may lie beyond it */
  pthread_mutex_t idle_lock;
  mx_store_txn *idle; /* reset read txns kept for reuse (they keep a reader slot) */
  unsigned n_idle;
  unsigned max_idle;
  unsigned n_active;   /* transactions handed out and not ended */
  unsigned max_active; /* the handle's reader slots (0: LMDB's own table decides) */

  /* writer */
  MDB_txn *wtxn;
  uint64_t map_size;
  uint64_t committed_bytes;   /* (last_pgno + 1) * psize after the last commit */
  uint64_t txn_charge;        /* upper bound of the bytes the open txn allocates */
  uint64_t txn_value_bytes;   /* record bytes in the open txn */
  uint64_t txn_dirty_entries; /* estimate of LMDB dirty-list entries */
  uint64_t txn_ops;           /* puts in the open txn */
  uint64_t txn_first_id;      /* first record id in the open txn (NO_ID if none) */
  uint64_t last_id;           /* last record id appended (NO_ID if none) */
  uint64_t last_key_id;       /* last internal id given a key (NO_ID if none) */
  uint64_t committed_next_id; /* every record id below this is committed */
  unsigned grows;
  mx_status failed; /* a writer that lost data refuses further calls */
  int finished;

  /* reader: remembered record addresses and verified prefixes (store_fast.c) */
  struct mx_store_fast *fast;
};

/* How readers open a store. A published store is never written again (a
 * rebuild writes a new directory and swaps it in; the old file lives on,
 * unlinked, while it is mapped), so readers need no reader table: no
 * lock.mdb is created or read (MDB_NOLOCK), which lets read-only media and
 * users without write access search, and lets one process open the same
 * store any number of times (LMDB's lock-file reinitialisation, which a
 * second open of one environment in a process triggers, cannot happen).
 * Concurrent searches per handle are bounded by its own count instead. */
#define MX_STORE_READER_FLAGS (MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS | MDB_NORDAHEAD)

/* Translates an LMDB (or errno) code to a status. */
mx_status mx_store_lmdb_status(int rc);
/* mx_fail with the translated status (ENOSPC, EDQUOT, EFBIG: MX_ERR_DISK_FULL)
 * and mdb_strerror's text after the caller's context. */
__attribute__((format(printf, 3, 4))) mx_status mx_store_lmdb_fail(mx_error *err, int rc,
                                                                   const char *fmt, ...);
/* A key for messages: text if printable, else hex (truncated). */
void mx_store_format_key(const void *key, size_t len, char *out, size_t out_len);
/* malloc'd "dir/leaf", NULL when out of memory. */
char *mx_store_path_join(const char *dir, const char *leaf);

/* A new handle for the store in dir (writer or reader); NULL (with err set)
 * when out of memory. mx_store_close frees it. */
mx_store *mx_store_handle_new(const char *dir, int writer, mx_error *err);
void mx_store_handle_free(mx_store *s);
/* Aborts the writer's open transaction, if any (store_write.c). */
void mx_store_writer_abort(mx_store *s);

/* madvise(MADV_WILLNEED) over the pages covering [p, p + len); returns the
 * bytes hinted. */
uint64_t mx_store_advise_range(const mx_store *s, const void *p, size_t len);

/* 1 when every page covering [p, p + len) (the first 64 of them, for a
 * longer range) is in the page cache (mincore), else 0. */
int mx_store_range_resident(const mx_store *s, const void *p, size_t len);

/* A reader's LMDB calls run inside a fault guard over its map: a damaged
 * page that trips one of LMDB's assertions (which would abort) or makes it
 * follow an offset off the map (SIGSEGV, SIGBUS) comes back as
 * MX_ERR_CORRUPT instead. Used as
 *     mx_fault_guard g;
 *     mx_store_guard_push(s, &g);
 *     if (!MX_FAULT_GUARD_ENTER(&g)) return mx_store_guard_fail(t, &g, err, "what");
 *     ...LMDB calls...
 *     mx_fault_guard_pop(&g);
 * A writer's handle (map NULL) guards nothing. */
void mx_store_guard_push(const mx_store *s, mx_fault_guard *g);
/* After a jump: pops g, marks t (if any) broken, fails with MX_ERR_CORRUPT
 * naming the store, `what` and the cause. */
mx_status mx_store_guard_fail(mx_store *s, mx_store_txn *t, mx_fault_guard *g, mx_error *err,
                              const char *what);
/* LMDB's assertion callback for readers: jumps to the thread's guard. */
void mx_store_lmdb_assert(MDB_env *env, const char *msg);

/* 1 when the value lies inside data.mdb's bytes (a damaged node can give
 * a value any address and size), always 1 for a writer's handle. */
static inline int mx_store_val_in_file(const mx_store *s, const MDB_val *v) {
  if (!s->map)
    return 1;
  uintptr_t a = (uintptr_t)v->mv_data, lo = (uintptr_t)s->map;
  return a >= lo && a - lo <= s->file_bytes && v->mv_size <= s->file_bytes - (a - lo);
}

/* Frees what mx_store_fast_enable allocated (NULL: nothing). */
void mx_store_fast_free(struct mx_store_fast *f);
/* A record's address and length through the remembered addresses, without
 * a B-tree descent; NULL when it is not remembered (yet) or the
 * transaction's snapshot is not the one they belong to. */
const void *mx_store_fast_record(mx_store_txn *t, uint64_t internal_id, size_t *len);

/* Record keys: the internal id, 8 bytes big-endian (so MDB_APPEND works). */
static inline void key_be64(unsigned char out[8], uint64_t id) { mx_put_be64(out, id); }

#endif
