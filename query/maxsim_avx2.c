/* maxsim_avx2.c: AVX2 + FMA + F16C MaxSim kernels. Built in its own static
 * library with -mavx2 -mfma -mf16c; only called after the cpuid check.
 *
 * Shape: the query is cut into blocks of QB <= 4 vectors and the document
 * into blocks of DB <= 4 vectors; one block call keeps QB*DB (x U unrolled
 * over dim) 8-lane accumulators in registers, so every stored chunk loaded
 * and converted feeds QB FMAs and every query chunk feeds DB. 8-12 independent
 * FMA chains cover the FMA latency; at most 16 ymm registers are live.
 *
 * Loop order: document blocks outside, query blocks inside, over the whole
 * dim (no dim tiling: a 1024-dim tiling measured 10-15% slower for f32
 * (16,64) on Zen 5, L2 feeds the untiled loop well enough). The first query
 * block of each document block prefetches the next document block. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "maxsim_internal.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Prefetch hint for the next document block (-DMX_PF_HINT=_MM_HINT_T1 to
 * experiment; T0 measured no worse on the shared test machine). */
#ifndef MX_PF_HINT
#define MX_PF_HINT _MM_HINT_T0
#endif

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

/* Four 8-lane accumulators -> the four horizontal sums, in one __m128. */
ALWAYS_INLINE __m128 hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  __m256 r = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  return _mm_add_ps(_mm256_castps256_ps128(r), _mm256_extractf128_ps(r, 1));
}

/* For QB <= 4 query vectors (rows of q, stride dim floats) and DB <= 4
 * stored vectors from d0: best[i] = max(best[i], <q_i, c_j>) over the DB
 * vectors, lane i of *best (lanes >= QB get 0s and are ignored). U
 * accumulators per pair unroll the dim loop; PF prefetches the next DB
 * stored vectors at the same offsets (done on the first query block only:
 * later ones find the current vectors in L1). */
ALWAYS_INLINE void block(int dt, int QB, int DB, int U, int PF, const float *q, uint32_t dim,
                         const unsigned char *d0, size_t stride, __m128 *best) {
  __m256 acc[4][4][8];
  const unsigned char *dp[4];
  const float *qp[4];
  const size_t eb = elem_bytes(dt);
  const size_t skip = dt == DT_I8 ? 4 : 0;
  const size_t step = 8u * (size_t)U * eb; /* stored bytes per main-loop iteration */
#pragma GCC unroll 4
  for (int i = 0; i < QB; i++)
    qp[i] = q + (size_t)i * dim;
#pragma GCC unroll 4
  for (int j = 0; j < DB; j++)
    dp[j] = d0 + (size_t)j * stride + skip;
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++)
#pragma GCC unroll 8
      for (int u = 0; u < 8; u++)
        acc[i][j][u] = _mm256_setzero_ps();

  /* Software prefetch of the next document block at the same offset: the
   * hardware prefetchers see DB short streams that restart at every page,
   * and do not keep up. One prefetch per 64-byte step of each stream. */
  const size_t ahead = (size_t)DB * stride;

  uint32_t k = 0;
  for (; k + 8u * (uint32_t)U <= dim; k += 8u * (uint32_t)U) {
    if (PF) {
      size_t at = k * eb;
      if (step >= 64 || (at & 63) < step) {
#pragma GCC unroll 4
        for (int j = 0; j < DB; j++)
#pragma GCC unroll 8
          for (size_t off = 0; off < step; off += 64)
            _mm_prefetch((const char *)(dp[j] + ahead + at + off), MX_PF_HINT);
      }
    }
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

  /* Fold the U accumulators, then four rows at a time into one __m128 per
   * stored vector, scale (int8), and take the max into *best. */
  __m128 m = *best;
#pragma GCC unroll 4
  for (int j = 0; j < DB; j++) {
#pragma GCC unroll 4
    for (int i = 0; i < QB; i++) {
      if (U >= 8)
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++)
          acc[i][j][u] = _mm256_add_ps(acc[i][j][u], acc[i][j][u + 4]);
      if (U >= 4)
#pragma GCC unroll 2
        for (int u = 0; u < 2; u++)
          acc[i][j][u] = _mm256_add_ps(acc[i][j][u], acc[i][j][u + 2]);
      if (U >= 2)
        acc[i][j][0] = _mm256_add_ps(acc[i][j][0], acc[i][j][1]);
    }
    __m128 v = hsum4(acc[0][j][0], acc[1][j][0], acc[2][j][0], acc[3][j][0]);
    if (dt == DT_I8)
      v = _mm_mul_ps(v, _mm_set1_ps(mx_maxsim_load_scale(d0 + (size_t)j * stride)));
    m = _mm_max_ps(v, m); /* a NaN dot does not replace the running max */
  }
  *best = m;
}

typedef void (*block_fn)(const float *q, uint32_t dim, const unsigned char *d0, size_t stride,
                         __m128 *best);

