/* store.c: the LMDB environment holding every document's record plus the
 * id maps and metadata (see store.h): a bulk writer that plans and grows its
 * map, and a read-only, many-thread reader. No MDB_* value leaves this file. */
#include "store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fsutil.h"
#include "hash.h"
#include "status.h"

/* Values committed per write transaction. Without MDB_WRITEMAP a write
 * transaction keeps its dirty pages in malloc'd memory until commit, so this
 * is also the writer's peak memory. */
#define COMMIT_BYTES ((uint64_t)256 << 20)
/* LMDB's dirty list holds at most 128k entries (one per leaf page or per
 * overflow run); commit well before that. */
#define COMMIT_DIRTY_ENTRIES 60000u
#define DEFAULT_MAX_READERS 126u
/* Bytes a verification scan asks the kernel to read ahead of its cursor. */
#define VERIFY_AHEAD_BYTES ((uint64_t)16 << 20)
#define NO_ID UINT64_MAX

enum { DB_GROUPS, DB_IDS, DB_EXT, DB_META, DB_COUNT };
static const char *const db_names[DB_COUNT] = {"groups", "ids", "ext", "meta"};

struct mx_store_txn {
  mx_store *s;
  MDB_txn *txn;
  mx_store_txn *next_idle;
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
  pthread_mutex_t idle_lock;
  mx_store_txn *idle; /* reset read txns kept for reuse (they keep a reader slot) */
  unsigned n_idle;
  unsigned max_idle;

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
};

/* ------------------------------------------------------------ errors */

/* Translates an LMDB (or errno) code to a status, with mdb_strerror's text
 * in the message after the caller's context. */
