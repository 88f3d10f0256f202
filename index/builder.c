/* builder.c: the offline builder. Streams documents into the store in id
 * order, samples leading vectors, then trains and fills the coarse index
 * and publishes the finished directory with one rename. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "builder.h"
#include "coarse.h"
#include "dtype.h"
#include "first_stage.h"
#include "first_stage_trial.h"
#include "pseudo.h"
#include "fsutil.h"
#include "hash.h"
#include "layout.h"
#include "manifest.h"
#include "metaidx.h"
#include "record.h"
#include "status.h"
#include "store.h"
#include "vectors.h"
#include "clock.h"

/* Leading vectors read back from the store per mx_coarse_add call. */
#define ADD_BATCH 4096
/* Memory the training reservoir may take, whatever d is. */
#define SAMPLE_BYTES_MAX ((uint64_t)512 << 20)
#define SAMPLE_VECTORS_MAX 262144u
#define MX_JSON_INT_MAX ((1ull << 53) - 1)

struct mx_builder {
  char dir[PATH_MAX];
  char tmp[PATH_MAX];  /* "<dir>.building": where the build happens */
  char lock[PATH_MAX]; /* "<dir>.building.lock": one build per target */
  int lock_fd;
  int tmp_created; /* this builder made b->tmp (so aborting removes it) */
  uint32_t dim, input_vectors, stored_vectors;
  mx_build_options opts;
  char factory[256];
  mx_budget budgets[MX_MAX_BUDGETS];
  uint32_t n_budgets;
  mx_segments segments;
  size_t record_bytes;
  mx_store *store;
  uint64_t n_docs;
  float *sample; /* reservoir of leading vectors, sample_cap x dim */
  uint64_t sample_cap, sample_n, rng;
  float *scratch; /* one document's kept vectors as f32, for --normalize */
  unsigned char index_id[MX_INDEX_ID_BYTES]; /* this build's identity */
  int failed;
};

void mx_build_options_init(mx_build_options *o) {
  if (!o)
    return;
  memset(o, 0, sizeof *o);
  o->dtype = MX_DTYPE_F16;
  o->id_kind = MX_IDS_ROW;
  o->seed = 42;
  o->first_stage = MX_FIRST_STAGE_AUTO;
  /* MX_BUILD_CALIBRATE=0 in the environment turns the default off (the test
   * suite's own builds, which do not test calibration, set it for speed). */
  const char *cal = getenv("MX_BUILD_CALIBRATE");
  o->calibrate = !(cal && strcmp(cal, "0") == 0);
  o->calibrate_seconds = MX_BUILD_CALIBRATE_SECONDS;
  o->calibrate_recall = MX_DEFAULT_RECALL;
}

/* The budget list to store: the caller's, or MetaEmbed's clipped to what is
 * kept (a budget wanting more vectors than are kept is dropped, and the
 * full kept count is always a budget). */
static mx_status choose_budgets(mx_builder *b, mx_error *err) {
  const mx_build_options *o = &b->opts;
  if (o->n_budgets > MX_MAX_BUDGETS)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "at most %d budgets, got %u", MX_MAX_BUDGETS,
                   o->n_budgets);
  if (o->n_budgets > 0) {
    for (uint32_t i = 0; i < o->n_budgets; i++) {
      mx_budget bu = o->budgets[i];
      if (bu.r_q > MX_MAX_VECTORS) /* the manifest's bound; refused here, before any work */
        return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "budget %ux%u: r_q is above %u", bu.r_q,
                       bu.r_c, MX_MAX_VECTORS);
      if (bu.r_q == 0 || bu.r_c == 0 || bu.r_c > b->stored_vectors)
        return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                       "budget %ux%u is invalid: r_q and r_c must be >= 1 and r_c <= %u "
                       "(vectors kept per document)",
                       bu.r_q, bu.r_c, b->stored_vectors);
      b->budgets[i] = bu;
    }
    b->n_budgets = o->n_budgets;
  } else { /* r_q is the query's: MetaEmbed's 16 bounds the one added */
    b->n_budgets = mx_budgets_default(16, b->stored_vectors, b->budgets);
  }
  return mx_segments_from_budgets(b->budgets, b->n_budgets, b->stored_vectors, &b->segments, err);
}

static mx_status check_first_stage(uint32_t vectors_per_doc, const mx_build_options *o,
                                   mx_error *err) {
  uint32_t kept = o->keep ? o->keep : vectors_per_doc;
  if (!mx_first_stage_name(o->first_stage))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "unknown first stage %d", (int)o->first_stage);
  if (o->first_stage == MX_FIRST_STAGE_LEADING && o->first_stage_vectors > 1)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "first_stage_vectors %u: the leading first stage uses 1 vector (choose "
                   "pooled or multi for more)",
                   o->first_stage_vectors);
  if (o->first_stage_vectors > kept)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "first_stage_vectors %u is more than the %u vectors kept per document",
                   o->first_stage_vectors, kept);
  if (o->first_stage_query_vectors > MX_MAX_VECTORS)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "first_stage_query_vectors %u is more than %u",
                   o->first_stage_query_vectors, MX_MAX_VECTORS);
  return MX_OK;
}

