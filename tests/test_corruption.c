/* test_corruption.c: hostile bytes in a built index. Copies of a small f16
 * index get one random byte changed (seeded, many trials) in store/data.mdb,
 * coarse.faiss or manifest.json; then mx_index_verify, mx_index_open and
 * searches (plain, cascade, skip_corrupt) must notice or be unaffected:
 * never a crash (each trial runs in a child process), never a wrong score
 * returned as success (every successful answer is compared with the
 * uncorrupted index's).
 *
 * What can and cannot be detected, as this test finds it:
 * - record bytes (header or vectors, located by reading every record of the
 *   original and finding its bytes in data.mdb): always, by verify, and by
 *   a search that reads the damaged part (the checksum of each segment, or
 *   the header's structural checks); a search that does not read it
 *   returns exactly the uncorrupted answer.
 * - coarse.faiss: always (length + XXH3-64 in the manifest), at open.
 * - manifest.json: always, by its own checksum (manifest_xxh3, over every
 *   byte before that last field), at open and by verify; only the
 *   whitespace after the checksum is not covered, and changing it changes
 *   nothing.
 * - other LMDB bytes (meta pages, B-tree nodes, free and unused space): LMDB
 *   has no page checksums; changes are found only when they break the tree
 *   or the id sequence (verify) and may be invisible in unused space. Only
 *   "no crash and no wrong answer" is asserted for them. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "helpers.h"
#include "metaidx.h"
#include "store.h"

#define DIM 32
#define R 16
#define N 240
#define NQ 4
#define RQ 4
#define K 10
#define TRIALS 200

typedef enum where {
  IN_RECORD = 0, /* a byte of some record's value */
  IN_NODE,       /* the 16 bytes before a record: LMDB node header + key */
  IN_STORE,      /* anywhere in data.mdb */
  IN_COARSE,
  IN_MANIFEST,
  N_WHERE
} where;
static const char *where_names[] = {"record", "lmdb-node", "data.mdb", "coarse.faiss",
                                    "manifest.json"};

/* What one trial saw (written by the child to a pipe). */
typedef struct outcome {
  int crashed;              /* set by the parent */
  uint64_t verify_problems; /* mx_index_verify's count */
  int verify_status;
  int open_status;
  int search_errors;       /* searches that failed (skip_corrupt = 0) */
  int search_corrupt;      /* ... with MX_ERR_CORRUPT */
  int search_other_status; /* the last non-CORRUPT failure, or 0 */
  int searches_ok;
  int skipped_runs;   /* skip_corrupt searches that skipped something */
  uint64_t skipped;   /* corrupt_skipped summed */
  int skip_failures;  /* skip_corrupt searches that still failed */
  int wrong;          /* successful answers that differ: must stay 0 */
  char note[640];     /* what went wrong first */
} outcome;

typedef struct fixture {
  char *tmp;
  char dir[PATH_MAX];
  float queries[NQ * RQ * DIM];
  /* baselines: full ranking (k = N, candidates = N, budget (RQ, R)) gives
   * each document's exact score; the cascade and small-budget answers are
   * compared hit for hit */
  float full_score[NQ][N];
  mx_hit cascade[NQ][K];
  uint32_t n_cascade[NQ];
  mx_hit small[NQ][K];
  uint32_t n_small[NQ];
  /* where the records are in data.mdb */
  size_t rec_off[N], rec_len[N];
  unsigned char *data, *coarse, *manifest;
  size_t data_len, coarse_len, manifest_len;
  size_t seal_offset; /* manifest bytes before it are checksummed */
} fixture;

static void search_opts(mx_search_options *o, int kind) {
  mx_search_options_init(o);
  o->k = K;
  o->candidates = N;
  if (kind == 0) { /* full: every record, every vector */
    o->k = N;
    o->r_q = RQ;
    o->r_c = R;
  } else if (kind == 1) { /* cascade (2,4) keep 40, then (4,16) */
    o->n_stages = 1;
    o->stages[0] = (mx_stage){2, 4, 40};
    o->r_q = RQ;
    o->r_c = R;
  } else { /* small budget: only the first 4 vectors are read */
    o->r_q = 2;
    o->r_c = 4;
  }
}

