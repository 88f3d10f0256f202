/* example_embed.c: the README's embedded-API example, compiled and run as a
 * test so the README cannot drift from the API. Builds a tiny index of
 * random unit vectors in the directory given as argv[1], then searches it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "metaidx.h"

enum { N = 500, R = 16, D = 64, RQ = 4 };

static void random_unit(float *v, size_t n, unsigned *seed) {
  for (size_t i = 0; i < n; i++) {
    double norm = 0;
    for (int e = 0; e < D; e++) {
      v[i * D + e] = (float)rand_r(seed) / RAND_MAX - 0.5f;
      norm += (double)v[i * D + e] * v[i * D + e];
    }
    for (int e = 0; e < D; e++)
      v[i * D + e] /= (float)sqrt(norm);
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s INDEX_DIR\n", argv[0]);
    return 2;
  }
  unsigned seed = 1;
  float *docs = malloc(sizeof(float) * N * R * D);
  random_unit(docs, (size_t)N * R, &seed);

  /* --- build: README example starts here --- */
  mx_error err;
  mx_build_options bo;
  mx_build_options_init(&bo); /* f16 storage, MetaEmbed budgets, automatic coarse stage */
  bo.overwrite = 1;
  mx_builder *b;
  if (mx_builder_open(argv[1], D, R, &bo, &b, &err) != MX_OK ||
      mx_builder_add(b, N, NULL, NULL, NULL, docs, MX_DTYPE_F32, &err) != MX_OK ||
      mx_builder_finish(b, &err) != MX_OK) { /* finish frees b; abort on add errors */
    fprintf(stderr, "build: %s\n", err.message);
    return 1;
  }

  /* --- search --- */
  mx_index *ix;
  if (mx_index_open(argv[1], NULL, &ix, &err) != MX_OK) {
    fprintf(stderr, "open: %s\n", err.message);
    return 1;
  }
  mx_search_options so;
  mx_search_options_init(&so); /* k = 10, 100 candidates, largest budget */
  so.r_q = 4;
  so.r_c = 16;
  so.n_stages = 1; /* cascade: (2,4) over the candidates, keep 30, then (4,16) */
  so.stages[0] = (mx_stage){.r_q = 2, .r_c = 4, .keep = 30};
  const float *query = docs + 7 * R * D; /* a document's first RQ vectors as the query */
  mx_hit hits[10];
  uint32_t n_hits;
  mx_search_stats stats;
  if (mx_search(ix, query, RQ, &so, hits, &n_hits, &stats, &err) != MX_OK) {
    fprintf(stderr, "search: %s\n", err.message);
    return 1;
  }
  for (uint32_t i = 0; i < n_hits; i++)
    printf("%u. doc %llu score %.4f\n", i + 1, (unsigned long long)hits[i].id, hits[i].score);
  printf("%.3f ms, %llu candidates, %llu bytes read\n", stats.total_ms,
         (unsigned long long)stats.candidates, (unsigned long long)stats.bytes_touched);
  mx_index_close(ix);
  /* --- README example ends here --- */

  int ok = n_hits == 10 && hits[0].id == 7; /* the document finds itself */
  free(docs);
  return ok ? 0 : 1;
}
