/* fuzz_npy_header.c: libFuzzer target for mx_npy_parse_header (outside
 * bytes). Not part of the meson build; with clang:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Icommon \
 *     tests/fuzz/fuzz_npy_header.c common/npy.c common/status.c common/fsutil.c \
 *     -o /tmp/fuzz_npy && /tmp/fuzz_npy tests/fuzz/corpus/npy_header
 * The seed corpus is replayed by tests/test_npy.c on every test run. */
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
