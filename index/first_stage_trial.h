/* first_stage_trial.h: the build-time measurement behind
 * MX_FIRST_STAGE_AUTO. On a sample of the stored documents and
 * pseudo-queries drawn from them, it ranks the sample by each candidate
 * first stage's score and finds how many candidates each needs to hold the
 * budgets' exact top-10 at recall 0.95; the cheapest wins, the leading
 * vector unless another needs clearly fewer. docs/first_stage.md gives the
 * rule and what it assumes. */
#ifndef MX_INDEX_FIRST_STAGE_TRIAL_H
#define MX_INDEX_FIRST_STAGE_TRIAL_H

#include <stdint.h>

#include "metaidx.h"
#include "store.h"

typedef struct mx_first_stage_trial_input {
  mx_store_txn *txn; /* read transaction over the finished store */
  uint64_t n_docs;
  uint32_t dim;
  uint32_t stored; /* vectors per document */
  const mx_budget *budgets;
  uint32_t n_budgets;
  uint32_t vectors;    /* m to try; 0 = try 2, 4 and 8 (those <= stored) */
  uint32_t query_cap;  /* first_stage_query_vectors (0 = no cap) */
  uint32_t max_bytes;  /* coarse bytes per document multi may use */
  uint32_t code_bytes; /* estimated coarse bytes per entry */
  uint64_t seed;
} mx_first_stage_trial_input;

typedef struct mx_first_stage_choice {
  mx_first_stage kind; /* never AUTO */
  uint32_t vectors;    /* m (1 for leading) */
  char trial[256];     /* what was measured, for the manifest and info */
} mx_first_stage_choice;

/* Measures and chooses. Reads only through in->txn; bounded to about 4e9
 * multiply-adds and 128 MiB whatever N, d and the budgets are. */
mx_status mx_first_stage_trial(const mx_first_stage_trial_input *in,
                               mx_first_stage_choice *out, mx_error *err);

/* What the trial ranks by, one Gram block per (query, document): out[a *
 * r_c + j] = <q_a, doc_j> for r_q query rows and r_c document rows (f32,
 * row-major, `dim` floats per row); and the exact MaxSim at (r_q, r_c) read
 * from such a block whose rows are `stride` apart. Tests compare the two
 * together with the kernels' reference, mx_maxsim_reference. */
void mx_trial_gram(const float *q, uint32_t r_q, const float *doc, uint32_t r_c, uint32_t dim,
                   float *out);
float mx_trial_gram_maxsim(const float *gram, uint32_t stride, uint32_t r_q, uint32_t r_c);

#endif
