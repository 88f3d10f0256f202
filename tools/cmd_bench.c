/* cmd_bench.c: `metaidx bench` runs the benchmark program, metaidx-bench
 * (built in bench/, installed beside metaidx), with the same arguments, as
 * git runs git-foo: the command line does not link the benchmarks. It is
 * looked for beside this executable, then in ../bench/ (the build tree),
 * then on PATH. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define BENCH_PROGRAM "metaidx-bench"

int cmd_bench(int argc, char **argv) {
  char **args = calloc((size_t)argc + 1, sizeof *args);
  if (!args)
    return cli_fail("bench", "out of memory");
  args[0] = "metaidx bench"; /* the name its messages and usage show */
  for (int i = 1; i < argc; i++)
    args[i] = argv[i];
  char self[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len > 0) {
    self[len] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) {
      *slash = '\0';
      const char *places[] = {"", "/../bench"};
      for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s%s/%s", self, places[i], BENCH_PROGRAM);
        if (access(path, X_OK) == 0)
          execv(path, args); /* returns only on failure: try the next */
      }
    }
  }
  execvp(BENCH_PROGRAM, args);
  int e = errno;
  free(args);
  return cli_fail("bench", "cannot run %s (%s): it is built in bench/ and installed beside "
                           "metaidx",
                  BENCH_PROGRAM, strerror(e));
}
