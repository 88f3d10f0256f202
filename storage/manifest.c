/* manifest.c: manifest.json, parsed strictly and written with jansson.
 * Every integer is a JSON integer in [0, 2^53 - 1] (exact in any JSON
 * reader); the 64-bit checksum is a 16-hex-digit string. */
#include "manifest.h"

#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "hash.h"
#include "record.h"
#include "status.h"

#define MANIFEST_KIND "metaidx-index"
#define MANIFEST_MAX_BYTES (1u << 20)
#define JSON_INT_MAX 9007199254740991ull /* 2^53 - 1 */

static const char *const id_kind_names[] = {"row", "u64", "string"};

static const char *json_type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
    return "an integer";
  case JSON_REAL:
    return "a real number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  case JSON_NULL:
    return "null";
  }
  return "unknown";
}

static mx_status get_field(const json_t *root, const char *name, json_t **out, mx_error *err) {
  *out = json_object_get(root, name);
  if (!*out)
    return mx_fail(err, MX_ERR_FORMAT, "manifest: missing field '%s'", name);
  return MX_OK;
}

static mx_status check_uint(const json_t *v, const char *name, uint64_t lo, uint64_t hi,
                            uint64_t *out, mx_error *err) {
  if (!json_is_integer(v))
    return mx_fail(err, MX_ERR_FORMAT, "manifest: field '%s' must be an integer, not %s", name,
                   json_type_name(v));
  json_int_t x = json_integer_value(v);
  if (x < 0 || (uint64_t)x < lo || (uint64_t)x > hi)
    return mx_fail(err, MX_ERR_FORMAT,
                   "manifest: field '%s' = %" JSON_INTEGER_FORMAT " out of range [%" PRIu64
                   ", %" PRIu64 "]",
                   name, x, lo, hi);
  *out = (uint64_t)x;
  return MX_OK;
}

static mx_status get_uint(const json_t *root, const char *name, uint64_t lo, uint64_t hi,
                          uint64_t *out, mx_error *err) {
  json_t *v;
  MX_TRY(get_field(root, name, &v, err));
  return check_uint(v, name, lo, hi, out, err);
}

static mx_status get_u32(const json_t *root, const char *name, uint64_t lo, uint64_t hi,
                         uint32_t *out, mx_error *err) {
  uint64_t x;
  MX_TRY(get_uint(root, name, lo, hi, &x, err));
  *out = (uint32_t)x;
  return MX_OK;
}

