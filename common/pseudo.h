/* pseudo.h: pseudo-queries drawn from a collection when no real queries
 * are at hand (calibration in query/tune.c, the build's first-stage trial
 * in index/first_stage_trial.c): a document's own vectors plus Gaussian
 * noise, renormalised. One rule for both, and the small deterministic
 * random number generator they draw with. What the rule assumes is in
 * docs/recall.md. */
#ifndef MX_COMMON_PSEUDO_H
#define MX_COMMON_PSEUDO_H

#include <stdint.h>

/* SplitMix64: the next 64 random bits of *state. */
uint64_t mx_splitmix64(uint64_t *state);
/* Uniform in [0, 1). */
double mx_uniform01(uint64_t *state);
/* Standard normal (Box-Muller). */
double mx_gaussian(uint64_t *state);

/* out = normalise(v + g), g Gaussian with norm `noise` times v's norm
 * (dim floats; out may not alias v). noise 0 gives normalise(v). */
void mx_pseudo_vector(const float *v, uint32_t dim, float noise, uint64_t *rng,
                      float *out);

#endif
