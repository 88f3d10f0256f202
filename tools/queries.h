/* queries.h: loading a query file ([Q, R, d] or [Q, d] .npy, float32 or
 * float16) for the commands that take --queries (search, exact, tune).
 * Defined in cmd_search.c. */
#ifndef MX_TOOLS_QUERIES_H
#define MX_TOOLS_QUERIES_H

#include <stdint.h>

#include "npy.h"

typedef struct queries {
  mx_npy f;
  const float *data; /* n x r x dim */
  float *owned;      /* when converted from f16 */
  uint32_t n, r, dim;
} queries;

/* Loads path for an index of dimension dim; 0 or an exit code (the error
 * printed as "metaidx CMD: ..."). */
int queries_load(const char *cmd, const char *path, uint32_t dim, queries *q);
void queries_close(queries *q);

#endif
