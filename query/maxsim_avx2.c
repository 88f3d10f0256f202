/* maxsim_avx2.c: AVX2 + FMA + F16C MaxSim kernels. Built in its own static
 * library with -mavx2 -mfma -mf16c; only called after the cpuid check.
 *
 * Shape: the query is cut into blocks of QB <= 4 vectors and the document
 * into blocks of DB <= 4 vectors; one block call keeps QB*DB (x U unrolled
 * over dim) 8-lane accumulators in registers, so every stored chunk loaded
 * and converted feeds QB FMAs and every query chunk feeds DB. 8-12 independent
 * FMA chains cover the FMA latency; at most 16 ymm registers are live. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "maxsim_internal.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

enum { DT_F32, DT_F16, DT_BF16, DT_I8 };

ALWAYS_INLINE size_t elem_bytes(int dt) { return dt == DT_F32 ? 4 : dt == DT_I8 ? 1 : 2; }

/* Eight stored elements at p (any alignment) as f32. */
ALWAYS_INLINE __m256 load8(int dt, const unsigned char *p) {
  switch (dt) {
  case DT_F32:
    return _mm256_loadu_ps((const float *)(const void *)p);
  case DT_F16:
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
  case DT_BF16:
    return _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p)), 16));
  default:
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p)));
  }
}

/* The last n (1..7) stored elements, zero-padded to eight. */
ALWAYS_INLINE __m256 load_tail(int dt, const unsigned char *p, uint32_t n) {
  unsigned char buf[32] = {0};
  memcpy(buf, p, n * elem_bytes(dt));
  return load8(dt, buf);
}

static const int32_t tail_mask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

ALWAYS_INLINE float hsum(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

/* out[i][j] = <q_i, c_j> for i < QB, j < DB. q points at query vector 0 of
 * the block (row stride dim floats), d0 at stored vector 0 of the block. */
ALWAYS_INLINE void block(int dt, int QB, int DB, int U, const float *q, uint32_t dim,
                         const unsigned char *d0, size_t stride, float out[4][4]) {
  __m256 acc[4][4][8];
  const unsigned char *dp[4];
  const float *qp[4];
  const size_t eb = elem_bytes(dt);
  const size_t skip = dt == DT_I8 ? 4 : 0;
#pragma GCC unroll 4
  for (int i = 0; i < QB; i++)
    qp[i] = q + (size_t)i * dim;
#pragma GCC unroll 4
  for (int j = 0; j < DB; j++)
    dp[j] = d0 + (size_t)j * stride + skip;
#pragma GCC unroll 4
  for (int i = 0; i < QB; i++)
#pragma GCC unroll 4
    for (int j = 0; j < DB; j++)
#pragma GCC unroll 8
      for (int u = 0; u < U; u++)
        acc[i][j][u] = _mm256_setzero_ps();

  uint32_t k = 0;
  for (; k + 8u * (uint32_t)U <= dim; k += 8u * (uint32_t)U) {
#pragma GCC unroll 8
    for (int u = 0; u < U; u++) {
      __m256 c[4];
#pragma GCC unroll 4
      for (int j = 0; j < DB; j++)
        c[j] = load8(dt, dp[j] + (k + 8u * (uint32_t)u) * eb);
#pragma GCC unroll 4
      for (int i = 0; i < QB; i++) {
        __m256 qv = _mm256_loadu_ps(qp[i] + k + 8u * (uint32_t)u);
#pragma GCC unroll 4
        for (int j = 0; j < DB; j++)
          acc[i][j][u] = _mm256_fmadd_ps(qv, c[j], acc[i][j][u]);
      }
    }
  }
  if (U > 1) {
    for (; k + 8 <= dim; k += 8) {
      __m256 c[4];
#pragma GCC unroll 4
      for (int j = 0; j < DB; j++)
        c[j] = load8(dt, dp[j] + k * eb);
#pragma GCC unroll 4
      for (int i = 0; i < QB; i++) {
        __m256 qv = _mm256_loadu_ps(qp[i] + k);
#pragma GCC unroll 4
        for (int j = 0; j < DB; j++)
          acc[i][j][0] = _mm256_fmadd_ps(qv, c[j], acc[i][j][0]);
      }
    }
  }
  if (k < dim) {
    uint32_t n = dim - k;
    __m256i mask = _mm256_loadu_si256((const __m256i *)(const void *)(tail_mask + 8 - n));
    __m256 c[4];
#pragma GCC unroll 4
    for (int j = 0; j < DB; j++)
      c[j] = load_tail(dt, dp[j] + k * eb, n);
#pragma GCC unroll 4
    for (int i = 0; i < QB; i++) {
      __m256 qv = _mm256_maskload_ps(qp[i] + k, mask);
#pragma GCC unroll 4
      for (int j = 0; j < DB; j++)
        acc[i][j][0] = _mm256_fmadd_ps(qv, c[j], acc[i][j][0]);
    }
  }

#pragma GCC unroll 4
  for (int i = 0; i < QB; i++)
#pragma GCC unroll 4
    for (int j = 0; j < DB; j++) {
      __m256 s = acc[i][j][0];
      if (U >= 8) {
        acc[i][j][0] = _mm256_add_ps(acc[i][j][0], acc[i][j][4]);
        acc[i][j][1] = _mm256_add_ps(acc[i][j][1], acc[i][j][5]);
        acc[i][j][2] = _mm256_add_ps(acc[i][j][2], acc[i][j][6]);
        acc[i][j][3] = _mm256_add_ps(acc[i][j][3], acc[i][j][7]);
      }
      if (U >= 4) {
        acc[i][j][0] = _mm256_add_ps(acc[i][j][0], acc[i][j][2]);
        acc[i][j][1] = _mm256_add_ps(acc[i][j][1], acc[i][j][3]);
      }
      if (U >= 2)
        acc[i][j][0] = _mm256_add_ps(acc[i][j][0], acc[i][j][1]);
      s = acc[i][j][0];
      out[i][j] = hsum(s);
    }
  if (dt == DT_I8) {
#pragma GCC unroll 4
    for (int j = 0; j < DB; j++) {
      float scale = mx_maxsim_load_scale(d0 + (size_t)j * stride);
#pragma GCC unroll 4
      for (int i = 0; i < QB; i++)
        out[i][j] *= scale;
    }
  }
}

typedef void (*block_fn)(const float *q, uint32_t dim, const unsigned char *d0, size_t stride,
                         float out[4][4]);

/* Accumulators per (i, j) pair so that a block has about 8 chains. */
#define UNROLL(qb, db) ((qb) * (db) == 1 ? 8 : (qb) * (db) == 2 ? 4 : (qb) * (db) <= 4 ? 2 : 1)

#define BLOCK_FN(name, dt, qb, db)                                                            \
  static void blk_##name##_##qb##_##db(const float *q, uint32_t dim, const unsigned char *d0, \
                                        size_t stride, float out[4][4]) {                    \
    block(dt, qb, db, UNROLL(qb, db), q, dim, d0, stride, out);                              \
  }

