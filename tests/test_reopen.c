/* test_reopen.c: one index opened several times in one process (issue 12,
 * the defect the Python package found). LMDB forbids opening one
 * environment twice in a process when it keeps a reader table: the second
 * open reinitialised lock.mdb and the first handle's next search failed
 * with MDB_BAD_RSLOT. Readers now keep no table (MDB_NOLOCK), so handles of
 * one directory are independent: each searches, verifies and closes in any
 * order without disturbing the others. */
#include <criterion/criterion.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "metaidx.h"

#define DIM 24
#define R 6
#define RQ 3
#define N 150
#define NQ 4
#define K 10

typedef struct fixture {
  char *tmp;
  char dir[PATH_MAX];
  float queries[NQ * RQ * DIM];
  mx_hit ref[NQ][K];
} fixture;

static void search_all(mx_index *ix, mx_hit out[NQ][K], const float *queries) {
  mx_search_options o;
  mx_search_options_init(&o);
  o.k = K;
  o.candidates = N;
  for (int q = 0; q < NQ; q++) {
    uint32_t n = 0;
    mx_error err;
    cr_assert_eq(mx_search(ix, queries + (size_t)q * RQ * DIM, RQ, &o, out[q], &n, NULL, &err),
                 MX_OK, "query %d: %s", q, err.message);
    cr_assert_eq(n, K);
  }
}

static void check_same(const fixture *f, mx_index *ix, const char *what) {
  mx_hit got[NQ][K];
  search_all(ix, got, f->queries);
  for (int q = 0; q < NQ; q++)
    for (int i = 0; i < K; i++) {
      cr_assert_eq(got[q][i].id, f->ref[q][i].id, "%s: query %d rank %d", what, q, i);
      cr_assert_eq(got[q][i].score, f->ref[q][i].score, "%s: query %d rank %d", what, q, i);
    }
}

static void verify_clean(const char *dir, const char *what) {
  mx_verify_report rep;
  mx_error err;
  cr_assert_eq(mx_index_verify(dir, NULL, NULL, &rep, &err), MX_OK, "%s: %s", what, err.message);
  cr_assert_eq(rep.problems, 0, "%s: %llu problems", what, (unsigned long long)rep.problems);
  cr_assert_eq(rep.records, N, "%s", what);
}