static mx_status lmdb_status(int rc) {
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

__attribute__((format(printf, 3, 4))) static mx_status lmdb_fail(mx_error *err, int rc,
                                                                 const char *fmt, ...) {
  char what[MX_ERROR_MESSAGE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  mx_status st = lmdb_status(rc);
  if (rc == ENOSPC || rc == EDQUOT || rc == EFBIG)
    st = MX_ERR_DISK_FULL;
  return mx_fail(err, st, "%s: %s", what, mdb_strerror(rc));
}

/* A key for messages: text if printable, else hex (truncated). */
static void format_key(const void *key, size_t len, char *out, size_t out_len) {
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

/* ------------------------------------------------------------ common */

static char *path_join(const char *dir, const char *leaf) {
  size_t n = strlen(dir) + strlen(leaf) + 2;
  char *p = malloc(n);
  if (p)
    snprintf(p, n, "%s/%s", dir, leaf);
  return p;
}

static mx_store *store_new(const char *dir, int writer, mx_error *err) {
  mx_store *s = calloc(1, sizeof *s);
  if (!s) {
    mx_fail(err, MX_ERR_NO_MEMORY, "%s: cannot allocate the store handle", dir);
    return NULL;
  }
  s->writer = writer;
  s->dir = strdup(dir);
  s->data_path = path_join(dir, "data.mdb");
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

static void store_free(mx_store *s) {
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

static void key_be64(unsigned char out[8], uint64_t id) { mx_put_be64(out, id); }

/* ------------------------------------------------------------ writer
 *
 * Map size policy. LMDB fails a put with MDB_MAP_FULL when the map has no
 * room, and the whole write transaction is then dead: every uncommitted put
 * is lost, including records the caller encoded in place through
 * mx_store_append_reserve, which the writer has no copy of. Keeping a copy of
 * up to 256 MB of uncommitted records just for that case would double the
 * writer's memory. So the writer never lets MDB_MAP_FULL happen:
 *
 * - after every commit it reads the exact space used ((me_last_pgno + 1) *
 *   page size, from mdb_env_info);
 * - every put adds an upper bound of the pages it can allocate to a running
 *   charge for the open transaction (overflow pages for a large value, three
 *   times the node size for a leaf entry to cover half-full splits and
 *   branch pages, plus a per-transaction allowance for copied tree paths and
 *   the free-list record written at commit). Pages reused from the free list
 *   only make the real figure smaller;
 * - if used + charge + this put's bound + margin would pass the map size, it
 *   commits the open transaction (nothing lost), grows the map with
 *   mdb_env_set_mapsize (allowed only with no transaction open), and opens a
 *   new one.
 *
 * Should MDB_MAP_FULL still happen (the bound is wrong), the put is retried
 * after growing only when it was the first of its transaction, so nothing
 * was lost; otherwise the writer reports MX_ERR_MAP_FULL naming the ids that
 * were not committed and refuses further calls.
 *
 * MDB_WRITEMAP. Without it every value is copied three times (into
 * malloc'd dirty pages that the kernel first zeroes, then by pwrite into the
 * page cache at commit) against once for a plain write(); measured
 * (bench_storage, 2000 x 64 x 2048 f16, medians of 3), bulk loads ran at
 * 0.30-0.45 of a plain write + fsync. With it, values go straight into the
 * file's pages and the load runs at 0.82-1.1. Its danger: LMDB extends data.mdb to the map size as a
 * sparse file, and when the disk fills, the page fault that allocates a
 * block raises SIGBUS instead of returning ENOSPC. So the writer reserves
 * the blocks first with fallocate(2) (at create and before every growth):
 * a full disk is then an ordinary ENOSPC -> MX_ERR_DISK_FULL before any page
 * is touched, and mx_store_finish truncates the file back to the pages in
 * use. Where fallocate is not supported, and on copy-on-write file systems
 * (btrfs, zfs, bcachefs: a store into a reserved block still allocates), the
 * writer uses the copying mode; MX_STORE_WRITEMAP=0 in the environment
 * forces it. */

#define TXN_FIXED_PAGES 256u /* copied root-to-leaf paths of 6 trees, meta, slack */
#define MAP_MARGIN ((uint64_t)8 << 20)

static uint64_t round_up(uint64_t v, uint64_t to) { return (v + to - 1) / to * to; }

/* Upper bound of the bytes one put of key_len/val_len allocates. */
static uint64_t put_charge(const mx_store *s, size_t key_len, size_t val_len, uint64_t *dirty) {
  uint64_t P = s->psize;
  uint64_t node = 8 + key_len + val_len;                  /* NODESIZE + key + data */
  uint64_t nodemax = (((P - 16) / 2) & ~(uint64_t)1) - 2; /* LMDB's me_nodemax */
  if (node > nodemax) {                                   /* value on overflow pages */
    uint64_t ov = (16 - 1 + val_len) / P + 1;             /* OVPAGES */
    *dirty += 1;
    return ov * P + 3 * (8 + key_len + 8 + 2);
  }
  *dirty += 1; /* at most one new dirty leaf per small entry, usually far fewer */
  return 3 * (node + 2);
}

static mx_status writer_refresh_used(mx_store *s, mx_error *err) {
  MDB_envinfo info;
  int rc = mdb_env_info(s->env, &info);
  if (rc)
    return lmdb_fail(err, rc, "%s: mdb_env_info", s->data_path);
  s->committed_bytes = ((uint64_t)info.me_last_pgno + 1) * s->psize;
  s->map_size = info.me_mapsize;
  return MX_OK;
}

static mx_status writer_begin(mx_store *s, mx_error *err) {
  if (s->wtxn)
    return MX_OK;
  int rc = mdb_txn_begin(s->env, NULL, 0, &s->wtxn);
  if (rc) {
    s->wtxn = NULL;
    return lmdb_fail(err, rc, "%s: cannot begin a write transaction", s->data_path);
  }
  s->txn_charge = (uint64_t)TXN_FIXED_PAGES * s->psize;
  s->txn_value_bytes = s->txn_dirty_entries = s->txn_ops = 0;
  s->txn_first_id = NO_ID;
  return MX_OK;
}

static void writer_abort(mx_store *s) {
  if (s->wtxn)
    mdb_txn_abort(s->wtxn);
  s->wtxn = NULL;
}

static mx_status writer_commit(mx_store *s, mx_error *err) {
  if (!s->wtxn)
    return MX_OK;
  int rc = mdb_txn_commit(s->wtxn); /* frees the txn, also on failure */
  s->wtxn = NULL;
  if (rc) {
    uint64_t lost_from = s->committed_next_id;
    s->failed = lmdb_status(rc);
    if (rc == ENOSPC || rc == EDQUOT || rc == EFBIG) {
      s->failed = MX_ERR_DISK_FULL;
      return mx_fail(err, MX_ERR_DISK_FULL,
                     "%s: no space left on device while committing records from id %" PRIu64
                     " on; the store holds only ids below %" PRIu64
                     "; free disk space and build again",
                     s->data_path, lost_from, lost_from);
    }
    /* LMDB reports a short pwrite, which is how a disk filling up mid-write
     * shows, as EIO; say so when the file system is (nearly) full. */
    struct statvfs vfs;
    if (rc == EIO && statvfs(s->dir, &vfs) == 0 &&
        (uint64_t)vfs.f_bavail * vfs.f_frsize < s->txn_charge + ((uint64_t)64 << 20)) {
      s->failed = MX_ERR_DISK_FULL;
      return mx_fail(err, MX_ERR_DISK_FULL,
                     "%s: no space left on device (%" PRIu64 " bytes free) while committing"
                     " records from id %" PRIu64 " on; the store holds only ids below %" PRIu64,
                     s->data_path, (uint64_t)vfs.f_bavail * vfs.f_frsize, lost_from, lost_from);
    }
    return lmdb_fail(err, rc,
                     "%s: commit of records from id %" PRIu64 " on failed (the store holds"
                     " only ids below %" PRIu64 ")",
                     s->data_path, lost_from, lost_from);
  }
  if (s->last_id != NO_ID)
    s->committed_next_id = s->last_id + 1;
  return writer_refresh_used(s, err);
}

/* With MDB_WRITEMAP: allocates the blocks of data.mdb up to `size`, so that
 * stores through the map can never meet a full disk. Returns an errno. */
static int writer_preallocate(mx_store *s, uint64_t size) {
  int fd;
  if (mdb_env_get_fd(s->env, &fd))
    return EBADF;
  if (fallocate(fd, 0, 0, (off_t)size) != 0)
    return errno;
  return 0;
}

/* Grows the map: doubling while small, then in steps of at most 8 GiB, so
 * that the blocks reserved ahead (MDB_WRITEMAP) stay a bounded excess. When
 * the disk cannot hold that step, it tries for just what is needed. */
static mx_status writer_grow(mx_store *s, uint64_t needed, mx_error *err) {
  uint64_t step = s->map_size < ((uint64_t)8 << 30) ? s->map_size : (uint64_t)8 << 30;
  uint64_t size = s->map_size + step;
  if (size < needed + needed / 8)
    size = needed + needed / 8;
  size = round_up(size, (uint64_t)1 << 20);
  if (s->writemap) {
    int e = writer_preallocate(s, size);
    if (e == ENOSPC || e == EDQUOT) {
      uint64_t just = round_up(needed, (uint64_t)1 << 20);
      if (just < size && writer_preallocate(s, just) == 0) {
        size = just;
        e = 0;
      }
    }
    if (e) {
      s->failed = mx_status_from_errno(e);
      return mx_fail(err, e == ENOSPC || e == EDQUOT || e == EFBIG ? MX_ERR_DISK_FULL : s->failed,
                     "%s: cannot reserve %" PRIu64 " bytes on disk to grow the store: %s; "
                     "ids below %" PRIu64 " are committed",
                     s->data_path, size, strerror(e), s->committed_next_id);
    }
  }
  int rc = mdb_env_set_mapsize(s->env, (size_t)size);
  if (rc)
    return lmdb_fail(err, rc, "%s: cannot grow the map to %" PRIu64 " bytes", s->data_path, size);
  s->grows++;
  return writer_refresh_used(s, err);
}

/* Makes sure the open transaction (opened if needed) has room for one more
 * put charged `charge` bytes, committing and growing the map first if not. */
static mx_status writer_reserve_room(mx_store *s, uint64_t charge, uint64_t value_bytes,
                                     mx_error *err) {
  if (s->wtxn && s->txn_ops > 0 &&
      (s->txn_value_bytes + value_bytes > COMMIT_BYTES ||
       s->txn_dirty_entries + 1 > COMMIT_DIRTY_ENTRIES))
    MX_TRY(writer_commit(s, err));
  uint64_t pending = s->wtxn ? s->txn_charge : (uint64_t)TXN_FIXED_PAGES * s->psize;
  uint64_t needed = s->committed_bytes + pending + charge + pending / 8 + MAP_MARGIN;
  if (needed > s->map_size) {
    MX_TRY(writer_commit(s, err));
    needed = s->committed_bytes + (uint64_t)TXN_FIXED_PAGES * s->psize + charge + charge / 8 +
             MAP_MARGIN;
    if (needed > s->map_size)
      MX_TRY(writer_grow(s, needed, err));
  }
  return writer_begin(s, err);
}

static mx_status writer_check(mx_store *s, const char *what, mx_error *err) {
  if (!s)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "%s: NULL store", what);
  if (!s->writer)
    return mx_fail(err, MX_ERR_STATE, "%s: %s was opened read-only", what, s->dir);
  if (s->finished)
    return mx_fail(err, MX_ERR_STATE, "%s: %s is already finished", what, s->dir);
  if (s->failed)
    return mx_fail(err, MX_ERR_STATE,
                   "%s: %s: the writer failed earlier (%s); ids below %" PRIu64 " are committed",
                   what, s->dir, mx_status_name(s->failed), s->committed_next_id);
  return MX_OK;
}

/* One put with the map-room protocol above. */
static mx_status writer_put(mx_store *s, int db, MDB_val *key, MDB_val *val, unsigned flags,
                            uint64_t value_bytes, uint64_t record_id, int *rc_out, mx_error *err) {
  uint64_t dirty = 0;
  uint64_t charge = put_charge(s, key->mv_size, val->mv_size, &dirty);
  *rc_out = 0;
  for (int attempt = 0;; attempt++) {
    MX_TRY(writer_reserve_room(s, charge, value_bytes, err));
    size_t want = val->mv_size;
    int rc = mdb_put(s->wtxn, s->dbi[db], key, val, flags);
    if (rc == 0) {
      s->txn_charge += charge;
      s->txn_value_bytes += value_bytes;
      s->txn_dirty_entries += dirty;
      s->txn_ops++;
      if (record_id != NO_ID && s->txn_first_id == NO_ID)
        s->txn_first_id = record_id;
      return MX_OK;
    }
    if ((rc == MDB_MAP_FULL || rc == MDB_TXN_FULL) && attempt == 0 && s->txn_ops == 0) {
      /* Nothing else is in this transaction: retry in a bigger map. */
      writer_abort(s);
      MX_TRY(writer_grow(s, s->map_size + 2 * charge + MAP_MARGIN, err));
      val->mv_size = want;
      continue;
    }
    if (rc == MDB_MAP_FULL || rc == MDB_TXN_FULL) {
      uint64_t from = s->committed_next_id;
      writer_abort(s);
      s->failed = MX_ERR_MAP_FULL;
      return lmdb_fail(err, rc,
                       "%s: map-size planning fell short (internal error): records from id %" PRIu64
                       " on were not committed; the store holds ids below %" PRIu64,
                       s->data_path, from, from);
    }
    if (rc == MDB_KEYEXIST) {
      *rc_out = rc;
      return MX_ERR_EXISTS; /* the caller names the key; the txn stays usable */
    }
    s->failed = lmdb_status(rc);
    writer_abort(s);
    return lmdb_fail(err, rc, "%s: put into \"%s\"", s->data_path, db_names[db]);
  }
}

/* Opens the writer's environment. *unsupported is set (and MX_ERR_UNSUPPORTED
 * returned, without a message) when writemap was asked for and the file
 * system cannot preallocate. */
static mx_status writer_open(const char *dir, uint64_t map_size, int writemap, mx_store **out,
                             int *unsupported, mx_error *err) {
  *unsupported = 0;
  mx_store *s = store_new(dir, 1, err);
  if (!s)
    return err ? err->status : MX_ERR_NO_MEMORY;
  int rc = mdb_env_create(&s->env);
  if (rc) {
    s->env = NULL;
    mx_store_close(s);
    return lmdb_fail(err, rc, "%s: mdb_env_create", dir);
  }
  map_size = round_up(map_size, (uint64_t)1 << 20);
  if ((rc = mdb_env_set_maxdbs(s->env, DB_COUNT)) ||
      (rc = mdb_env_set_mapsize(s->env, (size_t)map_size)) ||
      /* MDB_NOTLS: read transactions on a finished writer (verify) do not
       * depend on the thread, as on a reader. */
      (rc = mdb_env_open(s->env, dir, MDB_NOSYNC | MDB_NOTLS | (writemap ? MDB_WRITEMAP : 0),
                         0644))) {
    mx_status st = lmdb_fail(err, rc, "%s: cannot create the LMDB environment", dir);
    mx_store_close(s);
    return st;
  }
  s->writemap = writemap;
  if (writemap) {
    int e = writer_preallocate(s, map_size);
    if (e) {
      mx_store_close(s);
      if (e == EOPNOTSUPP || e == ENOSYS || e == EINVAL) {
        *unsupported = 1;
        return MX_ERR_UNSUPPORTED;
      }
      return mx_fail(
          err,
          e == ENOSPC || e == EDQUOT || e == EFBIG ? MX_ERR_DISK_FULL : mx_status_from_errno(e),
          "%s/data.mdb: cannot reserve %" PRIu64 " bytes on disk: %s", dir, map_size, strerror(e));
    }
  }
  MDB_stat st;
  mdb_env_stat(s->env, &st);
  s->psize = st.ms_psize;
  MDB_txn *txn;
  if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn))) {
    mx_store_close(s);
    return lmdb_fail(err, rc, "%s: begin", dir);
  }
  for (int i = 0; i < DB_COUNT; i++) {
    if ((rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &s->dbi[i]))) {
      mdb_txn_abort(txn);
      mx_store_close(s);
      return lmdb_fail(err, rc, "%s: cannot create sub-database \"%s\"", dir, db_names[i]);
    }
    s->has_db[i] = 1;
  }
  if ((rc = mdb_txn_commit(txn))) {
    mx_store_close(s);
    return lmdb_fail(err, rc, "%s: commit", dir);
  }
  mx_status ms = writer_refresh_used(s, err);
  if (ms) {
    mx_store_close(s);
    return ms;
  }
  *out = s;
  return MX_OK;
}

