/* test_record.c: record codec: round trips of every dtype and shape at every
 * prefix, per-segment checksums, and defensive parsing of truncated,
 * corrupted and garbage records (run under ASan: no read out of bounds). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "hash.h"
#include "helpers.h"
#include "record.h"

static const mx_dtype stored_all[] = {MX_DTYPE_F32, MX_DTYPE_F16, MX_DTYPE_BF16, MX_DTYPE_INT8};
static const mx_budget metaembed_budgets[] = {{1, 1}, {2, 4}, {4, 8}, {8, 16}, {16, 64}};

/* A record in a malloc'd buffer of exactly its size (so ASan sees overreads). */
static unsigned char *make_record(const void *vectors, mx_dtype input, mx_dtype stored,
                                  uint32_t dim, uint32_t n, const mx_segments *seg, size_t *len) {
  *len = mx_record_bytes(stored, dim, n, seg->n);
  unsigned char *rec = malloc(*len);
  cr_assert_not_null(rec);
  mx_error err;
  cr_assert_eq(mx_record_encode(rec, *len, 0, vectors, input, stored, dim, n, seg, &err), MX_OK, "%s",
               err.message);
  return rec;
}

static unsigned char *copy_exact(const unsigned char *p, size_t len) {
  unsigned char *c = malloc(len ? len : 1);
  cr_assert_not_null(c);
  if (len)
    memcpy(c, p, len);
  return c;
}

Test(record, sizes) {
  cr_assert_eq(mx_vector_bytes(MX_DTYPE_F32, 3), 12);
  cr_assert_eq(mx_vector_bytes(MX_DTYPE_F16, 3), 6);
  cr_assert_eq(mx_vector_bytes(MX_DTYPE_BF16, 3), 6);
  cr_assert_eq(mx_vector_bytes(MX_DTYPE_INT8, 3), 7);
  cr_assert_eq(mx_vector_bytes((mx_dtype)9, 3), 0);
  cr_assert_eq(mx_record_header_bytes(1), 48); /* 24 + 10 -> 48 */
  cr_assert_eq(mx_record_header_bytes(5), 80); /* 24 + 50 -> 80 */
  cr_assert_eq(mx_record_header_bytes(16), 192);
  cr_assert_eq(mx_record_bytes(MX_DTYPE_F16, 3584, 64, 5), 80 + 64 * 7168);
}

