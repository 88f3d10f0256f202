/* npy.c: NumPy .npy files: a strict, bounded parser of the header (magic,
 * version, Python dict literal), memory-mapped reading, streaming writing.
 * The parser reads outside bytes: it never reads past len, never recurses,
 * and checks every multiplication for overflow. */
#include "npy.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "status.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "metaidx assumes a little-endian host"
#endif

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

size_t mx_npy_type_size(mx_npy_type t) {
  switch (t) {
  case MX_NPY_F32:
  case MX_NPY_I32:
  case MX_NPY_U32:
    return 4;
  case MX_NPY_F16:
    return 2;
  case MX_NPY_U64:
  case MX_NPY_I64:
    return 8;
  }
  return 0;
}

const char *mx_npy_type_descr(mx_npy_type t) {
  switch (t) {
  case MX_NPY_F32:
    return "<f4";
  case MX_NPY_F16:
    return "<f2";
  case MX_NPY_U64:
    return "<u8";
  case MX_NPY_I64:
    return "<i8";
  case MX_NPY_I32:
    return "<i4";
  case MX_NPY_U32:
    return "<u4";
  }
  return NULL;
}

/* ------------------------------------------------------------ dict parser */

typedef struct cursor {
  const char *p;
  const char *end;
} cursor;

static void skip_ws(cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
    c->p++;
}

static int peek(const cursor *c) { return c->p < c->end ? (unsigned char)*c->p : -1; }

static int accept(cursor *c, char ch) {
  skip_ws(c);
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return 1;
  }
  return 0;
}

/* A quoted string without escapes (what NumPy writes for keys and simple
 * descrs). Sets s and n to its contents. */
static int parse_string(cursor *c, const char **s, size_t *n) {
  skip_ws(c);
  int q = peek(c);
  if (q != '\'' && q != '"')
    return 0;
  const char *start = ++c->p;
  while (c->p < c->end && *c->p != (char)q) {
    if (*c->p == '\\' || *c->p == '\n')
      return 0;
    c->p++;
  }
  if (c->p >= c->end)
    return 0;
  *s = start;
  *n = (size_t)(c->p - start);
  c->p++;
  return 1;
}

static int parse_word(cursor *c, const char *word) {
  skip_ws(c);
  size_t n = strlen(word);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
    return 0;
  /* the word must end here (no "Falsehood") */
  if ((size_t)(c->end - c->p) > n) {
    char next = c->p[n];
    if ((next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z') ||
        (next >= '0' && next <= '9') || next == '_')
      return 0;
  }
  c->p += n;
  return 1;
}

/* Decimal non-negative integer (Python literal: no leading zeros except
 * "0"; an 'L' suffix as written by Python 2 NumPy is accepted). */
static mx_status parse_uint(cursor *c, uint64_t *out, mx_error *err) {
  skip_ws(c);
  if (peek(c) < '0' || peek(c) > '9')
    return mx_fail(err, MX_ERR_FORMAT, ".npy header: shape entry is not a non-negative integer");
  if (*c->p == '0' && c->end - c->p > 1 && c->p[1] >= '0' && c->p[1] <= '9')
    return mx_fail(err, MX_ERR_FORMAT, ".npy header: shape entry has a leading zero");
  uint64_t v = 0;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
    uint64_t digit = (uint64_t)(*c->p - '0');
    if (v > (UINT64_MAX - digit) / 10)
      return mx_fail(err, MX_ERR_FORMAT, ".npy header: shape entry overflows 64 bits");
    v = v * 10 + digit;
    c->p++;
  }
  if (c->p < c->end && *c->p == 'L')
    c->p++;
  *out = v;
  return MX_OK;
}

/* "(" [int ("," int)* [","]] ")"; a single entry needs its comma, as in
 * Python, where "(3)" is not a tuple. Accepts up to MX_NPY_MAX_DIMS. */