/* On copy-on-write file systems a store into a preallocated block still
 * allocates a new one, so fallocate does not rule out SIGBUS on a full disk:
 * the writer uses the copying mode there. */
static int copy_on_write_fs(const char *dir) {
  struct statfs fs;
  if (statfs(dir, &fs) != 0)
    return 0;
  unsigned long type = (unsigned long)fs.f_type;
  return type == 0x9123683eUL /* btrfs */ || type == 0x2fc12fc1UL /* zfs */ ||
         type == 0xca451a4eUL /* bcachefs */;
}

mx_status mx_store_create(const char *dir, uint64_t expected_bytes, mx_store **out, mx_error *err) {
  if (!dir || !out)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_store_create: NULL argument");
  *out = NULL;
  MX_TRY(mx_mkdir_p(dir, err));
  char *data = path_join(dir, "data.mdb");
  if (!data)
    return mx_fail(err, MX_ERR_NO_MEMORY, "%s: out of memory", dir);
  int exists = mx_path_exists(data);
  free(data);
  if (exists)
    return mx_fail(err, MX_ERR_EXISTS, "%s already holds a store (data.mdb); remove it first", dir);
  /* Records plus B-tree, id maps and slack; 0 = unknown: 64 MiB, grown as
   * needed (the map's blocks are reserved on disk, so no wild guess). */
  uint64_t plan = expected_bytes ? expected_bytes + expected_bytes / 8 + ((uint64_t)32 << 20)
                                 : (uint64_t)64 << 20;
  const char *wm = getenv("MX_STORE_WRITEMAP");
  int writemap = !(wm && wm[0] == '0') && !copy_on_write_fs(dir);
  int unsupported;
  mx_status st = writer_open(dir, plan, writemap, out, &unsupported, err);
  if (st == MX_ERR_UNSUPPORTED && unsupported) {
    char *lock = path_join(dir, "lock.mdb");
    char *data2 = path_join(dir, "data.mdb");
    if (data2)
      unlink(data2);
    if (lock)
      unlink(lock);
    free(lock);
    free(data2);
    st = writer_open(dir, plan, 0, out, &unsupported, err);
  }
  return st;
}

