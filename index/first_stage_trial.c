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
 * - multi over m vectors with r query vectors, simulated as the search
 *   runs it (query/candidates.c): each row i keeps its k' best entries
 *   G[i][j<m] over the sample, a kept document scores the sum over rows
 *   of its best kept entry or the row's lowest kept score, and the k' best
 *   documents are the candidates; measured at a grid of k' (10, x1.25, ...);
 * - pooled over m: <normalised sum of q_0..q_{r-1}, normalised mean of
 *   d_0..d_{m-1}>, computed from its own vectors.
 * For each candidate first stage and budget, the ranks of the true top 10
 * under the candidate's score (multi: the grid) give the smallest k' whose
 * mean recall@10 over the queries reaches TARGET_RECALL; scaled by N / S,
 * that estimates the candidate count the full collection needs. A
 * candidate's cost is the geometric mean over the budgets of its k', for
 * multi times (1 + MULTI_COST_PER_ROW * r): a multi search runs r coarse
 * searches of k' each and gathers their results, which measured about as
 * much again per query vector as the rescoring of its candidates
 * (bench/token_pipeline.py, N = 100k, d = 128: multi-4 at k' = 200 took
 * 8.0 ms, pooled at 200 1.2 ms, at 500 15.5 and 7.2 ms).
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
#define MULTI_COST_PER_ROW 0.5
#define KEEP_LEADING 0.8
#define PSEUDO_NOISE 1.0f /* as mx_tune_options_init's default */
#define MAX_CANDIDATES 6  /* leading + pooled x3 + multi x2 */