static mx_status check_options(uint32_t dim, uint32_t vectors_per_doc,
                               const mx_build_options *o, mx_error *err) {
  if (dim == 0 || dim > MX_MAX_DIM)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "dimension %u is out of range 1..%u", dim,
                   MX_MAX_DIM);
  if (vectors_per_doc == 0 || vectors_per_doc > MX_MAX_VECTORS)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "vectors per document %u is out of range 1..%u",
                   vectors_per_doc, MX_MAX_VECTORS);
  if (o->keep > vectors_per_doc)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "keep %u is more than the %u vectors each document has", o->keep,
                   vectors_per_doc);
  if (!mx_dtype_name(o->dtype))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "unknown stored dtype %d", (int)o->dtype);
  MX_TRY(check_first_stage(vectors_per_doc, o, err));
  if (o->id_kind != MX_IDS_ROW && o->id_kind != MX_IDS_U64 && o->id_kind != MX_IDS_STRING)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "unknown id kind %d", (int)o->id_kind);
  /* sizes from input: every product below must fit before it is formed */
  uint64_t sample = o->train_sample;
  if (o->expected_docs && sample > o->expected_docs)
    sample = o->expected_docs; /* as mx_builder_open sizes it */
  if (sample > SIZE_MAX / ((size_t)dim * sizeof(float)))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "train sample of %llu vectors of dimension %u does not fit in memory",
                   (unsigned long long)o->train_sample, dim);
  if (o->threads > MX_MAX_THREADS)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "threads %u is more than %d", o->threads,
                   MX_MAX_THREADS);
  if (o->seed > MX_JSON_INT_MAX) /* the manifest keeps integers exact in any JSON reader */
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "seed %llu is above 2^53-1",
                   (unsigned long long)o->seed);
  if (o->coarse_factory && strlen(o->coarse_factory) >= 256)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "coarse factory string longer than 255 bytes");
  if (o->calibrate && (!(o->calibrate_seconds >= 0 && o->calibrate_seconds < 1e9) ||
                       !(o->calibrate_recall > 0 && o->calibrate_recall <= 1)))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "calibrate_seconds %g (must be >= 0) or calibrate_recall %g (must be in (0, "
                   "1]) out of range",
                   o->calibrate_seconds, (double)o->calibrate_recall);
  return MX_OK;
}

/* Everything a build writes in its directory, which becomes the index. The
 * engine removes only these (see mx_owned_entry), so a user's file in an
 * index or in a build directory is never deleted. */
static const mx_owned_entry index_layout[] = {
    {MX_MANIFEST_NAME, 0},
    {MX_MANIFEST_NAME ".tmp.*", 0}, /* mx_write_file_atomic's, if killed */
    {MX_COARSE_NAME, 0},
    {MX_CALIBRATION_NAME, 0},
    {MX_CALIBRATION_NAME ".tmp.*", 0},
    {MX_STORE_NAME, 1},
    {MX_STORE_NAME "/" MX_STORE_DATA_FILE, 0},
    {MX_STORE_NAME "/" MX_STORE_LOCK_FILE, 0},
    {NULL, 0},
};

static int is_empty_dir(const char *path) {
  DIR *d = opendir(path);
  if (!d)
    return 0;
  struct dirent *e;
  int empty = 1;
  while (empty && (e = readdir(d)) != NULL)
    empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
  closedir(d);
  return empty;
}

/* An existing target may only be replaced if asked to, and only if it is an
 * index (marked as the engine's, or with a manifest: indexes built before
 * the marker) holding nothing but the engine's files, or is empty: never
 * replace a directory of someone else's files. Checked at open and again
 * just before the swap. */
static mx_status check_target(const char *dir, int overwrite, mx_error *err) {
  struct stat st;
  if (lstat(dir, &st) != 0)
    return MX_OK;
  if (!overwrite)
    return mx_fail(err, MX_ERR_EXISTS, "'%s' already exists (pass overwrite to replace it)", dir);
  char manifest[PATH_MAX];
  MX_TRY(mx_path_join(manifest, sizeof manifest, dir, MX_MANIFEST_NAME, err));
  if (!S_ISDIR(st.st_mode) ||
      !(mx_owned_dir_marked(dir) || mx_path_exists(manifest) || is_empty_dir(dir)))
    return mx_fail(err, MX_ERR_EXISTS,
                   "refusing to replace '%s': it is not a metaidx index (no %s)", dir,
                   MX_MANIFEST_NAME);
  mx_status s = mx_owned_tree_check(dir, index_layout, err);
  if (s != MX_OK)
    return mx_fail_context(err, s, "refusing to replace '%s'", dir);
  return MX_OK;
}

/* A build directory left by a killed build is removed only if it is one:
 * marked by the engine (or empty) and holding only the engine's files. */
static mx_status remove_stale_build(const mx_builder *b, mx_error *err) {
  struct stat st;
  if (lstat(b->tmp, &st) != 0)
    return MX_OK;
  if (!S_ISDIR(st.st_mode) || !(mx_owned_dir_marked(b->tmp) || is_empty_dir(b->tmp)))
    return mx_fail(err, MX_ERR_EXISTS,
                   "'%s' is in the way and is not a build directory of metaidx; remove it "
                   "or build elsewhere",
                   b->tmp);
  mx_status s = mx_owned_tree_check(b->tmp, index_layout, err);
  if (s == MX_OK)
    s = mx_owned_tree_remove(b->tmp, index_layout, err);
  if (s != MX_OK)
    return mx_fail_context(err, s, "not removing the earlier build's '%s'", b->tmp);
  return MX_OK;
}

