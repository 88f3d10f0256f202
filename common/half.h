/* half.h: scalar float16 / bfloat16 <-> float32 conversions, the reference
 * that every SIMD conversion and kernel is tested against. Round to nearest
 * even; NaN stays NaN; values beyond the f16 range become infinity. */
#ifndef MX_COMMON_HALF_H
#define MX_COMMON_HALF_H

#include <stdint.h>
#include <string.h>

static inline uint32_t mx_f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static inline float mx_bits_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static inline float mx_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) /* inf or NaN */
    return mx_bits_f32(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    if (mant == 0)
      return mx_bits_f32(sign);
    /* subnormal: value = mant * 2^-24 */
    float v = (float)mant * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  return mx_bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

static inline uint16_t mx_f32_to_f16(float f) {
  uint32_t u = mx_f32_bits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) /* NaN: keep it quiet and non-zero */
    return (uint16_t)(sign | 0x7e00u);
  if (abs >= 0x477ff000u) /* rounds to >= 65520: infinity */
    return (uint16_t)(sign | 0x7c00u);
  if (abs < 0x38800000u) { /* below the smallest normal f16 (2^-14) */
    /* subnormal or zero: scale to units of 2^-24 and round to nearest even */
    float a = mx_bits_f32(abs) * 16777216.0f;
    uint32_t q = (uint32_t)a;
    float rem = a - (float)q;
    if (rem > 0.5f || (rem == 0.5f && (q & 1u)))
      q++;
    return (uint16_t)(sign | q);
  }
  /* normal: rebias exponent, round mantissa from 23 to 10 bits */
  uint32_t v = abs - (112u << 23);
  uint32_t rounded = v + 0xfffu + ((v >> 13) & 1u);
  return (uint16_t)(sign | (rounded >> 13));
}

static inline float mx_bf16_to_f32(uint16_t b) { return mx_bits_f32((uint32_t)b << 16); }

static inline uint16_t mx_f32_to_bf16(float f) {
  uint32_t u = mx_f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN */
    return (uint16_t)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

#endif
