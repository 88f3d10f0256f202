/* record.h: the on-disk record of one document's vector group.
 *
 * Layout (all integers little-endian; see docs/FORMAT.md):
 *   0  u32 magic "MXR1"      4  u8 version (2)     5  u8 dtype (mx_dtype)
 *   6  u16 n_vectors         8  u32 dim           12  u16 n_segments
 *  14  u16 reserved (0)     16  u64 doc_id: the internal id the record is
 *                               stored under, so that a record found under
 *                               another key (a damaged key or B-tree) is
 *                               caught on read
 *  24  u16 segment_end[n_segments]   (strictly increasing, last == n_vectors)
 *      u64 segment_hash[n_segments]  (XXH3-64 of the segment's vector bytes)
 *      zero padding to a multiple of 16 bytes: the header's size
 *  then n_vectors vectors in nested order, each mx_vector_bytes(dtype, dim):
 *      f32: dim x f32; f16 / bf16: dim x u16; int8: f32 scale then dim x i8
 *      (value = scale * q).
 * A prefix of r vectors is the contiguous range [0, r * vector_bytes). */
#ifndef MX_STORAGE_RECORD_H
#define MX_STORAGE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "dtype.h" /* mx_vector_bytes: bytes of one stored vector */
#include "metaidx.h"

#define MX_RECORD_MAGIC 0x3152584Du /* bytes "MXR1" */
#define MX_RECORD_VERSION 2 /* version 1 (no doc_id) is refused: rebuild such an index */
#define MX_MAX_SEGMENTS 16
#define MX_MAX_VECTORS 65535u
#define MX_MAX_DIM 65536u

/* The fixed first 24 bytes of every record, as a description of the layout
 * (offsets and sizes are checked by _Static_assert). The codec reads and
 * writes these fields byte by byte, little-endian, at these offsets; never
 * cast record memory to this struct (records may be unaligned). */
typedef struct __attribute__((packed)) mx_record_fixed_header {
  uint32_t magic;      /* MX_RECORD_MAGIC */
  uint8_t version;     /* MX_RECORD_VERSION */
  uint8_t dtype;       /* mx_dtype */
  uint16_t n_vectors;  /* 1 .. MX_MAX_VECTORS */
  uint32_t dim;        /* 1 .. MX_MAX_DIM */
  uint16_t n_segments; /* 1 .. MX_MAX_SEGMENTS */
  uint16_t reserved;   /* 0 */
  uint64_t doc_id;     /* internal id (the record's key) */
} mx_record_fixed_header;

#define MX_RECORD_FIXED_HEADER_BYTES 24
_Static_assert(sizeof(mx_record_fixed_header) == MX_RECORD_FIXED_HEADER_BYTES,
               "fixed record header is 24 bytes");
_Static_assert(offsetof(mx_record_fixed_header, magic) == 0, "magic at 0");
_Static_assert(offsetof(mx_record_fixed_header, version) == 4, "version at 4");
_Static_assert(offsetof(mx_record_fixed_header, dtype) == 5, "dtype at 5");
_Static_assert(offsetof(mx_record_fixed_header, n_vectors) == 6, "n_vectors at 6");
_Static_assert(offsetof(mx_record_fixed_header, dim) == 8, "dim at 8");
_Static_assert(offsetof(mx_record_fixed_header, n_segments) == 12, "n_segments at 12");
_Static_assert(offsetof(mx_record_fixed_header, reserved) == 14, "reserved at 14");
_Static_assert(offsetof(mx_record_fixed_header, doc_id) == 16, "doc_id at 16");

/* expected_id of mx_record_view_prefix: do not check the record's doc_id. */
#define MX_RECORD_ANY_ID UINT64_MAX

/* Segment boundaries: end[i] vectors, strictly increasing, end[n-1] == the
 * record's vector count. */
typedef struct mx_segments {
  uint32_t n;
  uint32_t end[MX_MAX_SEGMENTS];
} mx_segments;