#define LOCK_TEXT "metaidx build lock\n"

/* Creates the target's parent directory if needed, then takes the lock:
 * an flock on "<dir>.building.lock". The holder unlinks the file before it
 * lets go, so a build that opened the file and then got the lock may hold
 * an orphan: it checks that the path still names the file it locked, and
 * otherwise tries again. A BUSY build never unlinks the file (the bug of
 * issue 12: that let a third build lock a fresh file beside the first). */
static mx_status take_lock(mx_builder *b, mx_error *err) {
  char parent[PATH_MAX];
  snprintf(parent, sizeof parent, "%s", b->dir);
  char *slash = strrchr(parent, '/');
  if (slash && slash != parent) {
    *slash = '\0';
    MX_TRY(mx_mkdir_p(parent, err));
  }
  for (int attempt = 0; attempt < 100; attempt++) {
    int fd = open(b->lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
      return mx_fail(err, mx_status_from_errno(errno), "cannot create '%s': %s", b->lock,
                     strerror(errno));
    struct stat held, named;
    char head[sizeof LOCK_TEXT - 1];
    ssize_t got = 0;
    if (fstat(fd, &held) == 0 && held.st_size > 0)
      got = pread(fd, head, sizeof head, 0);
    if (!S_ISREG(held.st_mode) ||
        (held.st_size > 0 && (got != (ssize_t)sizeof head || memcmp(head, LOCK_TEXT, sizeof head)))) {
      close(fd);
      return mx_fail(err, MX_ERR_EXISTS, "'%s' exists and is not a metaidx lock file", b->lock);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      close(fd);
      return mx_fail(err, MX_ERR_BUSY, "another build of '%s' is running (lock '%s')", b->dir,
                     b->lock);
    }
    if (fstat(fd, &held) == 0 && stat(b->lock, &named) == 0 && held.st_dev == named.st_dev &&
        held.st_ino == named.st_ino) {
      ssize_t put = held.st_size == 0 ? pwrite(fd, LOCK_TEXT, sizeof LOCK_TEXT - 1, 0)
                                       : (ssize_t)sizeof LOCK_TEXT - 1;
      if (put != (ssize_t)sizeof LOCK_TEXT - 1) {
        /* a short or failed write would leave a file that no later build
         * recognises as a lock: ours (still held), so remove it */
        int e = put < 0 ? errno : ENOSPC;
        unlink(b->lock);
        close(fd);
        return mx_fail(err, mx_status_from_errno(e), "cannot write '%s': %s", b->lock,
                       strerror(e));
      }
      b->lock_fd = fd;
      return MX_OK;
    }
    close(fd); /* an orphan, unlinked by the build that held it: again */
  }
  return mx_fail(err, MX_ERR_BUSY, "cannot take the lock '%s': it keeps being replaced", b->lock);
}

/* Unlinks the lock file while still holding it (see take_lock). */
static void release_lock(mx_builder *b) {
  if (b->lock_fd >= 0) {
    unlink(b->lock);
    close(b->lock_fd);
    b->lock_fd = -1;
  }
}

static void builder_free(mx_builder *b) {
  mx_store_close(b->store);
  free(b->sample);
  free(b->scratch);
  release_lock(b);
  free(b);
}

void mx_builder_abort(mx_builder *b) {
  if (!b)
    return;
  mx_store_close(b->store);
  b->store = NULL;
  if (b->tmp_created)
    mx_owned_tree_remove(b->tmp, index_layout, NULL);
  builder_free(b);
}

/* A random identity for a new index (getrandom; should the kernel refuse,
 * a hash of the time, the process and an address, which still differs
 * between builds). */
static void new_index_id(unsigned char id[MX_INDEX_ID_BYTES]) {
  size_t got = 0;
  while (got < MX_INDEX_ID_BYTES) {
    ssize_t n = getrandom(id + got, MX_INDEX_ID_BYTES - got, 0);
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  if (got == MX_INDEX_ID_BYTES)
    return;
  uint64_t seed[3] = {mx_now_ns(), (uint64_t)getpid(), (uint64_t)(uintptr_t)id};
  mx_put_le64(id, mx_hash64(seed, sizeof seed));
  seed[0] ^= 0x9e3779b97f4a7c15ull;
  mx_put_le64(id + 8, mx_hash64(seed, sizeof seed));
}

mx_status mx_builder_open(const char *dir, uint32_t dim, uint32_t vectors_per_doc,
                          const mx_build_options *opts, mx_builder **out, mx_error *err) {
  if (!dir || !out)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_builder_open: NULL dir or out");
  *out = NULL;
  mx_build_options defaults;
  mx_build_options_init(&defaults);
  if (!opts)
    opts = &defaults;
  MX_TRY(check_options(dim, vectors_per_doc, opts, err));
  mx_builder *b = calloc(1, sizeof *b);
  if (!b)
    return mx_fail(err, MX_ERR_NO_MEMORY, "cannot allocate a builder");
  b->lock_fd = -1;
  b->opts = *opts;
  b->opts.coarse_factory = NULL;
  if (opts->coarse_factory)
    snprintf(b->factory, sizeof b->factory, "%s", opts->coarse_factory);
  b->dim = dim;
  b->input_vectors = vectors_per_doc;
  b->stored_vectors = opts->keep ? opts->keep : vectors_per_doc;
  b->rng = opts->seed;
  new_index_id(b->index_id);
  size_t len = strlen(dir);
  while (len > 1 && dir[len - 1] == '/')
    len--;
  mx_status s = MX_OK;
  if (len + sizeof ".building.lock" >= sizeof b->dir)
    s = mx_fail(err, MX_ERR_INVALID_ARGUMENT, "index path too long: '%s'", dir);
  if (s == MX_OK) {
    snprintf(b->dir, sizeof b->dir, "%.*s", (int)len, dir);
    /* fits: checked above */
    memcpy(b->tmp, b->dir, len);
    memcpy(b->tmp + len, ".building", sizeof ".building");
    memcpy(b->lock, b->dir, len);
    memcpy(b->lock + len, ".building.lock", sizeof ".building.lock");
    s = choose_budgets(b, err);
  }
  if (s == MX_OK)
    s = check_target(b->dir, opts->overwrite, err);
  if (s == MX_OK)
    s = take_lock(b, err);
  if (s == MX_OK)
    s = remove_stale_build(b, err); /* a killed earlier build: start over */
  if (s == MX_OK)
    s = mx_owned_dir_create(b->tmp, err);
  if (s == MX_OK)
    b->tmp_created = 1;
  if (s != MX_OK) {
    builder_free(b);
    return s;
  }
  b->record_bytes = mx_record_bytes(opts->dtype, dim, b->stored_vectors, b->segments.n);
  uint64_t cap = opts->train_sample;
  if (cap && opts->expected_docs && cap > opts->expected_docs)
    cap = opts->expected_docs; /* a sample never holds more than N */
  if (cap == 0) {
    cap = SAMPLE_BYTES_MAX / ((uint64_t)dim * sizeof(float));
    if (cap > SAMPLE_VECTORS_MAX)
      cap = SAMPLE_VECTORS_MAX;
  }
  b->sample_cap = cap;
  b->sample = malloc(cap * dim * sizeof(float));
  b->scratch = malloc((size_t)b->stored_vectors * dim * sizeof(float));
  char store_dir[PATH_MAX];
  s = mx_path_join(store_dir, sizeof store_dir, b->tmp, MX_STORE_NAME, err);
  if (s == MX_OK && opts->expected_docs > UINT64_MAX / 2 / b->record_bytes)
    s = mx_fail(err, MX_ERR_INVALID_ARGUMENT, "expected_docs %llu is too large",
                (unsigned long long)opts->expected_docs);
  if (s == MX_OK && (!b->sample || !b->scratch))
    s = mx_fail(err, MX_ERR_NO_MEMORY, "cannot allocate a training sample of %llu vectors",
                (unsigned long long)cap);
  if (s == MX_OK)
    s = mx_store_create(store_dir, opts->expected_docs * b->record_bytes, &b->store, err);
  if (s != MX_OK) {
    mx_builder_abort(b);
    return s;
  }
  *out = b;
  return MX_OK;
}

/* Checks every kept vector of the batch before any of it is written
 * (common/vectors.h: the rule `metaidx build` applies to its files too). */
static mx_status check_batch(const mx_builder *b, uint64_t n, const void *vectors,
                             mx_dtype input, mx_error *err) {
  mx_vector_check bad;
  if (!mx_check_vectors(vectors, input, b->dim, n, b->input_vectors, b->stored_vectors,
                        !b->opts.normalize, &bad))
    return MX_OK;
  unsigned long long doc = b->n_docs + bad.row;
  switch (bad.fault) {
  case MX_VECTOR_NONFINITE:
    return mx_fail(err, MX_ERR_BAD_INPUT, "document %llu vector %u element %u is %s", doc,
                   bad.vector, bad.element, isnan(bad.value) ? "NaN" : "infinite");
  case MX_VECTOR_ZERO:
    return mx_fail(err, MX_ERR_BAD_INPUT, "document %llu vector %u is all zeros", doc,
                   bad.vector);
  case MX_VECTOR_NORM:
  case MX_VECTOR_OK:
    break;
  }
  return mx_fail(err, MX_ERR_BAD_INPUT,
                 "document %llu vector %u has norm %.4f, not 1 (L2-normalise the embeddings, or "
                 "build with normalize)",
                 doc, bad.vector, bad.norm);
}

/* One document's kept vectors as unit-norm f32 in b->scratch. */
static const float *normalized_doc(mx_builder *b, const void *doc, mx_dtype input) {
  for (uint32_t j = 0; j < b->stored_vectors; j++) {
    float *v = b->scratch + (size_t)j * b->dim;
    double norm = 0;
    for (uint32_t e = 0; e < b->dim; e++) {
      v[e] = mx_load_element(doc, input, (size_t)j * b->dim + e);
      norm += (double)v[e] * v[e];
    }
    /* in double: 1/norm overflows a float for norms below ~3e-39 */
    double inv = 1.0 / sqrt(norm);
    for (uint32_t e = 0; e < b->dim; e++)
      v[e] = (float)((double)v[e] * inv);
  }
  return b->scratch;
}

/* Reservoir sampling (Algorithm R) of leading vectors for training. */
static void sample_leading(mx_builder *b, const void *doc, mx_dtype input) {
  uint64_t slot = b->sample_n < b->sample_cap ? b->sample_n
                                               : mx_splitmix64(&b->rng) % (b->n_docs + 1);
  if (slot < b->sample_cap) {
    float *dst = b->sample + slot * b->dim;
    for (uint32_t e = 0; e < b->dim; e++)
      dst[e] = mx_load_element(doc, input, e);
  }
  if (b->sample_n < b->sample_cap)
    b->sample_n++;
}

/* The offset of the first byte that keeps a string id from being printed by
 * every run format (TREC fields are split at whitespace, JSON needs UTF-8):
 * a control character, a space, or bytes that are not UTF-8; len if none. */
static size_t unprintable_at(const unsigned char *s, size_t len) {
  for (size_t i = 0; i < len;) {
    unsigned c = s[i];
    if (c < 0x80) {
      if (c <= 0x20 || c == 0x7f)
        return i;
      i++;
      continue;
    }
    size_t more = c >= 0xc2 && c <= 0xdf   ? 1
                  : c >= 0xe0 && c <= 0xef ? 2
                  : c >= 0xf0 && c <= 0xf4 ? 3
                                           : 0;
    if (!more || len - i <= more) /* not a lead byte, or cut short */
      return i;
    /* the second byte's range excludes overlongs, surrogates, > U+10FFFF */
    unsigned lo = 0x80, hi = 0xbf;
    if (c == 0xe0)
      lo = 0xa0;
    else if (c == 0xed)
      hi = 0x9f;
    else if (c == 0xf0)
      lo = 0x90;
    else if (c == 0xf4)
      hi = 0x8f;
    if (s[i + 1] < lo || s[i + 1] > hi)
      return i;
    for (size_t k = 2; k <= more; k++)
      if (s[i + k] < 0x80 || s[i + k] > 0xbf)
        return i;
    i += more + 1;
  }
  return len;
}

static mx_status put_key(mx_builder *b, uint64_t i, const uint64_t *ids, const char *const *keys,
                         const size_t *key_lens, mx_error *err) {
  if (b->opts.id_kind == MX_IDS_U64) {
    unsigned char be[8];
    mx_put_be64(be, ids[i]);
    return mx_store_put_key(b->store, b->n_docs, be, sizeof be, err);
  }
  if (b->opts.id_kind == MX_IDS_STRING) {
    if (!keys[i])
      return mx_fail(err, MX_ERR_BAD_INPUT, "document %llu has a NULL id",
                     (unsigned long long)b->n_docs);
    size_t len = key_lens ? key_lens[i] : strlen(keys[i]);
    if (len == 0 || len > MX_MAX_KEY_BYTES)
      return mx_fail(err, MX_ERR_BAD_INPUT, "document %llu: id of %zu bytes (must be 1..%d)",
                     (unsigned long long)b->n_docs, len, MX_MAX_KEY_BYTES);
    size_t bad = unprintable_at((const unsigned char *)keys[i], len);
    if (bad < len)
      return mx_fail(err, MX_ERR_BAD_INPUT,
                     "document %llu: id byte %zu is 0x%02x: ids must be UTF-8 without spaces or "
                     "control characters, so that every run format can print them",
                     (unsigned long long)b->n_docs, bad, (unsigned)(unsigned char)keys[i][bad]);
    return mx_store_put_key(b->store, b->n_docs, keys[i], len, err);
  }
  return MX_OK;
}

mx_status mx_builder_add(mx_builder *b, uint64_t n, const uint64_t *ids, const char *const *keys,
                         const size_t *key_lens, const void *vectors, mx_dtype input_dtype,
                         mx_error *err) {
  if (!b)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_builder_add: NULL builder");
  if (b->failed)
    return mx_fail(err, MX_ERR_STATE, "an earlier add failed; abort this build");
  if (n == 0)
    return MX_OK;
  if (!vectors || (input_dtype != MX_DTYPE_F32 && input_dtype != MX_DTYPE_F16))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "mx_builder_add: vectors must be non-NULL f32 or f16");
  if ((b->opts.id_kind == MX_IDS_U64 && !ids) || (b->opts.id_kind == MX_IDS_STRING && !keys))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_builder_add: this build needs %s",
                   b->opts.id_kind == MX_IDS_U64 ? "ids" : "keys");
  mx_status s = check_batch(b, n, vectors, input_dtype, err);
  size_t elem = input_dtype == MX_DTYPE_F16 ? 2 : 4;
  size_t doc_bytes = (size_t)b->input_vectors * b->dim * elem;
  for (uint64_t i = 0; s == MX_OK && i < n; i++) {
    const unsigned char *doc = (const unsigned char *)vectors + i * doc_bytes;
    const void *src = doc;
    mx_dtype src_dtype = input_dtype;
    if (b->opts.normalize) {
      src = normalized_doc(b, doc, input_dtype);
      src_dtype = MX_DTYPE_F32;
    }
    void *dst;
    s = mx_store_append_reserve(b->store, b->n_docs, b->record_bytes, &dst, err);
    if (s == MX_OK)
      s = mx_record_encode(dst, b->record_bytes, b->n_docs, src, src_dtype, b->opts.dtype, b->dim,
                           b->stored_vectors, &b->segments, err);
    if (s == MX_OK)
      s = put_key(b, i, ids, keys, key_lens, err);
    if (s == MX_OK) {
      sample_leading(b, src, src_dtype);
      b->n_docs++;
    }
  }
  if (s != MX_OK) {
    b->failed = 1;
    return s;
  }
  if (b->opts.progress)
    b->opts.progress(b->opts.progress_ctx, "load", b->n_docs, b->opts.expected_docs);
  return MX_OK;
}