/* A string of 1 .. cap - 1 bytes into a fixed buffer (empty allowed if allow_empty). */
static mx_status get_string(const json_t *root, const char *name, char *buf, size_t cap,
                            int allow_empty, mx_error *err) {
  json_t *v;
  MX_TRY(get_field(root, name, &v, err));
  if (!json_is_string(v))
    return mx_fail(err, MX_ERR_FORMAT, "manifest: field '%s' must be a string, not %s", name,
                   json_type_name(v));
  size_t n = json_string_length(v);
  const char *s = json_string_value(v);
  if (n >= cap || memchr(s, '\0', n) || (n == 0 && !allow_empty))
    return mx_fail(err, MX_ERR_FORMAT,
                   "manifest: field '%s' must be a string of %d to %zu bytes without NUL", name,
                   allow_empty ? 0 : 1, cap - 1);
  memcpy(buf, s, n);
  buf[n] = '\0';
  return MX_OK;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* The checksum of the manifest itself: XXH3-64 of every byte before the
 * last occurrence of SEAL_KEY, which must be the object's last member, as
 * 16 hex digits. A quote inside a JSON string is escaped, so the bytes
 * SEAL_KEY can only be that key (or a string value, which no ':' follows). */
#define SEAL_KEY "\"manifest_xxh3\""

/* Finds the seal: *key at its key's opening quote, *digits at its 16 hex
 * digits. */
static mx_status find_seal(const char *text, size_t len, size_t *key, size_t *digits,
                           mx_error *err) {
  const size_t kl = sizeof SEAL_KEY - 1;
  size_t at = len + 1;
  for (size_t i = len >= kl ? len - kl + 1 : 0; i-- > 0;)
    if (memcmp(text + i, SEAL_KEY, kl) == 0) {
      at = i;
      break;
    }
  if (at > len)
    return mx_fail(err, MX_ERR_FORMAT, "manifest: missing field 'manifest_xxh3'");
  size_t p = at + kl;
#define SKIP_WS() while (p < len && (text[p] == ' ' || text[p] == '\n' || text[p] == '\t' || text[p] == '\r')) p++
  SKIP_WS();
  int ok = p < len && text[p++] == ':';
  SKIP_WS();
  ok = ok && p < len && text[p++] == '"';
  size_t d = p;
  for (int i = 0; ok && i < 16; i++)
    ok = p < len && hex_value(text[p++]) >= 0;
  ok = ok && p < len && text[p++] == '"';
  SKIP_WS();
  ok = ok && p < len && text[p++] == '}';
  SKIP_WS();
#undef SKIP_WS
  if (!ok || p != len)
    return mx_fail(err, MX_ERR_FORMAT,
                   "manifest: field 'manifest_xxh3' must be the last field, a string of 16 "
                   "hexadecimal digits");
  *key = at;
  *digits = d;
  return MX_OK;
}

static mx_status check_seal(const char *text, size_t len, mx_error *err) {
  size_t key, d;
  MX_TRY(find_seal(text, len, &key, &d, err));
  uint64_t stored = 0;
  for (int i = 0; i < 16; i++)
    stored = stored << 4 | (uint64_t)hex_value(text[d + (size_t)i]);
  uint64_t got = mx_hash64(text, key);
  if (got != stored)
    return mx_fail(err, MX_ERR_CORRUPT,
                   "manifest: checksum %016" PRIx64 " of its text does not match its "
                   "manifest_xxh3 %016" PRIx64 ": the file was changed or damaged",
                   got, stored);
  return MX_OK;
}

mx_status mx_manifest_seal(char *text, size_t len, mx_error *err) {
  if (!text)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_manifest_seal: NULL text");
  size_t key, d;
  MX_TRY(find_seal(text, len, &key, &d, err));
  char hex[17];
  snprintf(hex, sizeof hex, "%016" PRIx64, mx_hash64(text, key));
  memcpy(text + d, hex, 16);
  return MX_OK;
}

static mx_status parse_hex(const char *field, const char *s, unsigned char *out, size_t n,
                           mx_error *err) {
  int ok = strlen(s) == 2 * n;
  for (size_t i = 0; ok && i < n; i++) {
    int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
    ok = hi >= 0 && lo >= 0;
    out[i] = (unsigned char)(hi << 4 | (lo & 0xf));
  }
  if (!ok)
    return mx_fail(err, MX_ERR_FORMAT, "manifest: field '%s' must be %zu hexadecimal digits, not '%s'",
                   field, 2 * n, s);
  return MX_OK;
}

/* The first-stage fields, new in 2.1 (required from then on); a 2.0
 * manifest's coarse index holds the leading vectors. */
static mx_status parse_first_stage(const json_t *root, mx_manifest *m, mx_error *err) {
  m->first_stage = MX_FIRST_STAGE_LEADING;
  m->first_stage_vectors = 1;
  m->first_stage_query_vectors = 0;
  m->first_stage_trial[0] = '\0';
  if (m->format_minor < 1)
    return MX_OK;
  char buf[32];
  MX_TRY(get_string(root, "first_stage", buf, sizeof buf, 0, err));
  if (mx_first_stage_parse(buf, &m->first_stage, NULL) != MX_OK ||
      m->first_stage == MX_FIRST_STAGE_AUTO)
    return mx_fail(err, MX_ERR_FORMAT,
                   "manifest: field 'first_stage' is '%s', not one of leading, pooled, multi", buf);
  MX_TRY(get_u32(root, "first_stage_vectors", 1, m->vectors_per_doc, &m->first_stage_vectors,
                 err));
  if (m->first_stage == MX_FIRST_STAGE_LEADING && m->first_stage_vectors != 1)
    return mx_fail(err, MX_ERR_FORMAT,
                   "manifest: field 'first_stage_vectors' is %u, but a leading first stage has 1",
                   m->first_stage_vectors);
  MX_TRY(get_u32(root, "first_stage_query_vectors", 0, MX_MAX_VECTORS,
                 &m->first_stage_query_vectors, err));
  return get_string(root, "first_stage_trial", m->first_stage_trial, sizeof m->first_stage_trial,
                    1, err);
}

static mx_status parse_fields(const json_t *root, const char *text, size_t len, mx_manifest *m,
                              mx_error *err) {
  json_t *v;
  char buf[256];
  uint64_t x;

  MX_TRY(get_string(root, "kind", buf, sizeof buf, 0, err));
  if (strcmp(buf, MANIFEST_KIND) != 0)
    return mx_fail(err, MX_ERR_FORMAT, "manifest: field 'kind' is '%s', not '%s'", buf,
                   MANIFEST_KIND);
  /* The major version first: a newer major may have changed everything else. */
  MX_TRY(get_uint(root, "format_major", 1, UINT32_MAX, &x, err));
  if (x > MX_FORMAT_MAJOR)
    return mx_fail(err, MX_ERR_VERSION,
                   "manifest: format version %" PRIu64 " is newer than this library reads (%d.%d)",
                   x, MX_FORMAT_MAJOR, MX_FORMAT_MINOR);
  if (x < MX_FORMAT_MAJOR)
    return mx_fail(err, MX_ERR_VERSION,
                   "manifest: format version %" PRIu64 " (an index without identity and "
                   "checksums, from metaidx 0.1) is no longer read by this library (%d.%d): "
                   "rebuild the index",
                   x, MX_FORMAT_MAJOR, MX_FORMAT_MINOR);
  m->format_major = (uint32_t)x;
  /* Then the text against its own checksum, before trusting any field. */
  MX_TRY(check_seal(text, len, err));
  MX_TRY(get_u32(root, "format_minor", 0, UINT32_MAX, &m->format_minor, err));
  MX_TRY(get_string(root, "index_id", buf, sizeof buf, 0, err));
  MX_TRY(parse_hex("index_id", buf, m->index_id, sizeof m->index_id, err));

  MX_TRY(get_u32(root, "dim", 1, MX_MAX_DIM, &m->dim, err));
  MX_TRY(get_u32(root, "vectors_per_doc", 1, MX_MAX_VECTORS, &m->vectors_per_doc, err));
  MX_TRY(get_u32(root, "input_vectors_per_doc", m->vectors_per_doc, UINT32_MAX,
                 &m->input_vectors_per_doc, err));

  MX_TRY(get_string(root, "dtype", buf, sizeof buf, 0, err));
  if (mx_dtype_parse(buf, &m->dtype, NULL) != MX_OK)
    return mx_fail(err, MX_ERR_FORMAT,
                   "manifest: field 'dtype' is '%s', not one of f32, f16, bf16, int8", buf);

  MX_TRY(get_string(root, "metric", m->metric, sizeof m->metric, 0, err));
  if (strcmp(m->metric, "ip") != 0)
    return mx_fail(err, MX_ERR_FORMAT, "manifest: field 'metric' is '%s', not 'ip'", m->metric);

  MX_TRY(get_field(root, "budgets", &v, err));
  if (!json_is_array(v))
    return mx_fail(err, MX_ERR_FORMAT, "manifest: field 'budgets' must be an array, not %s",
                   json_type_name(v));
  size_t nb = json_array_size(v);
  if (nb == 0 || nb > MX_MAX_BUDGETS)
    return mx_fail(err, MX_ERR_FORMAT, "manifest: field 'budgets' has %zu entries, not 1 to %d", nb,
                   MX_MAX_BUDGETS);
  m->n_budgets = (uint32_t)nb;
  for (size_t i = 0; i < nb; i++) {
    json_t *pair = json_array_get(v, i);
    char name[48];
    snprintf(name, sizeof name, "budgets[%zu]", i);
    if (!json_is_array(pair) || json_array_size(pair) != 2)
      return mx_fail(err, MX_ERR_FORMAT, "manifest: field '%s' must be an [r_q, r_c] pair", name);
    snprintf(name, sizeof name, "budgets[%zu].r_q", i);
    MX_TRY(check_uint(json_array_get(pair, 0), name, 1, MX_MAX_VECTORS, &x, err));
    m->budgets[i].r_q = (uint32_t)x;
    snprintf(name, sizeof name, "budgets[%zu].r_c", i);
    MX_TRY(check_uint(json_array_get(pair, 1), name, 1, m->vectors_per_doc, &x, err));
    m->budgets[i].r_c = (uint32_t)x;
  }

  MX_TRY(get_uint(root, "n_docs", 0, JSON_INT_MAX, &m->n_docs, err));
  MX_TRY(get_string(root, "id_kind", buf, sizeof buf, 0, err));
  size_t k = 0;
  while (k < 3 && strcmp(buf, id_kind_names[k]) != 0)
    k++;
  if (k == 3)
    return mx_fail(err, MX_ERR_FORMAT,
                   "manifest: field 'id_kind' is '%s', not one of row, u64, string", buf);
  m->id_kind = (mx_id_kind)k;

  MX_TRY(get_string(root, "coarse_factory", m->coarse_factory, sizeof m->coarse_factory, 0, err));
  MX_TRY(get_u32(root, "coarse_nprobe", 0, UINT32_MAX, &m->coarse_nprobe, err));
  MX_TRY(get_u32(root, "coarse_ef_search", 0, UINT32_MAX, &m->coarse_ef_search, err));
  MX_TRY(get_uint(root, "train_sample", 0, JSON_INT_MAX, &m->train_sample, err));
  MX_TRY(get_uint(root, "seed", 0, JSON_INT_MAX, &m->seed, err));
  MX_TRY(get_uint(root, "coarse_bytes", 0, JSON_INT_MAX, &m->coarse_bytes, err));

  MX_TRY(get_string(root, "coarse_xxh3", buf, sizeof buf, 0, err));
  unsigned char be[8];
  MX_TRY(parse_hex("coarse_xxh3", buf, be, sizeof be, err));
  m->coarse_xxh3 = mx_get_be64(be);

  MX_TRY(get_string(root, "created", m->created, sizeof m->created, 0, err));
  MX_TRY(
      get_string(root, "library_version", m->library_version, sizeof m->library_version, 0, err));
  return parse_first_stage(root, m, err);
}

mx_status mx_manifest_parse(const char *json, size_t len, mx_manifest *out, mx_error *err) {
  if (!json || !out)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_manifest_parse: NULL argument");
  json_error_t jerr;
  json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return mx_fail(err, MX_ERR_FORMAT, "manifest: invalid JSON at line %d, column %d: %s",
                   jerr.line, jerr.column, jerr.text);
  mx_status s;
  if (!json_is_object(root)) {
    s = mx_fail(err, MX_ERR_FORMAT, "manifest: top level must be an object, not %s",
                json_type_name(root));
  } else {
    mx_manifest m;
    memset(&m, 0, sizeof m);
    s = parse_fields(root, json, len, &m, err);
    if (s == MX_OK)
      *out = m;
  }
  json_decref(root);
  return s;
}

void mx_manifest_init(mx_manifest *m) {
  if (!m)
    return;
  memset(m, 0, sizeof *m);
  m->format_major = MX_FORMAT_MAJOR;
  m->format_minor = MX_FORMAT_MINOR;
  m->dtype = MX_DTYPE_F16;
  snprintf(m->metric, sizeof m->metric, "ip");
  m->id_kind = MX_IDS_ROW;
  m->first_stage = MX_FIRST_STAGE_LEADING;
  m->first_stage_vectors = 1;
  snprintf(m->library_version, sizeof m->library_version, "%s", mx_version());
}

/* json_object_set_new that remembers a failure. */
static void set(json_t *obj, const char *key, json_t *v, int *ok) {
  if (!v || json_object_set_new(obj, key, v) != 0)
    *ok = 0;
}

static json_t *fixed_string(const char *s, size_t cap) {
  size_t n = strnlen(s, cap);
  return n < cap ? json_stringn(s, n) : NULL; /* NULL also for invalid UTF-8 */
}

mx_status mx_manifest_format(const mx_manifest *m, char **out, mx_error *err) {
  if (!m || !out)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_manifest_format: NULL argument");
  if (m->n_budgets > MX_MAX_BUDGETS)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "manifest: %" PRIu32 " budgets, at most %d",
                   m->n_budgets, MX_MAX_BUDGETS);
  const char *dtype = mx_dtype_name(m->dtype);
  if (!dtype || (unsigned)m->id_kind > MX_IDS_STRING)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "manifest: unknown dtype or id kind");
  const struct {
    const char *name;
    uint64_t value;
  } counts[] = {{"n_docs", m->n_docs},
                {"train_sample", m->train_sample},
                {"seed", m->seed},
                {"coarse_bytes", m->coarse_bytes}};
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
    if (counts[i].value > JSON_INT_MAX)
      return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                     "manifest: field '%s' = %" PRIu64 " is above 2^53 - 1, the largest integer "
                     "every JSON reader keeps exact",
                     counts[i].name, counts[i].value);
  json_t *root = json_object();
  json_t *budgets = json_array();
  int ok = root && budgets;
  char hex[17], id[2 * MX_INDEX_ID_BYTES + 1];
  snprintf(hex, sizeof hex, "%016" PRIx64, m->coarse_xxh3);
  for (size_t i = 0; i < MX_INDEX_ID_BYTES; i++)
    snprintf(id + 2 * i, 3, "%02x", m->index_id[i]);
  if (ok) {
    set(root, "kind", json_string(MANIFEST_KIND), &ok);
    set(root, "format_major", json_integer(m->format_major), &ok);
    set(root, "format_minor", json_integer(m->format_minor), &ok);
    set(root, "index_id", json_string(id), &ok);
    set(root, "dim", json_integer(m->dim), &ok);
    set(root, "vectors_per_doc", json_integer(m->vectors_per_doc), &ok);
    set(root, "input_vectors_per_doc", json_integer(m->input_vectors_per_doc), &ok);
    set(root, "dtype", json_string(dtype), &ok);
    set(root, "metric", fixed_string(m->metric, sizeof m->metric), &ok);
    for (uint32_t i = 0; ok && i < m->n_budgets; i++) {
      json_t *pair =
          json_pack("[II]", (json_int_t)m->budgets[i].r_q, (json_int_t)m->budgets[i].r_c);
      if (!pair || json_array_append_new(budgets, pair) != 0)
        ok = 0;
    }
    set(root, "budgets", budgets, &ok);
    budgets = NULL; /* owned by root now (or freed by the failed set) */
    set(root, "n_docs", json_integer((json_int_t)m->n_docs), &ok);
    set(root, "id_kind", json_string(id_kind_names[m->id_kind]), &ok);
    set(root, "coarse_factory", fixed_string(m->coarse_factory, sizeof m->coarse_factory), &ok);
    set(root, "coarse_nprobe", json_integer(m->coarse_nprobe), &ok);
    set(root, "coarse_ef_search", json_integer(m->coarse_ef_search), &ok);
    set(root, "train_sample", json_integer((json_int_t)m->train_sample), &ok);
    set(root, "seed", json_integer((json_int_t)m->seed), &ok);
    set(root, "coarse_bytes", json_integer((json_int_t)m->coarse_bytes), &ok);
    set(root, "coarse_xxh3", json_string(hex), &ok);
    set(root, "created", fixed_string(m->created, sizeof m->created), &ok);
    set(root, "library_version", fixed_string(m->library_version, sizeof m->library_version), &ok);
    if (m->format_minor >= 1) {
      const char *fs = mx_first_stage_name(m->first_stage);
      set(root, "first_stage", fs ? json_string(fs) : NULL, &ok);
      set(root, "first_stage_vectors", json_integer(m->first_stage_vectors), &ok);
      set(root, "first_stage_query_vectors", json_integer(m->first_stage_query_vectors), &ok);
      set(root, "first_stage_trial", fixed_string(m->first_stage_trial, sizeof m->first_stage_trial),
          &ok);
    }
    set(root, "manifest_xxh3", json_string("0000000000000000"), &ok); /* sealed below */
  }
  json_decref(budgets);
  char *text = ok ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
  json_decref(root);
  if (!text)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "manifest: cannot serialise (a string field is unterminated, too long or not "
                   "UTF-8, or out of memory)");
  size_t n = strlen(text);
  char *withnl = realloc(text, n + 2);
  if (!withnl) {
    free(text);
    return mx_fail(err, MX_ERR_NO_MEMORY, "manifest: out of memory");
  }
  withnl[n] = '\n';
  withnl[n + 1] = '\0';
  /* One set of rules: what the parser would refuse is never written. */
  mx_manifest back;
  mx_error perr;
  if (mx_manifest_seal(withnl, n + 1, &perr) != MX_OK ||
      mx_manifest_parse(withnl, n + 1, &back, &perr) != MX_OK) {
    free(withnl);
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "not writing an invalid manifest: %s",
                   perr.message);
  }
  *out = withnl;
  return MX_OK;
}

