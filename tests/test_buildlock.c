/* test_buildlock.c: one build per target, whatever the interleaving
 * (issue 12, item 1). Builds of one directory race in threads of this
 * process and as real `metaidx build` processes paused with SIGSTOP at
 * chosen moments; a build that finds the lock held fails with BUSY and
 * leaves the lock alone, and the published index is always one build's,
 * whole: its manifest, store and coarse index agree, and every document
 * found by its own vectors is that build's document. */
#include <criterion/criterion.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fsutil.h"
#include "helpers.h"
#include "manifest.h"
#include "metaidx.h"
#include "npy.h"

#define DIM 16
#define R 4

static char *path_in(const char *dir, const char *name) {
  char *p = malloc(PATH_MAX);
  snprintf(p, PATH_MAX, "%s/%s", dir, name);
  return p;
}

/* A build's documents: seeded by their count, so the index tells whose. */
static float *docs_for(uint64_t n) {
  mx_test_rng rng = {1000 + n};
  float *v = malloc(n * R * DIM * sizeof(float));
  cr_assert_not_null(v);
  mx_test_random_unit_vectors(&rng, v, n * R, DIM);
  return v;
}

/* The index at dir is whole and one build's: verify finds nothing, the
 * store holds the manifest's count, and documents searched by their own
 * vectors come back first with the self-match score. Returns n_docs. */
static uint64_t assert_one_builds_index(const char *dir) {
  mx_manifest m;
  mx_error err;
  cr_assert_eq(mx_manifest_read(dir, &m, &err), MX_OK, "%s", err.message);
  mx_verify_report r;
  cr_assert_eq(mx_index_verify(dir, NULL, NULL, &r, &err), MX_OK, "%s", err.message);
  cr_assert_eq(r.problems, 0, "%s: verify found problems", dir);
  cr_assert_eq(r.records, m.n_docs, "%s: the store holds another build's records", dir);
  float *docs = docs_for(m.n_docs);
  mx_index *ix = NULL;
  cr_assert_eq(mx_index_open(dir, NULL, &ix, &err), MX_OK, "%s", err.message);
  mx_search_options so;
  mx_search_options_init(&so);
  so.k = 1;
  uint64_t probes[] = {0, m.n_docs / 2, m.n_docs - 1};
  for (int i = 0; i < 3; i++) {
    mx_hit hit;
    uint32_t nh = 0;
    cr_assert_eq(mx_search(ix, docs + probes[i] * R * DIM, R, &so, &hit, &nh, NULL, &err), MX_OK,
                 "%s", err.message);
    cr_assert_eq(nh, 1);
    cr_assert_eq(hit.doc, probes[i], "%s: document %llu is not this build's", dir,
                 (unsigned long long)probes[i]);
  }
  mx_index_close(ix);
  free(docs);
  return m.n_docs;
}

Test(buildlock, a_busy_open_does_not_break_the_lock) {
  char *tmp = mx_test_tmpdir("buildlock_busy");
  char *dir = path_in(tmp, "ix"), *lock = path_in(tmp, "ix.building.lock");
  mx_build_options o;
  mx_build_options_init(&o);
  mx_builder *a = NULL, *b = NULL;
  mx_error err;
  cr_assert_eq(mx_builder_open(dir, DIM, R, &o, &a, &err), MX_OK, "%s", err.message);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(mx_builder_open(dir, DIM, R, &o, &b, &err), MX_ERR_BUSY,
                 "open %d of a directory being built", i + 2);
    cr_assert(strstr(err.message, "another build"), "%s", err.message);
    cr_assert(mx_path_exists(lock), "a busy open removed the running build's lock");
  }
  float *docs = docs_for(50);
  cr_assert_eq(mx_builder_add(a, 50, NULL, NULL, NULL, docs, MX_DTYPE_F32, &err), MX_OK);
  cr_assert_eq(mx_builder_finish(a, &err), MX_OK, "%s", err.message);
  cr_assert_not(mx_path_exists(lock), "the lock is removed by its holder");
  cr_assert_eq(assert_one_builds_index(dir), 50);
  /* once released, the next build takes it */
  o.overwrite = 1;
  cr_assert_eq(mx_builder_open(dir, DIM, R, &o, &b, &err), MX_OK, "%s", err.message);
  mx_builder_abort(b);
  cr_assert_eq(assert_one_builds_index(dir), 50, "an aborted build leaves the index");
  free(docs);
  free(lock);
  free(dir);
  mx_test_tmpdir_remove(tmp);
}

typedef struct racer {
  const char *dir;
  unsigned id;
  int published, busy;
} racer;