/* Trains the coarse index. The leading vector trains on (a prefix of) the
 * reservoir, itself a uniform sample, so any prefix is too; pooled and
 * multi entries are made from documents read back from the store at evenly
 * spaced ids. *trained: entries used. */
static mx_status train_coarse(mx_builder *b, mx_coarse *c, mx_store_txn *txn,
                              const mx_first_stage_choice *fs, uint64_t *trained, mx_error *err) {
  uint32_t e = mx_first_stage_entries_per_doc(fs->kind, fs->vectors);
  uint64_t want = mx_coarse_train_size(c, b->n_docs * e);
  const float *x = b->sample;
  float *made = NULL;
  if (fs->kind == MX_FIRST_STAGE_LEADING) {
    *trained = want < b->sample_n ? want : b->sample_n;
  } else {
    if (want > b->sample_cap)
      want = b->sample_cap; /* the same memory bound as the reservoir */
    uint64_t docs = (want + e - 1) / e;
    if (docs > b->n_docs)
      docs = b->n_docs;
    *trained = docs * e < want ? docs * e : want;
    made = *trained ? malloc((size_t)docs * e * b->dim * sizeof(float)) : NULL;
    if (*trained && !made)
      return mx_fail(err, MX_ERR_NO_MEMORY, "cannot allocate %llu training vectors",
                     (unsigned long long)(docs * e));
    for (uint64_t i = 0; i < docs; i++) {
      uint64_t doc = (uint64_t)((double)i * (double)b->n_docs / (double)docs);
      mx_record_view v;
      mx_status s = mx_store_read_prefix(txn, doc, fs->vectors, 0, &v, err);
      if (s != MX_OK) {
        free(made);
        return s;
      }
      for (uint32_t j = 0; j < fs->vectors; j++)
        mx_record_decode_vector(&v, j, b->scratch + (size_t)j * b->dim);
      mx_first_stage_doc_entries(fs->kind, fs->vectors, b->scratch, b->dim,
                                 made + (size_t)i * e * b->dim);
    }
    x = made;
  }
  mx_status s = MX_OK;
  if (*trained > 0) {
    if (b->opts.progress)
      b->opts.progress(b->opts.progress_ctx, "train", 0, *trained);
    s = mx_coarse_train(c, *trained, x, err);
    if (s == MX_OK && b->opts.progress)
      b->opts.progress(b->opts.progress_ctx, "train", *trained, *trained);
  }
  free(made);
  return s;
}

