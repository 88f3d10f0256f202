/* hash.h: the one checksum metaidx stores on disk: XXH3-64, serialised
 * little-endian wherever it is written. */
#ifndef MX_COMMON_HASH_H
#define MX_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "metaidx.h"

uint64_t mx_hash64(const void *data, size_t len);

/* Streaming form, for files too large to hash in one buffer. */
typedef struct mx_hasher mx_hasher;
mx_hasher *mx_hasher_new(void);
void mx_hasher_update(mx_hasher *h, const void *data, size_t len);
uint64_t mx_hasher_digest(const mx_hasher *h);
void mx_hasher_free(mx_hasher *h);

/* Hashes a whole file. MX_OK, or the failure (a status from its errno:
 * MX_ERR_NOT_FOUND for a missing file, MX_ERR_IO, ...) with a message
 * naming the path in err. */
mx_status mx_hash_file(const char *path, uint64_t *out, mx_error *err);

/* Little-endian and big-endian byte-order helpers for on-disk integers. */
static inline void mx_put_le64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint64_t mx_get_le64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}
static inline void mx_put_le32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint32_t mx_get_le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void mx_put_le16(unsigned char *p, uint16_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
}
static inline uint16_t mx_get_le16(const unsigned char *p) {
  return (uint16_t)(p[0] | p[1] << 8);
}
static inline void mx_put_be64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (56 - 8 * i));
}
static inline uint64_t mx_get_be64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

#endif
