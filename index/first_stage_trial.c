/* first_stage_trial.c: choosing the first stage at build time (see
 * first_stage_trial.h and docs/first_stage.md).
 *
 * The measurement
 * ---------------
 * S documents are sampled (stratified over the internal ids) and decoded;
 * Q pseudo-queries are drawn from Q of them (pseudo.h's rule: a document's
 * own vectors plus noise). For every query and sample document one Gram
 * block G[i][j] = <q_i, d_j> (i < the largest r_q evaluated, j < the
 * largest r_c evaluated) is computed; every quantity below comes from it:
 * - the truth at budget (r_q, r_c): the top 10 of sum_i max_{j<r_c} G[i][j]
 *   over the sample without the query's own document;
 * - leading: G[0][0];
 * - multi over m vectors with r query vectors: sum_{i<r} max_{j<m} G[i][j]
 *   (the FAISS search returns only the nearest entries, so the search's
 *   approximate MaxSim can only be worse: the multi cost carries a factor,
 *   MULTI_COST, for that and for its r coarse searches per query);
 * - pooled over m: <normalised sum of q_0..q_{r-1}, normalised mean of
 *   d_0..d_{m-1}>, computed from its own vectors.
 * For each candidate first stage and budget, the ranks of the true top 10
 * under the candidate's score give the smallest k' whose mean recall@10
 * over the queries reaches TARGET_RECALL; scaled by N / S, that estimates
 * the candidate count the full collection needs. A candidate's cost is the
 * geometric mean of its k' over the budgets (times MULTI_COST for multi).
 *
 * Which budgets: those with r_c <= MAX_TRIAL_RC (all of MetaEmbed's but the
 * largest), or, when none is, the smallest; the larger budgets' ranking is
 * assumed to follow (stated in the trial text and the docs).
 *
 * Bounds: S <= TRIAL_DOCS, the decoded sample <= TRIAL_BYTES and the Gram
 * work <= TRIAL_FLOPS multiply-adds, whatever N, d and the budgets are (at
 * d = 3584 the sample shrinks to a few hundred documents).
 *
 * The choice: the cheapest candidate, but the leading vector is kept unless
 * the cheapest costs at most KEEP_LEADING of it (a margin for the
 * estimate's noise: the leading vector has the smallest coarse index and
 * the simplest search); multi only where its m entries fit max_bytes. */
#include "first_stage_trial.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "first_stage.h"
#include "pseudo.h"
#include "record.h"
#include "status.h"

#define TRIAL_DOCS 2000u
#define TRIAL_QUERIES 24u
#define TRIAL_BYTES ((size_t)128 << 20)
#define TRIAL_FLOPS 3.0e9
#define MAX_TRIAL_RC 16u
#define TARGET_RECALL 0.95
#define TRUTH_K 10u
#define MULTI_COST 2.0
#define KEEP_LEADING 0.8
#define PSEUDO_NOISE 1.0f /* as mx_tune_options_init's default */
#define MAX_CANDIDATES 6  /* leading + pooled x3 + multi x2 */

typedef struct candidate {
  mx_first_stage kind;
  uint32_t m;
  double log_sum; /* of k' over the budgets */
  uint32_t budgets;
  double cost;
  uint32_t *hist; /* per budget being measured: truths at each rank (1..S) */
} candidate;

/* Dot product with eight independent partial sums, so that the compiler
 * can vectorise it without reassociating (no -ffast-math anywhere). */
static float dot(const float *a, const float *b, uint32_t n) {
  float acc[8] = {0};
  uint32_t e = 0;
  for (; e + 8 <= n; e += 8)
    for (int l = 0; l < 8; l++)
      acc[l] += a[e + (uint32_t)l] * b[e + (uint32_t)l];
  float s = 0;
  for (; e < n; e++)
    s += a[e] * b[e];
  for (int l = 0; l < 8; l++)
    s += acc[l];
  return s;
}

