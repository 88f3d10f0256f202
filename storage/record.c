/* record.c: the record codec: one document's vectors in nested order behind
 * a small header with one XXH3-64 checksum per nested segment. Parsing is
 * defensive: records come from disk and every field is bounds-checked. */
#include "record.h"

#include <inttypes.h>
#include <string.h>

#include "convert.h"
#include "hash.h"
#include "status.h"

#define OFF_MAGIC offsetof(mx_record_fixed_header, magic)
#define OFF_VERSION offsetof(mx_record_fixed_header, version)
#define OFF_DTYPE offsetof(mx_record_fixed_header, dtype)
#define OFF_N_VECTORS offsetof(mx_record_fixed_header, n_vectors)
#define OFF_DIM offsetof(mx_record_fixed_header, dim)
#define OFF_N_SEGMENTS offsetof(mx_record_fixed_header, n_segments)
#define OFF_RESERVED offsetof(mx_record_fixed_header, reserved)
#define OFF_DOC_ID offsetof(mx_record_fixed_header, doc_id)

static int dtype_known(uint32_t d) { return d <= MX_DTYPE_INT8; }

size_t mx_record_header_bytes(uint32_t n_segments) {
  size_t raw = MX_RECORD_FIXED_HEADER_BYTES + 10 * (size_t)n_segments;
  return (raw + 15) & ~(size_t)15;
}

size_t mx_record_bytes(mx_dtype dtype, uint32_t dim, uint32_t n_vectors, uint32_t n_segments) {
  size_t vb = mx_vector_bytes(dtype, dim);
  if (vb == 0)
    return 0;
  return mx_record_header_bytes(n_segments) + (size_t)n_vectors * vb;
}

mx_status mx_segments_from_budgets(const mx_budget *budgets, uint32_t n_budgets, uint32_t n_vectors,
                                   mx_segments *out, mx_error *err) {
  if (!out || (n_budgets > 0 && !budgets))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_segments_from_budgets: NULL argument");
  if (n_vectors == 0 || n_vectors > MX_MAX_VECTORS)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "record vector count %" PRIu32 " out of range [1, %u]", n_vectors,
                   MX_MAX_VECTORS);
  mx_segments s = {0};
  for (uint32_t i = 0; i < n_budgets; i++) {
    uint32_t r = budgets[i].r_c;
    if (r == 0)
      return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "budget %" PRIu32 " has r_c = 0", i);
    if (r >= n_vectors)
      continue;
    /* insertion into the sorted, distinct list */
    uint32_t k = 0;
    while (k < s.n && s.end[k] < r)
      k++;
    if (k < s.n && s.end[k] == r)
      continue;
    if (s.n + 1 >= MX_MAX_SEGMENTS) /* keep one slot for n_vectors */
      return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "budgets give more than %d nested segments",
                     MX_MAX_SEGMENTS);
    memmove(&s.end[k + 1], &s.end[k], (s.n - k) * sizeof s.end[0]);
    s.end[k] = r;
    s.n++;
  }
  s.end[s.n++] = n_vectors;
  *out = s;
  return MX_OK;
}

static mx_status check_segments(const mx_segments *s, uint32_t n_vectors, mx_error *err) {
  if (s->n == 0 || s->n > MX_MAX_SEGMENTS)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "segment count %" PRIu32 " out of range [1, %d]",
                   s->n, MX_MAX_SEGMENTS);
  uint32_t prev = 0;
  for (uint32_t i = 0; i < s->n; i++) {
    if (s->end[i] <= prev)
      return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                     "segment ends are not strictly increasing at %" PRIu32, i);
    prev = s->end[i];
  }
  if (prev != n_vectors)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "last segment ends at %" PRIu32 ", not at the vector count %" PRIu32, prev,
                   n_vectors);
  return MX_OK;
}