/* Accumulators per (i, j) pair so that a block has about 8 chains. */
#define UNROLL(qb, db) ((qb) * (db) == 1 ? 8 : (qb) * (db) == 2 ? 4 : (qb) * (db) <= 4 ? 2 : 1)

#define BLOCK_FN(name, dt, qb, db)                                                            \
  static void blk_##name##_##qb##_##db(const float *q, uint32_t dim, const unsigned char *d0, \
                                        size_t stride, __m128 *best) {                       \
    block(dt, qb, db, UNROLL(qb, db), 0, q, dim, d0, stride, best);                          \
  }                                                                                           \
  static void blkpf_##name##_##qb##_##db(const float *q, uint32_t dim,                       \
                                          const unsigned char *d0, size_t stride,            \
                                          __m128 *best) {                                    \
    block(dt, qb, db, UNROLL(qb, db), 1, q, dim, d0, stride, best);                          \
  }

#define BLOCK_ROW(name, dt, qb)                                                               \
  BLOCK_FN(name, dt, qb, 1) BLOCK_FN(name, dt, qb, 2) BLOCK_FN(name, dt, qb, 3)               \
      BLOCK_FN(name, dt, qb, 4)
#define ROW(pre, name, qb)                                                                    \
  { 0, pre##_##name##_##qb##_1, pre##_##name##_##qb##_2, pre##_##name##_##qb##_3,            \
    pre##_##name##_##qb##_4 }
#define TABLE(pre, name)                                                                      \
  {{0}, ROW(pre, name, 1), ROW(pre, name, 2), ROW(pre, name, 3), ROW(pre, name, 4)}

/* [prefetch][qb][db]. Every (qb, db) exists, but run() uses db <= 3 when
 * qb >= 3: 4x4x1 accumulators + 4 chunks + 1 query would need 21 registers. */
#define BLOCK_SET(name, dt)                                                                   \
  BLOCK_ROW(name, dt, 1) BLOCK_ROW(name, dt, 2) BLOCK_ROW(name, dt, 3) BLOCK_ROW(name, dt, 4) \
  static const block_fn blocks_##name[2][5][5] = {TABLE(blk, name), TABLE(blkpf, name)};

BLOCK_SET(f32, DT_F32)
BLOCK_SET(f16, DT_F16)
BLOCK_SET(bf16, DT_BF16)
BLOCK_SET(int8, DT_I8)

/* Query vectors per pass over the document: their running maxima live in
 * an array on the stack. */
#define GROUP 64

static float run(const block_fn blocks[2][5][5], size_t stride, const float *q, uint32_t r_q,
                 const void *doc, uint32_t r_c, uint32_t dim) {
  if (r_q == 0 || r_c == 0)
    return 0.0f;
  const unsigned char *base = doc;
  float total = 0.0f;
  for (uint32_t g0 = 0; g0 < r_q; g0 += GROUP) {
    uint32_t gq = r_q - g0 < GROUP ? r_q - g0 : GROUP;
    uint32_t nib = (gq + 3) / 4;
    __m128 best[GROUP / 4];
    for (uint32_t b = 0; b < nib; b++)
      best[b] = _mm_set1_ps(-INFINITY);
    /* Document blocks outside, query blocks inside: each stored block is
     * read from memory once and then from L1 for the other query blocks. */
    uint32_t max_db = gq >= 3 ? 3 : 4;
    for (uint32_t j0 = 0; j0 < r_c; j0 += max_db) {
      uint32_t db = r_c - j0 < max_db ? r_c - j0 : max_db;
      const unsigned char *d0 = base + (size_t)j0 * stride;
      for (uint32_t b = 0; b < nib; b++) {
        uint32_t i0 = 4 * b, qb = gq - i0 < 4 ? gq - i0 : 4;
        blocks[b == 0][qb][db](q + (size_t)(g0 + i0) * dim, dim, d0, stride, &best[b]);
      }
    }
    for (uint32_t b = 0; b < nib; b++) {
      float lanes[4];
      _mm_storeu_ps(lanes, best[b]);
      uint32_t qb = gq - 4 * b < 4 ? gq - 4 * b : 4;
      for (uint32_t i = 0; i < qb; i++)
        total += lanes[i];
    }
  }
  return total;
}
#define ENTRY(name, dtype)                                                                    \
  float mx_maxsim_##name##_avx2(const float *q, uint32_t r_q, const void *doc, uint32_t r_c, \
                                uint32_t dim) {                                              \
    return run(blocks_##name, mx_vector_bytes(dtype, dim), q, r_q, doc, r_c, dim);          \
  }

ENTRY(f32, MX_DTYPE_F32)
ENTRY(f16, MX_DTYPE_F16)
ENTRY(bf16, MX_DTYPE_BF16)
ENTRY(int8, MX_DTYPE_INT8)
