/* calibration.c: calibration.jsonl, parsed strictly and written with
 * jansson (see calibration.h for the layout and docs/recall.md for what
 * the numbers mean). */
#include "calibration.h"

#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "hash.h"
#include "layout.h"
#include "status.h"

#define CALIB_KIND "metaidx-calibration"
#define CALIB_MAX_BYTES (1u << 20)
#define MANIFEST_MAX_BYTES (1u << 20)
#define JSON_INT_MAX 9007199254740991ll /* 2^53 - 1 */

static const char *const status_names[] = {"met", "not_met", "skipped"};
static const char *const source_names[] = {"pseudo", "user"};

const char *mx_calib_status_name(mx_calibration_status s) {
  return (unsigned)s < 3 ? status_names[s] : NULL;
}

/* ---------------------------------------------------------------- parse */

typedef struct where {
  const char *what; /* "calibration" or "calibration budget 2" */
} where;

static mx_status get(const json_t *o, const char *name, const where *w, json_t **out,
                     mx_error *err) {
  *out = json_object_get(o, name);
  if (!*out)
    return mx_fail(err, MX_ERR_FORMAT, "%s: missing field '%s'", w->what, name);
  return MX_OK;
}

static mx_status get_int(const json_t *o, const char *name, long long lo, long long hi,
                         const where *w, long long *out, mx_error *err) {
  json_t *v;
  MX_TRY(get(o, name, w, &v, err));
  if (!json_is_integer(v))
    return mx_fail(err, MX_ERR_FORMAT, "%s: field '%s' must be an integer", w->what, name);
  long long x = (long long)json_integer_value(v);
  if (x < lo || x > hi)
    return mx_fail(err, MX_ERR_FORMAT, "%s: field '%s' = %lld out of range [%lld, %lld]",
                   w->what, name, x, lo, hi);
  *out = x;
  return MX_OK;
}

static mx_status get_u32(const json_t *o, const char *name, uint32_t lo, uint32_t hi,
                         const where *w, uint32_t *out, mx_error *err) {
  long long x;
  MX_TRY(get_int(o, name, lo, hi, w, &x, err));
  *out = (uint32_t)x;
  return MX_OK;
}

static mx_status get_real(const json_t *o, const char *name, double lo, double hi,
                          const where *w, double *out, mx_error *err) {
  json_t *v;
  MX_TRY(get(o, name, w, &v, err));
  if (!json_is_number(v))
    return mx_fail(err, MX_ERR_FORMAT, "%s: field '%s' must be a number", w->what, name);
  double x = json_number_value(v);
  if (!(x >= lo && x <= hi))
    return mx_fail(err, MX_ERR_FORMAT, "%s: field '%s' = %g out of range [%g, %g]", w->what,
                   name, x, lo, hi);
  *out = x;
  return MX_OK;
}

static mx_status get_string(const json_t *o, const char *name, char *buf, size_t cap,
                            const where *w, mx_error *err) {
  json_t *v;
  MX_TRY(get(o, name, w, &v, err));
  if (!json_is_string(v))
    return mx_fail(err, MX_ERR_FORMAT, "%s: field '%s' must be a string", w->what, name);
  size_t n = json_string_length(v);
  if (n >= cap || strlen(json_string_value(v)) != n)
    return mx_fail(err, MX_ERR_FORMAT, "%s: field '%s' is longer than %zu bytes or holds NUL",
                   w->what, name, cap - 1);
  memcpy(buf, json_string_value(v), n + 1);
  return MX_OK;
}

static mx_status get_name(const json_t *o, const char *name, const char *const *names,
                          unsigned n_names, const where *w, unsigned *out, mx_error *err) {
  char buf[32];
  MX_TRY(get_string(o, name, buf, sizeof buf, w, err));
  for (unsigned i = 0; i < n_names; i++)
    if (strcmp(buf, names[i]) == 0) {
      *out = i;
      return MX_OK;
    }
  return mx_fail(err, MX_ERR_FORMAT, "%s: field '%s' has an unknown value '%s'", w->what, name,
                 buf);
}

static mx_status parse_hex64(const char *s, const char *what, uint64_t *out, mx_error *err) {
  if (strlen(s) != 16 || strspn(s, "0123456789abcdef") != 16)
    return mx_fail(err, MX_ERR_FORMAT, "%s must be 16 lower-case hexadecimal digits, not '%s'",
                   what, s);
  *out = strtoull(s, NULL, 16);
  return MX_OK;
}