static unsigned char *slurp(const char *dir, const char *name, size_t *len) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  char *buf;
  mx_error err;
  cr_assert_eq(mx_read_file(path, 64u << 20, &buf, len, &err), MX_OK, "%s", err.message);
  return (unsigned char *)buf;
}

static void spit(const char *dir, const char *name, const void *data, size_t len) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "%s", path);
  cr_assert_eq(fwrite(data, 1, len, f), len);
  cr_assert_eq(fclose(f), 0);
}

static void fixture_make(fixture *f) {
  memset(f, 0, sizeof *f);
  f->tmp = mx_test_tmpdir("corruption");
  snprintf(f->dir, sizeof f->dir, "%s/ix", f->tmp);
  mx_test_rng rng = {2026};
  float *docs = malloc((size_t)N * R * DIM * sizeof(float));
  cr_assert_not_null(docs);
  mx_test_random_unit_vectors(&rng, docs, (size_t)N * R, DIM);
  mx_test_random_unit_vectors(&rng, f->queries, NQ * RQ, DIM);
  mx_build_options bo;
  mx_build_options_init(&bo);
  bo.dtype = MX_DTYPE_F16;
  bo.coarse_factory = "Flat";
  mx_builder *b = NULL;
  mx_error err;
  cr_assert_eq(mx_builder_open(f->dir, DIM, R, &bo, &b, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_builder_add(b, N, NULL, NULL, NULL, docs, MX_DTYPE_F32, &err), MX_OK, "%s",
               err.message);
  cr_assert_eq(mx_builder_finish(b, &err), MX_OK, "%s", err.message);
  free(docs);

  mx_index *ix = NULL;
  cr_assert_eq(mx_index_open(f->dir, NULL, &ix, &err), MX_OK, "%s", err.message);
  for (int q = 0; q < NQ; q++) {
    mx_search_options o;
    mx_hit hits[N];
    uint32_t n = 0;
    search_opts(&o, 0);
    cr_assert_eq(mx_search(ix, f->queries + q * RQ * DIM, RQ, &o, hits, &n, NULL, &err), MX_OK,
                 "%s", err.message);
    cr_assert_eq(n, N);
    for (uint32_t i = 0; i < n; i++)
      f->full_score[q][hits[i].doc] = hits[i].score;
    search_opts(&o, 1);
    cr_assert_eq(mx_search(ix, f->queries + q * RQ * DIM, RQ, &o, f->cascade[q], &f->n_cascade[q],
                           NULL, &err),
                 MX_OK, "%s", err.message);
    search_opts(&o, 2);
    cr_assert_eq(
        mx_search(ix, f->queries + q * RQ * DIM, RQ, &o, f->small[q], &f->n_small[q], NULL, &err),
        MX_OK, "%s", err.message);
  }
  mx_index_close(ix);

  f->data = slurp(f->dir, "store/data.mdb", &f->data_len);
  f->coarse = slurp(f->dir, "coarse.faiss", &f->coarse_len);
  f->manifest = slurp(f->dir, "manifest.json", &f->manifest_len);
  const char *seal = memmem(f->manifest, f->manifest_len, "\"manifest_xxh3\"", 15);
  cr_assert_not_null(seal);
  f->seal_offset = (size_t)(seal - (const char *)f->manifest);

  /* locate every record's bytes in data.mdb: read it through the store,
   * find the same bytes in the file (random vectors make them unique) */
  char store_dir[PATH_MAX + 8];
  snprintf(store_dir, sizeof store_dir, "%s/store", f->dir);
  mx_store *st = NULL;
  cr_assert_eq(mx_store_open(store_dir, NULL, &st, &err), MX_OK, "%s", err.message);
  mx_store_txn *txn = NULL;
  cr_assert_eq(mx_store_txn_begin(st, &txn, &err), MX_OK, "%s", err.message);
  for (uint64_t id = 0; id < N; id++) {
    const void *rec;
    size_t len;
    cr_assert_eq(mx_store_get(txn, id, &rec, &len, &err), MX_OK, "%s", err.message);
    const unsigned char *at = memmem(f->data, f->data_len, rec, len);
    cr_assert_not_null(at, "record %llu not found in data.mdb", (unsigned long long)id);
    cr_assert_null(memmem(at + 1, f->data_len - (size_t)(at + 1 - f->data), rec, len),
                   "record %llu found twice", (unsigned long long)id);
    f->rec_off[id] = (size_t)(at - f->data);
    f->rec_len[id] = len;
    cr_assert_geq(f->rec_off[id], 16);
  }
  mx_store_txn_end(txn);
  mx_store_close(st);
}

static void fixture_free(fixture *f) {
  free(f->data);
  free(f->coarse);
  free(f->manifest);
  mx_test_tmpdir_remove(f->tmp);
}

static void note(outcome *o, const char *fmt, const char *a, int b) {
  if (!o->note[0])
    snprintf(o->note, sizeof o->note, fmt, a, b);
}

static void note_err(outcome *o, const mx_error *err) {
  size_t n = strlen(o->note);
  if (n && n + 3 < sizeof o->note && !strstr(o->note, ": "))
    snprintf(o->note + n, sizeof o->note - n, ": %s", err->message);
}

static int same_hits(const mx_hit *a, uint32_t na, const mx_hit *b, uint32_t nb) {
  if (na != nb)
    return 0;
  for (uint32_t i = 0; i < na; i++)
    if (a[i].doc != b[i].doc || a[i].id != b[i].id || a[i].score != b[i].score)
      return 0;
  return 1;
}

/* A skip_corrupt answer: each hit scored exactly as in the original, best
 * first, and at most `skipped` better documents missing. */
static int plausible_skip(const fixture *f, int q, const mx_hit *h, uint32_t n, uint64_t skipped,
                          int kind) {
  for (uint32_t i = 0; i < n; i++) {
    if (h[i].doc >= N)
      return 0;
    if (kind != 2 && h[i].score != f->full_score[q][h[i].doc])
      return 0;
    if (i > 0 && h[i].score > h[i - 1].score)
      return 0;
  }
  if (kind == 2 || n == 0)
    return 1;
  uint64_t better_missing = 0;
  for (uint64_t d = 0; d < N; d++) {
    if (f->full_score[q][d] <= h[n - 1].score)
      continue;
    int found = 0;
    for (uint32_t i = 0; i < n && !found; i++)
      found = h[i].doc == d;
    better_missing += !found;
  }
  /* a cascade may also lose documents that the first stage would have let through */
  return kind == 1 || better_missing <= skipped;
}

static void run_trial(const fixture *f, const char *copy, outcome *o) {
  mx_error err;
  mx_verify_report rep;
  o->verify_status = mx_index_verify(copy, NULL, NULL, &rep, &err);
  o->verify_problems = o->verify_status == MX_OK ? rep.problems : 0;

  mx_index *ix = NULL;
  o->open_status = mx_index_open(copy, NULL, &ix, &err);
  if (o->open_status != MX_OK) {
    if (o->open_status != MX_ERR_CORRUPT && o->open_status != MX_ERR_FORMAT &&
        o->open_status != MX_ERR_VERSION)
      note(o, "open failed with %s (%d)", mx_status_name(o->open_status), 0);
    note_err(o, &err);
    return;
  }
  for (int q = 0; q < NQ; q++) {
    const float *query = f->queries + q * RQ * DIM;
    for (int kind = 0; kind < 3; kind++) {
      for (int skip = 0; skip <= 1; skip++) {
        mx_search_options so;
        search_opts(&so, kind);
        so.skip_corrupt = skip;
        mx_hit hits[N];
        uint32_t n = 0;
        mx_search_stats stats;
        mx_status s = mx_search(ix, query, RQ, &so, hits, &n, &stats, &err);
        if (!skip && s != MX_OK) {
          o->search_errors++;
          if (s == MX_ERR_CORRUPT) {
            o->search_corrupt++;
          } else {
            o->search_other_status = s;
            note(o, "search failed with %s (query %d)", mx_status_name(s), q);
            note_err(o, &err);
          }
          continue;
        }
        if (skip && s != MX_OK) {
          /* a damaged B-tree can leave the transaction unusable: then even
           * skip_corrupt fails, but only with MX_ERR_CORRUPT */
          o->skip_failures++;
          if (s != MX_ERR_CORRUPT) {
            note(o, "skip_corrupt search failed with %s (query %d)", mx_status_name(s), q);
            note_err(o, &err);
          }
          continue;
        }
        if (skip && stats.corrupt_skipped > 0) {
          o->skipped_runs++;
          o->skipped += stats.corrupt_skipped;
          if (!plausible_skip(f, q, hits, n, stats.corrupt_skipped, kind)) {
            o->wrong++;
            note(o, "skip_corrupt answer has wrong scores or order (%s, query %d)",
                 kind == 0 ? "full" : kind == 1 ? "cascade" : "small", q);
          }
          continue;
        }
        if (!skip)
          o->searches_ok++;
        int ok;
        if (kind == 0) {
          ok = n == N;
          for (uint32_t i = 0; ok && i < n; i++)
            ok = hits[i].doc < N && hits[i].score == f->full_score[q][hits[i].doc] &&
                 (i == 0 || hits[i].score <= hits[i - 1].score);
        } else if (kind == 1) {
          ok = same_hits(hits, n, f->cascade[q], f->n_cascade[q]);
        } else {
          ok = same_hits(hits, n, f->small[q], f->n_small[q]);
        }
        if (!ok) {
          o->wrong++;
          note(o, "a successful search gave a different answer (%s, query %d)",
               kind == 0 ? "full" : kind == 1 ? "cascade" : "small", q);
        }
      }
    }
  }
  mx_index_close(ix);
}

/* Runs run_trial in a child so that a crash is an outcome, not the end. */
static outcome trial_in_child(const fixture *f, const char *copy) {
  outcome o;
  memset(&o, 0, sizeof o);
  int fd[2];
  cr_assert_eq(pipe(fd), 0);
  fflush(NULL);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    close(fd[0]);
    outcome c;
    memset(&c, 0, sizeof c);
    run_trial(f, copy, &c);
    ssize_t w = write(fd[1], &c, sizeof c);
    _exit(w == (ssize_t)sizeof c ? 0 : 3);
  }
  close(fd[1]);
  ssize_t got = read(fd[0], &o, sizeof o);
  close(fd[0]);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  if (got != (ssize_t)sizeof o || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    memset(&o, 0, sizeof o);
    o.crashed = 1;
    snprintf(o.note, sizeof o.note, "child %s %d", WIFSIGNALED(wstatus) ? "killed by signal" : "exit",
             WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus));
  }
  return o;
}

