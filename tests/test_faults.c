/* test_faults.c: fault injection on the build's writes (issue 12). An
 * LD_PRELOAD shim (faultshim.c) makes the N-th write-side call of
 * `metaidx build --overwrite` fail: with ENOSPC, with EIO, or as a short
 * write. For every N the build makes, and each kind: the build exits by
 * status (never a signal), a failure names a file, the index at --out is
 * one whole index (the old one, or after a success the new one: verify
 * passes and search prints exactly that index's answer), and nothing
 * half-built is left beside it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_run.h"
#include "fsutil.h"
#include "helpers.h"

#define N 40
#define R 8
#define D 32

static const char *const parts[] = {"manifest.json", "coarse.faiss", "store/data.mdb", ".metaidx"};

static void copy_file(const char *from, const char *to) {
  char *buf = NULL;
  size_t len = 0;
  mx_error err;
  cr_assert_eq(mx_read_file(from, (size_t)64 << 20, &buf, &len, &err), MX_OK, "%s", err.message);
  FILE *f = fopen(to, "wb");
  cr_assert_not_null(f, "%s", to);
  cr_assert_eq(fwrite(buf, 1, len, f), len);
  cr_assert_eq(fclose(f), 0);
  free(buf);
}

/* dst: a fresh copy of the index at src. */
static void copy_index(const char *src, const char *dst) {
  mx_error err;
  char a[1024], b[1024];
  cr_assert_eq(mx_remove_tree(dst, &err), MX_OK, "%s", err.message);
  snprintf(b, sizeof b, "%s/store", dst);
  cr_assert_eq(mx_mkdir_p(b, &err), MX_OK, "%s", err.message);
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    snprintf(a, sizeof a, "%s/%s", src, parts[i]);
    snprintf(b, sizeof b, "%s/%s", dst, parts[i]);
    if (access(a, F_OK) == 0)
      copy_file(a, b);
  }
}

static char *search_out(const char *tmp, const char *idx, const char *queries) {
  result r = RUN(tmp, "search", "--index", idx, "--queries", queries, "--k", "5",
                 "--candidates", "40", "--threads", "1");
  cr_assert_eq(r.status, 0, "search %s: %s", idx, r.err);
  char *out = r.out;
  r.out = NULL;
  result_free(&r);
  return out;
}

static void set_fault(long at, const char *mode, const char *count_file) {
  char n[32];
  snprintf(n, sizeof n, "%ld", at);
  setenv("MX_FAULT_AT", n, 1);
  setenv("MX_FAULT_MODE", mode, 1);
  if (count_file)
    setenv("MX_FAULT_COUNT", count_file, 1);
  else
    unsetenv("MX_FAULT_COUNT");
  setenv("LD_PRELOAD", getenv("MX_FAULT_SHIM"), 1);
}

static void clear_fault(void) {
  unsetenv("LD_PRELOAD");
  unsetenv("MX_FAULT_AT");
  unsetenv("MX_FAULT_MODE");
  unsetenv("MX_FAULT_COUNT");
}

Test(faults, every_write_of_an_overwrite_build_fails_in_turn, .timeout = 900) {
  cr_assert_not_null(getenv("MX_FAULT_SHIM"), "MX_FAULT_SHIM is not set");
  /* the preloaded shim comes before the sanitizer runtime */
  const char *asan = getenv("ASAN_OPTIONS");
  char asan_opts[512];
  snprintf(asan_opts, sizeof asan_opts, "%s%sverify_asan_link_order=0", asan ? asan : "",
           asan && *asan ? ":" : "");
  setenv("ASAN_OPTIONS", asan_opts, 1);

  char *tmp = mx_test_tmpdir("faults");
  char *old_npy = path_in(tmp, "old.npy"), *new_npy = path_in(tmp, "new.npy");
  char *queries = path_in(tmp, "q.npy");
  char *master = path_in(tmp, "master"), *fresh = path_in(tmp, "fresh");
  char *ix = path_in(tmp, "ix"), *building = path_in(tmp, "ix.building");
  char *lock = path_in(tmp, "ix.building.lock"), *count = path_in(tmp, "count");
  write_docs(old_npy, N, R, D, 1);
  write_docs(new_npy, N, R, D, 2);
  write_docs(queries, 3, 4, D, 3);
  RUN_OK(tmp, "build", "--out", master, "--seed", "5", old_npy);
  RUN_OK(tmp, "build", "--out", fresh, "--seed", "5", new_npy);
  char *old_answer = search_out(tmp, master, queries);
  char *new_answer = search_out(tmp, fresh, queries);
  cr_assert_str_neq(old_answer, new_answer);

  /* How many counted calls an undisturbed overwrite build makes. */
  copy_index(master, ix);
  set_fault(0, "EIO", count);
  RUN_OK(tmp, "build", "--overwrite", "--out", ix, "--seed", "5", new_npy);
  clear_fault();
  char *text = slurp(count);
  long calls = atol(text);
  free(text);
  cr_assert_gt(calls, 5, "the shim counted %ld calls: is it preloaded?", calls);

  static const char *const modes[] = {"ENOSPC", "EIO", "SHORT"};
  int failed[3] = {0, 0, 0};
#if defined(__SANITIZE_ADDRESS__)
  const long stride[3] = {1, 2, 2}; /* every call for ENOSPC, half of them for the others */
#else
  const long stride[3] = {1, 1, 1};
#endif
  for (int m = 0; m < 3; m++) {
    for (long at = 1 + (m > 0 && stride[m] > 1); at <= calls; at += stride[m]) {
      copy_index(master, ix);
      set_fault(at, modes[m], NULL);
      result r = RUN(tmp, "build", "--overwrite", "--out", ix, "--seed", "5", new_npy);
      clear_fault();
      char what[64];
      snprintf(what, sizeof what, "%s at call %ld of %ld", modes[m], at, calls);
      cr_assert(r.status == 0 || r.status == 1, "%s: exit %d\nstderr: %s", what, r.status, r.err);
      if (r.status == 1) {
        failed[m]++;
        /* the message names a file of the index or its build (or, for the
         * directory fsync after publishing, their parent directory) */
        cr_assert(strstr(r.err, tmp), "%s: the error names no file: %s", what, r.err);
      }
      result v = RUN(tmp, "verify", ix);
      cr_assert_eq(v.status, 0, "%s: the index at --out does not verify: %s%s\nbuild: %s", what,
                   v.out, v.err, r.err);
      result_free(&v);
      char *answer = search_out(tmp, ix, queries);
      if (r.status == 0)
        cr_assert_str_eq(answer, new_answer, "%s: exit 0 but not the new index", what);
      else
        cr_assert(strcmp(answer, old_answer) == 0 || strcmp(answer, new_answer) == 0,
                  "%s: the index at --out is neither the old nor the new one", what);
      free(answer);
      cr_assert_neq(access(building, F_OK), 0, "%s: ix.building is left\nbuild: %s", what, r.err);
      cr_assert_neq(access(lock, F_OK), 0, "%s: ix.building.lock is left", what);
      result_free(&r);
    }
  }
  fprintf(stderr, "%ld counted calls; failed builds: ENOSPC %d, EIO %d, SHORT %d\n", calls,
          failed[0], failed[1], failed[2]);
  /* most faults must be noticed: a build that ignores failed writes would
   * pass every one */
  for (int m = 0; m < 2; m++)
    cr_assert_geq(failed[m], calls / stride[m] / 2, "%s: only %d of %ld faults failed the build",
                  modes[m], failed[m], calls);
  free(old_answer);
  free(new_answer);
  mx_test_tmpdir_remove(tmp);
  paths_free();
}