static mx_status append_common(mx_store *s, uint64_t id, size_t len, MDB_val *val, unsigned flags,
                               mx_error *err) {
  MX_TRY(writer_check(s, "mx_store_append", err));
  if (s->last_id != NO_ID && id <= s->last_id)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "%s: record id %" PRIu64 " after id %" PRIu64
                   ": internal ids must be strictly increasing",
                   s->dir, id, s->last_id);
  if (len == 0 || len > 0xffffffffu)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "%s: record id %" PRIu64 ": bad length %zu",
                   s->dir, id, len);
  unsigned char kb[8];
  key_be64(kb, id);
  MDB_val key = {8, kb};
  int rc;
  mx_status st = writer_put(s, DB_GROUPS, &key, val, flags | MDB_APPEND, len, id, &rc, err);
  if (st == MX_ERR_EXISTS)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "%s: record id %" PRIu64 " already stored", s->dir,
                   id);
  if (st)
    return st;
  s->last_id = id;
  return MX_OK;
}

mx_status mx_store_append(mx_store *s, uint64_t internal_id, const void *record, size_t len,
                          mx_error *err) {
  if (!record && len)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_store_append: NULL record");
  MDB_val val = {len, (void *)record};
  return append_common(s, internal_id, len, &val, 0, err);
}