static mx_status parse_points(const json_t *arr, long long fmt, mx_calib *c, uint32_t bi,
                              const where *w, mx_error *err) {
  size_t fields = fmt >= 2 ? 4 : 3;
  if (!json_is_array(arr) || json_array_size(arr) > MX_CALIB_MAX_POINTS)
    return mx_fail(err, MX_ERR_FORMAT, "%s: 'points' must be an array of at most %d points",
                   w->what, MX_CALIB_MAX_POINTS);
  uint32_t n = (uint32_t)json_array_size(arr);
  for (uint32_t i = 0; i < n; i++) {
    const json_t *p = json_array_get(arr, i);
    const json_t *a = json_array_get(p, 0), *b = json_array_get(p, 1), *r = json_array_get(p, 2);
    const json_t *se = fields == 4 ? json_array_get(p, 3) : NULL;
    if (!json_is_array(p) || json_array_size(p) != fields || !json_is_integer(a) ||
        !json_is_integer(b) || !json_is_number(r) || json_integer_value(a) < 1 ||
        json_integer_value(a) > UINT32_MAX || json_integer_value(b) < 0 ||
        json_integer_value(b) > UINT32_MAX || !(json_number_value(r) >= 0) ||
        !(json_number_value(r) <= 1) ||
        (se && (!json_is_number(se) || !(json_number_value(se) >= 0) ||
                !(json_number_value(se) <= 1))))
      return mx_fail(err, MX_ERR_FORMAT,
                     "%s: point %u must be [candidates >= 1, nprobe >= 0, recall in [0, 1]%s]",
                     w->what, i, fields == 4 ? ", standard error in [0, 1]" : "");
    mx_calib_point pt = {(uint32_t)json_integer_value(a), (uint32_t)json_integer_value(b),
                         (float)json_number_value(r), se ? (float)json_number_value(se) : 0};
    if (i > 0 && pt.candidates <= c->points[bi][i - 1].candidates)
      return mx_fail(err, MX_ERR_FORMAT, "%s: points must have ascending candidate counts",
                     w->what);
    c->points[bi][i] = pt;
  }
  c->n_points[bi] = n;
  return MX_OK;
}

static mx_status parse_entry(const json_t *o, long long fmt, mx_calib *c, uint32_t bi,
                             mx_error *err) {
  char what[48];
  snprintf(what, sizeof what, "calibration budget %u", bi);
  where w = {what};
  if (!json_is_object(o))
    return mx_fail(err, MX_ERR_FORMAT, "%s must be an object", what);
  mx_calibration_entry *e = &c->pub.entries[bi];
  unsigned st = 0;
  double x;
  MX_TRY(get_u32(o, "r_q", 1, UINT32_MAX, &w, &e->budget.r_q, err));
  MX_TRY(get_u32(o, "r_c", 1, UINT32_MAX, &w, &e->budget.r_c, err));
  MX_TRY(get_name(o, "status", status_names, 3, &w, &st, err));
  e->status = (mx_calibration_status)st;
  MX_TRY(get_u32(o, "candidates", st == MX_CALIBRATION_SKIPPED ? 0 : 1, UINT32_MAX, &w,
                 &e->candidates, err));
  MX_TRY(get_u32(o, "nprobe", 0, UINT32_MAX, &w, &e->nprobe, err));
  MX_TRY(get_real(o, "recall", 0, 1, &w, &x, err));
  e->recall = (float)x;
  MX_TRY(get_real(o, "recall_se", 0, 1, &w, &x, err));
  e->recall_se = (float)x;
  MX_TRY(get_real(o, "p50_ms", 0, 1e12, &w, &e->p50_ms, err));
  MX_TRY(get_real(o, "exact_ms", 0, 1e12, &w, &e->exact_ms, err));
  MX_TRY(get_u32(o, "queries", 0, UINT32_MAX, &w, &e->queries, err));
  MX_TRY(get_string(o, "note", e->note, sizeof e->note, &w, err));
  json_t *pts;
  MX_TRY(get(o, "points", &w, &pts, err));
  MX_TRY(parse_points(pts, fmt, c, bi, &w, err));
  if (st != MX_CALIBRATION_SKIPPED && c->n_points[bi] == 0)
    return mx_fail(err, MX_ERR_FORMAT, "%s: a measured budget has no points", what);
  return MX_OK;
}

