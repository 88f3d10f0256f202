/* test_crash.c: crash safety of `metaidx build`. The real tool is SIGKILLed
 * at many moments of a build (spread over its whole run, so every phase is
 * hit: loading, syncing, training, adding, writing coarse.faiss, writing the
 * manifest, publishing); after each kill the target either does not exist or
 * is a complete index that verifies, and the same command then succeeds.
 * A build onto a full file system fails with a clear disk-full error and
 * publishes nothing. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fsutil.h"
#include "helpers.h"
#include "metaidx.h"

#define KILL_TRIALS 24

static char *join(const char *a, const char *b) {
  char *p = malloc(PATH_MAX);
  snprintf(p, PATH_MAX, "%s/%s", a, b);
  return p;
}

static int run_tool(const char *dir, const char *const *args) {
  char *out = join(dir, "out.txt"), *err = join(dir, "err.txt");
  int rc = mx_test_wait(mx_test_spawn_tool(args, out, err));
  free(out);
  free(err);
  return rc;
}

static char *read_text(const char *path) {
  char *buf = NULL;
  size_t len;
  if (mx_read_file(path, 1 << 20, &buf, &len, NULL) != MX_OK)
    return strdup("");
  return buf;
}

/* read_text of dir/name (malloc'd; the path is freed here). */
static char *read_in(const char *dir, const char *name) {
  char *path = join(dir, name);
  char *text = read_text(path);
  free(path);
  return text;
}

/* The target after a kill: absent, or an index with no problems. */
static int check_target(const char *index) {
  if (!mx_path_exists(index))
    return 0;
  mx_verify_report r;
  mx_error err;
  cr_assert_eq(mx_index_verify(index, NULL, NULL, &r, &err), MX_OK, "%s", err.message);
  cr_assert_eq(r.problems, 0, "a killed build left a damaged index at %s", index);
  cr_assert_eq(r.records, 3000);
  return 1;
}

Test(crash, sigkill_at_any_moment_leaves_nothing_or_a_whole_index, .timeout = 600) {
  char *tmp = mx_test_tmpdir("crash_kill");
  char *data = join(tmp, "data"), *docs = join(data, "docs.npy"), *index = join(tmp, "index");
  const char *gen[] = {"gen", "--out", data, "--n", "3000", "--queries", "4", "--rc", "16",
                       "--rq", "4", "--d", "64", NULL};
  cr_assert_eq(run_tool(tmp, gen), 0);
  /* IVF makes the build train and add, so every phase takes some time. */
  const char *build[] = {"build", "--out", index, "--coarse", "IVF32,Flat", "--dtype", "f16",
                         docs, NULL};
  uint64_t t0 = mx_now_ns();
  int rc0 = run_tool(tmp, build);
  char *msg0 = read_in(tmp, "err.txt");
  cr_assert_eq(rc0, 0, "%s", msg0);
  free(msg0);
  uint64_t full_ns = mx_now_ns() - t0;
  cr_assert(check_target(index));
  mx_remove_tree(index, NULL);

  int complete = 0, absent = 0;
  for (int trial = 0; trial < KILL_TRIALS; trial++) {
    /* moments spread evenly over 0..110% of a full build */
    uint64_t delay_ns = full_ns * 11 / 10 * (uint64_t)trial / KILL_TRIALS;
    char *out = join(tmp, "out.txt"), *err = join(tmp, "err.txt");
    int pid = mx_test_spawn_tool(build, out, err);
    struct timespec ts = {(time_t)(delay_ns / 1000000000u), (long)(delay_ns % 1000000000u)};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    mx_test_wait(pid);
    free(out);
    free(err);
    if (check_target(index))
      complete++;
    else
      absent++;
    /* the same command now succeeds (or says the index exists, if it had finished) */
    int rc = run_tool(tmp, build);
    char *msg = read_in(tmp, "err.txt");
    cr_assert(rc == 0 || strstr(msg, "already exists") != NULL, "trial %d: rebuild exit %d: %s",
              trial, rc, msg);
    free(msg);
    cr_assert(check_target(index), "trial %d: the rebuild left a complete index", trial);
    mx_remove_tree(index, NULL);
  }
  cr_log_info("kill trials: %d, complete after kill: %d, absent: %d", KILL_TRIALS, complete,
              absent);
  cr_assert_gt(absent, 0, "some kills landed before the publish");
  free(data);
  free(docs);
  free(index);
  mx_test_tmpdir_remove(tmp);
}

Test(crash, full_file_system_is_a_clear_error_and_publishes_nothing, .timeout = 300) {
  char *tmp = mx_test_tmpdir("crash_full");
  char *data = join(tmp, "data"), *docs = join(data, "docs.npy"), *small = join(tmp, "small");
  const char *gen[] = {"gen", "--out", data, "--n", "3000", "--queries", "4", "--rc", "16",
                       "--rq", "4", "--d", "128", NULL};
  cr_assert_eq(run_tool(tmp, gen), 0);
  mx_error err;
  cr_assert_eq(mx_mkdir_p(small, &err), MX_OK);
  /* 3000 x 16 x 128 f32 is 24 MB stored; a 6 MiB tmpfs cannot hold it */
  if (mount("metaidx-test", small, "tmpfs", 0, "size=6m") != 0)
    cr_skip_test("cannot mount a small tmpfs here (%s); needs root", strerror(errno));
  char *index = join(small, "index");
  const char *build[] = {"build", "--out", index, "--dtype", "f32", docs, NULL};
  int rc = run_tool(tmp, build);
  char *msg = read_in(tmp, "err.txt");
  char *building = join(small, "index.building");
  int index_exists = mx_path_exists(index), building_exists = mx_path_exists(building);
  umount2(small, MNT_DETACH);
  cr_assert_eq(rc, 1, "exit %d: %s", rc, msg);
  cr_assert(strstr(msg, "space") != NULL || strstr(msg, "disk full") != NULL,
            "the message says the disk is full: %s", msg);
  cr_assert_not(index_exists, "nothing was published");
  cr_assert_not(building_exists, "the half-built directory was removed");
  free(msg);
  free(data);
  free(docs);
  free(small);
  free(index);
  free(building);
  mx_test_tmpdir_remove(tmp);
}