/* Rounds of open / add in two halves / finish, yielding between steps. */
static void *race(void *arg) {
  racer *r = arg;
  mx_build_options o;
  mx_build_options_init(&o);
  o.overwrite = 1;
  o.threads = 1;
  for (unsigned round = 0; round < 6; round++) {
    uint64_t n = 40 + 8 * r->id + round;
    float *docs = docs_for(n);
    mx_builder *b = NULL;
    mx_error err;
    mx_status s = mx_builder_open(r->dir, DIM, R, &o, &b, &err);
    if (s == MX_ERR_BUSY) {
      r->busy++;
    } else {
      cr_assert_eq(s, MX_OK, "%s", err.message);
      sched_yield();
      cr_assert_eq(mx_builder_add(b, n / 2, NULL, NULL, NULL, docs, MX_DTYPE_F32, &err), MX_OK);
      sched_yield();
      cr_assert_eq(mx_builder_add(b, n - n / 2, NULL, NULL, NULL, docs + (n / 2) * R * DIM,
                                  MX_DTYPE_F32, &err),
                   MX_OK);
      cr_assert_eq(mx_builder_finish(b, &err), MX_OK, "%s", err.message);
      r->published++;
    }
    free(docs);
  }
  return NULL;
}

Test(buildlock, racing_threads_publish_whole_indexes, .timeout = 240) {
  char *tmp = mx_test_tmpdir("buildlock_threads");
  char *dir = path_in(tmp, "ix");
  enum { T = 4 };
  racer rs[T];
  pthread_t th[T];
  for (unsigned i = 0; i < T; i++) {
    rs[i] = (racer){dir, i, 0, 0};
    cr_assert_eq(pthread_create(&th[i], NULL, race, &rs[i]), 0);
  }
  int published = 0, busy = 0;
  for (unsigned i = 0; i < T; i++) {
    pthread_join(th[i], NULL);
    published += rs[i].published;
    busy += rs[i].busy;
  }
  cr_assert_gt(published, 0);
  cr_assert_eq(published + busy, T * 6);
  assert_one_builds_index(dir);
  char *building = path_in(tmp, "ix.building"), *lock = path_in(tmp, "ix.building.lock");
  cr_assert_not(mx_path_exists(building));
  cr_assert_not(mx_path_exists(lock));
  free(building);
  free(lock);
  free(dir);
  mx_test_tmpdir_remove(tmp);
}

/* ------------------------------------------------------- real processes */

static void write_docs(const char *path, uint64_t n) {
  float *docs = docs_for(n);
  uint64_t shape[3] = {n, R, DIM};
  mx_error err;
  cr_assert_eq(mx_npy_write(path, MX_NPY_F32, 3, shape, docs, &err),
               MX_OK, "%s", err.message);
  free(docs);
}

