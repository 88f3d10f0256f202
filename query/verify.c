/* verify.c: mx_index_verify, a full check of an index directory: manifest,
 * coarse.faiss checksum, every record segment and the id maps. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coarse.h"
#include "first_stage.h"
#include "fsutil.h"
#include "index_internal.h"
#include "layout.h"
#include "manifest.h"
#include "metaidx.h"
#include "status.h"
#include "store.h"

/* Problems held back while the check might still start again (see
 * mx_index_verify); past this many they go to the caller as found. */
#define HELD_MAX 1024

typedef struct verify_ctx {
  mx_problem_fn fn;
  void *ctx;
  mx_verify_report *report;
  const char *store_path;
  const char *dir;
  char **held; /* messages not yet delivered */
  size_t n_held;
  int live; /* deliver as found: the check will not start again */
} verify_ctx;

static void deliver(verify_ctx *v) {
  for (size_t i = 0; i < v->n_held; i++) {
    if (v->fn)
      v->fn(v->ctx, v->held[i]);
    free(v->held[i]);
  }
  v->n_held = 0;
}

static void drop_held(verify_ctx *v) {
  for (size_t i = 0; i < v->n_held; i++)
    free(v->held[i]);
  v->n_held = 0;
}

static void problem(verify_ctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(verify_ctx *v, const char *fmt, ...) {
  char msg[MX_ERROR_MESSAGE_MAX + 64];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  v->report->problems++;
  if (!v->live && v->n_held < HELD_MAX && (v->held[v->n_held] = strdup(msg)) != NULL) {
    v->n_held++;
    return;
  }
  v->live = 1; /* too many to hold (or no memory): no second attempt */
  deliver(v);
  if (v->fn)
    v->fn(v->ctx, msg);
}

static int store_problem(void *ctx, uint64_t id, mx_status status, const char *message) {
  verify_ctx *v = ctx;
  (void)status;
  problem(v, "%s: document %llu: %s", v->store_path, (unsigned long long)id, message);
  return 0;
}

static void verify_store(verify_ctx *v, const mx_manifest *m, int have_manifest) {
  mx_store_open_options so;
  mx_store_open_options_init(&so);
  mx_store *store = NULL;
  mx_error err;
  mx_error_clear(&err);
  if (mx_store_open(v->store_path, &so, &store, &err) != MX_OK) {
    problem(v, "%s", err.message);
    return;
  }
  if (have_manifest && mx_index_check_identity(v->dir, m, store, &err) != MX_OK)
    problem(v, "%s", err.message);
  mx_error_clear(&err);
  mx_store_verify_report sr = {0};
  if (mx_store_verify(store, have_manifest ? m->dim : 0, have_manifest ? m->vectors_per_doc : 0,
                      have_manifest ? (int)m->dtype : -1, store_problem, v, &sr, &err) != MX_OK)
    problem(v, "%s", err.message);
  v->report->records = sr.records;
  v->report->bad_records = sr.bad_records;
  v->report->bad_keys = sr.bad_keys;
  if (have_manifest && sr.records != m->n_docs)
    problem(v, "%s: holds %llu documents, the manifest says %llu", v->store_path,
            (unsigned long long)sr.records, (unsigned long long)m->n_docs);
  mx_store_close(store);
}

static void check_once(verify_ctx *v, mx_manifest *m, const char *store_path,
                       const char *coarse_path);

mx_status mx_index_verify(const char *dir, mx_problem_fn fn, void *ctx,
                          mx_verify_report *report, mx_error *err) {
  if (!dir || !report)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_index_verify: NULL dir or report");
  memset(report, 0, sizeof *report);
  if (!mx_path_exists(dir))
    return mx_fail(err, MX_ERR_NOT_FOUND, "'%s' does not exist", dir);
  char store_path[PATH_MAX], coarse_path[PATH_MAX];
  MX_TRY(mx_path_join(store_path, sizeof store_path, dir, MX_STORE_NAME, err));
  MX_TRY(mx_path_join(coarse_path, sizeof coarse_path, dir, MX_COARSE_NAME, err));
  char **held = malloc(HELD_MAX * sizeof *held);
  verify_ctx v = {.fn = fn, .ctx = ctx, .report = report, .store_path = store_path,
                  .dir = dir, .held = held, .live = held == NULL};
  /* The parts are read one after another by path: a rebuild published in
   * between (--overwrite swaps the directories) mixes two indexes. If
   * problems were found and the manifest names another index by now, the
   * check saw that swap: check again. Problems are held back until then. */
  for (int attempt = 0;; attempt++) {
    mx_manifest m;
    memset(&m, 0, sizeof m);
    check_once(&v, &m, store_path, coarse_path);
    if (v.live || report->problems == 0 || attempt == MX_OPEN_RETRIES || m.format_major == 0 ||
        !mx_index_manifest_moved(dir, &m))
      break;
    drop_held(&v);
    memset(report, 0, sizeof *report);
  }
  deliver(&v);
  free(held);
  return MX_OK;
}

/* One pass over the parts; *mp gets the manifest it read (zeroed if none). */
static void check_once(verify_ctx *v, mx_manifest *mp, const char *store_path,
                       const char *coarse_path) {
  const char *dir = v->dir;
  mx_manifest m;
  mx_error e;
  mx_error_clear(&e);
  int have_manifest = mx_manifest_read(dir, &m, &e) == MX_OK;
  if (have_manifest)
    *mp = m;
  else
    problem(v, "%s", e.message);
  if (have_manifest) {
    mx_coarse *c = NULL;
    mx_error_clear(&e);
    if (mx_coarse_read(coarse_path, m.coarse_bytes, m.coarse_xxh3, &c, &e) != MX_OK)
      problem(v, "%s", e.message);
    else if (mx_coarse_count(c) != mx_first_stage_coarse_entries(&m) || mx_coarse_dim(c) != m.dim)
      problem(v, "%s: %llu vectors of dimension %u, the manifest says %llu of %u", coarse_path,
              (unsigned long long)mx_coarse_count(c), mx_coarse_dim(c),
              (unsigned long long)mx_first_stage_coarse_entries(&m), m.dim);
    mx_coarse_free(c);
  }
  verify_store(v, &m, have_manifest);
}
