/* fuzz_idsfile.c: libFuzzer target for mx_ids_text_parse. Not part of the
 * meson build; with clang:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Icommon \
 *     tests/fuzz/fuzz_idsfile.c common/idsfile.c common/status.c \
 *     -o /tmp/fuzz_ids && /tmp/fuzz_ids tests/fuzz/corpus/idsfile
 * The seed corpus is replayed by tests/test_idsfile.c on every test run. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "idsfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mx_ids_text ids;
  mx_error err;
  mx_status s = mx_ids_text_parse((const char *)data, size, "fuzz", &ids, &err);
  if (s == MX_OK) {
    size_t total = 0;
    for (size_t i = 0; i < ids.count; i++) {
      if (ids.lengths[i] == 0 || ids.lengths[i] > 511 || strlen(ids.ids[i]) != ids.lengths[i])
        abort();
      total += ids.lengths[i] + 1;
    }
    if (total > size + 1)
      abort();
  } else if (s != MX_ERR_BAD_INPUT) {
    abort();
  }
  mx_ids_text_free(&ids);
  return 0;
}