static mx_status parse_table(const json_t *root, mx_calib *c, mx_error *err) {
  where w = {"calibration"};
  char buf[64];
  if (!json_is_object(root))
    return mx_fail(err, MX_ERR_FORMAT, "calibration: the first line must be a JSON object");
  MX_TRY(get_string(root, "kind", buf, sizeof buf, &w, err));
  if (strcmp(buf, CALIB_KIND) != 0)
    return mx_fail(err, MX_ERR_FORMAT, "calibration: kind '%s' is not '%s'", buf, CALIB_KIND);
  long long fmt;
  MX_TRY(get_int(root, "format", 1, JSON_INT_MAX, &w, &fmt, err));
  if (fmt > MX_CALIB_FORMAT)
    return mx_fail(err, MX_ERR_VERSION,
                   "calibration: format %lld is newer than this library's %d", fmt,
                   MX_CALIB_FORMAT);
  MX_TRY(get_string(root, "manifest_xxh3", buf, sizeof buf, &w, err));
  MX_TRY(parse_hex64(buf, "calibration: field 'manifest_xxh3'", &c->manifest_xxh3, err));
  mx_calibration *p = &c->pub;
  double x;
  MX_TRY(get_real(root, "target", 1e-9, 1, &w, &x, err));
  p->target = (float)x;
  MX_TRY(get_u32(root, "k", 1, UINT32_MAX, &w, &p->k, err));
  unsigned src = 0;
  MX_TRY(get_name(root, "source", source_names, 2, &w, &src, err));
  p->source = (mx_query_source)src;
  MX_TRY(get_u32(root, "queries", 0, UINT32_MAX, &w, &p->n_queries, err));
  MX_TRY(get_real(root, "noise", 0, 1e6, &w, &x, err));
  p->noise = (float)x;
  long long seed;
  MX_TRY(get_int(root, "seed", 0, JSON_INT_MAX, &w, &seed, err));
  p->seed = (uint64_t)seed;
  MX_TRY(get_real(root, "seconds", 0, 1e12, &w, &p->seconds, err));
  MX_TRY(get_string(root, "created", p->created, sizeof p->created, &w, err));
  json_t *arr;
  MX_TRY(get(root, "budgets", &w, &arr, err));
  if (!json_is_array(arr) || json_array_size(arr) > MX_MAX_BUDGETS)
    return mx_fail(err, MX_ERR_FORMAT, "calibration: 'budgets' must be an array of at most %d",
                   MX_MAX_BUDGETS);
  p->n_entries = (uint32_t)json_array_size(arr);
  for (uint32_t i = 0; i < p->n_entries; i++)
    MX_TRY(parse_entry(json_array_get(arr, i), fmt, c, i, err));
  return MX_OK;
}

mx_status mx_calib_parse(const char *text, size_t len, mx_calib *out, mx_error *err) {
  if (!text || !out)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_calib_parse: NULL argument");
  memset(out, 0, sizeof *out);
  const char *nl = memchr(text, '\n', len);
  if (!nl)
    return mx_fail(err, MX_ERR_CORRUPT, "calibration: no checksum line (truncated file?)");
  size_t body = (size_t)(nl - text);
  json_error_t jerr;
  json_t *sum = json_loadb(nl + 1, len - body - 1, JSON_REJECT_DUPLICATES, &jerr);
  const json_t *hv = json_object_get(sum, "xxh3");
  uint64_t want = 0;
  mx_status s = MX_OK;
  if (!json_is_string(hv) ||
      parse_hex64(json_string_value(hv), "calibration: checksum", &want, NULL) != MX_OK)
    s = mx_fail(err, MX_ERR_CORRUPT,
                "calibration: the second line is not {\"xxh3\": \"<16 hex digits>\"}");
  json_decref(sum);
  MX_TRY(s);
  uint64_t got = mx_hash64(text, body);
  if (got != want)
    return mx_fail(err, MX_ERR_CORRUPT,
                   "calibration: checksum mismatch (xxh3 %016" PRIx64 ", recorded %016" PRIx64 ")",
                   got, want);
  json_t *root = json_loadb(text, body, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return mx_fail(err, MX_ERR_FORMAT, "calibration: invalid JSON at line 1 column %d: %s",
                   jerr.column, jerr.text);
  s = parse_table(root, out, err);
  json_decref(root);
  return s;
}

/* ---------------------------------------------------------------- format */

static int set(json_t *o, const char *name, json_t *v) {
  return v ? json_object_set_new(o, name, v) : -1;
}

mx_status mx_calib_format(const mx_calib *c, char **out, mx_error *err) {
  const mx_calibration *p = &c->pub;
  if (p->n_entries > MX_MAX_BUDGETS || !(p->target > 0 && p->target <= 1) || p->k == 0 ||
      (unsigned)p->source > 1)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "calibration: invalid table header");
  char hex[17];
  snprintf(hex, sizeof hex, "%016" PRIx64, c->manifest_xxh3);
  json_t *root = json_object(), *arr = json_array();
  int bad = !root || !arr;
  bad |= set(root, "kind", json_string(CALIB_KIND));
  bad |= set(root, "format", json_integer(MX_CALIB_FORMAT));
  bad |= set(root, "manifest_xxh3", json_string(hex));
  bad |= set(root, "target", json_real(p->target));
  bad |= set(root, "k", json_integer(p->k));
  bad |= set(root, "source", json_string(source_names[p->source]));
  bad |= set(root, "queries", json_integer(p->n_queries));
  bad |= set(root, "noise", json_real(p->noise));
  bad |= set(root, "seed", json_integer((json_int_t)(p->seed & JSON_INT_MAX)));
  bad |= set(root, "seconds", json_real(p->seconds));
  bad |= set(root, "created", json_string(p->created));
  for (uint32_t i = 0; i < p->n_entries && !bad; i++) {
    const mx_calibration_entry *e = &p->entries[i];
    if ((unsigned)e->status > 2 || c->n_points[i] > MX_CALIB_MAX_POINTS) {
      bad = 1;
      break;
    }
    json_t *o = json_object(), *pts = json_array();
    bad |= !o || !pts;
    bad |= set(o, "r_q", json_integer(e->budget.r_q));
    bad |= set(o, "r_c", json_integer(e->budget.r_c));
    bad |= set(o, "status", json_string(status_names[e->status]));
    bad |= set(o, "candidates", json_integer(e->candidates));
    bad |= set(o, "nprobe", json_integer(e->nprobe));
    bad |= set(o, "recall", json_real(e->recall));
    bad |= set(o, "recall_se", json_real(e->recall_se));
    bad |= set(o, "p50_ms", json_real(e->p50_ms));
    bad |= set(o, "exact_ms", json_real(e->exact_ms));
    bad |= set(o, "queries", json_integer(e->queries));
    bad |= set(o, "note", json_string(e->note));
    for (uint32_t j = 0; j < c->n_points[i] && !bad; j++) {
      const mx_calib_point *pt = &c->points[i][j];
      json_t *a = json_array();
      bad |= !a || json_array_append_new(a, json_integer(pt->candidates)) ||
             json_array_append_new(a, json_integer(pt->nprobe)) ||
             json_array_append_new(a, json_real(pt->recall)) ||
             json_array_append_new(a, json_real(pt->recall_se)) || json_array_append_new(pts, a);
    }
    bad |= set(o, "points", pts);
    bad |= json_array_append_new(arr, o);
  }
  bad |= set(root, "budgets", arr);
  char *body = bad ? NULL : json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(9));
  json_decref(root);
  if (!body)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "calibration: cannot serialise the table (a string is not UTF-8, or out "
                   "of memory)");
  size_t n = strlen(body);
  char *text = malloc(n + 40);
  if (!text) {
    free(body);
    return mx_fail(err, MX_ERR_NO_MEMORY, "calibration: out of memory");
  }
  snprintf(text, n + 40, "%s\n{\"xxh3\":\"%016" PRIx64 "\"}\n", body, mx_hash64(body, n));
  free(body);
  *out = text;
  return MX_OK;
}