Test(corruption, random_byte_flips_are_detected_or_harmless, .timeout = 600) {
  fixture *f = calloc(1, sizeof *f);
  cr_assert_not_null(f);
  fixture_make(f);
  char copy[PATH_MAX], store[PATH_MAX];
  snprintf(copy, sizeof copy, "%s/copy", f->tmp);
  snprintf(store, sizeof store, "%s/copy/store", f->tmp);

  mx_test_rng rng = {4242};
  int tried[N_WHERE] = {0}, by_verify[N_WHERE] = {0}, refused[N_WHERE] = {0},
      search_err[N_WHERE] = {0}, skipped[N_WHERE] = {0}, invisible[N_WHERE] = {0};
  int failures = 0;
  for (int t = 0; t < TRIALS; t++) {
    /* in every 20 trials: 6 in record bytes, 3 in LMDB node headers/keys,
     * 5 anywhere in data.mdb, 3 in coarse.faiss, 3 in manifest.json */
    int b = t % 20;
    where w = b < 6 ? IN_RECORD : b < 9 ? IN_NODE : b < 14 ? IN_STORE : b < 17 ? IN_COARSE
                                                                             : IN_MANIFEST;
    unsigned char *data = w <= IN_STORE ? f->data : w == IN_COARSE ? f->coarse : f->manifest;
    size_t len = w <= IN_STORE ? f->data_len : w == IN_COARSE ? f->coarse_len : f->manifest_len;
    uint64_t doc = mx_test_rng_below(&rng, N);
    size_t off;
    if (w == IN_RECORD)
      off = f->rec_off[doc] + mx_test_rng_below(&rng, f->rec_len[doc]);
    else if (w == IN_NODE)
      off = f->rec_off[doc] - 16 + mx_test_rng_below(&rng, 16);
    else
      off = mx_test_rng_below(&rng, len);
    unsigned char mask = (unsigned char)(1 + mx_test_rng_below(&rng, 255));

    mx_error err;
    cr_assert_eq(mx_remove_tree(copy, &err), MX_OK, "%s", err.message);
    cr_assert_eq(mx_mkdir_p(store, &err), MX_OK, "%s", err.message);
    data[off] ^= mask;
    spit(copy, "store/data.mdb", f->data, f->data_len);
    spit(copy, "coarse.faiss", f->coarse, f->coarse_len);
    spit(copy, "manifest.json", f->manifest, f->manifest_len);
    data[off] ^= mask;

    outcome o = trial_in_child(f, copy);
    tried[w]++;
    int detected_verify = o.verify_status == MX_OK && o.verify_problems > 0;
    int refused_open = o.open_status != MX_OK;
    by_verify[w] += detected_verify;
    refused[w] += refused_open;
    search_err[w] += o.search_corrupt > 0 || o.search_errors > 0;
    skipped[w] += o.skipped_runs > 0;
    int visible = detected_verify || refused_open || o.search_errors > 0;
    invisible[w] += !visible;

    int bad = o.crashed || o.wrong > 0 || o.note[0] != '\0' || o.verify_status != MX_OK;
    if (w == IN_RECORD || w == IN_COARSE)
      bad |= !detected_verify; /* always detectable */
    if (w == IN_COARSE)
      bad |= !refused_open;
    if (w == IN_MANIFEST && off < f->seal_offset)
      bad |= !detected_verify || !refused_open; /* its own checksum */
    if (w == IN_RECORD && !refused_open) {
      /* the full search reads every vector of every record */
      bad |= o.search_corrupt < NQ;
      /* and skip_corrupt then skips it and still answers */
      bad |= o.skipped_runs < NQ || o.skip_failures > 0;
    }
    /* whatever open or a search notices, verify reports too */
    if (refused_open || o.search_errors > 0)
      bad |= !detected_verify;
    fprintf(stderr,
            "trial %2d %-13s off %7zu ^%02x: verify %llu problem(s), open %s, search errors "
            "%d (corrupt %d), ok %d, skipped %llu in %d runs%s%s\n",
            t, where_names[w], off, mask, (unsigned long long)o.verify_problems,
            mx_status_name(o.open_status), o.search_errors, o.search_corrupt, o.searches_ok,
            (unsigned long long)o.skipped, o.skipped_runs, o.note[0] ? ": " : "", o.note);
    if (bad) {
      failures++;
      cr_log_error("trial %d (%s, offset %zu, xor 0x%02x) failed: %s%s", t, where_names[w], off,
                   mask, o.crashed ? "CRASH " : "", o.note[0] ? o.note : "not detected");
    }
  }
  fprintf(stderr, "corruption: %d trials\n", TRIALS);
  for (int w = 0; w < N_WHERE; w++)
    fprintf(stderr,
            "  %-13s %2d trials: verify reported %2d, open refused %2d, search error %2d, "
            "skip_corrupt skipped %2d, invisible %2d\n",
            where_names[w], tried[w], by_verify[w], refused[w], search_err[w], skipped[w],
            invisible[w]);
  cr_expect_eq(failures, 0, "%d of %d trials failed (see the log above)", failures, TRIALS);
  fixture_free(f);
  free(f);
}