static void fixture_make(fixture *f, const char *name) {
  f->tmp = mx_test_tmpdir(name);
  snprintf(f->dir, sizeof f->dir, "%s/ix", f->tmp);
  mx_test_rng rng = {4242};
  float *docs = malloc((size_t)N * R * DIM * sizeof(float));
  cr_assert_not_null(docs);
  mx_test_random_unit_vectors(&rng, docs, (size_t)N * R, DIM);
  mx_test_random_unit_vectors(&rng, f->queries, (size_t)NQ * RQ, DIM);
  mx_build_options o;
  mx_build_options_init(&o);
  o.coarse_factory = "Flat";
  mx_builder *b = NULL;
  mx_error err;
  cr_assert_eq(mx_builder_open(f->dir, DIM, R, &o, &b, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_builder_add(b, N, NULL, NULL, NULL, docs, MX_DTYPE_F32, &err), MX_OK, "%s",
               err.message);
  cr_assert_eq(mx_builder_finish(b, &err), MX_OK, "%s", err.message);
  free(docs);
  mx_index *ix = NULL;
  cr_assert_eq(mx_index_open(f->dir, NULL, &ix, &err), MX_OK, "%s", err.message);
  search_all(ix, f->ref, f->queries);
  mx_index_close(ix);
}

static mx_index *open_ok(const char *dir) {
  mx_index *ix = NULL;
  mx_error err;
  cr_assert_eq(mx_index_open(dir, NULL, &ix, &err), MX_OK, "%s", err.message);
  return ix;
}

/* first_closes_first: close the handle opened first before the second. */
static void two_handles(int first_closes_first) {
  fixture f;
  fixture_make(&f, first_closes_first ? "reopen_fifo" : "reopen_lifo");
  mx_index *a = open_ok(f.dir);
  check_same(&f, a, "first handle alone");
  mx_index *b = open_ok(f.dir);
  check_same(&f, b, "second handle");
  check_same(&f, a, "first handle after the second opened");
  verify_clean(f.dir, "verify with two handles open");
  check_same(&f, a, "first handle after verify");
  check_same(&f, b, "second handle after verify");
  mx_index *gone = first_closes_first ? a : b, *kept = first_closes_first ? b : a;
  mx_index_close(gone);
  check_same(&f, kept, "the remaining handle after the other closed");
  verify_clean(f.dir, "verify with one handle open");
  check_same(&f, kept, "the remaining handle after verify");
  mx_index *c = open_ok(f.dir);
  check_same(&f, c, "a third handle");
  mx_index_close(kept);
  check_same(&f, c, "the third handle alone");
  mx_index_close(c);
  mx_test_tmpdir_remove(f.tmp);
}

Test(reopen, two_handles_closed_first_opened_first) { two_handles(1); }
Test(reopen, two_handles_closed_last_opened_first) { two_handles(0); }

/* Each handle has its own max_readers budget: one handle's open
 * transactions do not count against another's. */
Test(reopen, handles_count_their_own_searches) {
  fixture f;
  fixture_make(&f, "reopen_readers");
  mx_open_options oo;
  mx_open_options_init(&oo);
  oo.max_readers = 1;
  mx_index *a = NULL, *b = NULL;
  mx_error err;
  cr_assert_eq(mx_index_open(f.dir, &oo, &a, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_index_open(f.dir, &oo, &b, &err), MX_OK, "%s", err.message);
  check_same(&f, a, "first handle, 1 slot");
  check_same(&f, b, "second handle, 1 slot");
  mx_index_close(a);
  mx_index_close(b);
  mx_test_tmpdir_remove(f.tmp);
}

/* No lock file is made or needed by readers: the index opens and searches
 * after lock.mdb is made unwritable, and a read leaves none behind. */
Test(reopen, readers_create_no_lock_file) {
  fixture f;
  fixture_make(&f, "reopen_nolock");
  char lock[PATH_MAX + 32];
  snprintf(lock, sizeof lock, "%s/store/lock.mdb", f.dir);
  mx_index *a = open_ok(f.dir);
  check_same(&f, a, "open");
  cr_assert_neq(access(lock, F_OK), 0, "a reader created %s", lock);
  mx_index_close(a);
  mx_test_tmpdir_remove(f.tmp);
}

/* ---- item 16: a read-only index, another user's ---- */

static void chmod_tree(const char *dir, mode_t dir_mode, mode_t file_mode) {
  const char *leaves[] = {"", "/store", "/manifest.json", "/coarse.faiss", "/store/data.mdb",
                          "/.metaidx"};
  for (size_t i = 0; i < sizeof leaves / sizeof leaves[0]; i++) {
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s%s", dir, leaves[i]);
    int is_dir = i < 2;
    if (chmod(p, is_dir ? dir_mode : file_mode) != 0 && is_dir)
      cr_assert_fail("chmod %s", p);
  }
}

/* In a child: become another user (nobody, when the test runs as root),
 * open the index, search, verify. Returns the child's exit status; its
 * messages go to err_path. */
static int as_other_user(const fixture *f, const char *err_path, int expect_ok) {
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    FILE *e = fopen(err_path, "w");
    if (!e)
      _exit(90);
    if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)) {
      fprintf(e, "cannot become nobody\n");
      _exit(91);
    }
    mx_index *ix = NULL;
    mx_error err;
    if (mx_index_open(f->dir, NULL, &ix, &err) != MX_OK) {
      fprintf(e, "%s\n", err.message);
      fclose(e);
      _exit(expect_ok ? 1 : 0);
    }
    mx_search_options o;
    mx_search_options_init(&o);
    o.k = K;
    o.candidates = N;
    for (int q = 0; q < NQ; q++) {
      mx_hit got[K];
      uint32_t n = 0;
      if (mx_search(ix, f->queries + (size_t)q * RQ * DIM, RQ, &o, got, &n, NULL, &err) != MX_OK) {
        fprintf(e, "search: %s\n", err.message);
        _exit(2);
      }
      for (int i = 0; i < K; i++)
        if (n != K || got[i].id != f->ref[q][i].id || got[i].score != f->ref[q][i].score) {
          fprintf(e, "query %d rank %d differs\n", q, i);
          _exit(3);
        }
    }
    mx_verify_report rep;
    if (mx_index_verify(f->dir, NULL, NULL, &rep, &err) != MX_OK || rep.problems != 0) {
      fprintf(e, "verify: %s (%llu problems)\n", err.message, (unsigned long long)rep.problems);
      _exit(4);
    }
    mx_index_close(ix);
    fclose(e);
    _exit(expect_ok ? 0 : 5);
  }
  int st = 0;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st), "child died of signal %d", WTERMSIG(st));
  return WEXITSTATUS(st);
}

static char *slurp(const char *path) {
  static char buf[4096];
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  buf[n] = '\0';
  if (f)
    fclose(f);
  return buf;
}

