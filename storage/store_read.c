/* store_read.c: the store's read-only side: opening it for many searching
 * threads, read transactions (reused with their reader slots), records and
 * verified prefixes in place from the map, prefetch hints, the id maps and
 * metadata. Shared parts are in store.c / store_internal.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "status.h"
#include "store_internal.h"

#define DEFAULT_MAX_READERS 126u

void mx_store_open_options_init(mx_store_open_options *o) {
  if (o) {
    memset(o, 0, sizeof *o);
    o->max_readers = DEFAULT_MAX_READERS;
    o->verify = 1;
  }
}

/* LMDB's file layout, for reading the meta pages before LMDB maps the
 * file: a page header of 16 bytes (flags at offset 10), then the meta:
 * magic, version, address, map size, the free and main databases (48 bytes
 * each; the free one's first field is the page size), the last used page
 * and the transaction id. */
#define LMDB_PAGE_HEADER 16
#define LMDB_P_META 0x08
#define LMDB_MAGIC 0xBEEFC0DEu
#define LMDB_META_PSIZE (LMDB_PAGE_HEADER + 24)
#define LMDB_META_LAST_PG (LMDB_PAGE_HEADER + 120)
#define LMDB_META_TXNID (LMDB_PAGE_HEADER + 128)
#define LMDB_META_BYTES (LMDB_PAGE_HEADER + 136)

static uint64_t le_get(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

/* A store whose file is shorter than its meta page says would die of
 * SIGBUS on the first page past the end: read both meta pages with pread
 * (nothing mapped yet) and refuse such a file as corrupt, naming both
 * sizes. Meta pages LMDB itself would refuse (bad magic or version) are
 * left for it to report. *file_bytes gets the file's size. */
static mx_status check_length(const char *path, uint64_t *file_bytes, mx_error *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return mx_fail(err, mx_status_from_errno(errno), "%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  mx_status st = MX_OK;
  unsigned char m[2][LMDB_META_BYTES];
  uint64_t psize = 0;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    st = mx_fail(err, MX_ERR_FORMAT, "%s: not a regular file", path);
    goto out;
  }
  *file_bytes = (uint64_t)sb.st_size;
  for (int i = 0; i < 2; i++) {
    off_t at = i == 0 ? 0 : (off_t)psize;
    if (pread(fd, m[i], sizeof m[i], at) != (ssize_t)sizeof m[i])
      goto out; /* LMDB reports a short meta page */
    uint16_t flags = (uint16_t)le_get(m[i] + 10, 2);
    if (!(flags & LMDB_P_META) || le_get(m[i] + LMDB_PAGE_HEADER, 4) != LMDB_MAGIC)
      goto out; /* not LMDB, or a damaged meta page: LMDB says which */
    if (i == 0) {
      psize = le_get(m[0] + LMDB_META_PSIZE, 4);
      if (psize < 512 || psize > 65536 || (psize & (psize - 1))) {
        st = mx_fail(err, MX_ERR_CORRUPT, "%s: its meta page gives a page size of %llu bytes",
                     path, (unsigned long long)psize);
        goto out;
      }
    }
  }
  int latest = le_get(m[1] + LMDB_META_TXNID, 8) > le_get(m[0] + LMDB_META_TXNID, 8);
  uint64_t last = le_get(m[latest] + LMDB_META_LAST_PG, 8);
  if (last >= (UINT64_MAX / psize) - 1 || (last + 1) * psize > *file_bytes) {
    st = mx_fail(err, MX_ERR_CORRUPT,
                 "%s: the file is truncated or damaged: %llu bytes, but its meta page says "
                 "the data fills %llu pages of %llu bytes (restore the index or rebuild it)",
                 path, (unsigned long long)*file_bytes, (unsigned long long)last + 1,
                 (unsigned long long)psize);
  }
out:
  close(fd);
  return st;
}

/* LMDB does not say where it mapped the file (mdb_env_info's address is
 * the meta's fixed-map address, NULL here), and the fault guard needs it.
 * So the mappings of data.mdb are listed (/proc/self/maps) before and
 * after mdb_env_open: the new one is this handle's. Opens are serialised
 * by open_lock so that two of this library's opens cannot mix up. If it
 * cannot be found, the handle guards against LMDB's assertions only. */
typedef struct map_range {
  uintptr_t lo, hi;
} map_range;
#define MAX_MAPS 64
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

static int file_maps(const struct stat *sb, map_range *out) {
  FILE *f = fopen("/proc/self/maps", "re");
  if (!f)
    return -1;
  char line[512];
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi, off, ino;
    unsigned maj, mnr;
    char perms[8];
    if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &lo, &hi, perms, &off, &maj, &mnr, &ino) != 7)
      continue;
    if (off == 0 && ino == (unsigned long)sb->st_ino && maj == major(sb->st_dev) &&
        mnr == minor(sb->st_dev) && n < MAX_MAPS)
      out[n++] = (map_range){lo, hi};
  }
  fclose(f);
  return n;
}