static int run_tool(const char *tmp, const char *const *args, char **err_text) {
  char *out = path_in(tmp, "out.txt"), *errp = path_in(tmp, "err.txt");
  int rc = mx_test_wait(mx_test_spawn_tool(args, out, errp));
  if (err_text) {
    size_t len;
    if (mx_read_file(errp, 1 << 20, err_text, &len, NULL) != MX_OK)
      *err_text = strdup("");
  }
  free(out);
  free(errp);
  return rc;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

Test(buildlock, a_paused_build_keeps_its_lock_against_two_more, .timeout = 300) {
  char *tmp = mx_test_tmpdir("buildlock_stop");
  char *big = path_in(tmp, "big.npy"), *small = path_in(tmp, "small.npy");
  char *small_b = path_in(tmp, "small_b.npy"), *ix = path_in(tmp, "X");
  char *store = path_in(tmp, "X.building/store"), *lock = path_in(tmp, "X.building.lock");
  write_docs(big, 20000);
  write_docs(small, 300);
  write_docs(small_b, 301);
  const char *a_args[] = {"build", "--out", ix, "--coarse", "IVF64,Flat", "--no-progress", big,
                          NULL};
  char *a_out = path_in(tmp, "a_out.txt"), *a_err = path_in(tmp, "a_err.txt");
  int a = mx_test_spawn_tool(a_args, a_out, a_err);
  /* pause it once it holds the lock and has started writing */
  uint64_t t0 = mx_now_ns();
  while (!mx_path_exists(store) && mx_ms_since(t0) < 60000)
    sleep_ms(5);
  cr_assert(mx_path_exists(store), "the first build never started");
  cr_assert_eq(kill(a, SIGSTOP), 0);
  const char *b_args[] = {"build", "--out", ix, "--no-progress", small, NULL};
  const char *c_args[] = {"build", "--out", ix, "--no-progress", small_b, NULL};
  for (int i = 0; i < 2; i++) {
    char *msg = NULL;
    int rc = run_tool(tmp, i ? c_args : b_args, &msg);
    cr_assert_eq(rc, 1, "build %d beside a paused one: rc %d: %s", i + 2, rc, msg);
    cr_assert(strstr(msg, "another build"), "%s", msg);
    cr_assert(mx_path_exists(lock), "build %d removed the paused build's lock", i + 2);
    cr_assert(mx_path_exists(store), "build %d removed the paused build's directory", i + 2);
    free(msg);
  }
  cr_assert_eq(kill(a, SIGCONT), 0);
  cr_assert_eq(mx_test_wait(a), 0, "the paused build, resumed, succeeds");
  cr_assert_eq(assert_one_builds_index(ix), 20000);
  free(a_out);
  free(a_err);
  free(lock);
  free(store);
  free(ix);
  free(small_b);
  free(small);
  free(big);
  mx_test_tmpdir_remove(tmp);
}

Test(buildlock, overwrites_paused_at_every_phase_publish_one_build, .timeout = 600) {
  char *tmp = mx_test_tmpdir("buildlock_phases");
  char *big = path_in(tmp, "big.npy"), *small = path_in(tmp, "small.npy"), *ix = path_in(tmp, "X");
  write_docs(big, 12000);
  write_docs(small, 200);
  const char *a_args[] = {"build", "--out", ix, "--overwrite", "--coarse", "IVF64,Flat",
                          "--no-progress", big, NULL};
  const char *b_args[] = {"build", "--out", ix, "--overwrite", "--no-progress", small, NULL};
  uint64_t t0 = mx_now_ns();
  cr_assert_eq(run_tool(tmp, a_args, NULL), 0);
  double full_ms = mx_ms_since(t0);
  char *a_out = path_in(tmp, "a_out.txt"), *a_err = path_in(tmp, "a_err.txt");
  enum { POINTS = 8 };
  for (int p = 0; p < POINTS; p++) {
    int a = mx_test_spawn_tool(a_args, a_out, a_err);
    sleep_ms((unsigned)(full_ms * p / (POINTS - 1)));
    kill(a, SIGSTOP);
    char *msg = NULL;
    int rb = run_tool(tmp, b_args, &msg);
    cr_assert(rb == 0 || (rb == 1 && strstr(msg, "another build")), "point %d: rc %d: %s", p, rb,
              msg);
    free(msg);
    kill(a, SIGCONT);
    int ra = mx_test_wait(a);
    cr_assert(ra == 0 || ra == 1, "point %d: the first build ended with %d", p, ra);
    cr_assert(ra == 0 || rb == 0, "point %d: neither build published", p);
    uint64_t n = assert_one_builds_index(ix);
    cr_assert(n == 12000 || n == 200);
  }
  free(a_out);
  free(a_err);
  free(ix);
  free(small);
  free(big);
  mx_test_tmpdir_remove(tmp);
}

/* Ctrl-C while documents load removes the unfinished build and its lock,
 * and the tool ends by the signal (issue 12 item 18). */
Test(buildlock, an_interrupted_build_cleans_up, .timeout = 300) {
  char *tmp = mx_test_tmpdir("buildlock_sigint");
  char *big = path_in(tmp, "big.npy"), *ix = path_in(tmp, "X");
  char *store = path_in(tmp, "X.building/store"), *building = path_in(tmp, "X.building");
  char *lock = path_in(tmp, "X.building.lock");
  write_docs(big, 60000);
  const char *args[] = {"build", "--out", ix, "--batch", "16", "--no-progress", big, NULL};
  char *out = path_in(tmp, "out.txt"), *errp = path_in(tmp, "err.txt");
  int pid = mx_test_spawn_tool(args, out, errp);
  uint64_t t0 = mx_now_ns();
  while (!mx_path_exists(store) && mx_ms_since(t0) < 60000)
    sleep_ms(2);
  cr_assert(mx_path_exists(store), "the build never started loading");
  cr_assert_eq(kill(pid, SIGINT), 0);
  int rc = mx_test_wait(pid);
  cr_assert_eq(rc, 128 + SIGINT, "exit %d", rc);
  cr_assert_not(mx_path_exists(building), "Ctrl-C left %s", building);
  cr_assert_not(mx_path_exists(lock), "Ctrl-C left %s", lock);
  cr_assert_not(mx_path_exists(ix));
  cr_assert(mx_path_exists(big), "the input survives");
  free(out);
  free(errp);
  free(lock);
  free(building);
  free(store);
  free(ix);
  free(big);
  mx_test_tmpdir_remove(tmp);
}
