/* hash.c: XXH3-64 wrappers over libxxhash. */
#include "hash.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "status.h"

struct mx_hasher {
  XXH3_state_t *state;
};

uint64_t mx_hash64(const void *data, size_t len) { return XXH3_64bits(data, len); }

mx_hasher *mx_hasher_new(void) {
  mx_hasher *h = malloc(sizeof *h);
  if (!h)
    return NULL;
  h->state = XXH3_createState();
  if (!h->state) {
    free(h);
    return NULL;
  }
  XXH3_64bits_reset(h->state);
  return h;
}

void mx_hasher_update(mx_hasher *h, const void *data, size_t len) {
  XXH3_64bits_update(h->state, data, len);
}

uint64_t mx_hasher_digest(const mx_hasher *h) { return XXH3_64bits_digest(h->state); }

void mx_hasher_free(mx_hasher *h) {
  if (h) {
    XXH3_freeState(h->state);
    free(h);
  }
}

mx_status mx_hash_file(const char *path, uint64_t *out, mx_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    return mx_fail(err, mx_status_from_errno(e), "%s: hashing: %s", path, strerror(e));
  }
  mx_hasher *h = mx_hasher_new();
  static const size_t chunk = 1 << 20;
  unsigned char *buf = h ? malloc(chunk) : NULL;
  mx_status rc = MX_OK;
  if (!buf) {
    rc = mx_fail(err, MX_ERR_NO_MEMORY, "%s: hashing: out of memory", path);
  } else {
    size_t n;
    while ((n = fread(buf, 1, chunk, f)) > 0)
      mx_hasher_update(h, buf, n);
    if (ferror(f))
      rc = mx_fail(err, MX_ERR_IO, "%s: hashing: read error", path);
    else
      *out = mx_hasher_digest(h);
  }
  free(buf);
  mx_hasher_free(h);
  fclose(f);
  return rc;
}