/* Adds every document's first-stage entries, made from its stored vectors
 * (read back from the store, so the coarse stage sees exactly what
 * rescoring will), labelled with its internal id. */
static mx_status add_entries(mx_builder *b, mx_coarse *c, mx_store_txn *txn,
                             const mx_first_stage_choice *fs, mx_error *err) {
  uint32_t e = mx_first_stage_entries_per_doc(fs->kind, fs->vectors);
  uint64_t per_batch = ADD_BATCH / e ? ADD_BATCH / e : 1;
  float *x = malloc((size_t)per_batch * e * b->dim * sizeof(float));
  uint64_t *ids = malloc((size_t)per_batch * e * sizeof(uint64_t));
  mx_status s = x && ids ? MX_OK : mx_fail(err, MX_ERR_NO_MEMORY, "cannot allocate a batch");
  for (uint64_t start = 0; s == MX_OK && start < b->n_docs; start += per_batch) {
    uint64_t n = b->n_docs - start < per_batch ? b->n_docs - start : per_batch;
    for (uint64_t i = 0; s == MX_OK && i < n; i++) {
      mx_record_view v;
      s = mx_store_read_prefix(txn, start + i, fs->vectors, 0, &v, err);
      if (s != MX_OK)
        break;
      for (uint32_t j = 0; j < fs->vectors; j++)
        mx_record_decode_vector(&v, j, b->scratch + (size_t)j * b->dim);
      mx_first_stage_doc_entries(fs->kind, fs->vectors, b->scratch, b->dim,
                                 x + (size_t)i * e * b->dim);
      for (uint32_t j = 0; j < e; j++)
        ids[i * e + j] = start + i;
    }
    if (s == MX_OK)
      s = mx_coarse_add(c, n * e, x, ids, err);
    if (s == MX_OK && b->opts.progress)
      b->opts.progress(b->opts.progress_ctx, "add", start + n, b->n_docs);
  }
  free(x);
  free(ids);
  return s;
}