mx_status mx_store_append_reserve(mx_store *s, uint64_t internal_id, size_t len, void **dst,
                                  mx_error *err) {
  if (!dst)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_store_append_reserve: NULL dst");
  *dst = NULL;
  MDB_val val = {len, NULL};
  MX_TRY(append_common(s, internal_id, len, &val, MDB_RESERVE, err));
  *dst = val.mv_data;
  return MX_OK;
}

mx_status mx_store_put_key(mx_store *s, uint64_t internal_id, const void *key, size_t key_len,
                           mx_error *err) {
  MX_TRY(writer_check(s, "mx_store_put_key", err));
  if (!key || key_len == 0 || key_len > MX_MAX_KEY_BYTES)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "%s: id %" PRIu64 ": external key of %zu bytes (must be 1..%u)", s->dir,
                   internal_id, key_len, MX_MAX_KEY_BYTES);
  if (s->last_key_id != NO_ID && internal_id <= s->last_key_id)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "%s: key for id %" PRIu64 " after id %" PRIu64
                   ": internal ids must be strictly increasing",
                   s->dir, internal_id, s->last_key_id);
  unsigned char idb[8];
  key_be64(idb, internal_id);
  /* "ext" first, with NOOVERWRITE: a duplicate fails before anything is
   * written, and LMDB leaves the transaction usable after MDB_KEYEXIST. */
  MDB_val ek = {key_len, (void *)key}, ev = {8, idb};
  int rc;
  mx_status st = writer_put(s, DB_EXT, &ek, &ev, MDB_NOOVERWRITE, 0, NO_ID, &rc, err);
  if (st == MX_ERR_EXISTS) {
    char text[512];
    format_key(key, key_len, text, sizeof text);
    uint64_t other = ev.mv_size == 8 ? mx_get_be64(ev.mv_data) : NO_ID;
    return mx_fail(err, MX_ERR_EXISTS,
                   "%s: duplicate external key %s: given to id %" PRIu64
                   ", already the key of id %" PRIu64,
                   s->dir, text, internal_id, other);
  }
  if (st)
    return st;
  MDB_val ik = {8, idb}, iv = {key_len, (void *)key};
  MX_TRY(writer_put(s, DB_IDS, &ik, &iv, MDB_APPEND, 0, NO_ID, &rc, err));
  s->last_key_id = internal_id;
  return MX_OK;
}

mx_status mx_store_put_meta(mx_store *s, const char *name, const void *value, size_t len,
                            mx_error *err) {
  MX_TRY(writer_check(s, "mx_store_put_meta", err));
  size_t nl = name ? strlen(name) : 0;
  if (nl == 0 || nl > MX_MAX_KEY_BYTES || (!value && len))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "%s: bad meta name or value", s->dir);
  MDB_val k = {nl, (void *)name}, v = {len, (void *)value};
  int rc;
  return writer_put(s, DB_META, &k, &v, 0, len, NO_ID, &rc, err);
}

mx_status mx_store_finish(mx_store *s, mx_error *err) {
  MX_TRY(writer_check(s, "mx_store_finish", err));
  MX_TRY(writer_commit(s, err));
  int rc = mdb_env_sync(s->env, 1);
  if (rc) {
    s->failed = lmdb_status(rc);
    if (rc == ENOSPC || rc == EDQUOT || rc == EFBIG)
      return mx_fail(err, MX_ERR_DISK_FULL, "%s: no space left on device while syncing",
                     s->data_path);
    return lmdb_fail(err, rc, "%s: cannot sync to disk", s->data_path);
  }
  if (s->writemap) {
    /* Give back the blocks reserved past the last page in use; readers map
     * the recorded map size but never touch pages beyond the last one. */
    int fd;
    if (mdb_env_get_fd(s->env, &fd) == 0 &&
        (ftruncate(fd, (off_t)s->committed_bytes) != 0 || fsync(fd) != 0)) {
      s->failed = mx_status_from_errno(errno);
      return mx_fail(err, s->failed, "%s: cannot trim the file to %" PRIu64 " bytes: %s",
                     s->data_path, s->committed_bytes, strerror(errno));
    }
  }
  s->finished = 1;
  return MX_OK;
}

/* ------------------------------------------------------------ reader */

void mx_store_open_options_init(mx_store_open_options *o) {
  if (o) {
    memset(o, 0, sizeof *o);
    o->max_readers = DEFAULT_MAX_READERS;
    o->verify = 1;
  }
}

