/* fuzz_idsfile.c: libFuzzer target for mx_ids_text_parse.
 * Built by tests/fuzz/meson.build: always as a replay test of its corpus,
 * with -Dfuzz=enabled also as a libFuzzer binary (see scripts/fuzz.sh). */
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
