/* cascade.c: the cascade rules of `metaidx search --cascade`, as a public
 * call (mx_search_options_set_cascade), so that an embedding program gets
 * the command line's behaviour. */
#include <string.h>

#include "metaidx.h"
#include "status.h"

mx_status mx_search_options_set_cascade(mx_search_options *o, const mx_stage *stages,
                                        uint32_t n_stages, mx_error *err) {
  if (!o || (!stages && n_stages))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "mx_search_options_set_cascade: NULL options or stages");
  if (n_stages > MX_MAX_STAGES + 1)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "cascade: at most %d stages before the final budget, got %u", MX_MAX_STAGES,
                   n_stages);
  for (uint32_t i = 0; i < n_stages; i++)
    if (stages[i].r_q == 0 || stages[i].r_c == 0 || stages[i].keep == 0)
      return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                     "cascade stage %u (%ux%u:%u): r_q, r_c and keep must be >= 1", i + 1,
                     stages[i].r_q, stages[i].r_c, stages[i].keep);
  uint32_t r_q = o->r_q, r_c = o->r_c, n = n_stages;
  if (n > 0) {
    const mx_stage *last = &stages[n - 1];
    if (r_q == 0 && r_c == 0) { /* no final budget given: the last stage's */
      r_q = last->r_q;
      r_c = last->r_c;
    }
    if (last->r_q == r_q && last->r_c == r_c) /* the final stage itself */
      n--;
  }
  if (n > MX_MAX_STAGES)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "cascade: at most %d stages before the final budget, got %u", MX_MAX_STAGES,
                   n);
  o->r_q = r_q;
  o->r_c = r_c;
  memset(o->stages, 0, sizeof o->stages);
  if (n)
    memcpy(o->stages, stages, n * sizeof *stages);
  o->n_stages = n;
  if (n && o->candidates && o->candidates < stages[0].keep)
    o->candidates = stages[0].keep;
  return MX_OK;
}