static mx_status manifest_path(const char *dir, char *buf, size_t cap, mx_error *err) {
  if (!dir)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "manifest: NULL directory");
  if (snprintf(buf, cap, "%s/%s", dir, MX_MANIFEST_NAME) >= (int)cap)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "path too long: '%s'", dir);
  return MX_OK;
}

mx_status mx_manifest_read(const char *dir, mx_manifest *out, mx_error *err) {
  char path[PATH_MAX];
  MX_TRY(manifest_path(dir, path, sizeof path, err));
  if (!out)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_manifest_read: NULL argument");
  char *text = NULL;
  size_t len = 0;
  MX_TRY(mx_read_file(path, MANIFEST_MAX_BYTES, &text, &len, err));
  mx_status s = mx_manifest_parse(text, len, out, err);
  free(text);
  if (s != MX_OK)
    return mx_fail_context(err, s, "%s", path);
  return MX_OK;
}

mx_status mx_manifest_write(const char *dir, const mx_manifest *m, mx_error *err) {
  char path[PATH_MAX];
  MX_TRY(manifest_path(dir, path, sizeof path, err));
  char *text = NULL;
  MX_TRY(mx_manifest_format(m, &text, err));
  mx_status s = mx_write_file_atomic(path, text, strlen(text), err);
  free(text);
  return s;
}
