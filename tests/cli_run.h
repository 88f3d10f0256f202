/* cli_run.h: running the metaidx tool from a test and capturing its exit
 * status, stdout and stderr (test_cli.c, test_cli_bounds.c; cli_run.c). */
#ifndef MX_TESTS_CLI_RUN_H
#define MX_TESTS_CLI_RUN_H

#include <criterion/criterion.h>
#include <stdint.h>

typedef struct result {
  int status; /* exit code, or 128 + signal */
  char *out, *err;
} result;

void result_free(result *r);

/* A path dir/name that lives until paths_free at the end of a test (each
 * test runs in its own process). */
char *path_in(const char *dir, const char *name);
void paths_free(void);

/* The whole file, NUL-terminated (asserts it can be read). */
char *slurp(const char *path);

/* Runs the tool with the NULL-terminated arguments; stdout and stderr are
 * captured into files under dir. */
result run_argv(const char *dir, const char *const *args);

#define RUN(dir, ...) run_argv((dir), (const char *const[]){__VA_ARGS__, NULL})

/* Asserts success and frees the result. */
#define RUN_OK(dir, ...)                                                              \
  do {                                                                                \
    result r_ = RUN(dir, __VA_ARGS__);                                                \
    cr_assert_eq(r_.status, 0, "exit %d\nstderr: %s", r_.status, r_.err);             \
    result_free(&r_);                                                                 \
  } while (0)

/* n documents of R unit vectors of d floats, as a .npy file. */
void write_docs(const char *path, uint64_t n, uint32_t R, uint32_t d, uint64_t seed);

/* Asserts the run failed with `code`, that stderr holds every needle, and
 * that no index (nor a half-built one) is left at idx. */
void expect_failure(result *r, int code, const char *idx, const char *const *needles);
#define EXPECT_FAIL(r, code, idx, ...) \
  expect_failure(&(r), (code), (idx), (const char *const[]){__VA_ARGS__, NULL})

#endif