/* The factory and default parameters: the caller's, or the default rule
 * for the entries the coarse index will hold. The rule sizes IVF lists from
 * the entry count; when the training sample is smaller, from the sample,
 * so every list trains on enough points. */
static void choose_factory(mx_builder *b, uint64_t entries, int leading, mx_coarse_params *defaults) {
  uint64_t sizable = leading ? b->sample_n : b->sample_cap;
  if (!b->factory[0])
    mx_coarse_default_factory(entries < sizable ? entries : sizable, b->dim, b->factory,
                              sizeof b->factory, defaults);
  if (b->opts.coarse_nprobe)
    defaults->nprobe = b->opts.coarse_nprobe;
}

/* The first stage to build: as asked, or measured (auto). */
static mx_status choose_first_stage(mx_builder *b, mx_store_txn *txn, mx_first_stage_choice *fs,
                                    mx_error *err) {
  memset(fs, 0, sizeof *fs);
  uint32_t m = b->opts.first_stage_vectors;
  if (b->opts.first_stage != MX_FIRST_STAGE_AUTO) {
    fs->kind = b->opts.first_stage;
    if (fs->kind == MX_FIRST_STAGE_LEADING)
      m = 1;
    else if (m == 0)
      m = MX_FIRST_STAGE_DEFAULT_VECTORS < b->stored_vectors ? MX_FIRST_STAGE_DEFAULT_VECTORS
                                                              : b->stored_vectors;
    fs->vectors = m;
    return MX_OK;
  }
  if (b->stored_vectors == 1) {
    *fs = (mx_first_stage_choice){MX_FIRST_STAGE_LEADING, 1, "not measured (1 vector per document)"};
    return MX_OK;
  }
  /* The code size of the index multi would get (two entries per document
   * is representative: the rule only switches at powers of the count). */
  char factory[256];
  snprintf(factory, sizeof factory, "%s", b->factory);
  if (!factory[0])
    mx_coarse_default_factory(b->n_docs * 2, b->dim, factory, sizeof factory, NULL);
  mx_first_stage_trial_input in = {
      .txn = txn,
      .n_docs = b->n_docs,
      .dim = b->dim,
      .stored = b->stored_vectors,
      .budgets = b->budgets,
      .n_budgets = b->n_budgets,
      .vectors = m,
      .query_cap = b->opts.first_stage_query_vectors,
      .max_bytes = b->opts.first_stage_max_bytes ? b->opts.first_stage_max_bytes
                                                 : MX_FIRST_STAGE_DEFAULT_MAX_BYTES,
      .code_bytes = mx_coarse_code_bytes(factory, b->dim),
      .seed = b->opts.seed,
  };
  if (b->opts.progress)
    b->opts.progress(b->opts.progress_ctx, "trial", 0, 0);
  return mx_first_stage_trial(&in, fs, err);
}