typedef struct candidate {
  mx_first_stage kind;
  uint32_t m;
  double log_sum; /* of k' over the budgets */
  double cost;
  uint32_t *hist; /* per budget measured: truths at each rank (1..S); for
                     multi, truths retrieved at each grid k' */
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

void mx_trial_gram(const float *q, uint32_t r_q, const float *doc, uint32_t r_c, uint32_t dim,
                   float *out) {
  for (uint32_t a = 0; a < r_q; a++)
    for (uint32_t j = 0; j < r_c; j++)
      out[a * r_c + j] = dot(q + (size_t)a * dim, doc + (size_t)j * dim, dim);
}

float mx_trial_gram_maxsim(const float *gram, uint32_t stride, uint32_t r_q, uint32_t r_c) {
  float total = 0;
  for (uint32_t a = 0; a < r_q; a++) {
    float best = -INFINITY;
    for (uint32_t j = 0; j < r_c; j++)
      best = gram[a * stride + j] > best ? gram[a * stride + j] : best;
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

/* Smallest grid k' at which the truths retrieved (hits[g] at grid[g])
 * reach target * total. */
static uint32_t needed_grid(const uint32_t *hits, const uint32_t *grid, uint32_t n_grid,
                            uint64_t total) {
  uint64_t want = (uint64_t)ceil(TARGET_RECALL * (double)total - 1e-9);
  for (uint32_t g = 0; g < n_grid; g++)
    if (hits[g] >= want)
      return grid[g];
  return grid[n_grid - 1];
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

typedef struct entry {
  float score;
  uint32_t doc;
} entry;

static int entry_desc(const void *a, const void *b) {
  const entry *x = a, *y = b;
  if (x->score != y->score)
    return x->score < y->score ? 1 : -1;
  return x->doc < y->doc ? -1 : x->doc > y->doc;
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
  /* multi's simulation: */
  uint32_t grid[64], n_grid; /* candidate counts k' tried */
  struct entry *rows;        /* rq rows of (s - 1) * m entries, best first */
  float *delta;              /* s: a document's gathered score above the floor */
  uint32_t *stamp;           /* s: row (and k') a document was last seen in */
  uint32_t *present;         /* the documents some row kept */
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

/* Leading and pooled scores of every sample document (multi is simulated
 * by multi_hits instead). */
static void candidate_scores(const trial *t, const candidate *c, uint32_t ci,
                             const float *pooled_q) {
  const uint32_t d = t->in->dim;
  for (uint32_t i = 0; i < t->s; i++)
    t->score[i] = c->kind == MX_FIRST_STAGE_LEADING
                      ? t->gram[(size_t)i * t->rq * t->rc]
                      : dot(pooled_q, t->pooled + ((size_t)ci * t->s + i) * d, d);
}

/* Sorts each query row's entries (the first m vectors of every sample
 * document but the query's own), best first, into t->rows. */
static void multi_rows(trial *t, uint32_t m, uint32_t skip) {
  size_t per_row = (size_t)(t->s - 1) * m;
  for (uint32_t a = 0; a < t->rq; a++) {
    entry *row = t->rows + a * per_row;
    size_t n = 0;
    for (uint32_t i = 0; i < t->s; i++)
      for (uint32_t j = 0; j < m && i != skip; j++)
        row[n++] = (entry){t->gram[((size_t)i * t->rq + a) * t->rc + j], i};
    qsort(row, n, sizeof *row, entry_desc);
  }
}

/* Multi as a search runs it (query/candidates.c): each of the r rows keeps
 * its k best entries; a kept document scores the sum over rows of its best
 * kept entry, or the row's lowest kept score where it has none; the k best
 * documents are the candidates. Returns how many truths are among them. */
static uint32_t multi_hits(trial *t, uint32_t m, uint32_t r, uint32_t k, const uint32_t *truth,
                           uint32_t nt, uint32_t *stamp_base) {
  size_t per_row = (size_t)(t->s - 1) * m;
  if (k > per_row)
    k = (uint32_t)per_row;
  uint32_t n_present = 0;
  uint32_t first = *stamp_base;
  for (uint32_t a = 0; a < r; a++) {
    const entry *row = t->rows + a * per_row;
    float low = row[k - 1].score; /* the floor; the sum of floors is the same for every
                                     document, so ranks need only what is above it */
    uint32_t stamp = ++*stamp_base;
    for (uint32_t e = 0; e < k; e++) {
      uint32_t doc = row[e].doc;
      if (t->stamp[doc] == stamp)
        continue; /* best first: the document's best entry in this row came already */
      if (t->stamp[doc] <= first) {
        t->delta[doc] = 0;
        t->present[n_present++] = doc;
      }
      t->stamp[doc] = stamp;
      t->delta[doc] += row[e].score - low;
    }
  }
  uint32_t hits = 0;
  for (uint32_t i = 0; i < nt; i++) {
    uint32_t doc = truth[i];
    if (t->stamp[doc] <= first)
      continue; /* no row kept it */
    uint32_t above = 0;
    for (uint32_t p = 0; p < n_present; p++)
      if (t->present[p] != doc && t->delta[t->present[p]] >= t->delta[doc])
        above++;
    hits += above < k;
  }
  return hits;
}

static void measure(trial *t, candidate *cand, uint32_t n_cand,
                    const mx_budget *bud, uint32_t n_bud, float *pooled_q) {
  const uint32_t d = t->in->dim;
  uint32_t stamp = 0;
  for (uint32_t qi = 0; qi < t->q; qi++) {
    const float *q = t->queries + (size_t)qi * t->rq * d;
    for (uint32_t i = 0; i < t->s; i++)
      mx_trial_gram(q, t->rq, t->docs + (size_t)i * t->rc * d, t->rc, d,
                    t->gram + (size_t)i * t->rq * t->rc);
    uint32_t truth[MX_MAX_BUDGETS][TRUTH_K], nt[MX_MAX_BUDGETS];
    for (uint32_t b = 0; b < n_bud; b++) {
      for (uint32_t i = 0; i < t->s; i++)
        t->exact[i] = mx_trial_gram_maxsim(t->gram + (size_t)i * t->rq * t->rc, t->rc,
                                           bud[b].r_q, bud[b].r_c);
      nt[b] = top_truth(t->exact, t->s, t->source[qi], truth[b]);
    }
    for (uint32_t ci = 0; ci < n_cand; ci++) {
      if (cand[ci].kind == MX_FIRST_STAGE_MULTI)
        multi_rows(t, cand[ci].m, t->source[qi]); /* once per query: rows do not depend on b */
      for (uint32_t b = 0; b < n_bud; b++) {
        uint32_t rr = mx_first_stage_query_vectors(cand[ci].kind, bud[b].r_q, t->in->query_cap);
        uint32_t *hist = cand[ci].hist + (size_t)b * (t->s + 1);
        if (cand[ci].kind == MX_FIRST_STAGE_MULTI) {
          for (uint32_t g = 0; g < t->n_grid; g++)
            hist[g] += multi_hits(t, cand[ci].m, rr, t->grid[g], truth[b], nt[b], &stamp);
          continue;
        }
        if (cand[ci].kind == MX_FIRST_STAGE_POOLED)
          mx_first_stage_make_query(MX_FIRST_STAGE_POOLED, q, rr, d, pooled_q);
        candidate_scores(t, &cand[ci], ci, pooled_q);
        for (uint32_t k = 0; k < nt[b]; k++)
          hist[rank_of(t->score, t->s, truth[b][k], t->source[qi])]++;
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
  uint32_t multi_m = 0;
  for (uint32_t ci = 0; ci < n_cand; ci++)
    if (cand[ci].kind == MX_FIRST_STAGE_MULTI && cand[ci].m > multi_m)
      multi_m = cand[ci].m;
  /* multi's k' grid: 10, then x1.25, up to every document */
  t->n_grid = 0;
  for (double k = TRUTH_K; t->n_grid < 63 && k < t->s; k *= 1.25)
    if (t->n_grid == 0 || (uint32_t)ceil(k) > t->grid[t->n_grid - 1])
      t->grid[t->n_grid++] = (uint32_t)ceil(k);
  t->grid[t->n_grid++] = t->s;
  t->rows = malloc(((size_t)t->rq * (t->s - 1) * (multi_m ? multi_m : 1) + 1) * sizeof(entry));
  t->delta = malloc((size_t)t->s * sizeof(float));
  t->stamp = calloc(t->s, sizeof(uint32_t));
  t->present = malloc((size_t)t->s * sizeof(uint32_t));
  int ok = t->docs && t->pooled && t->queries && t->gram && t->exact && t->score && t->source &&
           t->pooled_q && t->rows && t->delta && t->stamp && t->present;
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
      double log_cost = 0;
      for (uint32_t b = 0; b < n_bud; b++) {
        const uint32_t *h = cand[ci].hist + (size_t)b * (t->s + 1);
        double k = (cand[ci].kind == MX_FIRST_STAGE_MULTI ? needed_grid(h, t->grid, t->n_grid, truths)
                                                          : needed(h, t->s, truths)) *
                   scale;
        k = k < 1 ? 1 : k;
        cand[ci].log_sum += log(k);
        uint32_t r = mx_first_stage_query_vectors(cand[ci].kind, bud[b].r_q, in->query_cap);
        log_cost += log(cand[ci].kind == MX_FIRST_STAGE_MULTI ? k * (1 + MULTI_COST_PER_ROW * r) : k);
      }
      cand[ci].cost = exp(log_cost / n_bud);
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
  free(t.rows);
  free(t.delta);
  free(t.stamp);
  free(t.present);
  return rc;
}