static mx_status parse_shape(cursor *c, mx_npy_header *h, mx_error *err) {
  if (!accept(c, '('))
    return mx_fail(err, MX_ERR_FORMAT, ".npy header: 'shape' is not a tuple");
  h->ndim = 0;
  if (accept(c, ')'))
    return MX_OK;
  for (;;) {
    uint64_t v = 0;
    MX_TRY(parse_uint(c, &v, err));
    if (h->ndim >= MX_NPY_MAX_DIMS)
      return mx_fail(err, MX_ERR_UNSUPPORTED, ".npy header: more than %d dimensions",
                     MX_NPY_MAX_DIMS);
    h->shape[h->ndim++] = v;
    int comma = accept(c, ',');
    if (accept(c, ')')) {
      if (h->ndim == 1 && !comma)
        return mx_fail(err, MX_ERR_FORMAT, ".npy header: 'shape' (n) lacks the comma of a tuple");
      return MX_OK;
    }
    if (!comma)
      return mx_fail(err, MX_ERR_FORMAT, ".npy header: expected ',' or ')' in 'shape'");
  }
}

typedef struct descr_entry {
  const char *code; /* without byte-order character */
  mx_npy_type type;
} descr_entry;

static const descr_entry descr_table[] = {
    {"f4", MX_NPY_F32}, {"f2", MX_NPY_F16}, {"u8", MX_NPY_U64},
    {"i8", MX_NPY_I64}, {"i4", MX_NPY_I32}, {"u4", MX_NPY_U32},
};

/* Maps a descr string to a type. '<' (little), '|' (not applicable), '='
 * (native) and no byte-order character are accepted on this little-endian
 * host; '>' and '!' are big-endian. */
static mx_status descr_to_type(const char *s, size_t n, mx_npy_type *out, mx_error *err) {
  int shown = n > 32 ? 32 : (int)n;
  const char *code = s;
  size_t code_n = n;
  if (n > 0 && (s[0] == '<' || s[0] == '|' || s[0] == '=' || s[0] == '>' || s[0] == '!')) {
    code++;
    code_n--;
  }
  for (size_t i = 0; i < sizeof descr_table / sizeof descr_table[0]; i++) {
    if (code_n == 2 && memcmp(code, descr_table[i].code, 2) == 0) {
      if (s[0] == '>' || s[0] == '!')
        return mx_fail(err, MX_ERR_UNSUPPORTED,
                       ".npy dtype '%.*s' is big-endian (only little-endian data is supported)",
                       shown, s);
      *out = descr_table[i].type;
      return MX_OK;
    }
  }
  return mx_fail(err, MX_ERR_UNSUPPORTED,
                 ".npy dtype '%.*s' is not supported (expected <f4, <f2, <u8, <i8, <i4 or <u4)",
                 shown, s);
}

enum { KEY_DESCR = 1, KEY_FORTRAN = 2, KEY_SHAPE = 4 };