/* The range in after[] that is not in before[], if exactly one. */
static int new_map(const map_range *before, int nb, const map_range *after, int na,
                   map_range *out) {
  int found = 0;
  for (int i = 0; i < na; i++) {
    int old = 0;
    for (int j = 0; j < nb && !old; j++)
      old = before[j].lo == after[i].lo;
    if (!old) {
      *out = after[i];
      found++;
    }
  }
  return found == 1;
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
  mx_store *s = mx_store_handle_new(dir, 0, err);
  if (!s)
    return err ? err->status : MX_ERR_NO_MEMORY;
  if (stat(s->data_path, &sb) != 0) {
    mx_status st = mx_fail(err, MX_ERR_NOT_FOUND, "%s: no store here (" MX_STORE_DATA_FILE " missing)", dir);
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
  mx_status cs = check_length(s->data_path, &s->file_bytes, err);
  if (cs != MX_OK) {
    mx_store_close(s);
    return cs;
  }
  s->verify = opts->verify;
  unsigned readers = opts->max_readers ? opts->max_readers : DEFAULT_MAX_READERS;
  s->max_idle = readers;
  s->max_active = readers;
  int rc = mdb_env_create(&s->env);
  if (rc) {
    s->env = NULL;
    mx_store_close(s);
    return mx_store_lmdb_fail(err, rc, "%s: mdb_env_create", dir);
  }
  mdb_env_set_assert(s->env, mx_store_lmdb_assert);
  map_range before[MAX_MAPS], after[MAX_MAPS], mine;
  pthread_mutex_lock(&open_lock);
  int nb = file_maps(&sb, before);
  if ((rc = mdb_env_set_maxdbs(s->env, DB_COUNT)) == 0)
    rc = mdb_env_open(s->env, dir, MX_STORE_READER_FLAGS, 0644);
  int na = rc == 0 && nb >= 0 ? file_maps(&sb, after) : -1;
  pthread_mutex_unlock(&open_lock);
  if (na >= 0 && new_map(before, nb, after, na, &mine)) {
    s->map = (const unsigned char *)mine.lo;
    s->map_len = mine.hi - mine.lo;
  }
  if (rc) {
    mx_status st;
    if (rc == MDB_INVALID || rc == EINVAL)
      st =
          mx_fail(err, MX_ERR_FORMAT, "%s: not an LMDB store (%s)", s->data_path, mdb_strerror(rc));
    else
      st = mx_store_lmdb_fail(err, rc, "%s: cannot open the LMDB environment", s->data_path);
    mx_store_close(s);
    return st;
  }
  MDB_stat est;
  mdb_env_stat(s->env, &est);
  s->psize = est.ms_psize;
  MDB_txn *volatile txn = NULL;
  mx_fault_guard g;
  mx_store_guard_push(s, &g);
  if (!MX_FAULT_GUARD_ENTER(&g)) {
    mx_status st = mx_store_guard_fail(s, NULL, &g, err, "opening its sub-databases");
    if (txn)
      mdb_txn_abort(txn);
    mx_store_close(s);
    return st;
  }
  if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, (MDB_txn **)&txn))) {
    mx_fault_guard_pop(&g);
    mx_store_close(s);
    return mx_store_lmdb_fail(err, rc, "%s: begin", s->data_path);
  }
  for (int i = 0; i < DB_COUNT; i++) {
    rc = mdb_dbi_open(txn, mx_store_db_names[i], 0, &s->dbi[i]);
    if (rc == 0) {
      s->has_db[i] = 1;
    } else if (rc == MDB_NOTFOUND && i != DB_GROUPS) {
      s->has_db[i] = 0;
    } else {
      mx_status st =
          rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE
              ? mx_fail(err, MX_ERR_FORMAT, "%s: not a metaidx store (no \"%s\" sub-database)",
                        s->data_path, mx_store_db_names[i])
              : mx_store_lmdb_fail(err, rc, "%s: open sub-database \"%s\"", s->data_path, mx_store_db_names[i]);
      mx_fault_guard_pop(&g);
      mdb_txn_abort(txn);
      mx_store_close(s);
      return st;
    }
  }
  rc = mdb_txn_commit(txn); /* keeps the dbi handles */
  mx_fault_guard_pop(&g);
  if (rc) {
    mx_store_close(s);
    return mx_store_lmdb_fail(err, rc, "%s: commit", s->data_path);
  }
  *out = s;
  return MX_OK;
}