Test(record, segments_from_budgets) {
  mx_segments s;
  mx_error err;
  cr_assert_eq(mx_segments_from_budgets(metaembed_budgets, 5, 64, &s, &err), MX_OK);
  cr_assert_eq(s.n, 5);
  const uint32_t want[] = {1, 4, 8, 16, 64};
  for (int i = 0; i < 5; i++)
    cr_assert_eq(s.end[i], want[i]);
  /* unsorted, duplicated, beyond the count, and --keep 16 */
  mx_budget b[] = {{8, 16}, {1, 1}, {4, 8}, {2, 4}, {1, 4}, {16, 64}};
  cr_assert_eq(mx_segments_from_budgets(b, 6, 16, &s, &err), MX_OK);
  cr_assert_eq(s.n, 4);
  cr_assert_eq(s.end[0], 1);
  cr_assert_eq(s.end[1], 4);
  cr_assert_eq(s.end[2], 8);
  cr_assert_eq(s.end[3], 16);
  cr_assert_eq(mx_segments_from_budgets(NULL, 0, 7, &s, &err), MX_OK);
  cr_assert_eq(s.n, 1);
  cr_assert_eq(s.end[0], 7);
  mx_budget zero = {1, 0};
  cr_assert_eq(mx_segments_from_budgets(&zero, 1, 7, &s, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mx_segments_from_budgets(metaembed_budgets, 5, 0, &s, &err),
               MX_ERR_INVALID_ARGUMENT);
  mx_budget many[20];
  for (uint32_t i = 0; i < 20; i++)
    many[i] = (mx_budget){1, i + 1};
  cr_assert_eq(mx_segments_from_budgets(many, 15, 64, &s, &err), MX_OK);
  cr_assert_eq(s.n, 16);
  cr_assert_eq(mx_segments_from_budgets(many, 16, 64, &s, &err), MX_ERR_INVALID_ARGUMENT);
}

/* Round trip bounds (vs the f32 input; unit vectors so |x| <= 1):
 *   f32 exact; f16 |e| <= 2^-11|x| + 2^-25; bf16 |e| <= 2^-8|x|;
 *   int8 |e| <= (max|x| / 127) / 2 + 2^-20 max|x| (half a step, plus float
 *   rounding of x / scale and scale * q: a tie is exactly half a step). */
static double bound(mx_dtype st, float x, float max_abs) {
  switch (st) {
  case MX_DTYPE_F32:
    return 0;
  case MX_DTYPE_F16:
    return ldexp(fabs(x), -11) + ldexp(1, -25);
  case MX_DTYPE_BF16:
    return ldexp(fabs(x), -8);
  case MX_DTYPE_INT8:
    return max_abs / 127.0 / 2.0 + ldexp(max_abs, -20);
  }
  return 0;
}

static void round_trip(mx_test_rng *r, mx_dtype input, mx_dtype st, uint32_t dim, uint32_t n) {
  float *x = malloc(sizeof(float) * dim * n), *y = malloc(sizeof(float) * dim);
  uint16_t *h = malloc(sizeof(uint16_t) * dim * n);
  cr_assert(x && y && h);
  mx_test_random_unit_vectors(r, x, n, dim);
  if (input == MX_DTYPE_F16) { /* the f16 input's own values are the reference */
    for (size_t i = 0; i < (size_t)dim * n; i++) {
      h[i] = mx_f32_to_f16(x[i]);
      x[i] = mx_f16_to_f32(h[i]);
    }
  }
  mx_segments seg;
  cr_assert_eq(mx_segments_from_budgets(metaembed_budgets, 5, n, &seg, NULL), MX_OK);
  size_t len;
  unsigned char *rec =
      make_record(input == MX_DTYPE_F16 ? (void *)h : (void *)x, input, st, dim, n, &seg, &len);
  mx_error err;
  mx_record_view v;
  for (uint32_t p = 0; p <= n; p++) {
    cr_assert_eq(mx_record_view_prefix(rec, len, MX_RECORD_ANY_ID, dim, p, 0, 1, &v, &err), MX_OK, "%s", err.message);
    cr_assert_eq(v.n_vectors, p);
    cr_assert_eq(v.stored_vectors, n);
    cr_assert_eq(v.dim, dim);
    cr_assert_eq(v.dtype, st);
    cr_assert_eq(v.vector_bytes, mx_vector_bytes(st, dim));
    cr_assert_eq(v.vectors, rec + mx_record_header_bytes(seg.n));
    size_t pb = mx_record_prefix_bytes(rec, len, p);
    cr_assert_geq(pb, mx_record_header_bytes(seg.n) + p * v.vector_bytes);
    cr_assert_leq(pb, len);
    /* decode every vector of the full prefix, and the last of each prefix */
    uint32_t from = p == n ? 0 : (p ? p - 1 : 0);
    for (uint32_t j = from; j < p; j++) {
      mx_record_decode_vector(&v, j, y);
      const float *xj = x + (size_t)j * dim;
      float max_abs = 0;
      for (uint32_t i = 0; i < dim; i++)
        max_abs = fmaxf(max_abs, fabsf(xj[i]));
      for (uint32_t i = 0; i < dim; i++) {
        double e = fabs((double)xj[i] - (double)y[i]);
        if (e > bound(st, xj[i], max_abs))
          cr_assert_fail("%s->%s d=%u R=%u prefix %u vector %u elem %u: %g -> %g",
                         mx_dtype_name(input), mx_dtype_name(st), dim, n, p, j, i, xj[i], y[i]);
      }
    }
  }
  cr_assert_eq(mx_record_view_prefix(rec, len, MX_RECORD_ANY_ID, dim, n + 1, 0, 1, &v, &err),
               MX_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mx_record_view_prefix(rec, len, MX_RECORD_ANY_ID, dim + 1, 1, 0, 1, &v, &err),
               MX_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mx_record_prefix_bytes(rec, len, n + 1), 0);
  free(rec);
  free(x);
  free(y);
  free(h);
}

Test(record, round_trip_every_dtype_and_shape) {
  mx_test_rng r = {11};
  const uint32_t dims[] = {1, 3, 17, 128, 3584};
  const uint32_t counts[] = {1, 5, 64};
  for (size_t di = 0; di < 5; di++)
    for (size_t ni = 0; ni < 3; ni++)
      for (size_t s = 0; s < 4; s++) {
        round_trip(&r, MX_DTYPE_F32, stored_all[s], dims[di], counts[ni]);
        round_trip(&r, MX_DTYPE_F16, stored_all[s], dims[di], counts[ni]);
      }
}

Test(record, header_bytes_are_as_documented) {
  float x[2 * 3] = {1, 0, 0, 0, 1, 0};
  mx_budget b = {1, 1};
  mx_segments seg;
  cr_assert_eq(mx_segments_from_budgets(&b, 1, 2, &seg, NULL), MX_OK);
  size_t len;
  unsigned char *rec = make_record(x, MX_DTYPE_F32, MX_DTYPE_F16, 3, 2, &seg, &len);
  cr_assert_eq(len, 48 + 2 * 6);
  const unsigned char fixed[24] = {'M', 'X', 'R', '1', 2, MX_DTYPE_F16, 2, 0, 3, 0, 0, 0,
                                   2,   0,   0,   0,   0, 0,            0, 0, 0, 0, 0, 0};
  cr_assert_eq(memcmp(rec, fixed, 24), 0); /* doc_id 0 at 16 */
  cr_assert_eq(mx_get_le16(rec + 24), 1);
  cr_assert_eq(mx_get_le16(rec + 26), 2);
  cr_assert_eq(mx_get_le64(rec + 28), mx_hash64(rec + 48, 6));
  cr_assert_eq(mx_get_le64(rec + 36), mx_hash64(rec + 54, 6));
  for (int i = 44; i < 48; i++)
    cr_assert_eq(rec[i], 0, "padding byte %d", i);
  cr_assert_eq(mx_get_le16(rec + 48), 0x3c00); /* 1.0 in f16 */
  free(rec);
}

Test(record, flipped_byte_found_by_covering_reads_only) {
  enum { D = 17, N = 64 };
  mx_test_rng r = {12};
  float *x = malloc(sizeof(float) * D * N);
  cr_assert_not_null(x);
  mx_test_random_unit_vectors(&r, x, N, D);
  mx_segments seg;
  cr_assert_eq(mx_segments_from_budgets(metaembed_budgets, 5, N, &seg, NULL), MX_OK);
  for (size_t s = 0; s < 4; s++) {
    size_t len;
    unsigned char *rec = make_record(x, MX_DTYPE_F32, stored_all[s], D, N, &seg, &len);
    size_t hdr = mx_record_header_bytes(seg.n), vb = mx_vector_bytes(stored_all[s], D);
    uint32_t start = 0;
    for (uint32_t g = 0; g < seg.n; g++) {
      uint32_t end = seg.end[g];
      size_t lo = hdr + start * vb, hi = hdr + end * vb; /* segment bytes [lo, hi) */
      const size_t where[] = {lo, lo + (hi - lo) / 2, hi - 1,
                              24 + 2 * seg.n + 8 * g /* its stored hash */};
      for (size_t w = 0; w < 4; w++) {
        rec[where[w]] ^= 0x20;
        for (uint32_t p = 0; p <= N; p++) {
          mx_record_view v;
          mx_error err;
          mx_status st = mx_record_view_prefix(rec, len, MX_RECORD_ANY_ID, D, p, 0, 1, &v, &err);
          if (p > start) {
            cr_assert_eq(st, MX_ERR_CORRUPT, "segment %u, byte %zu, prefix %u", g, where[w], p);
            char name[64];
            snprintf(name, sizeof name, "segment %u (vectors [%u, %u))", g, start, end);
            cr_assert_not_null(strstr(err.message, name), "'%s' lacks '%s'", err.message, name);
          } else {
            cr_assert_eq(st, MX_OK, "prefix %u does not cover segment %u: %s", p, g, err.message);
          }
          /* a cascade that already verified up to the segment's end skips it */
          mx_status later = mx_record_view_prefix(rec, len, MX_RECORD_ANY_ID, D, p, end, 1, &v, &err);
          cr_assert_eq(later, MX_OK, "verified_from %u, prefix %u: %s", end, p, err.message);
          /* ... but one that verified less does not */
          if (p > start)
            cr_assert_eq(mx_record_view_prefix(rec, len, MX_RECORD_ANY_ID, D, p, end - 1, 1, &v, &err),
                         MX_ERR_CORRUPT);
          /* unverified views never fail on content */
          cr_assert_eq(mx_record_view_prefix(rec, len, MX_RECORD_ANY_ID, D, p, 0, 0, &v, &err), MX_OK);
        }
        rec[where[w]] ^= 0x20;
      }
      start = end;
    }
    free(rec);
  }
  free(x);
}

Test(record, truncated_and_extended_records) {
  float x[5 * 3];
  mx_test_rng r = {13};
  mx_test_random_unit_vectors(&r, x, 5, 3);
  mx_segments seg;
  cr_assert_eq(mx_segments_from_budgets(metaembed_budgets, 5, 5, &seg, NULL), MX_OK);
  for (size_t s = 0; s < 4; s++) {
    size_t len;
    unsigned char *rec = make_record(x, MX_DTYPE_F32, stored_all[s], 3, 5, &seg, &len);
    for (size_t cut = 0; cut < len; cut++) {
      unsigned char *t = copy_exact(rec, cut);
      mx_record_view v;
      mx_error err;
      cr_assert_eq(mx_record_view_prefix(t, cut, MX_RECORD_ANY_ID, 3, 0, 0, 1, &v, &err), MX_ERR_FORMAT,
                   "length %zu of %zu", cut, len);
      cr_assert_eq(mx_record_prefix_bytes(t, cut, 0), 0);
      free(t);
    }
    unsigned char *longer = malloc(len + 1);
    cr_assert_not_null(longer);
    memcpy(longer, rec, len);
    longer[len] = 0;
    mx_record_view v;
    cr_assert_eq(mx_record_view_prefix(longer, len + 1, MX_RECORD_ANY_ID, 3, 1, 0, 1, &v, NULL), MX_ERR_FORMAT);
    free(longer);
    cr_assert_eq(mx_record_view_prefix(NULL, 0, MX_RECORD_ANY_ID, 3, 0, 0, 1, &v, NULL), MX_ERR_FORMAT);
    free(rec);
  }
}

Test(record, bad_header_fields_give_the_right_error) {
  float x[4 * 8];
  mx_test_rng r = {14};
  mx_test_random_unit_vectors(&r, x, 4, 8);
  mx_segments seg;
  cr_assert_eq(mx_segments_from_budgets(metaembed_budgets, 5, 4, &seg, NULL), MX_OK);
  size_t len;
  unsigned char *rec = make_record(x, MX_DTYPE_F32, MX_DTYPE_INT8, 8, 4, &seg, &len);
  struct {
    size_t off;
    unsigned char val;
    mx_status want;
    const char *what;
  } cases[] = {
      {0, 'X', MX_ERR_FORMAT, "magic"},
      {4, 3, MX_ERR_VERSION, "version"},
      {4, 255, MX_ERR_VERSION, "version"},
      {4, 1, MX_ERR_VERSION, "old version"},
      {4, 0, MX_ERR_FORMAT, "version"},
      {5, 4, MX_ERR_FORMAT, "dtype"},
      {5, 200, MX_ERR_FORMAT, "dtype"},
      {5, MX_DTYPE_F16, MX_ERR_FORMAT, "dtype"}, /* lengths no longer add up */
      {6, 0, MX_ERR_FORMAT, "n_vectors"},
      {6, 5, MX_ERR_FORMAT, "n_vectors"},
      {7, 1, MX_ERR_FORMAT, "n_vectors"},
      {8, 0, MX_ERR_FORMAT, "dim"},
      {8, 9, MX_ERR_FORMAT, "dim"},
      {11, 0x80, MX_ERR_FORMAT, "dim"},
      {12, 0, MX_ERR_FORMAT, "n_segments"},
      {12, 17, MX_ERR_FORMAT, "n_segments"},
      {12, 1, MX_ERR_FORMAT, "n_segments"},
      {14, 1, MX_ERR_FORMAT, "reserved"},
      {15, 1, MX_ERR_FORMAT, "reserved"},
      {24, 0, MX_ERR_FORMAT, "segment end"},
      {24, 9, MX_ERR_FORMAT, "segment end"},
      {26, 3, MX_ERR_FORMAT, "last segment end"},
      {27, 1, MX_ERR_FORMAT, "last segment end"},
      {44, 1, MX_ERR_FORMAT, "padding"},
      {47, 1, MX_ERR_FORMAT, "padding"},
      {16, 7, MX_OK, "doc_id (not checked: any id asked for)"},
  };
  cr_assert_eq(seg.n, 2); /* ends {1, 4}; header 24 + 2*2 + 2*8 = 44 -> 48 bytes */
  cr_assert_eq(mx_record_header_bytes(seg.n), 48);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    unsigned char *t = copy_exact(rec, len);
    t[cases[i].off] = cases[i].val;
    mx_record_view v;
    mx_error err;
    mx_status st = mx_record_view_prefix(t, len, MX_RECORD_ANY_ID, 0, 1, 0, 1, &v, &err);
    cr_assert_eq(st, cases[i].want, "%s (byte %zu = %u): got %s: %s", cases[i].what, cases[i].off,
                 cases[i].val, mx_status_name(st), err.message);
    free(t);
  }
  free(rec);
}