static mx_status parse_dict(const char *text, size_t len, mx_npy_header *h, mx_error *err) {
  cursor c = {text, text + len};
  const char *descr = NULL;
  size_t descr_n = 0;
  int structured = 0, fortran = 0;
  unsigned seen = 0;
  if (!accept(&c, '{'))
    return mx_fail(err, MX_ERR_FORMAT, ".npy header: dictionary does not start with '{'");
  for (;;) {
    if (accept(&c, '}'))
      break;
    const char *key;
    size_t key_n;
    if (!parse_string(&c, &key, &key_n))
      return mx_fail(err, MX_ERR_FORMAT, ".npy header: expected a quoted key or '}'");
    unsigned which = 0;
    if (key_n == 5 && memcmp(key, "descr", 5) == 0)
      which = KEY_DESCR;
    else if (key_n == 13 && memcmp(key, "fortran_order", 13) == 0)
      which = KEY_FORTRAN;
    else if (key_n == 5 && memcmp(key, "shape", 5) == 0)
      which = KEY_SHAPE;
    else
      return mx_fail(err, MX_ERR_FORMAT, ".npy header: unexpected key '%.*s'",
                     key_n > 32 ? 32 : (int)key_n, key);
    if (seen & which)
      return mx_fail(err, MX_ERR_FORMAT, ".npy header: key '%.*s' appears twice", (int)key_n,
                     key);
    seen |= which;
    if (!accept(&c, ':'))
      return mx_fail(err, MX_ERR_FORMAT, ".npy header: expected ':' after key '%.*s'",
                     (int)key_n, key);
    if (which == KEY_DESCR) {
      skip_ws(&c);
      if (peek(&c) == '[') {
        /* a structured dtype: a list of fields; refused below, but the rest
         * of the dictionary is not worth parsing */
        structured = 1;
        break;
      }
      if (!parse_string(&c, &descr, &descr_n))
        return mx_fail(err, MX_ERR_FORMAT, ".npy header: 'descr' is not a string");
    } else if (which == KEY_FORTRAN) {
      if (parse_word(&c, "True"))
        fortran = 1;
      else if (parse_word(&c, "False"))
        fortran = 0;
      else
        return mx_fail(err, MX_ERR_FORMAT, ".npy header: 'fortran_order' is not True or False");
    } else {
      MX_TRY(parse_shape(&c, h, err));
    }
    if (accept(&c, ','))
      continue;
    if (accept(&c, '}'))
      break;
    return mx_fail(err, MX_ERR_FORMAT, ".npy header: expected ',' or '}' in the dictionary");
  }
  if (structured)
    return mx_fail(err, MX_ERR_UNSUPPORTED, ".npy dtype is a structured (record) dtype");
  /* after the dictionary: only padding (spaces, newline) */
  skip_ws(&c);
  if (c.p != c.end)
    return mx_fail(err, MX_ERR_FORMAT, ".npy header: unexpected bytes after the dictionary");
  if (seen != (KEY_DESCR | KEY_FORTRAN | KEY_SHAPE))
    return mx_fail(err, MX_ERR_FORMAT, ".npy header: missing key '%s'",
                   !(seen & KEY_DESCR) ? "descr" : !(seen & KEY_FORTRAN) ? "fortran_order" : "shape");
  MX_TRY(descr_to_type(descr, descr_n, &h->type, err));
  if (fortran)
    return mx_fail(err, MX_ERR_UNSUPPORTED,
                   ".npy array is in Fortran order (only C order is supported)");
  uint64_t n = 1;
  for (uint32_t i = 0; i < h->ndim; i++) {
    if (h->shape[i] != 0 && n > UINT64_MAX / h->shape[i])
      return mx_fail(err, MX_ERR_FORMAT, ".npy header: the shape's element count overflows");
    n *= h->shape[i];
  }
  uint64_t esize = mx_npy_type_size(h->type);
  if (n > (uint64_t)SIZE_MAX / esize || n * esize > (uint64_t)INT64_MAX)
    return mx_fail(err, MX_ERR_FORMAT, ".npy header: the shape's byte count overflows");
  h->n_elements = n;
  return MX_OK;
}

