/* pseudo.c: see pseudo.h. */
#include "pseudo.h"

#include <math.h>

uint64_t mx_splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double mx_uniform01(uint64_t *state) {
  return (double)(mx_splitmix64(state) >> 11) / 9007199254740992.0;
}

double mx_gaussian(uint64_t *state) {
  double u = mx_uniform01(state), v = mx_uniform01(state);
  return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

void mx_pseudo_vector(const float *v, uint32_t dim, float noise, uint64_t *rng,
                      float *out) {
  double vn = 0, gn = 0;
  for (uint32_t x = 0; x < dim; x++) {
    vn += (double)v[x] * v[x];
    out[x] = (float)mx_gaussian(rng);
    gn += (double)out[x] * out[x];
  }
  double scale = gn > 0 ? noise * sqrt(vn) / sqrt(gn) : 0, qn = 0;
  for (uint32_t x = 0; x < dim; x++) {
    out[x] = (float)(v[x] + scale * out[x]);
    qn += (double)out[x] * out[x];
  }
  for (uint32_t x = 0; x < dim && qn > 0; x++)
    out[x] = (float)(out[x] / sqrt(qn));
}
