/* hash.c: XXH3-64 wrappers over libxxhash. */
#include "hash.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

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

int mx_hash_file(const char *path, uint64_t *out) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return errno;
  mx_hasher *h = mx_hasher_new();
  if (!h) {
    fclose(f);
    return ENOMEM;
  }
  static const size_t chunk = 1 << 20;
  unsigned char *buf = malloc(chunk);
  int rc = buf ? 0 : ENOMEM;
  size_t n;
  while (rc == 0 && (n = fread(buf, 1, chunk, f)) > 0)
    mx_hasher_update(h, buf, n);
  if (rc == 0 && ferror(f))
    rc = EIO;
  if (rc == 0)
    *out = mx_hasher_digest(h);
  free(buf);
  mx_hasher_free(h);
  fclose(f);
  return rc;
}