float mx_trial_maxsim(const float *q, uint32_t r_q, const float *doc,
                      uint32_t r_c, uint32_t dim) {
  float total = 0;
  for (uint32_t i = 0; i < r_q; i++) {
    float best = -INFINITY;
    for (uint32_t j = 0; j < r_c; j++) {
      float s = dot(q + (size_t)i * dim, doc + (size_t)j * dim, dim);
      if (s > best)
        best = s;
    }
    total += best;
  }
  return total;
}

/* The budgets measured: r_c <= MAX_TRIAL_RC, else the smallest. */
static uint32_t pick_budgets(const mx_first_stage_trial_input *in,
                             mx_budget *out) {
  uint32_t n = 0, smallest = 0;
  for (uint32_t b = 0; b < in->n_budgets; b++) {
    if (in->budgets[b].r_c <= MAX_TRIAL_RC)
      out[n++] = in->budgets[b];
    if ((uint64_t)in->budgets[b].r_q * in->budgets[b].r_c <
        (uint64_t)in->budgets[smallest].r_q * in->budgets[smallest].r_c)
      smallest = b;
  }
  if (n == 0)
    out[n++] = in->budgets[smallest];
  return n;
}

/* The candidates: leading; pooled over 2, 4 and 8 vectors; multi over 2
 * and 4 (8 entries per document would make the coarse index 8x the
 * leading one's and its training 8x longer, for a first stage that already
 * costs r coarse searches per query); only m <= stored, and only the m
 * given when the caller chose one. */
static uint32_t add_candidates(const mx_first_stage_trial_input *in,
                               candidate *c) {
  static const uint32_t pooled_ms[] = {2, 4, 8}, multi_ms[] = {2, 4};
  uint32_t n = 0;
  c[n++] = (candidate){.kind = MX_FIRST_STAGE_LEADING, .m = 1};
  for (size_t i = 0; i < sizeof pooled_ms / sizeof pooled_ms[0]; i++) {
    uint32_t m = in->vectors ? in->vectors : pooled_ms[i];
    if (m >= 2 && m <= in->stored && (i == 0 || !in->vectors))
      c[n++] = (candidate){.kind = MX_FIRST_STAGE_POOLED, .m = m};
  }
  for (size_t i = 0; i < sizeof multi_ms / sizeof multi_ms[0]; i++) {
    uint32_t m = in->vectors ? in->vectors : multi_ms[i];
    if (m >= 2 && m <= in->stored && (i == 0 || !in->vectors) &&
        (uint64_t)m * in->code_bytes <= in->max_bytes)
      c[n++] = (candidate){.kind = MX_FIRST_STAGE_MULTI, .m = m};
  }
  return n;
}

/* Smallest k with (truths at ranks <= k) >= target * total. */
static uint32_t needed(const uint32_t *hist, uint32_t s, uint64_t total) {
  uint64_t want = (uint64_t)ceil(TARGET_RECALL * (double)total - 1e-9), got = 0;
  for (uint32_t k = 1; k <= s; k++) {
    got += hist[k];
    if (got >= want)
      return k;
  }
  return s;
}

typedef struct trial {
  const mx_first_stage_trial_input *in;
  uint32_t s, q, rq, rc; /* sample docs, queries, Gram rows and columns */
  float *docs;           /* s x rc x dim */
  float *pooled;         /* per pooled candidate: s x dim */
  float *queries;        /* q x rq x dim */
  float *gram;           /* s x rq x rc for the current query */
  float *exact, *score;  /* s each */
  float *pooled_q;       /* dim */
  uint32_t *source;      /* sample index each query was drawn from */
} trial;

