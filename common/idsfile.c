/* idsfile.c: a text file of external document ids, one per line, parsed
 * strictly (errors name the line) into one allocation. */
#include "idsfile.h"

#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "status.h"

#define MX_IDS_MAX_LEN 511

/* One pass over buf: validates every line; counts ids and their bytes. */
static mx_status scan(const char *buf, size_t len, const char *origin, size_t *count,
                      size_t *bytes, mx_error *err) {
  size_t n = 0, total = 0, line = 1, pos = 0;
  while (pos < len) {
    const char *start = buf + pos;
    const char *nl = memchr(start, '\n', len - pos);
    size_t line_len = nl ? (size_t)(nl - start) : len - pos;
    size_t id_len = line_len;
    if (id_len > 0 && start[id_len - 1] == '\r')
      id_len--;
    if (id_len == 0)
      return mx_fail(err, MX_ERR_BAD_INPUT, "%s: line %zu: empty id", origin, line);
    if (id_len > MX_IDS_MAX_LEN)
      return mx_fail(err, MX_ERR_BAD_INPUT, "%s: line %zu: id is %zu bytes, longer than %d",
                     origin, line, id_len, MX_IDS_MAX_LEN);
    const char *nul = memchr(start, '\0', id_len);
    if (nul)
      return mx_fail(err, MX_ERR_BAD_INPUT, "%s: line %zu: NUL byte at column %zu", origin, line,
                     (size_t)(nul - start) + 1);
    const char *cr = memchr(start, '\r', id_len);
    if (cr)
      return mx_fail(err, MX_ERR_BAD_INPUT,
                     "%s: line %zu: carriage return inside the id at column %zu", origin, line,
                     (size_t)(cr - start) + 1);
    n++;
    total += id_len;
    line++;
    pos += line_len + (nl ? 1 : 0);
  }
  *count = n;
  *bytes = total;
  return MX_OK;
}

mx_status mx_ids_text_parse(const char *buf, size_t len, const char *origin, mx_ids_text *out,
                            mx_error *err) {
  if (!out || (!buf && len > 0))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_ids_text_parse: NULL argument");
  memset(out, 0, sizeof *out);
  if (!origin)
    origin = "ids";
  size_t count = 0, bytes = 0;
  MX_TRY(scan(buf, len, origin, &count, &bytes, err));
  if (count == 0)
    return MX_OK;
  char *storage = malloc(bytes + count);
  const char **ids = malloc(count * sizeof *ids);
  size_t *lengths = malloc(count * sizeof *lengths);
  if (!storage || !ids || !lengths) {
    free(storage);
    free(ids);
    free(lengths);
    return mx_fail(err, MX_ERR_NO_MEMORY, "%s: out of memory for %zu ids", origin, count);
  }
  size_t pos = 0, used = 0;
  for (size_t i = 0; i < count; i++) {
    const char *start = buf + pos;
    const char *nl = memchr(start, '\n', len - pos);
    size_t line_len = nl ? (size_t)(nl - start) : len - pos;
    size_t id_len = line_len;
    if (start[id_len - 1] == '\r')
      id_len--;
    memcpy(storage + used, start, id_len);
    storage[used + id_len] = '\0';
    ids[i] = storage + used;
    lengths[i] = id_len;
    used += id_len + 1;
    pos += line_len + 1;
  }
  out->count = count;
  out->ids = ids;
  out->lengths = lengths;
  out->storage = storage;
  return MX_OK;
}

mx_status mx_ids_text_read(const char *path, mx_ids_text *out, mx_error *err) {
  if (!path || !out)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_ids_text_read: NULL argument");
  memset(out, 0, sizeof *out);
  void *map;
  size_t size;
  MX_TRY(mx_map_file(path, &map, &size, err));
  mx_status s = mx_ids_text_parse(map, size, path, out, err);
  if (s == MX_OK && (s = mx_map_check_intact(map, size, path, err)) != MX_OK)
    mx_ids_text_free(out);
  mx_unmap_file(map, size);
  return s;
}

void mx_ids_text_free(mx_ids_text *ids) {
  if (!ids)
    return;
  free(ids->storage);
  free(ids->ids);
  free(ids->lengths);
  memset(ids, 0, sizeof *ids);
}