mx_status mx_npy_parse_header(const void *buf, size_t len, mx_npy_header *out, mx_error *err) {
  if (!out || (!buf && len > 0))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_npy_parse_header: NULL argument");
  const unsigned char *b = buf;
  size_t m = len < sizeof npy_magic ? len : sizeof npy_magic;
  if (m > 0 && memcmp(b, npy_magic, m) != 0)
    return mx_fail(err, MX_ERR_FORMAT, "not a .npy file (bad magic)");
  if (len < 10)
    return mx_fail(err, MX_ERR_FORMAT, ".npy header truncated: %zu bytes", len);
  unsigned major = b[6], minor = b[7];
  uint64_t hlen, start;
  if (major == 1 && minor == 0) {
    hlen = (uint64_t)b[8] | (uint64_t)b[9] << 8;
    start = 10;
  } else if ((major == 2 || major == 3) && minor == 0) {
    if (len < 12)
      return mx_fail(err, MX_ERR_FORMAT, ".npy header truncated: %zu bytes", len);
    hlen = (uint64_t)b[8] | (uint64_t)b[9] << 8 | (uint64_t)b[10] << 16 | (uint64_t)b[11] << 24;
    start = 12;
  } else {
    return mx_fail(err, MX_ERR_FORMAT,
                   "unsupported .npy format version %u.%u (supported: 1.0, 2.0, 3.0)", major,
                   minor);
  }
  if (hlen > (uint64_t)len - start)
    return mx_fail(err, MX_ERR_FORMAT,
                   ".npy header length %" PRIu64 " goes past the end (%zu bytes available)", hlen,
                   len);
  mx_npy_header h;
  memset(&h, 0, sizeof h);
  MX_TRY(parse_dict((const char *)b + start, (size_t)hlen, &h, err));
  h.data_offset = (size_t)(start + hlen);
  *out = h;
  return MX_OK;
}

/* ------------------------------------------------------------ reading */

static void format_shape(const mx_npy_header *h, char *buf, size_t size) {
  size_t used = 0;
  int n = snprintf(buf, size, "(");
  used = n > 0 ? (size_t)n : 0;
  for (uint32_t i = 0; i < h->ndim && used < size; i++) {
    n = snprintf(buf + used, size - used, "%s%" PRIu64, i ? ", " : "", h->shape[i]);
    used += n > 0 ? (size_t)n : 0;
  }
  if (used < size)
    snprintf(buf + used, size - used, h->ndim == 1 ? ",)" : ")");
}

mx_status mx_npy_open(const char *path, mx_npy *out, mx_error *err) {
  if (!path || !out)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_npy_open: NULL argument");
  memset(out, 0, sizeof *out);
  void *map;
  size_t size;
  MX_TRY(mx_map_file(path, &map, &size, err));
  if (size == 0)
    return mx_fail(err, MX_ERR_FORMAT, "'%s': empty file, not a .npy file", path);
  mx_npy_header h;
  mx_status s = mx_npy_parse_header(map, size, &h, err);
  if (s != MX_OK) {
    mx_unmap_file(map, size);
    return mx_fail_context(err, s, "'%s'", path);
  }
  size_t esize = mx_npy_type_size(h.type);
  uint64_t data_bytes = h.n_elements * esize; /* no overflow: checked by the parser */
  uint64_t expected = (uint64_t)h.data_offset + data_bytes;
  if (expected < data_bytes || expected != (uint64_t)size) {
    char shape[256];
    format_shape(&h, shape, sizeof shape);
    mx_unmap_file(map, size);
    return mx_fail(err, MX_ERR_FORMAT,
                   "'%s': %s: header declares %s %s = %" PRIu64 " bytes of data after %zu header "
                   "bytes, so %" PRIu64 " bytes expected, but the file has %zu bytes",
                   path, (uint64_t)size < expected ? "truncated" : "trailing bytes",
                   mx_npy_type_descr(h.type), shape, data_bytes, h.data_offset, expected, size);
  }
  if (h.data_offset % esize != 0) {
    mx_unmap_file(map, size);
    return mx_fail(err, MX_ERR_UNSUPPORTED,
                   "'%s': data offset %zu is not a multiple of the element size %zu (NumPy "
                   "always aligns it; this file was written by something else)",
                   path, h.data_offset, esize);
  }
  out->h = h;
  out->map = map;
  out->map_len = size;
  out->data = (const unsigned char *)map + h.data_offset;
  out->data_bytes = (size_t)data_bytes;
  return MX_OK;
}

void mx_npy_close(mx_npy *f) {
  if (!f)
    return;
  mx_unmap_file(f->map, f->map_len);
  memset(f, 0, sizeof *f);
}

mx_status mx_npy_check_intact(const mx_npy *f, const char *path, mx_error *err) {
  return f && f->map ? mx_map_check_intact(f->map, f->map_len, path, err) : MX_OK;
}

