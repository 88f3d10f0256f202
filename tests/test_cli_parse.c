/* test_cli_parse.c: the command line's option parser (tools/cli.c), without
 * running the tool. Budget and cascade lists: test_budget.c. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <string.h>

#include "cli.h"

typedef struct vals {
  const char *out;
  uint32_t n;
  uint64_t big;
  double x;
  int flag;
} vals;

static int parse(vals *v, char **pos, uint32_t *n_pos, int argc, char **argv) {
  cli_opt opts[] = {
      {"out", CLI_STRING, &v->out, "DIR", "where", 1, 0},
      {"n", CLI_U32, &v->n, "N", "count", 0, 0},
      {"big", CLI_U64, &v->big, "N", "big count", 0, 0},
      {"x", CLI_DOUBLE, &v->x, "X", "number", 0, 0},
      {"flag", CLI_FLAG, &v->flag, NULL, "a flag", 0, 0},
      {NULL, 0, NULL, NULL, NULL, 0, 0},
  };
  cli_command cmd = {"t", "FILE...", "test command", opts, 0, 3};
  return cli_parse(&cmd, argc, argv, pos, 3, n_pos);
}

static void redirect(void) { cr_redirect_stderr(); cr_redirect_stdout(); }

Test(cli_parse, both_value_forms_types_and_positionals, .init = redirect) {
  vals v = {0};
  char *pos[3];
  uint32_t n_pos;
  char *argv[] = {"t", "--out", "d", "a.npy", "--n=7", "--big", "18446744073709551615",
                  "--x=0.25", "--flag", "--", "--b"};
  cr_assert_eq(parse(&v, pos, &n_pos, 11, argv), CLI_CONTINUE);
  cr_assert_str_eq(v.out, "d");
  cr_assert_eq(v.n, 7);
  cr_assert_eq(v.big, UINT64_MAX);
  cr_assert_float_eq(v.x, 0.25, 1e-12);
  cr_assert_eq(v.flag, 1);
  cr_assert_eq(n_pos, 2);
  cr_assert_str_eq(pos[0], "a.npy");
  cr_assert_str_eq(pos[1], "--b");
}

Test(cli_parse, errors_are_usage_errors_naming_the_option, .init = redirect) {
  char *pos[3];
  uint32_t n_pos;
  struct {
    int argc;
    char *argv[4];
  } bad[] = {
      {4, {"t", "--out", "d", "--nope"}},    /* unknown */
      {4, {"t", "--out", "d", "-q"}},        /* unknown short */
      {2, {"t", "--out"}},                   /* missing value */
      {4, {"t", "--out", "d", "--n=-1"}},    /* negative */
      {4, {"t", "--out", "d", "--n=4294967296"}}, /* out of range */
      {4, {"t", "--out", "d", "--n=12abc"}}, /* trailing bytes */
      {4, {"t", "--out", "d", "--x=nan"}},   /* not finite */
      {4, {"t", "--out", "d", "--flag=1"}},  /* flag with a value */
      {2, {"t", "--n=1"}},                   /* required option absent */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    vals v = {0};
    cr_assert_eq(parse(&v, pos, &n_pos, bad[i].argc, bad[i].argv), CLI_EXIT_USAGE, "case %zu",
                 i);
  }
  char *many[] = {"t", "--out", "d", "1", "2", "3", "4"};
  vals v = {0};
  cr_assert_eq(parse(&v, pos, &n_pos, 7, many), CLI_EXIT_USAGE);
}

Test(cli_parse, help_exits_zero_and_lists_options) {
  cr_redirect_stdout();
  char *pos[3];
  uint32_t n_pos;
  char *argv[] = {"t", "--help"};
  vals v = {0};
  cr_assert_eq(parse(&v, pos, &n_pos, 2, argv), CLI_EXIT_OK);
  fflush(stdout);
  cr_assert_stdout_eq_str("usage: metaidx t [OPTIONS] FILE...\n\ntest command\n\noptions:\n"
                          "  --out DIR  where (required)\n"
                          "  --n N      count\n"
                          "  --big N    big count\n"
                          "  --x X      number\n"
                          "  --flag     a flag\n"
                          "  --help     show this help and exit\n");
}