/* Builds coarse.faiss in the build directory from the finished store. */
static mx_status build_coarse(mx_builder *b, mx_first_stage_choice *fs, mx_coarse_params *defaults,
                              uint64_t *bytes, uint64_t *xxh3, uint64_t *trained, mx_error *err) {
  char path[PATH_MAX];
  MX_TRY(mx_path_join(path, sizeof path, b->tmp, MX_STORE_NAME, err));
  mx_store_open_options so;
  mx_store_open_options_init(&so);
  mx_store *reader = NULL;
  mx_store_txn *txn = NULL;
  mx_coarse *c = NULL;
  mx_status s = mx_store_open(path, &so, &reader, err);
  if (s == MX_OK)
    s = mx_store_txn_begin(reader, &txn, err);
  if (s == MX_OK)
    s = choose_first_stage(b, txn, fs, err);
  uint32_t e = mx_first_stage_entries_per_doc(fs->kind, fs->vectors);
  if (s == MX_OK) {
    choose_factory(b, b->n_docs * e, fs->kind == MX_FIRST_STAGE_LEADING, defaults);
    s = mx_coarse_create(b->factory, b->dim, &c, err);
  }
  if (s == MX_OK)
    s = mx_coarse_set_defaults(c, defaults, err);
  if (s == MX_OK) {
    mx_coarse_set_build_threads(c, (int)b->opts.threads);
    s = train_coarse(b, c, txn, fs, trained, err);
  }
  if (s == MX_OK)
    s = add_entries(b, c, txn, fs, err);
  mx_store_txn_end(txn);
  mx_store_close(reader);
  /* That reader created a default-sized reader table, which every later
   * open would inherit (LMDB only ever grows it), so
   * mx_open_options.max_readers could never lower it. The build is private
   * until published: remove it, as the writer does on close. */
  mx_store_remove_lock(path);
  if (s == MX_OK)
    s = mx_path_join(path, sizeof path, b->tmp, MX_COARSE_NAME, err);
  if (s == MX_OK)
    s = mx_coarse_write(c, path, bytes, xxh3, err);
  mx_coarse_free(c);
  return s;
}

