/* store.c: what the store's writer, reader and verifier share (see
 * store_internal.h): LMDB error translation, the handle, closing it, the
 * record count, and the store directory's LMDB files. The writer is in
 * store_write.c, the reader in store_read.c, the full scan in
 * store_verify.c. No MDB_* value leaves these files. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "status.h"
#include "store_internal.h"

const char *const mx_store_db_names[DB_COUNT] = {"groups", "ids", "ext", "meta"};

/* ------------------------------------------------------------ errors */

mx_status mx_store_lmdb_status(int rc) {
  switch (rc) {
  case MDB_NOTFOUND:
    return MX_ERR_NOT_FOUND;
  case MDB_KEYEXIST:
    return MX_ERR_EXISTS;
  case MDB_MAP_FULL:
    return MX_ERR_MAP_FULL;
  case MDB_READERS_FULL:
    return MX_ERR_BUSY;
  case MDB_INVALID:
  case MDB_INCOMPATIBLE:
  case MDB_BAD_VALSIZE:
    return MX_ERR_FORMAT;
  case MDB_VERSION_MISMATCH:
    return MX_ERR_VERSION;
  case MDB_CORRUPTED:
  case MDB_PAGE_NOTFOUND:
    return MX_ERR_CORRUPT;
  case MDB_MAP_RESIZED:
  case MDB_BAD_TXN:
  case MDB_BAD_RSLOT:
    return MX_ERR_STATE;
  default:
    if (rc > 0)
      return mx_status_from_errno(rc);
    return MX_ERR_STORAGE;
  }
}