mx_status mx_record_encode(void *out, size_t out_len, uint64_t doc_id, const void *vectors,
                           mx_dtype input_dtype, mx_dtype stored, uint32_t dim, uint32_t n_vectors,
                           const mx_segments *segments, mx_error *err) {
  if (!out || !vectors || !segments)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_record_encode: NULL argument");
  if (doc_id == MX_RECORD_ANY_ID)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "record doc id 2^64-1 is reserved");
  if (input_dtype != MX_DTYPE_F32 && input_dtype != MX_DTYPE_F16)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "input dtype %d is not f32 or f16",
                   (int)input_dtype);
  if (!dtype_known((uint32_t)stored))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "unknown stored dtype %d", (int)stored);
  if (dim == 0 || dim > MX_MAX_DIM)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "dim %" PRIu32 " out of range [1, %u]", dim,
                   MX_MAX_DIM);
  if (n_vectors == 0 || n_vectors > MX_MAX_VECTORS)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "vector count %" PRIu32 " out of range [1, %u]",
                   n_vectors, MX_MAX_VECTORS);
  MX_TRY(check_segments(segments, n_vectors, err));
  size_t need = mx_record_bytes(stored, dim, n_vectors, segments->n);
  if (out_len < need)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "record buffer of %zu bytes, need %zu", out_len,
                   need);

  unsigned char *p = out;
  size_t hdr = mx_record_header_bytes(segments->n);
  memset(p, 0, hdr);
  mx_put_le32(p + OFF_MAGIC, MX_RECORD_MAGIC);
  p[OFF_VERSION] = MX_RECORD_VERSION;
  p[OFF_DTYPE] = (unsigned char)stored;
  mx_put_le16(p + OFF_N_VECTORS, (uint16_t)n_vectors);
  mx_put_le32(p + OFF_DIM, dim);
  mx_put_le16(p + OFF_N_SEGMENTS, (uint16_t)segments->n);
  mx_put_le64(p + OFF_DOC_ID, doc_id);
  unsigned char *ends = p + MX_RECORD_FIXED_HEADER_BYTES;
  unsigned char *hashes = ends + 2 * (size_t)segments->n;
  unsigned char *vec = p + hdr;
  size_t vb = mx_vector_bytes(stored, dim);

  mx_convert_vectors(input_dtype, vectors, stored, vec, dim, n_vectors);
  uint32_t start = 0;
  for (uint32_t i = 0; i < segments->n; i++) {
    uint32_t end = segments->end[i];
    mx_put_le16(ends + 2 * (size_t)i, (uint16_t)end);
    mx_put_le64(hashes + 8 * (size_t)i,
                mx_hash64(vec + (size_t)start * vb, (size_t)(end - start) * vb));
    start = end;
  }
  return MX_OK;
}

/* The parsed header of a record that passed every structural check. */
typedef struct parsed {
  uint64_t doc_id;
  mx_dtype dtype;
  uint32_t dim, n_vectors, n_segments;
  size_t header_bytes, vector_bytes;
  const unsigned char *ends, *hashes, *vectors;
} parsed;

static mx_status parse_header(const unsigned char *p, size_t len, parsed *h, mx_error *err) {
  if (!p || len < 8) /* magic, version: enough to tell "not ours" and "another version" */
    return mx_fail(err, MX_ERR_FORMAT, "record of %zu bytes is shorter than its %d-byte header",
                   len, MX_RECORD_FIXED_HEADER_BYTES);
  uint32_t magic = mx_get_le32(p + OFF_MAGIC);
  if (magic != MX_RECORD_MAGIC)
    return mx_fail(err, MX_ERR_FORMAT, "not a metaidx record (magic 0x%08" PRIx32 ")", magic);
  uint32_t version = p[OFF_VERSION];
  if (version > MX_RECORD_VERSION)
    return mx_fail(err, MX_ERR_VERSION,
                   "record version %" PRIu32 " is newer than this library reads (%d)", version,
                   MX_RECORD_VERSION);
  if (version == 0)
    return mx_fail(err, MX_ERR_FORMAT, "record version 0 is not valid");
  if (version < MX_RECORD_VERSION)
    return mx_fail(err, MX_ERR_VERSION,
                   "record version %" PRIu32 " (without its document id) is no longer read by "
                   "this library (%d): rebuild the index",
                   version, MX_RECORD_VERSION);
  if (len < MX_RECORD_FIXED_HEADER_BYTES)
    return mx_fail(err, MX_ERR_FORMAT, "record of %zu bytes is shorter than its %d-byte header",
                   len, MX_RECORD_FIXED_HEADER_BYTES);
  uint32_t dtype = p[OFF_DTYPE];
  if (!dtype_known(dtype))
    return mx_fail(err, MX_ERR_FORMAT, "record has unknown dtype %" PRIu32, dtype);
  h->dtype = (mx_dtype)dtype;
  h->n_vectors = mx_get_le16(p + OFF_N_VECTORS);
  h->dim = mx_get_le32(p + OFF_DIM);
  h->n_segments = mx_get_le16(p + OFF_N_SEGMENTS);
  h->doc_id = mx_get_le64(p + OFF_DOC_ID);
  if (h->n_vectors == 0)
    return mx_fail(err, MX_ERR_FORMAT, "record has no vectors");
  if (h->dim == 0 || h->dim > MX_MAX_DIM)
    return mx_fail(err, MX_ERR_FORMAT, "record dim %" PRIu32 " out of range [1, %u]", h->dim,
                   MX_MAX_DIM);
  if (h->n_segments == 0 || h->n_segments > MX_MAX_SEGMENTS)
    return mx_fail(err, MX_ERR_FORMAT, "record segment count %" PRIu32 " out of range [1, %d]",
                   h->n_segments, MX_MAX_SEGMENTS);
  if (mx_get_le16(p + OFF_RESERVED) != 0)
    return mx_fail(err, MX_ERR_FORMAT, "record reserved header field is not zero");
  h->header_bytes = mx_record_header_bytes(h->n_segments);
  if (len < h->header_bytes)
    return mx_fail(err, MX_ERR_FORMAT, "record of %zu bytes is shorter than its %zu-byte header",
                   len, h->header_bytes);
  h->ends = p + MX_RECORD_FIXED_HEADER_BYTES;
  h->hashes = h->ends + 2 * (size_t)h->n_segments;
  for (size_t i = (size_t)(h->hashes + 8 * (size_t)h->n_segments - p); i < h->header_bytes; i++)
    if (p[i] != 0)
      return mx_fail(err, MX_ERR_FORMAT, "record header padding is not zero");
  uint32_t prev = 0;
  for (uint32_t i = 0; i < h->n_segments; i++) {
    uint32_t end = mx_get_le16(h->ends + 2 * (size_t)i);
    if (end <= prev)
      return mx_fail(err, MX_ERR_FORMAT,
                     "record segment %" PRIu32 " ends at %" PRIu32 ", not after %" PRIu32, i, end,
                     prev);
    prev = end;
  }
  if (prev != h->n_vectors)
    return mx_fail(err, MX_ERR_FORMAT,
                   "record segments end at %" PRIu32 " but the record has %" PRIu32 " vectors",
                   prev, h->n_vectors);
  h->vector_bytes = mx_vector_bytes(h->dtype, h->dim);
  /* at most 2^16 vectors of 4 * 2^16 bytes: no overflow in 64 bits */
  uint64_t want = (uint64_t)h->header_bytes + (uint64_t)h->n_vectors * h->vector_bytes;
  if ((uint64_t)len != want)
    return mx_fail(err, MX_ERR_FORMAT,
                   "record is %zu bytes but its header describes %" PRIu64 " (%" PRIu32
                   " vectors of %zu bytes after a %zu-byte header)",
                   len, want, h->n_vectors, h->vector_bytes, h->header_bytes);
  h->vectors = p + h->header_bytes;
  return MX_OK;
}