/* Query blocks of 4 and 3 take document blocks of up to 3; blocks of 2 and 1
 * take up to 4 (register budget: QB*DB*U accumulators + DB chunks + 1). */
#define BLOCK_SET(name, dt)                                                                   \
  BLOCK_FN(name, dt, 4, 3)                                                                    \
  BLOCK_FN(name, dt, 4, 2)                                                                    \
  BLOCK_FN(name, dt, 4, 1)                                                                    \
  BLOCK_FN(name, dt, 3, 3)                                                                    \
  BLOCK_FN(name, dt, 3, 2)                                                                    \
  BLOCK_FN(name, dt, 3, 1)                                                                    \
  BLOCK_FN(name, dt, 2, 4)                                                                    \
  BLOCK_FN(name, dt, 2, 3)                                                                    \
  BLOCK_FN(name, dt, 2, 2)                                                                    \
  BLOCK_FN(name, dt, 2, 1)                                                                    \
  BLOCK_FN(name, dt, 1, 4)                                                                    \
  BLOCK_FN(name, dt, 1, 3)                                                                    \
  BLOCK_FN(name, dt, 1, 2)                                                                    \
  BLOCK_FN(name, dt, 1, 1)                                                                    \
  static const block_fn blocks_##name[5][5] = {                                               \
      {0},                                                                                    \
      {0, blk_##name##_1_1, blk_##name##_1_2, blk_##name##_1_3, blk_##name##_1_4},            \
      {0, blk_##name##_2_1, blk_##name##_2_2, blk_##name##_2_3, blk_##name##_2_4},            \
      {0, blk_##name##_3_1, blk_##name##_3_2, blk_##name##_3_3, 0},                           \
      {0, blk_##name##_4_1, blk_##name##_4_2, blk_##name##_4_3, 0},                           \
  };

BLOCK_SET(f32, DT_F32)
BLOCK_SET(f16, DT_F16)
BLOCK_SET(bf16, DT_BF16)
BLOCK_SET(int8, DT_I8)

static float run(const block_fn blocks[5][5], size_t stride, const float *q, uint32_t r_q,
                 const void *doc, uint32_t r_c, uint32_t dim) {
  if (r_q == 0 || r_c == 0)
    return 0.0f;
  const unsigned char *base = doc;
  float total = 0.0f;
  for (uint32_t i0 = 0; i0 < r_q; i0 += 4) {
    uint32_t qb = r_q - i0 < 4 ? r_q - i0 : 4;
    uint32_t max_db = qb >= 3 ? 3 : 4;
    float best[4] = {0};
    for (uint32_t j0 = 0; j0 < r_c; j0 += max_db) {
      uint32_t db = r_c - j0 < max_db ? r_c - j0 : max_db;
      float out[4][4];
      blocks[qb][db](q + (size_t)i0 * dim, dim, base + (size_t)j0 * stride, stride, out);
      for (uint32_t i = 0; i < qb; i++)
        for (uint32_t j = 0; j < db; j++)
          if ((j0 == 0 && j == 0) || out[i][j] > best[i])
            best[i] = out[i][j];
    }
    for (uint32_t i = 0; i < qb; i++)
      total += best[i];
  }
  return total;
}

#define ENTRY(name, dtype)                                                                    \
  float mx_maxsim_##name##_avx2(const float *q, uint32_t r_q, const void *doc, uint32_t r_c, \
                                uint32_t dim) {                                              \
    return run(blocks_##name, mx_maxsim_stride(dtype, dim), q, r_q, doc, r_c, dim);          \
  }

ENTRY(f32, MX_DTYPE_F32)
ENTRY(f16, MX_DTYPE_F16)
ENTRY(bf16, MX_DTYPE_BF16)
ENTRY(int8, MX_DTYPE_INT8)
