/* npy.h: NumPy .npy files (format versions 1.0, 2.0, 3.0): header parsing,
 * memory-mapped reading, and writing. */
#ifndef MX_COMMON_NPY_H
#define MX_COMMON_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "metaidx.h"

#define MX_NPY_MAX_DIMS 8

typedef enum mx_npy_type {
  MX_NPY_F32 = 0, /* '<f4' */
  MX_NPY_F16 = 1, /* '<f2' */
  MX_NPY_U64 = 2, /* '<u8' */
  MX_NPY_I64 = 3, /* '<i8' */
  MX_NPY_I32 = 4, /* '<i4' */
  MX_NPY_U32 = 5  /* '<u4' */
} mx_npy_type;

size_t mx_npy_type_size(mx_npy_type t);
const char *mx_npy_type_descr(mx_npy_type t); /* "<f4", ... */

typedef struct mx_npy_header {
  mx_npy_type type;
  uint32_t ndim;
  uint64_t shape[MX_NPY_MAX_DIMS];
  uint64_t n_elements;  /* product of shape (1 for a 0-d array) */
  size_t data_offset;   /* bytes from file start to the data */
} mx_npy_header;

/* Parses the header at the start of buf (len bytes available). Errors are
 * MX_ERR_FORMAT (bad magic, unsupported version, malformed dictionary, a
 * header length past len, a shape whose element or byte count overflows) or
 * MX_ERR_UNSUPPORTED (Fortran order, big-endian or other dtypes, structured
 * dtypes, more than MX_NPY_MAX_DIMS dimensions), with a message naming what
 * was found. Accepts any rank 0..8: checking the rank is the caller's job.
 * The dtype's byte-order character may be '<', '|', '=' or absent (all mean
 * little-endian here); '>' and '!' are refused. Never reads past len, does
 * not recurse, does not allocate: safe on any bytes. */
mx_status mx_npy_parse_header(const void *buf, size_t len, mx_npy_header *out, mx_error *err);

/* A memory-mapped .npy file. */
typedef struct mx_npy {
  mx_npy_header h;
  const void *data;  /* h.n_elements elements, C order */
  size_t data_bytes;
  void *map;
  size_t map_len;
} mx_npy;

/* Opens and maps path (read-only, private); checks that the file holds
 * exactly the data the header declares (a truncated file or one with
 * trailing bytes is MX_ERR_FORMAT naming the path and both sizes). A data
 * offset that is not a multiple of the element size (never written by
 * NumPy) is MX_ERR_UNSUPPORTED, so `data` is always aligned for its type.
 * Empty arrays open fine (data_bytes 0, data points at the end of the
 * header). Messages name the path. On failure *out is zeroed. If the file
 * shrinks while mapped, see mx_npy_check_intact. */
mx_status mx_npy_open(const char *path, mx_npy *out, mx_error *err);
void mx_npy_close(mx_npy *f); /* zeroed or NULL: no-op */
/* If the file shrank while mapped, reads past its new end gave zeros
 * instead of SIGBUS (mx_map_file): MX_ERR_IO naming path. Readers call it
 * after reading and before trusting what they read. */
mx_status mx_npy_check_intact(const mx_npy *f, const char *path, mx_error *err);

/* Streaming writer: header first (version 1.0, or 2.0 if it must; padded
 * with spaces and a newline so that the data starts at a multiple of 64
 * bytes), then rows appended in order, buffered. A write past the declared
 * size is MX_ERR_INVALID_ARGUMENT. Close checks that exactly the declared
 * number of bytes was written (else MX_ERR_STATE), fsyncs the file and its
 * directory, and frees the writer whatever happens; on any failure the file
 * is removed. close(NULL) is MX_OK, abort(NULL) a no-op. */
typedef struct mx_npy_writer mx_npy_writer;
mx_status mx_npy_writer_open(const char *path, mx_npy_type type, uint32_t ndim,
                             const uint64_t *shape, mx_npy_writer **out, mx_error *err);
mx_status mx_npy_writer_write(mx_npy_writer *w, const void *data, size_t bytes, mx_error *err);
mx_status mx_npy_writer_close(mx_npy_writer *w, mx_error *err);
void mx_npy_writer_abort(mx_npy_writer *w); /* closes and removes the file */

/* Whole-array convenience over the writer. */
mx_status mx_npy_write(const char *path, mx_npy_type type, uint32_t ndim, const uint64_t *shape,
                       const void *data, mx_error *err);

#endif