/* ---------------------------------------------------------------- files */

mx_status mx_calib_manifest_hash(const char *dir, uint64_t *out, mx_error *err) {
  char path[PATH_MAX];
  MX_TRY(mx_path_join(path, sizeof path, dir, MX_MANIFEST_NAME, err));
  char *text = NULL;
  size_t len = 0;
  MX_TRY(mx_read_file(path, MANIFEST_MAX_BYTES, &text, &len, err));
  *out = mx_hash64(text, len);
  free(text);
  return MX_OK;
}

mx_status mx_calib_read(const char *dir, mx_calib *out, mx_error *err) {
  char path[PATH_MAX];
  MX_TRY(mx_path_join(path, sizeof path, dir, MX_CALIBRATION_NAME, err));
  if (!mx_path_exists(path))
    return mx_fail(err, MX_ERR_NOT_FOUND, "'%s': no calibration table", path);
  uint64_t identity = 0;
  MX_TRY(mx_calib_manifest_hash(dir, &identity, err));
  char *text = NULL;
  size_t len = 0;
  MX_TRY(mx_read_file(path, CALIB_MAX_BYTES, &text, &len, err));
  mx_status s = mx_calib_parse(text, len, out, err);
  free(text);
  if (s == MX_OK && out->manifest_xxh3 != identity)
    s = mx_fail(err, MX_ERR_CORRUPT,
                "the table was measured on another index (manifest xxh3 %016" PRIx64
                ", this index's is %016" PRIx64 ")",
                out->manifest_xxh3, identity);
  if (s == MX_ERR_FORMAT) /* a malformed table is a damaged part of the index */
    s = MX_ERR_CORRUPT;
  if (s != MX_OK) {
    return mx_fail_as(err, s, "'%s' (run 'metaidx tune' to measure it again, or delete the file)",
                      path);
  }
  return MX_OK;
}

mx_status mx_calib_write(const char *dir, const mx_calib *c, mx_error *err) {
  char path[PATH_MAX];
  MX_TRY(mx_path_join(path, sizeof path, dir, MX_CALIBRATION_NAME, err));
  char *text = NULL;
  MX_TRY(mx_calib_format(c, &text, err));
  mx_status s = mx_write_file_atomic(path, text, strlen(text), err);
  free(text);
  return s;
}
