/* recall.c: search by recall. With mx_search_options.candidates = 0,
 * mx_search takes k' and nprobe from the calibration table that
 * mx_index_tune stored (storage/calibration.h): the rule below, one place,
 * documented in docs/recall.md and include/metaidx.h. */
#include "recall.h"

#include <math.h>
#include <string.h>

#include "status.h"

/* The entry to read for `want`: the budget itself if it was measured, else
 * the measured budget with r_q' >= r_q and r_c' >= r_c and the smallest
 * r_q' * r_c' (a larger budget ranks further from the leading vectors, so
 * it usually needs at least as many candidates: a heuristic, flagged),
 * else (a budget beyond every measured one) the measured budget with the
 * largest r_q' * r_c' (likely optimistic: flagged). -1 when nothing was
 * measured. */
static int find_entry(const mx_calib *c, mx_budget want, uint32_t *flags) {
  int above = -1, largest = -1;
  uint64_t above_cost = UINT64_MAX, largest_cost = 0;
  for (uint32_t i = 0; i < c->pub.n_entries; i++) {
    const mx_calibration_entry *e = &c->pub.entries[i];
    if (e->status == MX_CALIBRATION_SKIPPED || c->n_points[i] == 0)
      continue;
    if (e->budget.r_q == want.r_q && e->budget.r_c == want.r_c)
      return (int)i;
    uint64_t cost = (uint64_t)e->budget.r_q * e->budget.r_c;
    if (e->budget.r_q >= want.r_q && e->budget.r_c >= want.r_c && cost < above_cost) {
      above = (int)i;
      above_cost = cost;
    }
    if (largest < 0 || cost > largest_cost) {
      largest = (int)i;
      largest_cost = cost;
    }
  }
  if (above >= 0) {
    *flags |= MX_CHOICE_OTHER_BUDGET;
    return above;
  }
  if (largest >= 0)
    *flags |= MX_CHOICE_BEYOND_TABLE;
  return largest;
}

void mx_recall_choose_in(const mx_calib *c, uint64_t n_docs, const mx_search_options *o,
                         mx_budget final, mx_search_options *eff, mx_search_stats *st) {
  *eff = *o;
  st->candidates_flags = 0;
  st->table_budget = (mx_budget){0, 0};
  st->recall_expected = -1;
  st->nprobe_asked = o->nprobe;
  if (o->candidates) {
    st->candidates_source = MX_CANDIDATES_EXPLICIT;
    st->candidates_asked = o->candidates;
    st->recall_target = 0;
    return;
  }
  float target = o->recall > 0 ? o->recall : c ? c->pub.target : MX_DEFAULT_RECALL;
  st->recall_target = target;
  st->candidates_source = MX_CANDIDATES_FALLBACK;
  eff->candidates = MX_DEFAULT_CANDIDATES;
  int bi = -1;
  if (!c)
    st->candidates_flags |= MX_CHOICE_NO_TABLE;
  else if ((bi = find_entry(c, final, &st->candidates_flags)) < 0)
    st->candidates_flags |= MX_CHOICE_NO_ENTRY;
  if (bi >= 0) {
    /* The smallest measured k' reaching the target (mx_calib_point_meets,
     * the calibration's own rule); else the best measured (highest mean
     * less standard error, its smallest k' among ties). Points ascend in k'. */
    const mx_calib_point *pts = c->points[bi], *pick = NULL, *best = &pts[0];
    for (uint32_t j = 0; j < c->n_points[bi] && !pick; j++) {
      if (mx_calib_point_meets(&pts[j], target))
        pick = &pts[j];
      if (mx_calib_point_bound(&pts[j]) > mx_calib_point_bound(best))
        best = &pts[j];
    }
    if (!pick) {
      pick = best;
      st->candidates_flags |= MX_CHOICE_NOT_MET;
    }
    st->candidates_source = MX_CANDIDATES_TABLE;
    st->table_budget = c->pub.entries[bi].budget;
    st->recall_expected = pick->recall;
    uint64_t cand = pick->candidates;
    if (o->k > c->pub.k) {
      /* recall@k for a larger k needs more candidates than recall@10; no
       * measurement says how many: scale, and say so. */
      cand *= (o->k + c->pub.k - 1) / c->pub.k;
      st->candidates_flags |= MX_CHOICE_K_SCALED;
      st->recall_expected = -1;
    } else if (!o->nprobe) {
      eff->nprobe = pick->nprobe; /* what the measurement used */
    }
    if (cand > n_docs)
      cand = n_docs;
    eff->candidates = (uint32_t)(cand > 0 ? cand : 1);
    if (o->n_stages)
      st->candidates_flags |= MX_CHOICE_CASCADE;
  }
  /* A cascade's first stage keeps at most what the coarse stage gave it. */
  if (o->n_stages && eff->candidates < o->stages[0].keep)
    eff->candidates = o->stages[0].keep;
  st->candidates_asked = eff->candidates;
  st->nprobe_asked = eff->nprobe;
}

mx_status mx_recall_choose(const mx_index *ix, const mx_search_options *o, mx_budget final,
                           mx_search_options *eff, mx_search_stats *st, mx_error *err) {
  if (isnan(o->recall) || o->recall < 0 || o->recall > 1)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "recall %g is outside (0, 1] (0 = the calibration table's target)",
                   (double)o->recall);
  mx_recall_choose_in(ix->calib, ix->manifest.n_docs, o, final, eff, st);
  return MX_OK;
}