Test(reopen, read_only_index_of_another_user_is_searched) {
  fixture f;
  fixture_make(&f, "reopen_readonly");
  char err_path[PATH_MAX + 16];
  snprintf(err_path, sizeof err_path, "%s/child.err", f.tmp);
  /* the tmp directory itself must be enterable by the other user */
  cr_assert_eq(chmod(f.tmp, 0777), 0);
  chmod_tree(f.dir, 0555, 0444);
  int st = as_other_user(&f, err_path, 1);
  cr_assert_eq(st, 0, "read-only index, other user: exit %d: %s", st, slurp(err_path));
  /* unreadable data file: the message names it and the cause */
  char data[PATH_MAX + 32];
  snprintf(data, sizeof data, "%s/store/data.mdb", f.dir);
  cr_assert_eq(chmod(data, 0), 0);
  st = as_other_user(&f, err_path, 0);
  const char *msg = slurp(err_path);
  cr_assert_eq(st, 0, "an unreadable data.mdb opened (exit %d): %s", st, msg);
  cr_assert(strstr(msg, "data.mdb") && strstr(msg, "ermission denied"), "%s", msg);
  cr_assert(!strstr(msg, "lock.mdb"), "%s", msg);
  chmod_tree(f.dir, 0755, 0644);
  mx_test_tmpdir_remove(f.tmp);
}

/* ---- item 15: open and verify while an --overwrite rebuild publishes ---- */

typedef struct rebuild_arg {
  const char *dir;
  float *docs[2];
  int rounds;
  volatile int done;
  int failures;
  char message[MX_ERROR_MESSAGE_MAX];
} rebuild_arg;

static void *rebuild_main(void *p) {
  rebuild_arg *a = p;
  for (int i = 0; i < a->rounds; i++) {
    mx_build_options o;
    mx_build_options_init(&o);
    o.coarse_factory = "Flat";
    o.overwrite = 1;
    mx_builder *b = NULL;
    mx_error err;
    if (mx_builder_open(a->dir, DIM, R, &o, &b, &err) != MX_OK ||
        mx_builder_add(b, N, NULL, NULL, NULL, a->docs[i % 2], MX_DTYPE_F32, &err) != MX_OK ||
        mx_builder_finish(b, &err) != MX_OK) {
      a->failures++;
      snprintf(a->message, sizeof a->message, "%s", err.message);
      break;
    }
  }
  a->done = 1;
  return NULL;
}

/* Every open and verify during the rebuilds succeeds and sees one whole
 * index: it used to fail now and then with a checksum mismatch (manifest
 * and coarse.faiss read at different moments). */
Test(reopen, open_and_verify_during_overwrite_rebuilds, .timeout = 300) {
  fixture f;
  fixture_make(&f, "reopen_rebuild");
  mx_test_rng rng = {77};
  rebuild_arg a = {.dir = f.dir, .rounds = 25};
  for (int i = 0; i < 2; i++) {
    a.docs[i] = malloc((size_t)N * R * DIM * sizeof(float));
    cr_assert_not_null(a.docs[i]);
    mx_test_random_unit_vectors(&rng, a.docs[i], (size_t)N * R, DIM);
  }
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, rebuild_main, &a), 0);
  int opens = 0, verifies = 0;
  float answers[3]; /* the best score of the fixture's and the two rebuilds' documents */
  int n_answers = 0;
  while (!a.done) {
    mx_index *ix = NULL;
    mx_error err;
    mx_status s = mx_index_open(f.dir, NULL, &ix, &err);
    cr_assert_eq(s, MX_OK, "open %d during rebuilds: %s", opens, err.message);
    opens++;
    mx_search_options o;
    mx_search_options_init(&o);
    o.k = 1;
    o.candidates = N;
    mx_hit hit;
    uint32_t n = 0;
    cr_assert_eq(mx_search(ix, f.queries, RQ, &o, &hit, &n, NULL, &err), MX_OK, "%s",
                 err.message);
    int known = 0;
    for (int i = 0; i < n_answers; i++)
      known |= answers[i] == hit.score;
    if (!known) {
      cr_assert_lt(n_answers, 3, "a fourth answer %g: a mixed index?", hit.score);
      answers[n_answers++] = hit.score;
    }
    mx_index_close(ix);
    mx_verify_report rep;
    cr_assert_eq(mx_index_verify(f.dir, NULL, NULL, &rep, &err), MX_OK, "%s", err.message);
    cr_assert_eq(rep.problems, 0, "verify %d during rebuilds: %llu problems", verifies,
                 (unsigned long long)rep.problems);
    verifies++;
  }
  pthread_join(th, NULL);
  cr_assert_eq(a.failures, 0, "rebuild: %s", a.message);
  fprintf(stderr, "%d opens and %d verifies during %d rebuilds\n", opens, verifies, a.rounds);
  cr_assert_gt(opens, 3);
  free(a.docs[0]);
  free(a.docs[1]);
  mx_test_tmpdir_remove(f.tmp);
}
