/* calibration.h: calibration.jsonl, the optional recall calibration table
 * of an index (docs/recall.md, docs/FORMAT.md). Two lines of JSON: the
 * table, then {"xxh3": "<16 hex digits>"}, the XXH3-64 of the first line's
 * bytes. The table names the index it was measured on by the XXH3-64 of
 * that index's manifest.json bytes, so a table copied from another index
 * (or left over from another build) is refused, never used. */
#ifndef MX_STORAGE_CALIBRATION_H
#define MX_STORAGE_CALIBRATION_H

#include <stddef.h>
#include <stdint.h>

#include "metaidx.h"

/* 2: points carry the recall's standard error (format 1's have three
 * fields; read with a standard error of 0). */
#define MX_CALIB_FORMAT 2
/* Candidate counts measured per budget (a geometric grid from 10 up to N
 * plus a few refinement steps fits easily). */
#define MX_CALIB_MAX_POINTS 48

/* One measured point of a budget's recall curve. */
typedef struct mx_calib_point {
  uint32_t candidates;
  uint32_t nprobe;
  float recall;    /* mean recall@k over the sample */
  float recall_se; /* its standard error */
} mx_calib_point;

/* The one rule for "this k' reaches the target", used by the calibration
 * (tune.c) and by search by recall (recall.c): the mean recall less one
 * standard error, so that a k' that reached the target on a small sample
 * by luck is not taken (docs/recall.md). */
static inline float mx_calib_point_bound(const mx_calib_point *p) {
  return p->recall - p->recall_se;
}
static inline int mx_calib_point_meets(const mx_calib_point *p, float target) {
  return mx_calib_point_bound(p) >= target;
}

typedef struct mx_calib {
  mx_calibration pub;     /* what mx_index_calibration reports */
  uint64_t manifest_xxh3; /* identity of the index measured */
  uint32_t n_points[MX_MAX_BUDGETS];
  mx_calib_point points[MX_MAX_BUDGETS][MX_CALIB_MAX_POINTS]; /* ascending candidates */
} mx_calib;

/* Serialises to a malloc'd two-line text (free()). MX_ERR_INVALID_ARGUMENT
 * for a table mx_calib_parse would refuse. */
mx_status mx_calib_format(const mx_calib *c, char **out, mx_error *err);

/* Parses the two-line text. MX_ERR_CORRUPT for a checksum mismatch or a
 * missing checksum line, MX_ERR_VERSION for a newer format, MX_ERR_FORMAT
 * naming the field for anything else malformed. */
mx_status mx_calib_parse(const char *text, size_t len, mx_calib *out, mx_error *err);

/* The identity an index's table must carry: XXH3-64 of <dir>/manifest.json. */
mx_status mx_calib_manifest_hash(const char *dir, uint64_t *out, mx_error *err);

/* Reads <dir>/calibration.jsonl and checks it belongs to the index there
 * (MX_ERR_CORRUPT naming the file otherwise). MX_ERR_NOT_FOUND if absent. */
mx_status mx_calib_read(const char *dir, mx_calib *out, mx_error *err);

/* Writes <dir>/calibration.jsonl atomically (temp, fsync, rename, fsync dir). */
mx_status mx_calib_write(const char *dir, const mx_calib *c, mx_error *err);

/* "met", "not_met", "skipped"; NULL for an unknown value. */
const char *mx_calib_status_name(mx_calibration_status s);

#endif
