/* test_budget.c: the one parser of budget lists and cascades
 * (common/budget.c), the default budget list, and the cascade rules of
 * mx_search_options_set_cascade (query/cascade.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "budget.h"
#include "metaidx.h"

Test(budget, lists_parse) {
  mx_budget b[4];
  uint32_t n = 99;
  mx_error err = {0};
  cr_assert_eq(mx_budgets_parse("1x1,2x4,16x64", b, 4, &n, &err), MX_OK);
  cr_assert_eq(n, 3);
  cr_assert(b[0].r_q == 1 && b[0].r_c == 1 && b[2].r_q == 16 && b[2].r_c == 64);
  cr_assert_eq(mx_budgets_parse("4294967295x1", b, 4, &n, &err), MX_OK, "UINT32_MAX fits");
  cr_assert_eq(b[0].r_q, 4294967295u);
  cr_assert_eq(mx_budgets_parse("007x8", b, 4, &n, &err), MX_OK);
  cr_assert_eq(b[0].r_q, 7);
}

Test(budget, bad_lists_are_refused_naming_the_item) {
  mx_budget b[4];
  const char *bad[] = {"", "1x", "x1", "0x4", "4x0", "2x4,", ",2x4", "2x4,,1x1", "2*4", "2x4x8",
                       " 2x4", "2x4 ", "+2x4", "-1x4", "2x-4", "2x+4", "4294967296x1",
                       "1x99999999999999999999", "2x4:5", "abc", "1x1;2x2", "１x1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint32_t n = 99;
    mx_error err = {0};
    cr_assert_eq(mx_budgets_parse(bad[i], b, 4, &n, &err), MX_ERR_INVALID_ARGUMENT, "'%s'",
                 bad[i]);
    cr_assert_eq(n, 0, "'%s'", bad[i]);
    cr_assert_eq(err.status, MX_ERR_INVALID_ARGUMENT);
    cr_assert_neq(err.message[0], '\0', "'%s'", bad[i]);
  }
  mx_error err = {0};
  uint32_t n;
  cr_assert_eq(mx_budgets_parse(NULL, b, 4, &n, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "empty"), "%s", err.message);
  cr_assert_eq(mx_budgets_parse("1x1,2x4,4294967296x8", b, 4, &n, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "'4294967296x8'"), "names the item: %s", err.message);
  cr_assert_eq(mx_budgets_parse("1x1,2x2,3x3,4x4,5x5", b, 4, &n, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "more than 4"), "%s", err.message);
  cr_assert_eq(mx_budgets_parse("1x1,2x2,3x3,4x4", b, 4, &n, &err), MX_OK, "exactly cap");
  cr_assert_eq(n, 4);
}

Test(budget, cascades_parse) {
  mx_stage s[MX_MAX_STAGES + 1];
  uint32_t n;
  mx_error err = {0};
  cr_assert_eq(mx_cascade_parse("4x8:200,16x64:20", s, 2, &n, &err), MX_OK);
  cr_assert_eq(n, 2);
  cr_assert(s[0].r_q == 4 && s[0].r_c == 8 && s[0].keep == 200);
  cr_assert(s[1].r_q == 16 && s[1].r_c == 64 && s[1].keep == 20);
  const char *bad[] = {"", "4x8", "4x8:", "4x8:0", "0x8:5", "4x8:10,", "4x8:10+8x16:5", "x",
                       "4x8:20x", "4x8:-1", "4x8: 5", "4x8:4294967296", "4x8:5:6", "none"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err = (mx_error){0};
    cr_assert_eq(mx_cascade_parse(bad[i], s, MX_MAX_STAGES, &n, &err), MX_ERR_INVALID_ARGUMENT,
                 "'%s'", bad[i]);
    cr_assert_eq(n, 0);
  }
  cr_assert(strstr(err.message, "RQxRC:KEEP"), "says the syntax: %s", err.message);
  /* nine stages where eight fit */
  const char *nine = "9x9:9,8x8:8,7x7:7,6x6:6,5x5:5,4x4:4,3x3:3,2x2:2,1x1:1";
  cr_assert_eq(mx_cascade_parse(nine, s, MX_MAX_STAGES, &n, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "more than 8"), "%s", err.message);
  cr_assert_eq(mx_cascade_parse(nine, s, MX_MAX_STAGES + 1, &n, &err), MX_OK);
  cr_assert_eq(n, 9);
  cr_assert_eq(s[8].keep, 1);
}

/* The rule the builder had before it moved to common/budget.c: MetaEmbed's
 * budgets with r_c <= kept, then (min(2 r_q, 16), kept) if short of it. */