mx_status mx_store_open(const char *dir, const mx_store_open_options *opts, mx_store **out,
                        mx_error *err) {
  if (!dir || !out)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_store_open: NULL argument");
  *out = NULL;
  mx_store_open_options def;
  if (!opts) {
    mx_store_open_options_init(&def);
    opts = &def;
  }
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return mx_fail(err, MX_ERR_NOT_FOUND, "%s: no such store directory", dir);
  mx_store *s = store_new(dir, 0, err);
  if (!s)
    return err ? err->status : MX_ERR_NO_MEMORY;
  if (stat(s->data_path, &sb) != 0) {
    mx_status st = mx_fail(err, MX_ERR_NOT_FOUND, "%s: no store here (data.mdb missing)", dir);
    mx_store_close(s);
    return st;
  }
  /* LMDB would try to initialise an empty file, which a read-only open
   * cannot: every environment holds at least its two 4 KiB meta pages. */
  if (sb.st_size < 8192) {
    mx_status st =
        mx_fail(err, MX_ERR_FORMAT, "%s: not an LMDB store (%lld bytes: empty or truncated)",
                s->data_path, (long long)sb.st_size);
    mx_store_close(s);
    return st;
  }
  s->verify = opts->verify;
  unsigned readers = opts->max_readers ? opts->max_readers : DEFAULT_MAX_READERS;
  s->max_idle = readers;
  int rc = mdb_env_create(&s->env);
  if (rc) {
    s->env = NULL;
    mx_store_close(s);
    return lmdb_fail(err, rc, "%s: mdb_env_create", dir);
  }
  if ((rc = mdb_env_set_maxdbs(s->env, DB_COUNT)) ||
      (rc = mdb_env_set_maxreaders(s->env, readers)) ||
      (rc = mdb_env_open(s->env, dir, MDB_RDONLY | MDB_NOTLS | MDB_NORDAHEAD, 0644))) {
    mx_status st;
    if (rc == MDB_INVALID || rc == EINVAL)
      st =
          mx_fail(err, MX_ERR_FORMAT, "%s: not an LMDB store (%s)", s->data_path, mdb_strerror(rc));
    else
      st = lmdb_fail(err, rc, "%s: cannot open the LMDB environment", s->data_path);
    mx_store_close(s);
    return st;
  }
  MDB_stat est;
  mdb_env_stat(s->env, &est);
  s->psize = est.ms_psize;
  MDB_txn *txn;
  if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))) {
    mx_store_close(s);
    return lmdb_fail(err, rc, "%s: begin", s->data_path);
  }
  for (int i = 0; i < DB_COUNT; i++) {
    rc = mdb_dbi_open(txn, db_names[i], 0, &s->dbi[i]);
    if (rc == 0) {
      s->has_db[i] = 1;
    } else if (rc == MDB_NOTFOUND && i != DB_GROUPS) {
      s->has_db[i] = 0;
    } else {
      mx_status st =
          rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE
              ? mx_fail(err, MX_ERR_FORMAT, "%s: not a metaidx store (no \"%s\" sub-database)",
                        s->data_path, db_names[i])
              : lmdb_fail(err, rc, "%s: open sub-database \"%s\"", s->data_path, db_names[i]);
      mdb_txn_abort(txn);
      mx_store_close(s);
      return st;
    }
  }
  if ((rc = mdb_txn_commit(txn))) { /* keeps the dbi handles */
    mx_store_close(s);
    return lmdb_fail(err, rc, "%s: commit", s->data_path);
  }
  *out = s;
  return MX_OK;
}

void mx_store_close(mx_store *s) {
  if (!s)
    return;
  if (s->writer)
    writer_abort(s);
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
    if (s->writer) {
      char *lock = path_join(s->dir, "lock.mdb");
      if (lock)
        unlink(lock);
      free(lock);
    }
  }
  store_free(s);
}

mx_status mx_store_txn_begin(mx_store *s, mx_store_txn **out, mx_error *err) {
  if (!s || !out)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_store_txn_begin: NULL argument");
  *out = NULL;
  if (s->writer && !s->finished)
    return mx_fail(err, MX_ERR_STATE, "%s: read transactions need a finished or read-only store",
                   s->dir);
  pthread_mutex_lock(&s->idle_lock);
  mx_store_txn *t = s->idle;
  if (t) {
    s->idle = t->next_idle;
    s->n_idle--;
  }
  pthread_mutex_unlock(&s->idle_lock);
  if (t) {
    int rc = mdb_txn_renew(t->txn);
    if (rc == 0) {
      *out = t;
      return MX_OK;
    }
    mdb_txn_abort(t->txn);
    free(t);
    return lmdb_fail(err, rc, "%s: cannot renew a read transaction", s->data_path);
  }
  t = malloc(sizeof *t);
  if (!t)
    return mx_fail(err, MX_ERR_NO_MEMORY, "%s: out of memory for a read transaction", s->dir);
  t->s = s;
  t->next_idle = NULL;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t->txn);
  if (rc == MDB_READERS_FULL) {
    int dead = 0; /* slots left by crashed processes can be reclaimed */
    if (mdb_reader_check(s->env, &dead) == 0 && dead > 0)
      rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t->txn);
  }
  if (rc) {
    free(t);
    if (rc == MDB_READERS_FULL) {
      int slots = 0;
      mdb_env_get_maxreaders(s->env, (unsigned *)&slots);
      return mx_fail(err, MX_ERR_BUSY,
                     "%s: more concurrent searches (read transactions) than the %d reader "
                     "slots; raise mx_store_open_options.max_readers (the first process to "
                     "open the store sets the table size) or run fewer searches at once",
                     s->dir, slots);
    }
    return lmdb_fail(err, rc, "%s: cannot begin a read transaction", s->data_path);
  }
  *out = t;
  return MX_OK;
}

void mx_store_txn_end(mx_store_txn *t) {
  if (!t)
    return;
  mx_store *s = t->s;
  /* Keep the reset transaction (and its reader slot) for the next begin:
   * renew costs no allocation and no slot search. */
  mdb_txn_reset(t->txn);
  pthread_mutex_lock(&s->idle_lock);
  if (s->n_idle < s->max_idle) {
    t->next_idle = s->idle;
    s->idle = t;
    s->n_idle++;
    t = NULL;
  }
  pthread_mutex_unlock(&s->idle_lock);
  if (t) {
    mdb_txn_abort(t->txn);
    free(t);
  }
}

