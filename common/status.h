/* status.h: helpers for filling mx_error and forwarding failures. */
#ifndef MX_COMMON_STATUS_H
#define MX_COMMON_STATUS_H

#include <stdarg.h>

#include "metaidx.h"

/* Fills err (if not NULL) with status and a printf-formatted message;
 * returns status, so error paths stay one line:
 *   return mx_fail(err, MX_ERR_FORMAT, "%s: bad magic", path); */
mx_status mx_fail(mx_error *err, mx_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
mx_status mx_failv(mx_error *err, mx_status status, const char *fmt, va_list ap);

/* Prepends "context: " to the message already in err (if any); returns
 * err->status (or `status` when err is NULL). For adding a file name or a
 * row to an error raised deeper down. */
mx_status mx_fail_context(mx_error *err, mx_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* As mx_fail_context, but the failure becomes `status` whatever err held,
 * keeping its message: for a deeper error that means something else here
 * (a store's NOT_FOUND for a document the coarse index named is
 * corruption). Returns status. */
mx_status mx_fail_as(mx_error *err, mx_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears err to MX_OK with an empty message. */
void mx_error_clear(mx_error *err);

/* Maps an errno value to the closest status (ENOSPC -> MX_ERR_DISK_FULL,
 * ENOMEM -> MX_ERR_NO_MEMORY, ENOENT -> MX_ERR_NOT_FOUND, ...). */
mx_status mx_status_from_errno(int errnum);

/* Evaluates expr (an mx_status expression) and returns it on failure. */
#define MX_TRY(expr)                  \
  do {                                \
    mx_status mx_try_s_ = (expr);     \
    if (mx_try_s_ != MX_OK)           \
      return mx_try_s_;               \
  } while (0)

#endif