Test(record, encode_rejects_bad_arguments) {
  float x[4] = {1, 2, 3, 4};
  unsigned char buf[256];
  mx_segments seg = {.n = 1, .end = {2}};
  mx_error err;
  cr_assert_eq(mx_record_encode(buf, sizeof buf, 0, x, MX_DTYPE_F32, MX_DTYPE_F16, 2, 2, &seg, &err),
               MX_OK);
  cr_assert_eq(mx_record_encode(buf, 10, 0, x, MX_DTYPE_F32, MX_DTYPE_F16, 2, 2, &seg, &err),
               MX_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mx_record_encode(buf, sizeof buf, 0, x, MX_DTYPE_BF16, MX_DTYPE_F16, 2, 2, &seg, &err),
               MX_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mx_record_encode(buf, sizeof buf, 0, x, MX_DTYPE_F32, (mx_dtype)7, 2, 2, &seg, &err),
               MX_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mx_record_encode(buf, sizeof buf, 0, x, MX_DTYPE_F32, MX_DTYPE_F16, 0, 2, &seg, &err),
               MX_ERR_INVALID_ARGUMENT);
  mx_segments bad = {.n = 2, .end = {2, 2}};
  cr_assert_eq(mx_record_encode(buf, sizeof buf, 0, x, MX_DTYPE_F32, MX_DTYPE_F16, 2, 2, &bad, &err),
               MX_ERR_INVALID_ARGUMENT);
  mx_segments short_ = {.n = 1, .end = {1}};
  cr_assert_eq(
      mx_record_encode(buf, sizeof buf, 0, x, MX_DTYPE_F32, MX_DTYPE_F16, 2, 2, &short_, &err),
      MX_ERR_INVALID_ARGUMENT);
}

