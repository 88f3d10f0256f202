/* cli_run.c: see cli_run.h. */
#include "cli_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "helpers.h"

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

