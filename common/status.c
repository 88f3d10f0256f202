/* status.c: status names and messages (from MX_STATUS_LIST) and mx_error helpers. */
#include "status.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char *mx_version(void) { return MX_VERSION_STRING; }

const char *mx_status_str(mx_status status) {
  switch (status) {
#define MX_STATUS_MSG_(name, value, message) \
  case name:                                 \
    return message;
    MX_STATUS_LIST(MX_STATUS_MSG_)
#undef MX_STATUS_MSG_
  }
  return "unknown status";
}

const char *mx_status_name(mx_status status) {
  switch (status) {
#define MX_STATUS_NAME_(name, value, message) \
  case name:                                  \
    return #name;
    MX_STATUS_LIST(MX_STATUS_NAME_)
#undef MX_STATUS_NAME_
  }
  return "MX_ERR_UNKNOWN";
}

void mx_error_clear(mx_error *err) {
  if (err) {
    err->status = MX_OK;
    err->message[0] = '\0';
  }
}

mx_status mx_failv(mx_error *err, mx_status status, const char *fmt, va_list ap) {
  if (err) {
    err->status = status;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
  }
  return status;
}

mx_status mx_fail(mx_error *err, mx_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mx_failv(err, status, fmt, ap);
  va_end(ap);
  return status;
}

/* Copies src into err->message, truncating to fit. */
static void set_message(mx_error *err, const char *src) {
  size_t n = strlen(src);
  if (n >= sizeof err->message)
    n = sizeof err->message - 1;
  memcpy(err->message, src, n);
  err->message[n] = '\0';
}

/* "prefix: " before err's message (or before status's text when err holds
 * no failure yet); err->status becomes status unless keep and it holds one. */
static mx_status prepend(mx_error *err, mx_status status, int keep, const char *fmt,
                         va_list ap) {
  char prefix[MX_ERROR_MESSAGE_MAX];
  char joined[2 * MX_ERROR_MESSAGE_MAX + 2];
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  if (err->status == MX_OK)
    snprintf(joined, sizeof joined, "%s: %s", prefix, mx_status_str(status));
  else
    snprintf(joined, sizeof joined, "%s: %s", prefix, err->message);
  if (err->status == MX_OK || !keep)
    err->status = status;
  set_message(err, joined);
  return err->status;
}

mx_status mx_fail_context(mx_error *err, mx_status status, const char *fmt, ...) {
  if (!err)
    return status;
  va_list ap;
  va_start(ap, fmt);
  mx_status s = prepend(err, status, 1, fmt, ap);
  va_end(ap);
  return s;
}

mx_status mx_fail_as(mx_error *err, mx_status status, const char *fmt, ...) {
  if (!err)
    return status;
  va_list ap;
  va_start(ap, fmt);
  mx_status s = prepend(err, status, 0, fmt, ap);
  va_end(ap);
  return s;
}

mx_status mx_status_from_errno(int errnum) {
  switch (errnum) {
  case 0:
    return MX_OK;
  case ENOSPC:
  case EDQUOT:
  case EFBIG:
    return MX_ERR_DISK_FULL;
  case ENOMEM:
    return MX_ERR_NO_MEMORY;
  case ENOENT:
  case ENOTDIR:
    return MX_ERR_NOT_FOUND;
  case EEXIST:
  case ENOTEMPTY:
    return MX_ERR_EXISTS;
  case EINVAL:
    return MX_ERR_INVALID_ARGUMENT;
  case EBUSY:
  case EAGAIN:
    return MX_ERR_BUSY;
  default:
    return MX_ERR_IO;
  }
}

const char *mx_dtype_name(mx_dtype dtype) {
  switch (dtype) {
  case MX_DTYPE_F32:
    return "f32";
  case MX_DTYPE_F16:
    return "f16";
  case MX_DTYPE_BF16:
    return "bf16";
  case MX_DTYPE_INT8:
    return "int8";
  }
  return NULL;
}

mx_status mx_dtype_parse(const char *name, mx_dtype *out, mx_error *err) {
  static const mx_dtype all[] = {MX_DTYPE_F32, MX_DTYPE_F16, MX_DTYPE_BF16, MX_DTYPE_INT8};
  if (!name || !out)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_dtype_parse: NULL argument");
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    if (strcmp(name, mx_dtype_name(all[i])) == 0) {
      *out = all[i];
      return MX_OK;
    }
  }
  return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                 "unknown dtype '%s' (expected f32, f16, bf16 or int8)", name);
}

const char *mx_first_stage_name(mx_first_stage kind) {
  switch (kind) {
  case MX_FIRST_STAGE_LEADING:
    return "leading";
  case MX_FIRST_STAGE_POOLED:
    return "pooled";
  case MX_FIRST_STAGE_MULTI:
    return "multi";
  case MX_FIRST_STAGE_AUTO:
    return "auto";
  }
  return NULL;
}

mx_status mx_first_stage_parse(const char *name, mx_first_stage *out, mx_error *err) {
  static const mx_first_stage all[] = {MX_FIRST_STAGE_LEADING, MX_FIRST_STAGE_POOLED,
                                       MX_FIRST_STAGE_MULTI, MX_FIRST_STAGE_AUTO};
  if (!name || !out)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_first_stage_parse: NULL argument");
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    if (strcmp(name, mx_first_stage_name(all[i])) == 0) {
      *out = all[i];
      return MX_OK;
    }
  }
  return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                 "unknown first stage '%s' (expected auto, leading, pooled or multi)", name);
}
