/* The C side of bench/overhead.py: the same searches the Python package
 * makes, through metaidx.h directly. Prints one JSON line: the median
 * wall time of one mx_search call (microseconds) and the queries per second
 * of one mx_search_batch over all queries.
 * Usage: search_c INDEX QUERIES.f32 Q R K RQ RC CANDIDATES REPS THREADS */
#include <metaidx.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc != 11) {
    fprintf(stderr, "usage: search_c INDEX QUERIES.f32 Q R K RQ RC CANDIDATES REPS THREADS\n");
    return 2;
  }
  uint32_t q = (uint32_t)atoi(argv[3]), r = (uint32_t)atoi(argv[4]);
  int reps = atoi(argv[9]);
  mx_error err;
  mx_index *ix;
  if (mx_index_open(argv[1], NULL, &ix, &err) != MX_OK) {
    fprintf(stderr, "search_c: %s\n", err.message);
    return 1;
  }
  mx_info info;
  mx_index_info(ix, &info, NULL);
  size_t n_floats = (size_t)q * r * info.dim;
  float *queries = malloc(n_floats * sizeof *queries);
  FILE *f = fopen(argv[2], "rb");
  if (!queries || !f || fread(queries, sizeof *queries, n_floats, f) != n_floats) {
    fprintf(stderr, "search_c: cannot read %s\n", argv[2]);
    return 1;
  }
  fclose(f);
  mx_search_options so;
  mx_search_options_init(&so);
  so.k = (uint32_t)atoi(argv[5]);
  so.r_q = (uint32_t)atoi(argv[6]);
  so.r_c = (uint32_t)atoi(argv[7]);
  so.candidates = (uint32_t)atoi(argv[8]);
  mx_hit *hits = malloc((size_t)q * so.k * sizeof *hits);
  uint32_t *counts = malloc(q * sizeof *counts);
  double *us = malloc((size_t)reps * q * sizeof *us);
  if (!hits || !counts || !us) return 1;
  for (int rep = 0; rep < reps; rep++)
    for (uint32_t i = 0; i < q; i++) {
      double t = now_us();
      if (mx_search(ix, queries + (size_t)i * r * info.dim, r, &so, hits, counts, NULL, &err)) {
        fprintf(stderr, "search_c: %s\n", err.message);
        return 1;
      }
      us[(size_t)rep * q + i] = now_us() - t;
    }
  qsort(us, (size_t)reps * q, sizeof *us, cmp_double);
  double batch_best = 0;
  for (int rep = 0; rep < reps; rep++) {
    double t = now_us();
    if (mx_search_batch(ix, queries, q, r, &so, (uint32_t)atoi(argv[10]), hits, counts, NULL,
                        &err)) {
      fprintf(stderr, "search_c: %s\n", err.message);
      return 1;
    }
    double qps = q / ((now_us() - t) / 1e6);
    if (qps > batch_best) batch_best = qps;
  }
  printf("{\"side\":\"c\",\"search_median_us\":%.2f,\"batch_qps\":%.1f}\n",
         us[(size_t)reps * q / 2], batch_best);
  free(us);
  free(counts);
  free(hits);
  free(queries);
  mx_index_close(ix);
  return 0;
}