Test(record, unaligned_records_decode) {
  /* LMDB values are only 2-byte aligned: parse and decode at odd addresses */
  enum { D = 5, N = 3 };
  float x[D * N];
  mx_test_rng r = {15};
  mx_test_random_unit_vectors(&r, x, N, D);
  mx_segments seg = {.n = 1, .end = {N}};
  for (size_t s = 0; s < 4; s++) {
    size_t len = mx_record_bytes(stored_all[s], D, N, 1);
    unsigned char *buf = malloc(len + 3);
    cr_assert_not_null(buf);
    for (size_t off = 1; off <= 3; off++) {
      cr_assert_eq(
          mx_record_encode(buf + off, len, 0, x, MX_DTYPE_F32, stored_all[s], D, N, &seg, NULL),
          MX_OK);
      mx_record_view v;
      cr_assert_eq(mx_record_view_prefix(buf + off, len, MX_RECORD_ANY_ID, D, N, 0, 1, &v, NULL), MX_OK);
      float y[D];
      mx_record_decode_vector(&v, N - 1, y);
      for (int i = 0; i < D; i++)
        cr_assert_leq(fabsf(y[i] - x[(N - 1) * D + i]), 0.01f);
    }
    free(buf);
  }
}

/* Garbage and mutated records: any status, never a crash or an overread
 * (ASan); an OK view always lies inside the record. */
