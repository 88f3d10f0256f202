/* maxsim_internal.h: the per-ISA MaxSim kernels behind mx_maxsim_kernel.
 * Not API: include only from query/ and tests. */
#ifndef MX_QUERY_MAXSIM_INTERNAL_H
#define MX_QUERY_MAXSIM_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "maxsim.h"

/* Little-endian f32 at any address (the int8 vector's scale). */
static inline float mx_maxsim_load_scale(const unsigned char *p) {
  uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

#define MX_MAXSIM_KERNEL_DECL(isa)                                                            \
  float mx_maxsim_f32_##isa(const float *q, uint32_t r_q, const void *doc, uint32_t r_c,     \
                            uint32_t dim);                                                    \
  float mx_maxsim_f16_##isa(const float *q, uint32_t r_q, const void *doc, uint32_t r_c,     \
                            uint32_t dim);                                                    \
  float mx_maxsim_bf16_##isa(const float *q, uint32_t r_q, const void *doc, uint32_t r_c,    \
                             uint32_t dim);                                                   \
  float mx_maxsim_int8_##isa(const float *q, uint32_t r_q, const void *doc, uint32_t r_c,    \
                             uint32_t dim);

MX_MAXSIM_KERNEL_DECL(scalar)
#ifdef MX_HAVE_AVX2_KERNELS
MX_MAXSIM_KERNEL_DECL(avx2)
#endif

#endif