static mx_status txn_get(mx_store_txn *t, int db, const void *k, size_t klen, MDB_val *v) {
  MDB_val key = {klen, (void *)k};
  int rc = mdb_get(t->txn, t->s->dbi[db], &key, v);
  if (rc == 0)
    return MX_OK;
  return lmdb_status(rc);
}

mx_status mx_store_get(mx_store_txn *t, uint64_t internal_id, const void **record, size_t *len,
                       mx_error *err) {
  unsigned char kb[8];
  key_be64(kb, internal_id);
  MDB_val v;
  mx_status st = txn_get(t, DB_GROUPS, kb, 8, &v);
  if (st == MX_ERR_NOT_FOUND)
    return mx_fail(err, st, "%s: no record with internal id %" PRIu64, t->s->dir, internal_id);
  if (st)
    return mx_fail(err, st, "%s: reading record id %" PRIu64 ": %s", t->s->dir, internal_id,
                   mx_status_str(st));
  *record = v.mv_data;
  *len = v.mv_size;
  return MX_OK;
}

mx_status mx_store_read_prefix(mx_store_txn *t, uint64_t internal_id, uint32_t prefix,
                               uint32_t verified_from, mx_record_view *out, mx_error *err) {
  const void *rec;
  size_t len;
  MX_TRY(mx_store_get(t, internal_id, &rec, &len, err));
  mx_status st = mx_record_view_prefix(rec, len, 0, prefix, verified_from, t->s->verify, out, err);
  /* Every record in a store was written by the codec: one that does not
   * parse (bad header, a length that does not add up, an unknown version)
   * is as corrupt as one whose checksum fails, and callers that skip
   * corrupt records must be able to skip it too. */
  if (st == MX_ERR_FORMAT || st == MX_ERR_VERSION) {
    if (err)
      err->status = MX_ERR_CORRUPT; /* keep the codec's message, change its status */
    return mx_fail_context(err, MX_ERR_CORRUPT, "%s: record id %" PRIu64 " is corrupt", t->s->dir,
                           internal_id);
  }
  if (st)
    return mx_fail_context(err, st, "%s: record id %" PRIu64, t->s->dir, internal_id);
  return MX_OK;
}

/* madvise(MADV_WILLNEED) over the pages covering [p, p + len); returns the
 * bytes hinted. */
static uint64_t advise_range(const mx_store *s, const void *p, size_t len) {
  uintptr_t mask = (uintptr_t)s->os_page - 1;
  uintptr_t a = (uintptr_t)p & ~mask;
  uintptr_t b = ((uintptr_t)p + len + mask) & ~mask;
  return madvise((void *)a, b - a, MADV_WILLNEED) == 0 ? b - a : 0;
}

/* Candidates handled per round of mx_store_prefetch (its only scratch, on
 * the stack). */
#define PREFETCH_CHUNK 256

uint64_t mx_store_prefetch(mx_store_txn *t, const uint64_t *internal_ids, size_t n,
                           uint32_t prefix) {
  if (!t || !internal_ids)
    return 0;
  uint64_t hinted = 0;
  for (size_t start = 0; start < n; start += PREFETCH_CHUNK) {
    size_t m = n - start < PREFETCH_CHUNK ? n - start : PREFETCH_CHUNK;
    MDB_val vals[PREFETCH_CHUNK];
    unsigned char found[PREFETCH_CHUNK];
    /* Pass 1: find every record (mdb_get touches B-tree pages only, not the
     * overflow pages) and hint the page holding its header, so that the
     * header reads of all candidates overlap instead of faulting one by one
     * in pass 2. */
    for (size_t i = 0; i < m; i++) {
      unsigned char kb[8];
      key_be64(kb, internal_ids[start + i]);
      found[i] = txn_get(t, DB_GROUPS, kb, 8, &vals[i]) == MX_OK;
      if (found[i])
        advise_range(t->s, vals[i].mv_data, 1);
    }
    /* Pass 2: read each header (now in flight) for the prefix's extent and
     * hint the whole prefix. */
    for (size_t i = 0; i < m; i++) {
      if (!found[i])
        continue;
      size_t want = mx_record_prefix_bytes(vals[i].mv_data, vals[i].mv_size, prefix);
      if (want == 0 || want > vals[i].mv_size)
        want = vals[i].mv_size;
      hinted += advise_range(t->s, vals[i].mv_data, want);
    }
  }
  return hinted;
}

mx_status mx_store_get_key(mx_store_txn *t, uint64_t internal_id, const void **key, size_t *key_len,
                           mx_error *err) {
  if (!t->s->has_db[DB_IDS])
    return mx_fail(err, MX_ERR_NOT_FOUND, "%s: the store has no external keys", t->s->dir);
  unsigned char kb[8];
  key_be64(kb, internal_id);
  MDB_val v;
  mx_status st = txn_get(t, DB_IDS, kb, 8, &v);
  if (st == MX_ERR_NOT_FOUND)
    return mx_fail(err, st, "%s: no external key for internal id %" PRIu64, t->s->dir, internal_id);
  if (st)
    return mx_fail(err, st, "%s: key of id %" PRIu64 ": %s", t->s->dir, internal_id,
                   mx_status_str(st));
  *key = v.mv_data;
  *key_len = v.mv_size;
  return MX_OK;
}