/* Segments from a budget list: the distinct r_c values that are below
 * n_vectors, plus n_vectors itself. Budgets need not be sorted. */
mx_status mx_segments_from_budgets(const mx_budget *budgets, uint32_t n_budgets,
                                   uint32_t n_vectors, mx_segments *out, mx_error *err);

/* 24 + 10 * n_segments, rounded up to a multiple of 16. */
size_t mx_record_header_bytes(uint32_t n_segments);
/* Header plus n_vectors vectors (0 for an unknown dtype). */
size_t mx_record_bytes(mx_dtype dtype, uint32_t dim, uint32_t n_vectors, uint32_t n_segments);

/* Encodes n_vectors input vectors (input_dtype MX_DTYPE_F32 or MX_DTYPE_F16,
 * dim values each, contiguous) as the record of document doc_id (its
 * internal id, < MX_RECORD_ANY_ID) of `stored` dtype into out, which holds
 * out_len >= mx_record_bytes(...) bytes. Uses the SIMD converters. */
mx_status mx_record_encode(void *out, size_t out_len, uint64_t doc_id, const void *vectors,
                           mx_dtype input_dtype, mx_dtype stored, uint32_t dim, uint32_t n_vectors,
                           const mx_segments *segments, mx_error *err);

/* A prefix of a record, pointing into the record's memory (the LMDB map:
 * valid until the read transaction ends). Vectors may be unaligned. */
typedef struct mx_record_view {
  const unsigned char *vectors; /* first vector */
  size_t vector_bytes;          /* stride */
  mx_dtype dtype;
  uint32_t dim;
  uint32_t n_vectors;      /* vectors in this view (the prefix asked for) */
  uint32_t stored_vectors; /* vectors in the whole record */
  uint64_t doc_id;         /* the internal id in its header */
} mx_record_view;

/* Parses and bounds-checks a record's header, then returns a view of its
 * first `prefix` vectors. When verify is set, checks the hash of every
 * segment that overlaps [verified_from, prefix) (pass 0 to check the whole
 * prefix; a cascade passes what an earlier stage already checked).
 * expected_id is the key the record was found under (MX_RECORD_ANY_ID: not
 * checked); the header's doc_id is always compared with it, verify or not.
 * Errors: MX_ERR_FORMAT (bad magic, lengths that do not add up),
 * MX_ERR_VERSION (a record version other than this library's),
 * MX_ERR_CORRUPT (hash mismatch, naming the segment; a doc_id other than
 * expected_id), MX_ERR_INVALID_ARGUMENT (prefix > stored vectors or dim
 * different from expected_dim when expected_dim != 0). */
mx_status mx_record_view_prefix(const void *record, size_t record_len, uint64_t expected_id,
                                uint32_t expected_dim, uint32_t prefix, uint32_t verified_from,
                                int verify, mx_record_view *out, mx_error *err);

/* Bytes of the record that a verified read of a prefix of `prefix` vectors
 * touches, including the header: what a reader of that prefix has to fault
 * in. A prefix that ends inside a segment extends to that segment's end
 * (verifying it hashes the whole segment). 0 if the record does not parse
 * or prefix > its vector count. */
size_t mx_record_prefix_bytes(const void *record, size_t record_len, uint32_t prefix);

/* The record's vector count if its header parses, else 0 (so that a reader
 * can ask mx_record_view_prefix for the whole record, which then reports
 * what is wrong with it). */
uint32_t mx_record_vector_count(const void *record, size_t record_len);

/* The segment boundaries in a record's header (the same checks as
 * mx_record_view_prefix's, same errors). */
mx_status mx_record_segments(const void *record, size_t record_len, mx_segments *out,
                             mx_error *err);

/* Decodes vector j of a view to float32 (the dequantised values that the
 * exactness guarantee is stated against). j < view->n_vectors; otherwise
 * out is left untouched. */
void mx_record_decode_vector(const mx_record_view *view, uint32_t j, float *out);

#endif