/* A transaction counted in n_active was not handed out after all. */
static void txn_released(mx_store *s) {
  pthread_mutex_lock(&s->idle_lock);
  s->n_active--;
  pthread_mutex_unlock(&s->idle_lock);
}

mx_status mx_store_txn_begin(mx_store *s, mx_store_txn **out, mx_error *err) {
  if (!s || !out)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_store_txn_begin: NULL argument");
  *out = NULL;
  if (s->writer && !s->finished)
    return mx_fail(err, MX_ERR_STATE, "%s: read transactions need a finished or read-only store",
                   s->dir);
  pthread_mutex_lock(&s->idle_lock);
  if (s->max_active && s->n_active >= s->max_active) {
    pthread_mutex_unlock(&s->idle_lock);
    return mx_fail(err, MX_ERR_BUSY,
                   "%s: more concurrent searches (read transactions) than the %u reader "
                   "slots of this handle; raise mx_open_options.max_readers or run fewer "
                   "searches at once",
                   s->dir, s->max_active);
  }
  s->n_active++;
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
    txn_released(s);
    return mx_store_lmdb_fail(err, rc, "%s: cannot renew a read transaction", s->data_path);
  }
  t = malloc(sizeof *t);
  if (!t) {
    txn_released(s);
    return mx_fail(err, MX_ERR_NO_MEMORY, "%s: out of memory for a read transaction", s->dir);
  }
  t->s = s;
  t->next_idle = NULL;
  t->broken = 0;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t->txn);
  if (rc == MDB_READERS_FULL) {
    int dead = 0; /* slots left by crashed processes can be reclaimed */
    if (mdb_reader_check(s->env, &dead) == 0 && dead > 0)
      rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t->txn);
  }
  if (rc) {
    free(t);
    txn_released(s);
    if (rc == MDB_READERS_FULL) {
      int slots = 0;
      mdb_env_get_maxreaders(s->env, (unsigned *)&slots);
      return mx_fail(err, MX_ERR_BUSY,
                     "%s: more concurrent searches (read transactions) than the %d reader "
                     "slots; raise mx_store_open_options.max_readers (the first process to "
                     "open the store sets the table size) or run fewer searches at once",
                     s->dir, slots);
    }
    return mx_store_lmdb_fail(err, rc, "%s: cannot begin a read transaction", s->data_path);
  }
  *out = t;
  return MX_OK;
}

