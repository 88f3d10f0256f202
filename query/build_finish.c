/* build_finish.c: mx_builder_finish, the builder's last step (index/) plus
 * the quick calibration of a fresh index (mx_index_tune on pseudo-queries,
 * docs/recall.md), run on the unpublished directory so that the index
 * appears with its calibration table or not at all. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder.h"
#include "fsutil.h"
#include "layout.h"
#include "metaidx.h"
#include "status.h"
#include "store.h"

/* Fewer pseudo-queries than mx_index_tune's default: the build's time
 * limit goes further, at the price of a noisier estimate (docs/recall.md). */
#define BUILD_PSEUDO_QUERIES 64

static mx_status quick_calibration(const char *dir, const mx_build_options *o, mx_error *err) {
  if (!o->calibrate)
    return MX_OK;
  mx_tune_options to;
  mx_tune_options_init(&to);
  to.recall = o->calibrate_recall;
  to.pseudo_queries = BUILD_PSEUDO_QUERIES;
  to.time_limit_s = o->calibrate_seconds;
  to.threads = o->threads;
  to.seed = o->seed;
  if (o->progress)
    o->progress(o->progress_ctx, "calibrate", 0, 1);
  mx_status s = mx_index_tune(dir, NULL, 0, 0, &to, NULL, err);
  /* The tuning's reader left store/lock.mdb; a published index has none
   * (its first reader sizes the reader table, as without calibration). */
  char lock[PATH_MAX];
  if (snprintf(lock, sizeof lock, "%s/%s/%s", dir, MX_STORE_NAME, MX_STORE_LOCK_FILE) <
          (int)sizeof lock &&
      unlink(lock) != 0 && errno != ENOENT && s == MX_OK)
    s = mx_fail(err, mx_status_from_errno(errno), "cannot remove '%s': %s", lock, strerror(errno));
  if (s != MX_OK)
    return mx_fail_context(err, s, "quick calibration of the new index (build with calibrate = 0 "
                                   "to skip it)");
  if (o->progress)
    o->progress(o->progress_ctx, "calibrate", 1, 1);
  return MX_OK;
}

mx_status mx_builder_finish(mx_builder *b, mx_error *err) {
  return mx_builder_finish_with(b, quick_calibration, err);
}