mx_status mx_record_view_prefix(const void *record, size_t record_len, uint64_t expected_id,
                                uint32_t expected_dim, uint32_t prefix, uint32_t verified_from,
                                int verify, mx_record_view *out, mx_error *err) {
  if (!out)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_record_view_prefix: NULL view");
  parsed h;
  MX_TRY(parse_header(record, record_len, &h, err));
  if (expected_id != MX_RECORD_ANY_ID && h.doc_id != expected_id)
    return mx_fail(err, MX_ERR_CORRUPT,
                   "the record found under id %" PRIu64 " is document %" PRIu64
                   "'s (a damaged key, or a record from elsewhere)",
                   expected_id, h.doc_id);
  if (expected_dim != 0 && h.dim != expected_dim)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "record has dim %" PRIu32 ", the index expects %" PRIu32, h.dim, expected_dim);
  if (prefix > h.n_vectors)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "prefix of %" PRIu32 " vectors asked of a record that stores %" PRIu32, prefix,
                   h.n_vectors);
  if (verify) {
    uint32_t start = 0;
    for (uint32_t i = 0; i < h.n_segments && start < prefix; i++) {
      uint32_t end = mx_get_le16(h.ends + 2 * (size_t)i);
      if (end > verified_from) {
        uint64_t stored = mx_get_le64(h.hashes + 8 * (size_t)i);
        uint64_t got = mx_hash64(h.vectors + (size_t)start * h.vector_bytes,
                                 (size_t)(end - start) * h.vector_bytes);
        if (got != stored)
          return mx_fail(err, MX_ERR_CORRUPT,
                         "record segment %" PRIu32 " (vectors [%" PRIu32 ", %" PRIu32
                         ")): checksum %016" PRIx64 ", stored %016" PRIx64,
                         i, start, end, got, stored);
      }
      start = end;
    }
  }
  out->vectors = h.vectors;
  out->vector_bytes = h.vector_bytes;
  out->dtype = h.dtype;
  out->dim = h.dim;
  out->n_vectors = prefix;
  out->stored_vectors = h.n_vectors;
  out->doc_id = h.doc_id;
  return MX_OK;
}

size_t mx_record_prefix_bytes(const void *record, size_t record_len, uint32_t prefix) {
  parsed h;
  if (parse_header(record, record_len, &h, NULL) != MX_OK || prefix > h.n_vectors)
    return 0;
  uint32_t covered = 0;
  for (uint32_t i = 0; i < h.n_segments && covered < prefix; i++)
    covered = mx_get_le16(h.ends + 2 * (size_t)i);
  return h.header_bytes + (size_t)covered * h.vector_bytes;
}

uint32_t mx_record_vector_count(const void *record, size_t record_len) {
  parsed h;
  return parse_header(record, record_len, &h, NULL) == MX_OK ? h.n_vectors : 0;
}

void mx_record_decode_vector(const mx_record_view *view, uint32_t j, float *out) {
  if (!view || !out || j >= view->n_vectors)
    return;
  mx_decode_vectors(view->dtype, view->vectors + (size_t)j * view->vector_bytes, out, view->dim, 1);
}

mx_status mx_record_segments(const void *record, size_t record_len, mx_segments *out,
                             mx_error *err) {
  parsed h;
  MX_TRY(parse_header(record, record_len, &h, err));
  out->n = h.n_segments;
  for (uint32_t i = 0; i < h.n_segments; i++)
    out->end[i] = mx_get_le16(h.ends + 2 * (size_t)i);
  return MX_OK;
}