static void check_any(const unsigned char *p, size_t len, mx_test_rng *r) {
  unsigned char *t = copy_exact(p, len);
  mx_record_view v;
  mx_error err;
  uint32_t prefix = (uint32_t)mx_test_rng_below(r, 70);
  mx_status st = mx_record_view_prefix(t, len, MX_RECORD_ANY_ID, 0, prefix, (uint32_t)mx_test_rng_below(r, 70),
                                       (int)mx_test_rng_below(r, 2), &v, &err);
  if (st == MX_OK) {
    cr_assert_leq((size_t)(v.vectors - t) + (size_t)v.n_vectors * v.vector_bytes, len);
    float *y = malloc(sizeof(float) * v.dim);
    cr_assert_not_null(y);
    for (uint32_t j = 0; j < v.n_vectors; j++)
      mx_record_decode_vector(&v, j, y);
    free(y);
  } else {
    cr_assert(st == MX_ERR_FORMAT || st == MX_ERR_VERSION || st == MX_ERR_CORRUPT ||
                  st == MX_ERR_INVALID_ARGUMENT,
              "%s", mx_status_name(st));
    cr_assert_neq(err.message[0], '\0');
  }
  (void)mx_record_prefix_bytes(t, len, prefix);
  free(t);
}

Test(record, garbage_and_mutations_never_crash) {
  mx_test_rng r = {16};
  unsigned char junk[600];
  for (int it = 0; it < 3000; it++) {
    size_t len = (size_t)mx_test_rng_below(&r, sizeof junk);
    for (size_t i = 0; i < len; i++)
      junk[i] = (unsigned char)mx_test_rng_next(&r);
    if (len >= 16 && (it & 1)) { /* get past the magic and version */
      mx_put_le32(junk, MX_RECORD_MAGIC);
      junk[4] = 1;
      junk[5] = (unsigned char)mx_test_rng_below(&r, 5);
      junk[13] = 0;
      junk[12] = (unsigned char)mx_test_rng_below(&r, 18);
    }
    check_any(junk, len, &r);
  }
  float x[9 * 4];
  mx_test_random_unit_vectors(&r, x, 9, 4);
  mx_segments seg;
  cr_assert_eq(mx_segments_from_budgets(metaembed_budgets, 5, 9, &seg, NULL), MX_OK);
  for (size_t s = 0; s < 4; s++) {
    size_t len;
    unsigned char *rec = make_record(x, MX_DTYPE_F32, stored_all[s], 4, 9, &seg, &len);
    for (int it = 0; it < 2000; it++) {
      unsigned char *t = copy_exact(rec, len);
      int flips = 1 + (int)mx_test_rng_below(&r, 3);
      for (int f = 0; f < flips; f++)
        t[mx_test_rng_below(&r, len)] ^= (unsigned char)(1u << mx_test_rng_below(&r, 8));
      size_t tl = mx_test_rng_below(&r, 4) ? len : (size_t)mx_test_rng_below(&r, len + 1);
      check_any(t, tl, &r);
      free(t);
    }
    free(rec);
  }
}

