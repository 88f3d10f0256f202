/* helpers.c: shared test utilities (see helpers.h). */
#include "helpers.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "status.h"
#include "store.h"

#include "fsutil.h"

static char *join(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *p = malloc(n);
  cr_assert_not_null(p);
  snprintf(p, n, "%s/%s", a, b);
  return p;
}

char *mx_test_tmpdir(const char *name) {
  const char *root = getenv("MX_TEST_TMP");
  if (!root || !*root)
    root = "/tmp";
  mx_error err;
  cr_assert_eq(mx_mkdir_p(root, &err), MX_OK, "%s", err.message);
  char leaf[256];
  snprintf(leaf, sizeof leaf, "%s.%ld", name, (long)getpid());
  char *path = join(root, leaf);
  cr_assert_eq(mx_remove_tree(path, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_mkdir_p(path, &err), MX_OK, "%s", err.message);
  return path;
}

void mx_test_tmpdir_remove(char *path) {
  if (path) {
    mx_remove_tree(path, NULL);
    free(path);
  }
}

uint64_t mx_test_rng_next(mx_test_rng *r) {
  uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

float mx_test_rng_float(mx_test_rng *r) {
  return (float)((double)(mx_test_rng_next(r) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

uint64_t mx_test_rng_below(mx_test_rng *r, uint64_t n) { return n ? mx_test_rng_next(r) % n : 0; }

void mx_test_random_unit_vectors(mx_test_rng *r, float *out, size_t n, uint32_t dim) {
  for (size_t i = 0; i < n; i++) {
    float *v = out + i * dim;
    double norm = 0;
    for (uint32_t j = 0; j < dim; j++) {
      v[j] = mx_test_rng_float(r);
      norm += (double)v[j] * v[j];
    }
    if (norm == 0) {
      v[0] = 1;
      norm = 1;
    }
    float inv = (float)(1.0 / sqrt(norm));
    for (uint32_t j = 0; j < dim; j++)
      v[j] *= inv;
  }
}

char *mx_test_source_path(const char *relative) {
  const char *root = getenv("MX_SOURCE_ROOT");
  return join(root ? root : ".", relative);
}

char *mx_test_build_path(const char *relative) {
  const char *root = getenv("MX_BUILD_ROOT");
  return join(root ? root : ".", relative);
}

extern char **environ;

int mx_test_spawn_tool(const char *const *args, const char *out_path, const char *err_path) {
  char *tool = mx_test_build_path("tools/metaidx");
  const char *argv[64];
  int n = 0;
  argv[n++] = tool;
  for (; *args; args++) {
    cr_assert_lt(n, 63);
    argv[n++] = *args;
  }
  argv[n] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid;
  int rc = posix_spawn(&pid, tool, &fa, NULL, (char *const *)argv, environ);
  cr_assert_eq(rc, 0, "posix_spawn %s: %s", tool, strerror(rc));
  posix_spawn_file_actions_destroy(&fa);
  free(tool);
  return (int)pid;
}

int mx_test_wait(int pid) {
  int ws;
  cr_assert_eq(waitpid((pid_t)pid, &ws, 0), (pid_t)pid);
  return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

long mx_test_record_offset(struct mx_store *s, uint64_t id, size_t *len) {
  mx_store_txn *t;
  if (mx_store_txn_begin(s, &t, NULL) != MX_OK)
    return -1;
  const void *rec;
  long at = -1;
  if (mx_store_get(t, id, &rec, len, NULL) == MX_OK) {
    /* the mapping of the data file that holds rec, and its file offset */
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[4096];
    while (maps && at < 0 && fgets(line, sizeof line, maps)) {
      unsigned long lo, hi, off;
      if (sscanf(line, "%lx-%lx %*s %lx", &lo, &hi, &off) == 3 && (uintptr_t)rec >= lo &&
          (uintptr_t)rec < hi && strstr(line, mx_store_data_path(s)))
        at = (long)(off + ((uintptr_t)rec - lo));
    }
    if (maps)
      fclose(maps);
  }
  mx_store_txn_end(t);
  return at;
}
