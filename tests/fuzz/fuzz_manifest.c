/* fuzz_manifest.c: libFuzzer target for mx_manifest_parse (manifest.json
 * comes from disk). Whatever parses must serialise again with
 * mx_manifest_format and parse back to the same fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const mx_manifest *a, const mx_manifest *b) {
  if (a->format_major != b->format_major || a->format_minor != b->format_minor ||
      a->dim != b->dim || a->vectors_per_doc != b->vectors_per_doc ||
      a->input_vectors_per_doc != b->input_vectors_per_doc || a->dtype != b->dtype ||
      strcmp(a->metric, b->metric) != 0 || a->n_budgets != b->n_budgets ||
      a->n_docs != b->n_docs || a->id_kind != b->id_kind ||
      strcmp(a->coarse_factory, b->coarse_factory) != 0 ||
      a->coarse_nprobe != b->coarse_nprobe || a->coarse_ef_search != b->coarse_ef_search ||
      a->train_sample != b->train_sample || a->seed != b->seed ||
      a->coarse_bytes != b->coarse_bytes || a->coarse_xxh3 != b->coarse_xxh3 ||
      strcmp(a->created, b->created) != 0 || strcmp(a->library_version, b->library_version) != 0)
    return 0;
  for (uint32_t i = 0; i < a->n_budgets; i++)
    if (a->budgets[i].r_q != b->budgets[i].r_q || a->budgets[i].r_c != b->budgets[i].r_c)
      return 0;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mx_manifest m;
  mx_error err;
  mx_status s = mx_manifest_parse((const char *)data, size, &m, &err);
  if (s == MX_OK) {
    if (m.format_major != MX_FORMAT_MAJOR || m.dim == 0 || m.dim > 65536 ||
        m.vectors_per_doc == 0 || m.input_vectors_per_doc < m.vectors_per_doc ||
        m.n_budgets == 0 || m.n_budgets > MX_MAX_BUDGETS)
      abort();
    for (uint32_t i = 0; i < m.n_budgets; i++)
      if (m.budgets[i].r_c == 0 || m.budgets[i].r_c > m.vectors_per_doc || m.budgets[i].r_q == 0)
        abort();
    char *text = NULL;
    if (mx_manifest_format(&m, &text, &err) != MX_OK)
      abort(); /* everything the parser accepts can be written */
    mx_manifest back;
    if (mx_manifest_parse(text, strlen(text), &back, &err) != MX_OK || !same(&m, &back))
      abort();
    free(text);
  } else if (s != MX_ERR_FORMAT && s != MX_ERR_VERSION) {
    abort();
  } else if (err.message[0] == '\0' || strlen(err.message) >= sizeof err.message) {
    abort();
  }
  return 0;
}