/* Golden records: x = {1, 0, 0}, {0, -0.5, 0.25}, segments {1, 2}, one per
 * stored dtype. Any change to these bytes is a format change (docs/FORMAT.md). */
static const unsigned char golden[4][72] = {
    {
        0x4d, 0x58, 0x52, 0x31, 0x02, 0x00, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 0x00, 0xb0, 0xe5,
        0x04, 0x9a, 0xee, 0x8f, 0xf0, 0x6d, 0x1a, 0x5c, 0x57, 0x53, 0x8f, 0x04, 0xae, 0xa3, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xbf, 0x00, 0x00, 0x80, 0x3e,
    },
    {
        0x4d, 0x58, 0x52, 0x31, 0x02, 0x01, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 0x00, 0x17, 0xd4,
        0x7b, 0x22, 0xc6, 0x65, 0x5e, 0xfb, 0x31, 0x2a, 0x0d, 0x2a, 0xff, 0x3d, 0x0b, 0xad, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb8, 0x00, 0x34,
    },
    {
        0x4d, 0x58, 0x52, 0x31, 0x02, 0x02, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 0x00, 0xab, 0xbf,
        0x33, 0x50, 0xc5, 0x59, 0x65, 0xf8, 0xbd, 0xf7, 0x3d, 0x70, 0x93, 0x61, 0x88, 0xd0, 0x00,
        0x00, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xbf, 0x80, 0x3e,
    },
    {
        0x4d, 0x58, 0x52, 0x31, 0x02, 0x03, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 0x00, 0x64, 0x85,
        0x63, 0x13, 0xcf, 0x1f, 0xf0, 0x99, 0x24, 0xc4, 0x60, 0xc9, 0x4d, 0xc8, 0xba, 0xcf, 0x00,
        0x00, 0x00, 0x00, 0x04, 0x02, 0x01, 0x3c, 0x7f, 0x00, 0x00, 0x04, 0x02, 0x81, 0x3b, 0x00,
        0x81, 0x40,
    },
};
static const size_t golden_len[4] = {72, 60, 60, 62};

