/* store_write.c: the store's bulk writer: appends records and id maps in
 * large write transactions, planning and growing the map so that
 * MDB_MAP_FULL never loses data (see the policy below), and makes the result
 * durable. Shared parts are in store.c / store_internal.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fsutil.h"
#include "status.h"
#include "store_internal.h"

/* Values committed per write transaction. Without MDB_WRITEMAP a write
 * transaction keeps its dirty pages in malloc'd memory until commit, so this
 * is also the writer's peak memory. */
#define COMMIT_BYTES ((uint64_t)256 << 20)
/* LMDB's dirty list holds at most 128k entries (one per leaf page or per
 * overflow run); commit well before that. */
#define COMMIT_DIRTY_ENTRIES 60000u

/* Map size policy. LMDB fails a put with MDB_MAP_FULL when the map has no
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
    return mx_store_lmdb_fail(err, rc, "%s: mdb_env_info", s->data_path);
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
    return mx_store_lmdb_fail(err, rc, "%s: cannot begin a write transaction", s->data_path);
  }
  s->txn_charge = (uint64_t)TXN_FIXED_PAGES * s->psize;
  s->txn_value_bytes = s->txn_dirty_entries = s->txn_ops = 0;
  s->txn_first_id = NO_ID;
  return MX_OK;
}

void mx_store_writer_abort(mx_store *s) {
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
    s->failed = mx_store_lmdb_status(rc); /* ENOSPC, EDQUOT, EFBIG: MX_ERR_DISK_FULL */
    if (s->failed == MX_ERR_DISK_FULL) {
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
    return mx_store_lmdb_fail(err, rc,
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
    if (mx_status_from_errno(e) == MX_ERR_DISK_FULL) {
      uint64_t just = round_up(needed, (uint64_t)1 << 20);
      if (just < size && writer_preallocate(s, just) == 0) {
        size = just;
        e = 0;
      }
    }
    if (e) {
      s->failed = mx_status_from_errno(e);
      return mx_fail(err, s->failed,
                     "%s: cannot reserve %" PRIu64 " bytes on disk to grow the store: %s; "
                     "ids below %" PRIu64 " are committed",
                     s->data_path, size, strerror(e), s->committed_next_id);
    }
  }
  int rc = mdb_env_set_mapsize(s->env, (size_t)size);
  if (rc)
    return mx_store_lmdb_fail(err, rc, "%s: cannot grow the map to %" PRIu64 " bytes", s->data_path, size);
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
      mx_store_writer_abort(s);
      MX_TRY(writer_grow(s, s->map_size + 2 * charge + MAP_MARGIN, err));
      val->mv_size = want;
      continue;
    }
    if (rc == MDB_MAP_FULL || rc == MDB_TXN_FULL) {
      uint64_t from = s->committed_next_id;
      mx_store_writer_abort(s);
      s->failed = MX_ERR_MAP_FULL;
      return mx_store_lmdb_fail(err, rc,
                       "%s: map-size planning fell short (internal error): records from id %" PRIu64
                       " on were not committed; the store holds ids below %" PRIu64,
                       s->data_path, from, from);
    }
    if (rc == MDB_KEYEXIST) {
      *rc_out = rc;
      return MX_ERR_EXISTS; /* the caller names the key; the txn stays usable */
    }
    s->failed = mx_store_lmdb_status(rc);
    mx_store_writer_abort(s);
    return mx_store_lmdb_fail(err, rc, "%s: put into \"%s\"", s->data_path, mx_store_db_names[db]);
  }
}

/* Opens the writer's environment. *unsupported is set (and MX_ERR_UNSUPPORTED
 * returned, without a message) when writemap was asked for and the file
 * system cannot preallocate. */
static mx_status writer_open(const char *dir, uint64_t map_size, int writemap, mx_store **out,
                             int *unsupported, mx_error *err) {
  *unsupported = 0;
  mx_store *s = mx_store_handle_new(dir, 1, err);
  if (!s)
    return err ? err->status : MX_ERR_NO_MEMORY;
  int rc = mdb_env_create(&s->env);
  if (rc) {
    s->env = NULL;
    mx_store_close(s);
    return mx_store_lmdb_fail(err, rc, "%s: mdb_env_create", dir);
  }
  map_size = round_up(map_size, (uint64_t)1 << 20);
  if ((rc = mdb_env_set_maxdbs(s->env, DB_COUNT)) ||
      (rc = mdb_env_set_mapsize(s->env, (size_t)map_size)) ||
      /* MDB_NOTLS: read transactions on a finished writer (verify) do not
       * depend on the thread, as on a reader. */
      (rc = mdb_env_open(s->env, dir, MDB_NOSYNC | MDB_NOTLS | (writemap ? MDB_WRITEMAP : 0),
                         0644))) {
    mx_status st = mx_store_lmdb_fail(err, rc, "%s: cannot create the LMDB environment", dir);
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
          mx_status_from_errno(e),
          "%s/data.mdb: cannot reserve %" PRIu64 " bytes on disk: %s", dir, map_size, strerror(e));
    }
  }
  MDB_stat st;
  mdb_env_stat(s->env, &st);
  s->psize = st.ms_psize;
  MDB_txn *txn;
  if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn))) {
    mx_store_close(s);
    return mx_store_lmdb_fail(err, rc, "%s: begin", dir);
  }
  for (int i = 0; i < DB_COUNT; i++) {
    if ((rc = mdb_dbi_open(txn, mx_store_db_names[i], MDB_CREATE, &s->dbi[i]))) {
      mdb_txn_abort(txn);
      mx_store_close(s);
      return mx_store_lmdb_fail(err, rc, "%s: cannot create sub-database \"%s\"", dir, mx_store_db_names[i]);
    }
    s->has_db[i] = 1;
  }
  if ((rc = mdb_txn_commit(txn))) {
    mx_store_close(s);
    return mx_store_lmdb_fail(err, rc, "%s: commit", dir);
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
  char *data = mx_store_path_join(dir, MX_STORE_DATA_FILE);
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
    char *data2 = mx_store_path_join(dir, MX_STORE_DATA_FILE);
    if (data2)
      unlink(data2);
    free(data2);
    mx_store_remove_lock(dir);
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
    mx_store_format_key(key, key_len, text, sizeof text);
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
    s->failed = mx_store_lmdb_status(rc);
    if (s->failed == MX_ERR_DISK_FULL)
      return mx_fail(err, MX_ERR_DISK_FULL, "%s: no space left on device while syncing",
                     s->data_path);
    return mx_store_lmdb_fail(err, rc, "%s: cannot sync to disk", s->data_path);
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