mx_status mx_store_find_key(mx_store_txn *t, const void *key, size_t key_len, uint64_t *internal_id,
                            mx_error *err) {
  char text[512];
  if (!key || key_len == 0 || key_len > MX_MAX_KEY_BYTES)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "%s: external key of %zu bytes (must be 1..%u)",
                   t->s->dir, key_len, MX_MAX_KEY_BYTES);
  if (!t->s->has_db[DB_EXT])
    return mx_fail(err, MX_ERR_NOT_FOUND, "%s: the store has no external keys", t->s->dir);
  MDB_val v;
  mx_status st = txn_get(t, DB_EXT, key, key_len, &v);
  if (st == MX_OK && v.mv_size != 8)
    st = MX_ERR_CORRUPT;
  if (st) {
    format_key(key, key_len, text, sizeof text);
    return mx_fail(err, st, "%s: external key %s: %s", t->s->dir, text,
                   st == MX_ERR_NOT_FOUND ? "not found" : mx_status_str(st));
  }
  *internal_id = mx_get_be64(v.mv_data);
  return MX_OK;
}

mx_status mx_store_get_meta(mx_store_txn *t, const char *name, const void **value, size_t *len,
                            mx_error *err) {
  size_t nl = name ? strlen(name) : 0;
  if (nl == 0 || nl > MX_MAX_KEY_BYTES)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "%s: bad meta name", t->s->dir);
  if (!t->s->has_db[DB_META])
    return mx_fail(err, MX_ERR_NOT_FOUND, "%s: no meta entry \"%s\"", t->s->dir, name);
  MDB_val v;
  mx_status st = txn_get(t, DB_META, name, nl, &v);
  if (st)
    return mx_fail(err, st, "%s: meta entry \"%s\": %s", t->s->dir, name,
                   st == MX_ERR_NOT_FOUND ? "not found" : mx_status_str(st));
  *value = v.mv_data;
  *len = v.mv_size;
  return MX_OK;
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
    rc = mdb_stat(t->txn, s->dbi[DB_GROUPS], &st);
    mx_store_txn_end(t);
  }
  if (rc)
    return lmdb_fail(err, rc, "%s: counting records", s->data_path);
  *out = st.ms_entries;
  return MX_OK;
}

/* ------------------------------------------------------------ verify */

typedef struct verify_state {
  mx_verify_fn fn;
  void *ctx;
  mx_store_verify_report *rep;
  int stop;
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

/* Record header field n_vectors (record.h: u16 at offset 6), read only to
 * ask the codec for the whole record; the codec validates everything. */
static uint32_t header_vectors(const unsigned char *r, size_t len) {
  return len >= 16 ? mx_get_le16(r + 6) : 0;
}

static void verify_records(mx_store_txn *t, uint32_t dim, uint32_t vectors, int dtype,
                           verify_state *v, uint64_t *n_records) {
  mx_store *s = t->s;
  MDB_cursor *c;
  MDB_val k, d;
  *n_records = 0;
  int rc = mdb_cursor_open(t->txn, s->dbi[DB_GROUPS], &c);
  if (rc) {
    vreport(v, NO_ID, lmdb_status(rc), "%s: cannot open a cursor: %s", s->dir, mdb_strerror(rc));
    v->stop = 1;
    return;
  }
  /* The reader's map is MADV_RANDOM (MDB_NORDAHEAD), so a cold scan would
   * fault one 4 KiB page at a time. A second cursor runs ahead and asks for
   * the next records' pages, keeping the disk busy with large reads. */
  MDB_cursor *ahead = NULL;
  uint64_t ahead_bytes = 0; /* hinted beyond the current record */
  int ahead_rc = mdb_cursor_open(t->txn, s->dbi[DB_GROUPS], &ahead);
  MDB_cursor_op ahead_op = MDB_FIRST;
  uint64_t next = 0;
  for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0 && !v->stop;
       rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
    ahead_bytes = ahead_bytes > d.mv_size ? ahead_bytes - d.mv_size : 0;
    while (ahead_rc == 0 && ahead_bytes < VERIFY_AHEAD_BYTES) {
      MDB_val ak, ad;
      ahead_rc = mdb_cursor_get(ahead, &ak, &ad, ahead_op);
      ahead_op = MDB_NEXT;
      if (ahead_rc == 0) {
        advise_range(s, ad.mv_data, ad.mv_size);
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
    mx_error e;
    mx_error_clear(&e);
    mx_record_view view;
    uint32_t nv = header_vectors(d.mv_data, d.mv_size);
    mx_status st = mx_record_view_prefix(d.mv_data, d.mv_size, dim, nv, 0, 1, &view, &e);
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
    vreport(v, NO_ID, lmdb_status(rc), "%s: scan of records stopped: %s", s->dir, mdb_strerror(rc));
    v->stop = 1;
  }
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
    int rc;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0 && !v->stop;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
      uint64_t id = k.mv_size == 8 ? mx_get_be64(k.mv_data) : NO_ID;
      format_key(d.mv_data, d.mv_size, text, sizeof text);
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
    mdb_cursor_close(c);
  }
  if (mdb_cursor_open(t->txn, s->dbi[DB_EXT], &c) == 0) {
    int rc;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0 && !v->stop;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
      format_key(k.mv_data, k.mv_size, text, sizeof text);
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
    mdb_cursor_close(c);
  }
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
  verify_state v = {fn, ctx, report, 0};
  uint64_t n = 0;
  verify_records(t, expected_dim, expected_vectors, expected_dtype, &v, &n);
  if (!v.stop)
    verify_keys(t, n, &v);
  mx_store_txn_end(t);
  return MX_OK;
}