static uint32_t builder_reference(uint32_t kept, mx_budget *out) {
  static const mx_budget me[] = {{1, 1}, {2, 4}, {4, 8}, {8, 16}, {16, 64}};
  uint32_t n = 0;
  for (size_t i = 0; i < 5; i++)
    if (me[i].r_c <= kept)
      out[n++] = me[i];
  if (out[n - 1].r_c != kept)
    out[n] = (mx_budget){out[n - 1].r_q * 2 < 16 ? out[n - 1].r_q * 2 : 16, kept}, n++;
  return n;
}

Test(budget, default_list) {
  mx_budget got[MX_METAEMBED_N_BUDGETS + 1], want[MX_METAEMBED_N_BUDGETS + 1];
  cr_assert_eq(mx_budgets_default(16, 64, got), 5);
  cr_assert_eq(memcmp(got, mx_metaembed_budgets, sizeof mx_metaembed_budgets), 0);
  for (uint32_t kept = 1; kept <= 200; kept++) {
    uint32_t n = mx_budgets_default(16, kept, got), m = builder_reference(kept, want);
    cr_assert_eq(n, m, "kept %u", kept);
    cr_assert_eq(memcmp(got, want, n * sizeof *got), 0, "kept %u", kept);
  }
  /* a smaller query side clips r_q, and the added budget's r_q with it */
  cr_assert_eq(mx_budgets_default(3, 64, got), 3);
  cr_assert(got[1].r_q == 2 && got[1].r_c == 4 && got[2].r_q == 3 && got[2].r_c == 64);
  cr_assert_eq(mx_budgets_default(1, 1, got), 1);
  cr_assert_eq(mx_budgets_default(0, 64, got), 0);
  cr_assert_eq(mx_budgets_default(16, 0, got), 0);
  cr_assert_eq(mx_budgets_default(UINT32_MAX, UINT32_MAX, got), 6);
  cr_assert(got[5].r_q == 32 && got[5].r_c == UINT32_MAX);
}

Test(budget, set_cascade_rules) {
  mx_search_options o;
  mx_error err = {0};
  mx_stage st[MX_MAX_STAGES + 1] = {{4, 8, 200}, {16, 64, 20}};
  /* no final budget given: the last stage's, dropped as the final stage */
  mx_search_options_init(&o);
  o.candidates = 100; /* explicit (the default, 0, is chosen at search time) */
  cr_assert_eq(mx_search_options_set_cascade(&o, st, 2, &err), MX_OK);
  cr_assert(o.r_q == 16 && o.r_c == 64 && o.n_stages == 1);
  cr_assert(o.stages[0].r_q == 4 && o.stages[0].keep == 200);
  cr_assert_eq(o.candidates, 200, "raised to the first stage's keep");
  /* a final budget given: every stage kept, the explicit budget stays */
  mx_search_options_init(&o);
  o.r_q = 8;
  o.candidates = 500;
  cr_assert_eq(mx_search_options_set_cascade(&o, st, 2, &err), MX_OK);
  cr_assert(o.r_q == 8 && o.r_c == 0 && o.n_stages == 2);
  cr_assert_eq(o.candidates, 500, "never lowered");
  /* candidates 0 (calibrated) is left alone */
  mx_search_options_init(&o);
  o.candidates = 0;
  cr_assert_eq(mx_search_options_set_cascade(&o, st, 1, &err), MX_OK);
  cr_assert(o.r_q == 4 && o.r_c == 8 && o.n_stages == 0 && o.candidates == 0);
  /* nine stages fit when the ninth is the final budget, not otherwise */
  for (uint32_t i = 0; i < 9; i++)
    st[i] = (mx_stage){1, 1, 90 - 10 * i};
  st[8] = (mx_stage){4, 4, 10};
  mx_search_options_init(&o);
  cr_assert_eq(mx_search_options_set_cascade(&o, st, 9, &err), MX_OK);
  cr_assert(o.n_stages == 8 && o.r_q == 4 && o.r_c == 4 && o.candidates == 0);
  mx_search_options before = o;
  o.r_q = 2;
  before.r_q = 2;
  cr_assert_eq(mx_search_options_set_cascade(&o, st, 9, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "at most 8"), "%s", err.message);
  cr_assert_eq(memcmp(&o, &before, sizeof o), 0, "unchanged on failure");
  cr_assert_eq(mx_search_options_set_cascade(&o, st, 10, &err), MX_ERR_INVALID_ARGUMENT);
  st[3].keep = 0;
  cr_assert_eq(mx_search_options_set_cascade(&o, st, 5, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "stage 4"), "%s", err.message);
  cr_assert_eq(mx_search_options_set_cascade(NULL, st, 1, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mx_search_options_set_cascade(&o, NULL, 1, &err), MX_ERR_INVALID_ARGUMENT);
  /* zero stages clear the cascade */
  cr_assert_eq(mx_search_options_set_cascade(&o, NULL, 0, &err), MX_OK);
  cr_assert_eq(o.n_stages, 0);
}