static mx_status load_sample(trial *t, mx_error *err) {
  const mx_first_stage_trial_input *in = t->in;
  uint32_t d = in->dim;
  for (uint32_t i = 0; i < t->s; i++) {
    uint64_t doc = (uint64_t)((double)i * (double)in->n_docs / t->s);
    mx_record_view v;
    MX_TRY(mx_store_read_prefix(in->txn, doc, t->rc, 0, &v, err));
    for (uint32_t j = 0; j < t->rc; j++)
      mx_record_decode_vector(&v, j, t->docs + ((size_t)i * t->rc + j) * d);
  }
  uint64_t rng = in->seed ^ 0x6669727374ull;
  for (uint32_t qi = 0; qi < t->q; qi++) {
    uint32_t src = (uint32_t)(((uint64_t)qi * t->s + t->s / 2) / t->q);
    t->source[qi] = src;
    for (uint32_t i = 0; i < t->rq; i++)
      mx_pseudo_vector(t->docs + ((size_t)src * t->rc + i % t->rc) * d, d,
                       PSEUDO_NOISE, &rng,
                       t->queries + ((size_t)qi * t->rq + i) * d);
  }
  return MX_OK;
}

/* Rank (1-based) of sample doc `doc` under score[], the query's own
 * document left out; ties count against it. */
static uint32_t rank_of(const float *score, uint32_t s, uint32_t doc,
                        uint32_t skip) {
  uint32_t r = 1;
  for (uint32_t i = 0; i < s; i++)
    if (i != doc && i != skip && score[i] >= score[doc])
      r++;
  return r;
}

/* The true top-k sample indexes under exact[] without `skip`. */
static uint32_t top_truth(const float *exact, uint32_t s, uint32_t skip,
                          uint32_t *out) {
  uint32_t k = s - 1 < TRUTH_K ? s - 1 : TRUTH_K, n = 0;
  for (uint32_t i = 0; i < s; i++) {
    if (i == skip)
      continue;
    uint32_t at = n < k ? n++ : k;
    if (at == k && !(exact[i] > exact[out[k - 1]]))
      continue;
    if (at == k)
      at = k - 1;
    while (at > 0 && exact[out[at - 1]] < exact[i]) {
      out[at] = out[at - 1];
      at--;
    }
    out[at] = i;
  }
  return n;
}

static void candidate_scores(const trial *t, const candidate *c, uint32_t ci,
                             uint32_t r, const float *pooled_q) {
  const uint32_t d = t->in->dim;
  for (uint32_t i = 0; i < t->s; i++) {
    const float *g = t->gram + (size_t)i * t->rq * t->rc;
    if (c->kind == MX_FIRST_STAGE_LEADING) {
      t->score[i] = g[0];
    } else if (c->kind == MX_FIRST_STAGE_MULTI) {
      float sum = 0;
      for (uint32_t a = 0; a < r; a++) {
        float best = -INFINITY;
        for (uint32_t j = 0; j < c->m; j++)
          best = g[a * t->rc + j] > best ? g[a * t->rc + j] : best;
        sum += best;
      }
      t->score[i] = sum;
    } else {
      t->score[i] = dot(pooled_q, t->pooled + ((size_t)ci * t->s + i) * d, d);
    }
  }
}

static void measure(trial *t, candidate *cand, uint32_t n_cand,
                    const mx_budget *bud, uint32_t n_bud, float *pooled_q) {
  const uint32_t d = t->in->dim;
  for (uint32_t qi = 0; qi < t->q; qi++) {
    const float *q = t->queries + (size_t)qi * t->rq * d;
    for (uint32_t i = 0; i < t->s; i++)
      for (uint32_t a = 0; a < t->rq; a++)
        for (uint32_t j = 0; j < t->rc; j++)
          t->gram[((size_t)i * t->rq + a) * t->rc + j] =
              dot(q + (size_t)a * d, t->docs + ((size_t)i * t->rc + j) * d, d);
    for (uint32_t b = 0; b < n_bud; b++) {
      for (uint32_t i = 0; i < t->s; i++) {
        const float *g = t->gram + (size_t)i * t->rq * t->rc;
        float sum = 0;
        for (uint32_t a = 0; a < bud[b].r_q; a++) {
          float best = -INFINITY;
          for (uint32_t j = 0; j < bud[b].r_c; j++)
            best = g[a * t->rc + j] > best ? g[a * t->rc + j] : best;
          sum += best;
        }
        t->exact[i] = sum;
      }
      uint32_t truth[TRUTH_K];
      uint32_t nt = top_truth(t->exact, t->s, t->source[qi], truth);
      uint32_t r = bud[b].r_q;
      for (uint32_t ci = 0; ci < n_cand; ci++) {
        uint32_t rr =
            mx_first_stage_query_vectors(cand[ci].kind, r, t->in->query_cap);
        if (cand[ci].kind == MX_FIRST_STAGE_POOLED) {
          memset(pooled_q, 0, (size_t)d * sizeof(float));
          for (uint32_t a = 0; a < rr; a++)
            for (uint32_t e = 0; e < d; e++)
              pooled_q[e] += q[(size_t)a * d + e];
          mx_normalize_f32(pooled_q, d);
        }
        candidate_scores(t, &cand[ci], ci, rr, pooled_q);
        for (uint32_t k = 0; k < nt; k++)
          cand[ci].hist[(size_t)b * (t->s + 1) +
                        rank_of(t->score, t->s, truth[k], t->source[qi])]++;
      }
    }
  }
}