/* ------------------------------------------------------------ writing */

#define NPY_WRITE_BUF (256u << 10)

struct mx_npy_writer {
  int fd;
  char *path;
  uint64_t expected; /* data bytes declared by the shape */
  uint64_t written;  /* data bytes accepted so far */
  mx_status failed;  /* first write error: close then fails too */
  size_t buf_used;
  unsigned char buf[NPY_WRITE_BUF];
};

static mx_status write_all(int fd, const void *data, size_t len, const char *path,
                           mx_error *err) {
  const unsigned char *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      int e = errno;
      return mx_fail(err, mx_status_from_errno(e), "cannot write '%s': %s", path, strerror(e));
    }
    p += n;
    len -= (size_t)n;
  }
  return MX_OK;
}

/* Builds the header: version 1.0 if the dictionary fits a 16-bit length,
 * else 2.0; padded with spaces and a final newline so that the data starts
 * at a multiple of 64 bytes. Returns the length, 0 if buf is too small. */
static size_t build_header(mx_npy_type type, uint32_t ndim, const uint64_t *shape,
                           unsigned char *buf, size_t size) {
  char dict[512];
  int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                   mx_npy_type_descr(type));
  size_t used = (size_t)n;
  for (uint32_t i = 0; i < ndim; i++) {
    n = snprintf(dict + used, sizeof dict - used, "%s%" PRIu64, i ? ", " : "", shape[i]);
    used += (size_t)n;
  }
  n = snprintf(dict + used, sizeof dict - used, "%s), }", ndim == 1 ? "," : "");
  used += (size_t)n;
  size_t pre = 10;
  size_t total = (pre + used + 1 + 63) / 64 * 64;
  if (total - pre > 65535) {
    pre = 12;
    total = (pre + used + 1 + 63) / 64 * 64;
  }
  if (total > size)
    return 0;
  memcpy(buf, npy_magic, 6);
  size_t hlen = total - pre;
  buf[6] = pre == 10 ? 1 : 2;
  buf[7] = 0;
  buf[8] = (unsigned char)(hlen & 0xff);
  buf[9] = (unsigned char)(hlen >> 8 & 0xff);
  if (pre == 12) {
    buf[10] = (unsigned char)(hlen >> 16 & 0xff);
    buf[11] = (unsigned char)(hlen >> 24 & 0xff);
  }
  memcpy(buf + pre, dict, used);
  memset(buf + pre + used, ' ', total - pre - used - 1);
  buf[total - 1] = '\n';
  return total;
}

mx_status mx_npy_writer_open(const char *path, mx_npy_type type, uint32_t ndim,
                             const uint64_t *shape, mx_npy_writer **out, mx_error *err) {
  if (!path || !out || (ndim > 0 && !shape))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_npy_writer_open: NULL argument");
  *out = NULL;
  if (!mx_npy_type_descr(type))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_npy_writer_open: unknown type %d",
                   (int)type);
  if (ndim > MX_NPY_MAX_DIMS)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_npy_writer_open: %u dimensions (max %d)",
                   ndim, MX_NPY_MAX_DIMS);
  uint64_t n = 1;
  for (uint32_t i = 0; i < ndim; i++) {
    if (shape[i] != 0 && n > UINT64_MAX / shape[i])
      return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "'%s': shape element count overflows", path);
    n *= shape[i];
  }
  uint64_t esize = mx_npy_type_size(type);
  if (n > (uint64_t)INT64_MAX / esize)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "'%s': shape byte count overflows", path);
  mx_npy_writer *w = calloc(1, sizeof *w);
  char *p = strdup(path);
  if (!w || !p) {
    free(w);
    free(p);
    return mx_fail(err, MX_ERR_NO_MEMORY, "'%s': out of memory", path);
  }
  w->path = p;
  w->expected = n * esize;
  size_t hlen = build_header(type, ndim, shape, w->buf, sizeof w->buf);
  if (hlen == 0) {
    free(p);
    free(w);
    return mx_fail(err, MX_ERR_INTERNAL, "'%s': header does not fit", path);
  }
  w->buf_used = hlen;
  w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->fd < 0) {
    int e = errno;
    free(p);
    free(w);
    return mx_fail(err, mx_status_from_errno(e), "cannot create '%s': %s", path, strerror(e));
  }
  *out = w;
  return MX_OK;
}

