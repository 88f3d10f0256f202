/* shim_main.c: main() and the test registry of the standalone Criterion
 * shim (see criterion/criterion.h here). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "criterion/criterion.h"

#define MAX_TESTS 64

typedef struct shim_test {
  const char *suite, *name;
  mx_shim_test_fn fn;
} shim_test;
static shim_test tests[MAX_TESTS];
static int n_tests;
static int failed;

void mx_shim_register(const char *suite, const char *name, mx_shim_test_fn fn) {
  if (n_tests < MAX_TESTS)
    tests[n_tests++] = (shim_test){suite, name, fn};
}

void mx_shim_fail(int fatal, const char *file, int line, const char *expr, const char *fmt, ...) {
  fprintf(stderr, "%s:%d: check failed: %s", file, line, expr);
  if (fmt && fmt[0] && fmt[1]) { /* the macros prefix a space */
    va_list ap;
    va_start(ap, fmt);
    fputc(':', stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
  }
  fputc('\n', stderr);
  failed = 1;
  if (fatal)
    abort();
}

int main(int argc, char **argv) {
  /* optional argument: run only tests whose "suite/name" contains it */
  int ran = 0;
  for (int i = 0; i < n_tests; i++) {
    char full[256];
    snprintf(full, sizeof full, "%s/%s", tests[i].suite, tests[i].name);
    if (argc > 1 && !strstr(full, argv[1]))
      continue;
    fprintf(stderr, "[RUN ] %s\n", full);
    int before = failed;
    tests[i].fn();
    fprintf(stderr, "[%s] %s\n", failed == before ? " OK " : "FAIL", full);
    ran++;
  }
  fprintf(stderr, "%d test(s) run, %s\n", ran, failed ? "FAILURES" : "all passed");
  return failed || ran == 0;
}
