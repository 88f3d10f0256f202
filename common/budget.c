/* budget.c: the one parser of budget lists and cascades, and the default
 * budget list (see budget.h). */
#include "budget.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

const mx_budget mx_metaembed_budgets[MX_METAEMBED_N_BUDGETS] = {
    {1, 1}, {2, 4}, {4, 8}, {8, 16}, {16, 64}};

/* A decimal integer in [1, UINT32_MAX] at *p, advancing *p past it: digits
 * only (strtoul alone would take spaces, a sign and wrap-around). */
static int parse_count(const char **p, uint32_t *out) {
  const char *s = *p;
  if (*s < '0' || *s > '9')
    return -1;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno == ERANGE || v == 0 || v > UINT32_MAX)
    return -1;
  *out = (uint32_t)v;
  *p = end;
  return 0;
}

static mx_status parse_list(const char *text, int with_keep, void *out, uint32_t cap,
                            uint32_t *n, mx_error *err) {
  const char *want = with_keep ? "RQxRC:KEEP[,RQxRC:KEEP...]" : "RQxRC[,RQxRC...]";
  const char *what = with_keep ? "cascade" : "budget list";
  *n = 0;
  if (!text || !*text)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "empty %s: expected %s", what, want);
  uint32_t count = 0;
  for (const char *p = text;;) {
    const char *item = p;
    uint32_t r_q = 0, r_c = 0, keep = 0;
    int bad = parse_count(&p, &r_q) || *p++ != 'x' || parse_count(&p, &r_c);
    if (!bad && with_keep)
      bad = *p++ != ':' || parse_count(&p, &keep);
    if (bad || (*p != ',' && *p != '\0')) {
      size_t len = strcspn(item, ",");
      return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                     "bad %s item '%.*s' in '%s': expected %s, each number from 1 to %u",
                     with_keep ? "cascade" : "budget", (int)(len < 64 ? len : 64), item, text,
                     want, (unsigned)UINT32_MAX);
    }
    if (count >= cap)
      return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "%s '%s' has more than %u %s", what, text,
                     cap, with_keep ? "stages" : "budgets");
    if (with_keep)
      ((mx_stage *)out)[count] = (mx_stage){r_q, r_c, keep};
    else
      ((mx_budget *)out)[count] = (mx_budget){r_q, r_c};
    count++;
    if (*p == '\0')
      break;
    p++; /* the comma; an empty item after it fails above */
  }
  *n = count;
  return MX_OK;
}

mx_status mx_budgets_parse(const char *text, mx_budget *out, uint32_t cap, uint32_t *n,
                           mx_error *err) {
  return parse_list(text, 0, out, cap, n, err);
}

mx_status mx_cascade_parse(const char *text, mx_stage *out, uint32_t cap, uint32_t *n,
                           mx_error *err) {
  return parse_list(text, 1, out, cap, n, err);
}

uint32_t mx_budgets_default(uint32_t max_r_q, uint32_t max_r_c, mx_budget *out) {
  if (max_r_q == 0 || max_r_c == 0)
    return 0;
  uint32_t n = 0;
  for (uint32_t i = 0; i < MX_METAEMBED_N_BUDGETS; i++)
    if (mx_metaembed_budgets[i].r_q <= max_r_q && mx_metaembed_budgets[i].r_c <= max_r_c)
      out[n++] = mx_metaembed_budgets[i];
  /* (1,1) always fits, so n >= 1 */
  mx_budget last = out[n - 1];
  if (last.r_c != max_r_c) {
    uint64_t r_q = 2ull * last.r_q;
    out[n++] = (mx_budget){r_q < max_r_q ? (uint32_t)r_q : max_r_q, max_r_c};
  }
  return n;
}
