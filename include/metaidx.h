/* metaidx.h: the public API of metaidx, a disk-resident index engine for
 * multi-vector (MetaEmbed-style, nested "Matryoshka") collections.
 *
 * This header is the API reference. Anything not declared here is internal.
 *
 * Conventions
 * - Every function that can fail returns an mx_status; MX_OK (0) is success.
 *   A failing call also fills the caller's optional mx_error (may be NULL)
 *   with a message naming the file, row, key or parameter at fault.
 * - Handles are opaque and typed. Every *_close / *_abort accepts NULL.
 * - Options structs are initialised by their *_init function, which sets the
 *   defaults; new fields are only ever appended, so callers that init first
 *   keep working.
 * - Results go into arrays the caller allocates. Nothing returned points into
 *   the library's memory maps.
 * - No global state: any number of indexes may be open at once, and one open
 *   mx_index may be searched from any number of threads at the same time.
 */
#ifndef METAIDX_H
#define METAIDX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MX_VERSION_MAJOR 0
#define MX_VERSION_MINOR 1
#define MX_VERSION_PATCH 0
#define MX_VERSION_STRING "0.1.0"

/* The library's version string, e.g. "0.1.0" (may differ from the header's
 * MX_VERSION_STRING when linked against another build). */
const char *mx_version(void);

/* ---------------------------------------------------------------- status */

/* X(name, value, message). Values are stable: never renumbered, only added. */
#define MX_STATUS_LIST(X)                                                     \
  X(MX_OK, 0, "success")                                                      \
  X(MX_ERR_INVALID_ARGUMENT, 1, "invalid argument")                          \
  X(MX_ERR_IO, 2, "input/output error")                                      \
  X(MX_ERR_NO_MEMORY, 3, "out of memory")                                    \
  X(MX_ERR_NOT_FOUND, 4, "not found")                                        \
  X(MX_ERR_EXISTS, 5, "already exists")                                      \
  X(MX_ERR_FORMAT, 6, "not a metaidx file or malformed")                     \
  X(MX_ERR_VERSION, 7, "format version is newer than this library supports") \
  X(MX_ERR_CORRUPT, 8, "data corrupted (checksum mismatch)")                 \
  X(MX_ERR_BAD_INPUT, 9, "invalid input data")                               \
  X(MX_ERR_DISK_FULL, 10, "no space left on device")                         \
  X(MX_ERR_MAP_FULL, 11, "storage map full")                                 \
  X(MX_ERR_STORAGE, 12, "storage engine error")                              \
  X(MX_ERR_COARSE, 13, "coarse index error")                                 \
  X(MX_ERR_UNSUPPORTED, 14, "unsupported")                                   \
  X(MX_ERR_BUSY, 15, "resource busy")                                        \
  X(MX_ERR_STATE, 16, "call not valid in the handle's current state")        \
  X(MX_ERR_INTERNAL, 17, "internal error")

typedef enum mx_status {
#define MX_STATUS_ENUM_(name, value, message) name = value,
  MX_STATUS_LIST(MX_STATUS_ENUM_)
#undef MX_STATUS_ENUM_
} mx_status;

/* Short generic message for a status ("checksum mismatch", ...); never NULL. */
const char *mx_status_str(mx_status status);
/* The enum constant's name ("MX_ERR_CORRUPT"); never NULL. */
const char *mx_status_name(mx_status status);

#define MX_ERROR_MESSAGE_MAX 512

/* Filled by a failing call: status plus a specific, human-readable message. */
typedef struct mx_error {
  mx_status status;
  char message[MX_ERROR_MESSAGE_MAX];
} mx_error;

/* ---------------------------------------------------------------- dtypes */

/* Stored (and input) element types. Values are stored on disk: stable. */
typedef enum mx_dtype {
  MX_DTYPE_F32 = 0,
  MX_DTYPE_F16 = 1,
  MX_DTYPE_BF16 = 2,
  MX_DTYPE_INT8 = 3 /* symmetric, one float32 scale per vector */
} mx_dtype;

/* "f32", "f16", "bf16", "int8"; NULL for an unknown value. */
const char *mx_dtype_name(mx_dtype dtype);
/* Parses a name as printed by mx_dtype_name. */
mx_status mx_dtype_parse(const char *name, mx_dtype *out, mx_error *err);

/* The SIMD path the kernels run on this machine: "avx2" or "scalar"
 * (forced by the environment variable MX_SIMD=scalar). */
const char *mx_simd_path(void);

/* A scoring budget: the first r_q query vectors against the first r_c
 * document vectors. */
typedef struct mx_budget {
  uint32_t r_q;
  uint32_t r_c;
} mx_budget;

#ifdef __cplusplus
}
#endif
#endif /* METAIDX_H */
