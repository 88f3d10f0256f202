/* idsfile.h: external document ids from a text file, one id per line
 * (UTF-8 or any bytes but NUL, CR and LF; 1..511 bytes; a final newline is
 * optional; "\r\n" line ends are accepted). */
#ifndef MX_COMMON_IDSFILE_H
#define MX_COMMON_IDSFILE_H

#include <stddef.h>
#include <stdint.h>

#include "metaidx.h"

typedef struct mx_ids_text {
  size_t count;
  const char **ids;   /* count NUL-terminated strings */
  size_t *lengths;    /* their lengths */
  char *storage;      /* owns the bytes */
} mx_ids_text;

/* Parses buf; errors (MX_ERR_BAD_INPUT) name the 1-based line: empty line,
 * id longer than 511 bytes, NUL byte, CR other than before LF. `origin`
 * names the source in messages. An empty buffer gives count 0 (no error).
 * Duplicate ids are not checked here. On failure *out is zeroed. */
mx_status mx_ids_text_parse(const char *buf, size_t len, const char *origin, mx_ids_text *out,
                            mx_error *err);
mx_status mx_ids_text_read(const char *path, mx_ids_text *out, mx_error *err);
void mx_ids_text_free(mx_ids_text *ids); /* zeroed or NULL: no-op */

#endif
