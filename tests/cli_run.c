/* cli_run.c: see cli_run.h. */
#include "cli_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "helpers.h"
#include "npy.h"

void result_free(result *r) {
  free(r->out);
  free(r->err);
  r->out = r->err = NULL;
}

/* Paths made by path_in live until paths_free at the end of a test (each
 * test runs in its own process). */
static char *paths[64];
static size_t n_paths;

char *path_in(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  cr_assert_not_null(p);
  cr_assert_lt(n_paths, sizeof paths / sizeof paths[0]);
  snprintf(p, n, "%s/%s", dir, name);
  paths[n_paths++] = p;
  return p;
}

void paths_free(void) {
  while (n_paths)
    free(paths[--n_paths]);
}

char *slurp(const char *path) {
  char *buf = NULL;
  size_t len = 0;
  mx_error err;
  cr_assert_eq(mx_read_file(path, (size_t)1 << 30, &buf, &len, &err), MX_OK, "%s", err.message);
  return buf;
}

/* Runs the tool with the NULL-terminated arguments; stdout and stderr are
 * captured into files under dir. */
result run_argv(const char *dir, const char *const *args) {
  char out_path[1024], err_path[1024];
  snprintf(out_path, sizeof out_path, "%s/stdout.txt", dir);
  snprintf(err_path, sizeof err_path, "%s/stderr.txt", dir);
  result r = {0};
  r.status = mx_test_wait(mx_test_spawn_tool(args, out_path, err_path));
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  return r;
}

/* n documents of R unit vectors of d floats, as a .npy file. */
void write_docs(const char *path, uint64_t n, uint32_t R, uint32_t d, uint64_t seed) {
  float *v = malloc((size_t)n * R * d * sizeof *v);
  cr_assert_not_null(v);
  mx_test_rng rng = {seed};
  mx_test_random_unit_vectors(&rng, v, (size_t)n * R, d);
  uint64_t shape[3] = {n, R, d};
  mx_error err;
  cr_assert_eq(mx_npy_write(path, MX_NPY_F32, 3, shape, v, &err), MX_OK, "%s", err.message);
  free(v);
}

/* Asserts the run failed with `code`, that stderr holds every needle, and
 * that no index (nor a half-built one) is left at idx. */
void expect_failure(result *r, int code, const char *idx, const char *const *needles) {
  cr_assert_eq(r->status, code, "exit %d (want %d)\nstderr: %s", r->status, code, r->err);
  for (; *needles; needles++)
    cr_assert(strstr(r->err, *needles), "stderr lacks '%s': %s", *needles, r->err);
  if (idx) {
    cr_assert_not(mx_path_exists(idx), "%s was created", idx);
    char building[1024];
    snprintf(building, sizeof building, "%s.building", idx);
    cr_assert_not(mx_path_exists(building), "%s was left behind", building);
  }
  result_free(r);
}