static void fill_manifest(const mx_builder *b, const mx_first_stage_choice *fs,
                          const mx_coarse_params *defaults, uint64_t coarse_bytes,
                          uint64_t coarse_xxh3, uint64_t trained, mx_manifest *m) {
  mx_manifest_init(m);
  m->first_stage = fs->kind;
  m->first_stage_vectors = fs->vectors;
  m->first_stage_query_vectors = fs->kind == MX_FIRST_STAGE_LEADING ? 0
                                 : b->opts.first_stage_query_vectors;
  snprintf(m->first_stage_trial, sizeof m->first_stage_trial, "%s", fs->trial);
  m->dim = b->dim;
  m->vectors_per_doc = b->stored_vectors;
  m->input_vectors_per_doc = b->input_vectors;
  m->dtype = b->opts.dtype;
  m->n_budgets = b->n_budgets;
  memcpy(m->budgets, b->budgets, sizeof m->budgets);
  m->n_docs = b->n_docs;
  m->id_kind = b->opts.id_kind;
  snprintf(m->coarse_factory, sizeof m->coarse_factory, "%s", b->factory);
  m->coarse_nprobe = defaults->nprobe;
  m->coarse_ef_search = defaults->ef_search;
  m->train_sample = trained;
  m->seed = b->opts.seed;
  m->coarse_bytes = coarse_bytes;
  m->coarse_xxh3 = coarse_xxh3;
  memcpy(m->index_id, b->index_id, sizeof m->index_id);
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(m->created, sizeof m->created, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* renameat2(RENAME_NOREPLACE), or on a file system without it a check and a
 * plain rename (which can replace only an empty directory, losing
 * nothing). */
static int rename_noreplace(const char *from, const char *to) {
  if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
    return 0;
  if (errno != EINVAL && errno != ENOSYS)
    return -1;
  if (mx_path_exists(to)) {
    errno = EEXIST;
    return -1;
  }
  return rename(from, to);
}

/* Moves the finished build to its name, never over anything that was not
 * checked to be replaceable: without overwrite the rename refuses any
 * existing target (even one that appeared during the build); with it, the
 * target is checked again and the two directories are swapped atomically,
 * so a crash leaves the old index or the new one, and only the old index's
 * own files are removed afterwards. */
static mx_status publish(mx_builder *b, mx_error *err) {
  MX_TRY(mx_fsync_path(b->tmp, err));
  for (;;) {
    if (rename_noreplace(b->tmp, b->dir) == 0) {
      b->tmp_created = 0;
      return mx_fsync_parent(b->dir, err);
    }
    if (errno != EEXIST && errno != ENOTEMPTY)
      return mx_fail(err, mx_status_from_errno(errno), "cannot rename '%s' to '%s': %s", b->tmp,
                     b->dir, strerror(errno));
    if (!b->opts.overwrite)
      return mx_fail(err, MX_ERR_EXISTS,
                     "'%s' appeared while this build ran; it is left as it is and the build "
                     "is discarded (pass overwrite to replace an index)",
                     b->dir);
    MX_TRY(check_target(b->dir, 1, err));
    if (renameat2(AT_FDCWD, b->tmp, AT_FDCWD, b->dir, RENAME_EXCHANGE) == 0)
      break;
    if (errno != ENOENT) /* ENOENT: the target went away meanwhile; rename again */
      return mx_fail(err, mx_status_from_errno(errno), "cannot replace '%s': %s", b->dir,
                     strerror(errno));
  }
  b->tmp_created = 0;
  mx_status s = mx_fsync_parent(b->dir, err);
  /* Now the old index (also when that fsync failed: the swap is done, and
   * the old index must not stay behind as "<dir>.building"). Anything
   * foreign that got into it between the check and the swap stays there,
   * which the next build then refuses to clean up, naming the file. */
  (void)mx_owned_tree_remove(b->tmp, index_layout, NULL);
  return s;
}

static mx_status finish(mx_builder *b, mx_build_hook before_publish, mx_error *err) {
  if (b->failed)
    return mx_fail(err, MX_ERR_STATE, "an earlier add failed; abort this build");
  if (b->n_docs == 0)
    return mx_fail(err, MX_ERR_BAD_INPUT, "no documents were added");
  MX_TRY(mx_store_put_meta(b->store, MX_META_INDEX_ID, b->index_id, sizeof b->index_id, err));
  MX_TRY(mx_store_finish(b->store, err));
  mx_store_close(b->store);
  b->store = NULL;

  mx_coarse_params defaults = {0};
  mx_first_stage_choice fs;
  uint64_t bytes = 0, xxh3 = 0, trained = 0;
  MX_TRY(build_coarse(b, &fs, &defaults, &bytes, &xxh3, &trained, err));
  mx_manifest m;
  fill_manifest(b, &fs, &defaults, bytes, xxh3, trained, &m);
  MX_TRY(mx_manifest_write(b->tmp, &m, err));
  if (before_publish)
    MX_TRY(before_publish(b->tmp, &b->opts, err));
  return publish(b, err);
}

mx_status mx_builder_finish_with(mx_builder *b, mx_build_hook before_publish, mx_error *err) {
  if (!b)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_builder_finish: NULL builder");
  mx_status s = finish(b, before_publish, err);
  if (s != MX_OK) {
    mx_builder_abort(b);
    return s;
  }
  builder_free(b);
  return MX_OK;
}
