/* manifest.h: manifest.json, the file written last that marks a complete
 * index. Read and written with jansson; see docs/FORMAT.md. */
#ifndef MX_STORAGE_MANIFEST_H
#define MX_STORAGE_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "metaidx.h"

#define MX_FORMAT_MAJOR 2 /* 2.0: index_id, manifest_xxh3, record version 2 */
#define MX_FORMAT_MINOR 1 /* 2.1: first_stage fields (2.0 reads as the leading vector) */

/* Bytes of an index's identity: random, made once per build, written into
 * the manifest ("index_id") and the store's meta (MX_META_INDEX_ID), so a
 * store from another index is refused. */
#define MX_INDEX_ID_BYTES 16

/* MX_MAX_BUDGETS and mx_id_kind come from metaidx.h. */

typedef struct mx_manifest {
  uint32_t format_major, format_minor;
  unsigned char index_id[MX_INDEX_ID_BYTES];
  uint32_t dim;
  uint32_t vectors_per_doc;       /* stored (after --keep) */
  uint32_t input_vectors_per_doc; /* as given to the builder */
  mx_dtype dtype;
  char metric[16]; /* "ip" */
  uint32_t n_budgets;
  mx_budget budgets[MX_MAX_BUDGETS];
  uint64_t n_docs;
  mx_id_kind id_kind;
  char coarse_factory[256];
  uint32_t coarse_nprobe;    /* default search parameter (0 = n/a) */
  uint32_t coarse_ef_search; /* default search parameter (0 = n/a) */
  uint64_t train_sample;     /* vectors the coarse index was trained on */
  uint64_t seed;
  uint64_t coarse_bytes;
  uint64_t coarse_xxh3;
  char created[32];          /* ISO 8601 UTC */
  char library_version[32];
  mx_first_stage first_stage;         /* what coarse.faiss holds (never AUTO) */
  uint32_t first_stage_vectors;       /* m: 1 for leading */
  uint32_t first_stage_query_vectors; /* cap on query vectors used; 0 = none */
  char first_stage_trial[256];        /* what the build measured, or "" */
} mx_manifest;

/* Zeroes m, then sets the current format version, dtype f16, metric "ip",
 * id kind row and this library's version; the builder fills the rest. */
void mx_manifest_init(mx_manifest *m);

/* Parses manifest JSON. MX_ERR_VERSION for a newer major version or an
 * older one this library no longer reads (saying to rebuild), MX_ERR_CORRUPT
 * when the text does not match its own checksum (manifest_xxh3),
 * MX_ERR_FORMAT naming a missing field, a wrong type or a bad value. */
mx_status mx_manifest_parse(const char *json, size_t len, mx_manifest *out, mx_error *err);
/* Reads <dir>/manifest.json (MX_ERR_NOT_FOUND if absent). */
mx_status mx_manifest_read(const char *dir, mx_manifest *out, mx_error *err);
/* Serialises to a malloc'd JSON string (free()). MX_ERR_INVALID_ARGUMENT,
 * naming the field, for a manifest that mx_manifest_parse would refuse
 * (every integer field must be at most 2^53 - 1; strings NUL-terminated). */
mx_status mx_manifest_format(const mx_manifest *m, char **out, mx_error *err);
/* Rewrites the 16 hex digits of the manifest_xxh3 field of a manifest text
 * (len bytes, in place) to the checksum of the text before that field, as
 * mx_manifest_format does (docs/FORMAT.md): for tools and tests that edit a
 * manifest on purpose. MX_ERR_FORMAT when the field is missing or not the
 * last one. */
mx_status mx_manifest_seal(char *text, size_t len, mx_error *err);

/* Writes <dir>/manifest.json atomically (temp, fsync, rename, fsync dir). */
mx_status mx_manifest_write(const char *dir, const mx_manifest *m, mx_error *err);

#endif
