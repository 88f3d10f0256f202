/* fuzz_record.c: libFuzzer target for the record codec's reader (records
 * come from the LMDB map): mx_record_view_prefix at every prefix, with
 * verify on and off, from every verified_from, at an unaligned address (the
 * map only guarantees 2-byte alignment), then mx_record_decode_vector on
 * every vector of what parses and mx_record_prefix_bytes. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_view(const unsigned char *rec, size_t size, const mx_record_view *v,
                       uint32_t prefix, float *buf) {
  if (v->n_vectors != prefix || v->stored_vectors < prefix || v->dim == 0 ||
      v->vector_bytes != mx_vector_bytes(v->dtype, v->dim))
    abort();
  /* the view lies inside the record */
  if (v->vectors < rec || v->vectors + (size_t)v->stored_vectors * v->vector_bytes > rec + size)
    abort();
  for (uint32_t j = 0; j < prefix; j++)
    mx_record_decode_vector(v, j, buf);
  /* out of range: must leave buf alone */
  buf[0] = 12345.0f;
  mx_record_decode_vector(v, prefix, buf);
  if (buf[0] != 12345.0f)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* odd address: the reader must not assume any alignment */
  unsigned char *mem = malloc(size + 1);
  if (!mem)
    return 0;
  unsigned char *rec = mem + 1;
  memcpy(rec, data, size);
  float *buf = NULL;

  mx_record_view v;
  mx_error err;
  mx_status s = mx_record_view_prefix(rec, size, MX_RECORD_ANY_ID, 0, 0, 0, 0, &v, &err);
  if (s != MX_OK) {
    if (s != MX_ERR_FORMAT && s != MX_ERR_VERSION)
      abort();
    if (mx_record_prefix_bytes(rec, size, 0) != 0)
      abort();
    goto done;
  }
  uint32_t stored = v.stored_vectors, dim = v.dim;
  buf = malloc((size_t)dim * sizeof *buf);
  if (!buf)
    goto done;
  /* the wrong expected dim is refused */
  if (mx_record_view_prefix(rec, size, MX_RECORD_ANY_ID, dim + 1, 0, 0, 0, &v, &err) != MX_ERR_INVALID_ARGUMENT)
    abort();
  int whole_ok = mx_record_view_prefix(rec, size, MX_RECORD_ANY_ID, dim, stored, 0, 1, &v, &err) == MX_OK;
  /* every prefix of small records; for long ones the first 32, the
   * neighbourhood of the end and a stride in between (keeps inputs fast) */
  uint32_t step = stored > 256 ? stored / 64 : 1;
  for (uint32_t prefix = 0; prefix <= stored + 1;
       prefix = (prefix < 32 || prefix + 2 >= stored) ? prefix + 1
                : (prefix + step + 2 < stored ? prefix + step : stored - 2)) {
    size_t pb = mx_record_prefix_bytes(rec, size, prefix);
    if (prefix > stored ? pb != 0 : (pb == 0 || pb > size))
      abort();
    for (int verify = 0; verify <= 1; verify++) {
      /* verified_from: 0, the middle, the prefix itself */
      uint32_t froms[3] = {0, prefix / 2, prefix};
      for (int f = 0; f < 3; f++) {
        s = mx_record_view_prefix(rec, size, MX_RECORD_ANY_ID, dim, prefix, froms[f], verify, &v, &err);
        if (prefix > stored) {
          if (s != MX_ERR_INVALID_ARGUMENT)
            abort();
          continue;
        }
        if (s == MX_OK) {
          check_view(rec, size, &v, prefix, buf);
        } else if (!verify || s != MX_ERR_CORRUPT || whole_ok) {
          abort(); /* only checksums can fail now, and only if the whole record fails */
        }
      }
    }
  }
done:
  free(buf);
  free(mem);
  return 0;
}