void mx_store_txn_end(mx_store_txn *t) {
  if (!t)
    return;
  mx_store *s = t->s;
  if (t->broken) { /* LMDB was stopped inside it: never reuse it */
    mdb_txn_abort(t->txn);
    free(t);
    txn_released(s);
    return;
  }
  /* Keep the reset transaction (and its reader slot) for the next begin:
   * renew costs no allocation and no slot search. */
  mdb_txn_reset(t->txn);
  pthread_mutex_lock(&s->idle_lock);
  s->n_active--;
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

/* mdb_get under the store's fault guard, the value checked to lie inside
 * the file: damage is MX_ERR_CORRUPT (and the transaction is broken). */
static mx_status txn_get(mx_store_txn *t, int db, const void *k, size_t klen, MDB_val *v) {
  MDB_val key = {klen, (void *)k};
  if (t->broken)
    return MX_ERR_CORRUPT;
  mx_fault_guard g;
  mx_store_guard_push(t->s, &g);
  if (!MX_FAULT_GUARD_ENTER(&g)) {
    mx_store_guard_fail(t->s, t, &g, NULL, "lookup");
    return MX_ERR_CORRUPT;
  }
  int rc = mdb_get(t->txn, t->s->dbi[db], &key, v);
  mx_fault_guard_pop(&g);
  if (rc == 0)
    return mx_store_val_in_file(t->s, v) ? MX_OK : MX_ERR_CORRUPT;
  return mx_store_lmdb_status(rc);
}

/* The value under an internal id in "groups" or "ids", in place; errors
 * say "no <missing> internal id N" or "<what> id N: <status>". */
static mx_status get_by_id(mx_store_txn *t, int db, uint64_t id, const char *missing,
                           const char *what, const void **val, size_t *len, mx_error *err) {
  unsigned char kb[8];
  key_be64(kb, id);
  MDB_val v;
  mx_status st = txn_get(t, db, kb, 8, &v);
  if (st == MX_ERR_NOT_FOUND)
    return mx_fail(err, st, "%s: no %s internal id %" PRIu64, t->s->dir, missing, id);
  if (st)
    return mx_fail(err, st, "%s: %s id %" PRIu64 ": %s", t->s->dir, what, id, mx_status_str(st));
  *val = v.mv_data;
  *len = v.mv_size;
  return MX_OK;
}

mx_status mx_store_get(mx_store_txn *t, uint64_t internal_id, const void **record, size_t *len,
                       mx_error *err) {
  return get_by_id(t, DB_GROUPS, internal_id, "record with", "reading record", record, len, err);
}

mx_status mx_store_read_prefix(mx_store_txn *t, uint64_t internal_id, uint32_t prefix,
                               uint32_t verified_from, mx_record_view *out, mx_error *err) {
  const void *rec = NULL;
  size_t len = 0;
  MX_TRY(mx_store_get(t, internal_id, &rec, &len, err));
  mx_status st = mx_record_view_prefix(rec, len, internal_id, 0, prefix, verified_from, t->s->verify, out, err);
  /* Every record in a store was written by the codec: one that does not
   * parse (bad header, a length that does not add up, an unknown version)
   * is as corrupt as one whose checksum fails, and callers that skip
   * corrupt records must be able to skip it too. */
  if (st == MX_ERR_FORMAT || st == MX_ERR_VERSION) {
    return mx_fail_as(err, MX_ERR_CORRUPT, "%s: record id %" PRIu64 " is corrupt", t->s->dir,
                      internal_id);
  }
  if (st)
    return mx_fail_context(err, st, "%s: record id %" PRIu64, t->s->dir, internal_id);
  return MX_OK;
}

/* Record id's bytes for the prefetch paths: through the fast tables when
 * they know it (no B-tree descent), else through the B-tree. */
static int find_record(mx_store_txn *t, uint64_t id, MDB_val *v) {
  size_t len;
  const void *rec = mx_store_fast_record(t, id, &len);
  if (rec) {
    v->mv_data = (void *)rec;
    v->mv_size = len;
    return 1;
  }
  unsigned char kb[8];
  key_be64(kb, id);
  return txn_get(t, DB_GROUPS, kb, 8, v) == MX_OK;
}

/* Candidates handled per round of mx_store_prefetch (its only scratch, on
 * the stack). */
#define PREFETCH_CHUNK 256

/* Candidates whose prefixes mx_store_prefetch checks for residency first. */
#define PREFETCH_SAMPLE 8

int mx_store_prefixes_resident(mx_store_txn *t, const uint64_t *internal_ids, size_t n,
                               uint32_t prefix) {
  if (!t || !internal_ids || n == 0)
    return 1;
  size_t step = n / PREFETCH_SAMPLE ? n / PREFETCH_SAMPLE : 1;
  for (size_t i = 0; i < n; i += step) {
    MDB_val v;
    if (!find_record(t, internal_ids[i], &v))
      continue; /* the read reports it */
    /* the header page first: reading the header would bring it in */
    if (!mx_store_range_resident(t->s, v.mv_data, 1))
      return 0;
    size_t want = mx_record_prefix_bytes(v.mv_data, v.mv_size, prefix);
    if (want == 0 || want > v.mv_size)
      want = v.mv_size;
    if (!mx_store_range_resident(t->s, v.mv_data, want))
      return 0;
  }
  return 1;
}

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
      found[i] = find_record(t, internal_ids[start + i], &vals[i]);
      if (found[i])
        mx_store_advise_range(t->s, vals[i].mv_data, 1);
    }
    /* Pass 2: read each header (now in flight) for the prefix's extent and
     * hint the whole prefix. */
    for (size_t i = 0; i < m; i++) {
      if (!found[i])
        continue;
      size_t want = mx_record_prefix_bytes(vals[i].mv_data, vals[i].mv_size, prefix);
      if (want == 0 || want > vals[i].mv_size)
        want = vals[i].mv_size;
      hinted += mx_store_advise_range(t->s, vals[i].mv_data, want);
    }
  }
  return hinted;
}

mx_status mx_store_get_key(mx_store_txn *t, uint64_t internal_id, const void **key, size_t *key_len,
                           mx_error *err) {
  if (!t->s->has_db[DB_IDS])
    return mx_fail(err, MX_ERR_NOT_FOUND, "%s: the store has no external keys", t->s->dir);
  return get_by_id(t, DB_IDS, internal_id, "external key for", "key of", key, key_len, err);
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
    mx_store_format_key(key, key_len, text, sizeof text);
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