static mx_status writer_flush(mx_npy_writer *w, mx_error *err) {
  mx_status s = write_all(w->fd, w->buf, w->buf_used, w->path, err);
  w->buf_used = 0;
  if (s != MX_OK)
    w->failed = s;
  return s;
}

mx_status mx_npy_writer_write(mx_npy_writer *w, const void *data, size_t bytes, mx_error *err) {
  if (!w || (!data && bytes > 0))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_npy_writer_write: NULL argument");
  if (w->failed != MX_OK)
    return mx_fail(err, w->failed, "'%s': an earlier write failed", w->path);
  if (bytes > w->expected - w->written)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "'%s': writing %zu more bytes would exceed the %" PRIu64
                   " data bytes the shape declares (%" PRIu64 " written)",
                   w->path, bytes, w->expected, w->written);
  if (bytes == 0)
    return MX_OK;
  if (w->buf_used + bytes <= sizeof w->buf) {
    memcpy(w->buf + w->buf_used, data, bytes);
    w->buf_used += bytes;
  } else {
    MX_TRY(writer_flush(w, err));
    if (bytes < sizeof w->buf) {
      memcpy(w->buf, data, bytes);
      w->buf_used = bytes;
    } else {
      mx_status s = write_all(w->fd, data, bytes, w->path, err);
      if (s != MX_OK) {
        w->failed = s;
        return s;
      }
    }
  }
  w->written += bytes;
  return MX_OK;
}

static void writer_free(mx_npy_writer *w, int remove_file) {
  if (w->fd >= 0)
    close(w->fd);
  if (remove_file)
    unlink(w->path);
  free(w->path);
  free(w);
}

mx_status mx_npy_writer_close(mx_npy_writer *w, mx_error *err) {
  if (!w)
    return MX_OK;
  mx_status s = MX_OK;
  if (w->failed != MX_OK)
    s = mx_fail(err, w->failed, "'%s': an earlier write failed; file removed", w->path);
  else if (w->written != w->expected)
    s = mx_fail(err, MX_ERR_STATE,
                "'%s': closed after %" PRIu64 " of the %" PRIu64
                " data bytes the shape declares; file removed",
                w->path, w->written, w->expected);
  if (s == MX_OK)
    s = writer_flush(w, err);
  if (s == MX_OK && fsync(w->fd) != 0) {
    int e = errno;
    s = mx_fail(err, mx_status_from_errno(e), "cannot fsync '%s': %s", w->path, strerror(e));
  }
  if (s == MX_OK) {
    int rc = close(w->fd);
    w->fd = -1;
    if (rc != 0) {
      int e = errno;
      s = mx_fail(err, mx_status_from_errno(e), "cannot close '%s': %s", w->path, strerror(e));
    }
  }
  if (s == MX_OK)
    s = mx_fsync_parent(w->path, err);
  writer_free(w, s != MX_OK);
  return s;
}

void mx_npy_writer_abort(mx_npy_writer *w) {
  if (w)
    writer_free(w, 1);
}

mx_status mx_npy_write(const char *path, mx_npy_type type, uint32_t ndim, const uint64_t *shape,
                       const void *data, mx_error *err) {
  mx_npy_writer *w;
  MX_TRY(mx_npy_writer_open(path, type, ndim, shape, &w, err));
  mx_status s = mx_npy_writer_write(w, data, (size_t)w->expected, err);
  if (s != MX_OK) {
    mx_npy_writer_abort(w);
    return s;
  }
  return mx_npy_writer_close(w, err);
}