/* The record's own id (format 2): a record found under another key (a
 * damaged key or B-tree node landing on a neighbour's valid record) is
 * corrupt, whatever verify says; MX_RECORD_ANY_ID skips the check. */
Test(record, doc_id_is_checked_on_every_read) {
  float x[2 * 3] = {1, 0, 0, 0, 1, 0};
  const mx_segments seg = {.n = 1, .end = {2}};
  size_t len = mx_record_bytes(MX_DTYPE_F16, 3, 2, 1);
  unsigned char *rec = malloc(len);
  cr_assert_not_null(rec);
  mx_error err;
  const uint64_t id = 0x0123456789abcdefull;
  cr_assert_eq(mx_record_encode(rec, len, id, x, MX_DTYPE_F32, MX_DTYPE_F16, 3, 2, &seg, &err), MX_OK,
               "%s", err.message);
  cr_assert_eq(mx_get_le64(rec + 16), id);
  mx_record_view v;
  for (int verify = 0; verify <= 1; verify++) {
    cr_assert_eq(mx_record_view_prefix(rec, len, id, 3, 1, 0, verify, &v, &err), MX_OK, "%s",
                 err.message);
    cr_assert_eq(v.doc_id, id);
    cr_assert_eq(mx_record_view_prefix(rec, len, MX_RECORD_ANY_ID, 3, 1, 0, verify, &v, &err), MX_OK);
    cr_assert_eq(mx_record_view_prefix(rec, len, id + 1, 3, 1, 0, verify, &v, &err),
                 MX_ERR_CORRUPT);
    cr_assert(strstr(err.message, "81985529216486896") && strstr(err.message, "81985529216486895"),
              "%s", err.message);
  }
  cr_assert_eq(mx_record_encode(rec, len, MX_RECORD_ANY_ID, x, MX_DTYPE_F32, MX_DTYPE_F16, 3, 2,
                                &seg, &err),
               MX_ERR_INVALID_ARGUMENT);
  /* a record of version 1 (before the id) is refused, saying to rebuild */
  rec[4] = 1;
  cr_assert_eq(mx_record_view_prefix(rec, len, id, 3, 1, 0, 1, &v, &err), MX_ERR_VERSION);
  cr_assert(strstr(err.message, "rebuild"), "%s", err.message);
  free(rec);
}

Test(record, golden_bytes) {
  const float x[6] = {1, 0, 0, 0, -0.5f, 0.25f};
  const mx_segments seg = {.n = 2, .end = {1, 2}};
  for (size_t s = 0; s < 4; s++) {
    size_t len = mx_record_bytes(stored_all[s], 3, 2, 2);
    cr_assert_eq(len, golden_len[s]);
    unsigned char buf[72];
    cr_assert_eq(mx_record_encode(buf, len, 0, x, MX_DTYPE_F32, stored_all[s], 3, 2, &seg, NULL),
                 MX_OK);
    for (size_t i = 0; i < len; i++)
      cr_assert_eq(buf[i], golden[s][i], "%s: byte %zu is %02x, golden %02x",
                   mx_dtype_name(stored_all[s]), i, buf[i], golden[s][i]);
    /* and the golden bytes read back (from a buffer of their exact size) */
    unsigned char *g = copy_exact(golden[s], len);
    mx_record_view v;
    mx_error err;
    cr_assert_eq(mx_record_view_prefix(g, len, MX_RECORD_ANY_ID, 3, 2, 0, 1, &v, &err), MX_OK, "%s", err.message);
    float y[3];
    mx_record_decode_vector(&v, 1, y);
    cr_assert_eq(y[0], 0.0f);
    cr_assert_eq(y[1], -0.5f);
    cr_assert_float_eq(y[2], 0.25f, s == 3 ? 0.5f / 127 / 2 : 0.0f);
    free(g);
  }
}
