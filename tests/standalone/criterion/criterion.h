/* criterion.h (standalone shim): the few Criterion macros that
 * tests/helpers.c and tests/test_concurrency.c use, for builds where
 * Criterion itself cannot run. Criterion's process sandbox (boxfort)
 * aborts under ThreadSanitizer ("Could not initialize inheritable arena",
 * Snaipe/Criterion#274), so scripts/tsan.sh runs the concurrency test built
 * against this header instead: tests run in the order they are defined, in
 * one process; a failed cr_assert_* aborts, a failed cr_expect* makes the
 * exit status 1. Not a general replacement. */
#ifndef MX_CRITERION_SHIM_H
#define MX_CRITERION_SHIM_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef void (*mx_shim_test_fn)(void);
void mx_shim_register(const char *suite, const char *name, mx_shim_test_fn fn);
void mx_shim_fail(int fatal, const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define Test(suite, name, ...)                                                  \
  static void mx_shim_##suite##_##name(void);                                   \
  __attribute__((constructor)) static void mx_shim_reg_##suite##_##name(void) { \
    mx_shim_register(#suite, #name, mx_shim_##suite##_##name);                  \
  }                                                                             \
  static void mx_shim_##suite##_##name(void)

#define MX_SHIM_CHECK_(fatal, cond, expr, ...)                                  \
  do {                                                                          \
    if (!(cond))                                                                \
      mx_shim_fail(fatal, __FILE__, __LINE__, expr, " " __VA_ARGS__);           \
  } while (0)

#define cr_assert(c, ...) MX_SHIM_CHECK_(1, (c), #c, __VA_ARGS__)
#define cr_expect(c, ...) MX_SHIM_CHECK_(0, (c), #c, __VA_ARGS__)
#define cr_assert_eq(a, b, ...) MX_SHIM_CHECK_(1, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) MX_SHIM_CHECK_(1, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_not_null(p, ...) MX_SHIM_CHECK_(1, (p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_null(p, ...) MX_SHIM_CHECK_(1, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_lt(a, b, ...) MX_SHIM_CHECK_(1, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) MX_SHIM_CHECK_(1, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) MX_SHIM_CHECK_(1, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) MX_SHIM_CHECK_(1, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_expect_eq(a, b, ...) MX_SHIM_CHECK_(0, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_expect_gt(a, b, ...) MX_SHIM_CHECK_(0, (a) > (b), #a " > " #b, __VA_ARGS__)

#endif