mx_status mx_store_lmdb_fail(mx_error *err, int rc, const char *fmt, ...) {
  char what[MX_ERROR_MESSAGE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return mx_fail(err, mx_store_lmdb_status(rc), "%s: %s", what, mdb_strerror(rc));
}

void mx_store_format_key(const void *key, size_t len, char *out, size_t out_len) {
  const unsigned char *k = key;
  int printable = len > 0;
  for (size_t i = 0; i < len && printable; i++)
    printable = isprint(k[i]) != 0;
  if (printable) {
    snprintf(out, out_len, "\"%.*s\"%s", (int)(len > 200 ? 200 : len), (const char *)key,
             len > 200 ? "..." : "");
    return;
  }
  size_t o = 0;
  o += (size_t)snprintf(out + o, out_len - o, "0x");
  for (size_t i = 0; i < len && i < 64 && o + 3 < out_len; i++)
    o += (size_t)snprintf(out + o, out_len - o, "%02x", k[i]);
  if (len > 64 && o + 4 < out_len)
    snprintf(out + o, out_len - o, "...");
}

/* ------------------------------------------------------------ fault guards */

void mx_store_guard_push(const mx_store *s, mx_fault_guard *g) {
  mx_fault_guard_push(g, s->map, s->map ? s->map_len : 0);
  if (!s->map)
    g->hi = g->lo; /* nothing to catch */
}

mx_status mx_store_guard_fail(mx_store *s, mx_store_txn *t, mx_fault_guard *g, mx_error *err,
                              const char *what) {
  mx_fault_guard_pop(g);
  if (t)
    t->broken = 1;
  const char *cause = g->sig == SIGBUS    ? "a read past the end of the file (SIGBUS)"
                      : g->sig == SIGSEGV ? "an offset off the map (SIGSEGV)"
                                          : g->why;
  return mx_fail(err, MX_ERR_CORRUPT, "%s: %s: LMDB stopped on a damaged page: %s", s->data_path,
                 what, cause);
}

void mx_store_lmdb_assert(MDB_env *env, const char *msg) {
  (void)env;
  mx_fault_guard_trip(msg); /* returns only outside a guard: LMDB then aborts */
}

/* ------------------------------------------------------------ common */

char *mx_store_path_join(const char *dir, const char *leaf) {
  size_t n = strlen(dir) + strlen(leaf) + 2;
  char *p = malloc(n);
  if (p)
    snprintf(p, n, "%s/%s", dir, leaf);
  return p;
}

mx_store *mx_store_handle_new(const char *dir, int writer, mx_error *err) {
  mx_store *s = calloc(1, sizeof *s);
  if (!s) {
    mx_fail(err, MX_ERR_NO_MEMORY, "%s: cannot allocate the store handle", dir);
    return NULL;
  }
  s->writer = writer;
  s->dir = strdup(dir);
  s->data_path = mx_store_path_join(dir, MX_STORE_DATA_FILE);
  long pg = sysconf(_SC_PAGESIZE);
  s->os_page = pg > 0 ? (size_t)pg : 4096;
  s->last_id = s->last_key_id = s->txn_first_id = NO_ID;
  pthread_mutex_init(&s->idle_lock, NULL);
  if (!s->dir || !s->data_path) {
    mx_store_close(s);
    mx_fail(err, MX_ERR_NO_MEMORY, "%s: cannot allocate the store handle", dir);
    return NULL;
  }
  return s;
}

void mx_store_handle_free(mx_store *s) {
  mx_store_fast_free(s->fast);
  pthread_mutex_destroy(&s->idle_lock);
  free(s->dir);
  free(s->data_path);
  free(s);
}

const char *mx_store_data_path(const mx_store *s) { return s ? s->data_path : NULL; }

uint64_t mx_store_map_size(const mx_store *s) {
  if (!s || !s->env)
    return 0;
  if (s->writer)
    return s->map_size;
  MDB_envinfo info;
  return mdb_env_info(s->env, &info) == 0 ? (uint64_t)info.me_mapsize : 0;
}

unsigned mx_store_map_grows(const mx_store *s) { return s ? s->grows : 0; }

uint64_t mx_store_advise_range(const mx_store *s, const void *p, size_t len) {
  uintptr_t mask = (uintptr_t)s->os_page - 1;
  uintptr_t a = (uintptr_t)p & ~mask;
  uintptr_t b = ((uintptr_t)p + len + mask) & ~mask;
  return madvise((void *)a, b - a, MADV_WILLNEED) == 0 ? b - a : 0;
}

int mx_store_range_resident(const mx_store *s, const void *p, size_t len) {
  uintptr_t mask = (uintptr_t)s->os_page - 1;
  uintptr_t a = (uintptr_t)p & ~mask;
  uintptr_t b = ((uintptr_t)p + len + mask) & ~mask;
  unsigned char vec[64];
  size_t pages = (b - a) / s->os_page;
  if (pages > sizeof vec) /* a long prefix: its first pages stand for it */
    pages = sizeof vec;
  if (mincore((void *)a, pages * s->os_page, vec) != 0)
    return 0;
  for (size_t i = 0; i < pages; i++)
    if (!(vec[i] & 1))
      return 0;
  return 1;
}

void mx_store_close(mx_store *s) {
  if (!s)
    return;
  if (s->writer)
    mx_store_writer_abort(s);
  while (s->idle) {
    mx_store_txn *t = s->idle;
    s->idle = t->next_idle;
    mdb_txn_abort(t->txn);
    free(t);
  }
  if (s->env) {
    mdb_env_close(s->env);
    /* The lock file only matters while the environment is open. Removing it
     * after the build lets the first reader size the reader table from its
     * own max_readers instead of inheriting the writer's. */
    if (s->writer)
      mx_store_remove_lock(s->dir);
  }
  mx_store_handle_free(s);
}

void mx_store_remove_lock(const char *dir) {
  char *lock = dir ? mx_store_path_join(dir, MX_STORE_LOCK_FILE) : NULL;
  if (lock)
    (void)unlink(lock);
  free(lock);
}

mx_status mx_store_count(mx_store *s, uint64_t *out, mx_error *err) {
  if (!s || !out)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_store_count: NULL argument");
  MDB_stat st;
  int rc;
  if (s->writer) {
    if (s->wtxn) {
      rc = mdb_stat(s->wtxn, s->dbi[DB_GROUPS], &st);
    } else {
      MDB_txn *txn;
      rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
      if (rc == 0) {
        rc = mdb_stat(txn, s->dbi[DB_GROUPS], &st);
        mdb_txn_abort(txn);
      }
    }
  } else {
    mx_store_txn *t;
    MX_TRY(mx_store_txn_begin(s, &t, err));
    mx_fault_guard g;
    mx_store_guard_push(s, &g);
    if (!MX_FAULT_GUARD_ENTER(&g)) {
      mx_status fs = mx_store_guard_fail(s, t, &g, err, "counting records");
      mx_store_txn_end(t);
      return fs;
    }
    rc = mdb_stat(t->txn, s->dbi[DB_GROUPS], &st);
    mx_fault_guard_pop(&g);
    mx_store_txn_end(t);
  }
  if (rc)
    return mx_store_lmdb_fail(err, rc, "%s: counting records", s->data_path);
  *out = st.ms_entries;
  return MX_OK;
}