/* Appends to a fixed buffer, truncating (the trial text is informative). */
static void append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t cap, size_t *len, const char *fmt, ...) {
  if (*len + 1 >= cap)
    return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
  va_end(ap);
  if (n > 0)
    *len = *len + (size_t)n < cap ? *len + (size_t)n : cap - 1;
}

/* "leading", "pooled-4", "multi-2". */
static void candidate_name(const candidate *c, char *buf, size_t cap) {
  if (c->kind == MX_FIRST_STAGE_LEADING)
    snprintf(buf, cap, "%s", mx_first_stage_name(c->kind));
  else
    snprintf(buf, cap, "%s-%u", mx_first_stage_name(c->kind), c->m);
}

static mx_status run(trial *t, mx_first_stage_choice *out, mx_error *err) {
  const mx_first_stage_trial_input *in = t->in;
  mx_budget bud[MX_MAX_BUDGETS];
  uint32_t n_bud = pick_budgets(in, bud);
  t->rq = 1;
  t->rc = 1;
  for (uint32_t b = 0; b < n_bud; b++) {
    t->rq = bud[b].r_q > t->rq ? bud[b].r_q : t->rq;
    t->rc = bud[b].r_c > t->rc ? bud[b].r_c : t->rc;
  }
  const uint32_t budget_rc = t->rc;
  candidate cand[MAX_CANDIDATES];
  uint32_t n_cand = add_candidates(in, cand);
  for (uint32_t ci = 0; ci < n_cand; ci++)
    t->rc = cand[ci].m > t->rc ? cand[ci].m : t->rc;
  /* Sample size: documents, memory, then work. */
  const uint32_t d = in->dim;
  uint64_t s = in->n_docs < TRIAL_DOCS ? in->n_docs : TRIAL_DOCS;
  uint64_t by_bytes =
      TRIAL_BYTES / ((uint64_t)(t->rc + n_cand) * d * sizeof(float));
  s = s < by_bytes ? s : by_bytes;
  t->q = TRIAL_QUERIES;
  double per_doc = (double)t->q * t->rq * t->rc * d;
  if ((double)s * per_doc > TRIAL_FLOPS)
    s = (uint64_t)(TRIAL_FLOPS / per_doc);
  if (s < 2) {
    out->kind = MX_FIRST_STAGE_LEADING;
    out->vectors = 1;
    snprintf(out->trial, sizeof out->trial, "not measured (%s)",
             in->n_docs < 2 ? "fewer than 2 documents"
                            : "too little memory or time per document");
    return MX_OK;
  }
  t->s = (uint32_t)s;
  if (t->q > t->s)
    t->q = t->s;
  t->docs = malloc((size_t)t->s * t->rc * d * sizeof(float));
  t->pooled = malloc((size_t)n_cand * t->s * d * sizeof(float));
  t->queries = malloc((size_t)t->q * t->rq * d * sizeof(float));
  t->gram = malloc((size_t)t->s * t->rq * t->rc * sizeof(float));
  t->exact = malloc((size_t)t->s * sizeof(float));
  t->score = malloc((size_t)t->s * sizeof(float));
  t->source = malloc((size_t)t->q * sizeof(uint32_t));
  t->pooled_q = malloc((size_t)d * sizeof(float));
  int ok = t->docs && t->pooled && t->queries && t->gram && t->exact &&
           t->score && t->source && t->pooled_q;
  for (uint32_t ci = 0; ci < n_cand; ci++) {
    cand[ci].hist = calloc((size_t)n_bud * (t->s + 1), sizeof(uint32_t));
    ok = ok && cand[ci].hist;
  }
  mx_status rc =
      ok ? MX_OK
         : mx_fail(err, MX_ERR_NO_MEMORY, "first-stage trial: out of memory");
  if (rc == MX_OK)
    rc = load_sample(t, err);
  if (rc == MX_OK) {
    for (uint32_t ci = 0; ci < n_cand; ci++)
      if (cand[ci].kind == MX_FIRST_STAGE_POOLED)
        for (uint32_t i = 0; i < t->s; i++)
          mx_first_stage_doc_entries(MX_FIRST_STAGE_POOLED, cand[ci].m,
                                     t->docs + (size_t)i * t->rc * d, d,
                                     t->pooled + ((size_t)ci * t->s + i) * d);
    measure(t, cand, n_cand, bud, n_bud, t->pooled_q);
    uint64_t truths =
        (uint64_t)t->q * (t->s - 1 < TRUTH_K ? t->s - 1 : TRUTH_K);
    double scale = (double)in->n_docs / t->s;
    for (uint32_t ci = 0; ci < n_cand; ci++) {
      for (uint32_t b = 0; b < n_bud; b++) {
        double k =
            needed(cand[ci].hist + (size_t)b * (t->s + 1), t->s, truths) *
            scale;
        cand[ci].log_sum += log(k < 1 ? 1 : k);
      }
      cand[ci].cost = exp(cand[ci].log_sum / n_bud);
      if (cand[ci].kind == MX_FIRST_STAGE_MULTI)
        cand[ci].cost *= MULTI_COST;
    }
    uint32_t best = 0;
    for (uint32_t ci = 1; ci < n_cand; ci++)
      if (cand[ci].cost < cand[best].cost)
        best = ci;
    if (cand[best].cost > KEEP_LEADING * cand[0].cost)
      best = 0;
    out->kind = cand[best].kind;
    out->vectors = cand[best].m;
    size_t len = 0;
    append(out->trial, sizeof out->trial, &len,
           "%u docs, %u pseudo-queries, budgets up to %ux%u; k' for recall@10 "
           "0.95 at N:",
           t->s, t->q, t->rq, budget_rc);
    for (uint32_t ci = 0; ci < n_cand; ci++) {
      char name[24];
      candidate_name(&cand[ci], name, sizeof name);
      append(out->trial, sizeof out->trial, &len, " %s %.0f", name,
             exp(cand[ci].log_sum / n_bud));
    }
  }
  for (uint32_t ci = 0; ci < n_cand; ci++)
    free(cand[ci].hist);
  return rc;
}

mx_status mx_first_stage_trial(const mx_first_stage_trial_input *in,
                               mx_first_stage_choice *out, mx_error *err) {
  if (!in || !out || !in->txn || !in->budgets || in->n_budgets == 0 ||
      in->dim == 0 || in->stored == 0)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "first-stage trial: bad arguments");
  memset(out, 0, sizeof *out);
  trial t = {.in = in};
  uint64_t t0 = mx_now_ns();
  mx_status rc = run(&t, out, err);
  size_t len = strlen(out->trial);
  if (rc == MX_OK)
    append(out->trial, sizeof out->trial, &len, "; %.2f s", mx_ms_since(t0) / 1000);
  free(t.docs);
  free(t.pooled);
  free(t.queries);
  free(t.gram);
  free(t.exact);
  free(t.score);
  free(t.source);
  free(t.pooled_q);
  return rc;
}
