/* fuzz_npy_header.c: libFuzzer target for mx_npy_parse_header (outside
 * bytes).
 * Built by tests/fuzz/meson.build: always as a replay test of its corpus,
 * with -Dfuzz=enabled also as a libFuzzer binary (see scripts/fuzz.sh). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mx_npy_header h;
  mx_error err;
  mx_status s = mx_npy_parse_header(data, size, &h, &err);
  if (s == MX_OK) {
    if (h.ndim > MX_NPY_MAX_DIMS || h.data_offset > size)
      abort();
    uint64_t n = 1;
    for (uint32_t i = 0; i < h.ndim; i++)
      n *= h.shape[i];
    if (n != h.n_elements)
      abort();
  } else if (s != MX_ERR_FORMAT && s != MX_ERR_UNSUPPORTED) {
    abort();
  } else if (err.message[0] == '\0' || strlen(err.message) >= sizeof err.message) {
    abort();
  }
  return 0;
}
