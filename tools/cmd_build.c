/* cmd_build.c: `metaidx build`, an index from one or more .npy document
 * files. Every input is validated (shapes, dtypes, values, ids) before the
 * builder is opened, so a bad input creates nothing; then documents stream
 * through mx_builder_add in batches, with progress on a terminal. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "budget.h"
#include "clock.h"
#include "cli.h"
#include "fsutil.h"
#include "dtype.h"
#include "idsfile.h"
#include "npy.h"
#include "pool.h"
#include "status.h"
#include "vectors.h"

#define MAX_INPUTS 4096

typedef struct input {
  const char *path;
  mx_npy f;
  mx_dtype dtype; /* MX_DTYPE_F32 or MX_DTYPE_F16 */
  uint64_t n;     /* documents */
  uint64_t first; /* index of its first document in the collection */
} input;

/* External ids: none, u64 from a .npy file, or strings from a text file. */
typedef struct ids_input {
  mx_id_kind kind;
  const char *path;
  mx_npy npy;
  const uint64_t *u64;
  mx_ids_text text;
  uint64_t count;
} ids_input;

/* ---------------------------------------------------------------- progress */

typedef struct progress {
  int tty;
  uint64_t start_ns, last_ns, phase_start_ns;
  char phase[16];
  int printed;
} progress;

static void progress_fn(void *ctx, const char *phase, uint64_t done, uint64_t total) {
  progress *p = ctx;
  if (!p->tty)
    return;
  uint64_t now = mx_now_ns();
  int new_phase = strcmp(p->phase, phase) != 0;
  if (new_phase) {
    if (p->printed)
      fputc('\n', stderr);
    snprintf(p->phase, sizeof p->phase, "%s", phase);
    p->phase_start_ns = now;
    p->printed = 0;
  } else if (now - p->last_ns < 200000000u && done != total) {
    return;
  }
  p->last_ns = now;
  double secs = (double)(now - p->phase_start_ns) / 1e9;
  double rate = secs > 0 ? (double)done / secs : 0;
  if (total) {
    double eta = rate > 0 ? (double)(total - (done < total ? done : total)) / rate : 0;
    fprintf(stderr, "\r  %-5s %llu/%llu (%.0f%%)  %.0f/s  ETA %.0fs    ", phase,
            (unsigned long long)done, (unsigned long long)total,
            100.0 * (double)done / (double)total, rate, eta);
  } else {
    fprintf(stderr, "\r  %-5s %llu  %.0f/s    ", phase, (unsigned long long)done, rate);
  }
  p->printed = 1;
}

/* From the builder: its "load" reports are dropped, as the add loop reports
 * load progress with the known total. */
static void builder_progress(void *ctx, const char *phase, uint64_t done, uint64_t total) {
  if (strcmp(phase, "load") != 0)
    progress_fn(ctx, phase, done, total);
}

static void progress_end(progress *p) {
  if (p->tty && p->printed)
    fputc('\n', stderr);
  p->printed = 0;
}

/* ---------------------------------------------------------------- validation */

/* Opens one input and checks its header against the first input's shape. */
static int open_input(input *in, const input *first) {
  mx_error err = {0};
  if (mx_npy_open(in->path, &in->f, &err) != MX_OK)
    return cli_fail_err("build", &err);
  const mx_npy_header *h = &in->f.h;
  if (h->type == MX_NPY_F32)
    in->dtype = MX_DTYPE_F32;
  else if (h->type == MX_NPY_F16)
    in->dtype = MX_DTYPE_F16;
  else
    return cli_fail("build", "%s: dtype '%s' is not supported: expected float32 ('<f4') or "
                             "float16 ('<f2')",
                    in->path, mx_npy_type_descr(h->type));
  if (h->ndim != 3)
    return cli_fail("build", "%s: %u-dimensional array: expected shape [N, R, d]", in->path,
                    h->ndim);
  if (h->shape[0] == 0)
    return cli_fail("build", "%s: no documents (shape[0] = 0)", in->path);
  if (h->shape[1] == 0 || h->shape[2] == 0 || h->shape[1] > UINT32_MAX ||
      h->shape[2] > UINT32_MAX)
    return cli_fail("build", "%s: bad shape [%llu, %llu, %llu]", in->path,
                    (unsigned long long)h->shape[0], (unsigned long long)h->shape[1],
                    (unsigned long long)h->shape[2]);
  if (first && (h->shape[1] != first->f.h.shape[1] || h->shape[2] != first->f.h.shape[2]))
    return cli_fail("build",
                    "%s: shape [%llu, %llu, %llu] does not match %s: every input needs R = %llu "
                    "vectors of d = %llu",
                    in->path, (unsigned long long)h->shape[0], (unsigned long long)h->shape[1],
                    (unsigned long long)h->shape[2], first->path,
                    (unsigned long long)first->f.h.shape[1],
                    (unsigned long long)first->f.h.shape[2]);
  in->n = h->shape[0];
  return 0;
}

#define CHECK_CHUNK 256 /* rows per parallel item */
#define CHECK_WAVE 64   /* items between progress reports */

typedef struct check_ctx {
  const input *in;
  int normalize;
  uint64_t first_chunk;
  mx_vector_check *bad; /* one per item of the wave */
} check_ctx;

static void check_chunk(void *ctx, size_t item, unsigned worker) {
  (void)worker;
  check_ctx *c = ctx;
  const input *in = c->in;
  uint64_t R = in->f.h.shape[1], d = in->f.h.shape[2];
  uint64_t lo = (c->first_chunk + item) * CHECK_CHUNK;
  uint64_t hi = lo + CHECK_CHUNK < in->n ? lo + CHECK_CHUNK : in->n;
  mx_vector_check *b = &c->bad[item];
  const unsigned char *rows = (const unsigned char *)in->f.data +
                              (size_t)(lo * R * d) * mx_dtype_bytes(in->dtype);
  if (mx_check_vectors(rows, in->dtype, (uint32_t)d, hi - lo, (uint32_t)R, (uint32_t)R,
                       !c->normalize, b))
    b->row += lo;
  else
    b->fault = MX_VECTOR_OK;
}

/* Checks every vector: finite, not all zero and (unless normalising) of
 * unit norm, as the builder would, but before anything is written. Runs on
 * all cores; reports the first bad row of the file. */
static int check_values(const input *in, int normalize, unsigned threads, progress *prog,
                        uint64_t total) {
  mx_vector_check bad[CHECK_WAVE];
  check_ctx c = {in, normalize, 0, bad};
  uint64_t chunks = (in->n + CHECK_CHUNK - 1) / CHECK_CHUNK;
  for (c.first_chunk = 0; c.first_chunk < chunks; c.first_chunk += CHECK_WAVE) {
    size_t items = (size_t)(chunks - c.first_chunk < CHECK_WAVE ? chunks - c.first_chunk
                                                                : CHECK_WAVE);
    mx_parallel_for(threads, items, check_chunk, &c);
    mx_error err;
    if (mx_npy_check_intact(&in->f, in->path, &err) != MX_OK) /* the zeros it read are not data */
      return cli_fail_err("build", &err);
    for (size_t i = 0; i < items; i++) {
      const mx_vector_check *b = &bad[i];
      unsigned long long row = b->row, v = b->vector;
      switch (b->fault) {
      case MX_VECTOR_OK:
        continue;
      case MX_VECTOR_NONFINITE:
        return cli_fail("build", "%s: row %llu, vector %llu, element %llu is %s", in->path, row,
                        v, (unsigned long long)b->element, isnan(b->value) ? "NaN" : "infinite");
      case MX_VECTOR_ZERO:
        return cli_fail("build", "%s: row %llu, vector %llu is all zeros", in->path, row, v);
      case MX_VECTOR_NORM:
        return cli_fail("build",
                        "%s: row %llu, vector %llu has norm %.4g, not 1 (vectors must be "
                        "L2-normalised; pass --normalize to do it)",
                        in->path, row, v, b->norm);
      }
    }
    uint64_t done = (c.first_chunk + items) * CHECK_CHUNK;
    progress_fn(prog, "check", in->first + (done < in->n ? done : in->n), total);
  }
  return 0;
}

typedef struct u64_row {
  uint64_t id, row;
} u64_row;

typedef struct str_row {
  const char *s;
  size_t len;
  uint64_t row;
} str_row;

static int cmp_u64_row(const void *a, const void *b) {
  const u64_row *x = a, *y = b;
  if (x->id != y->id)
    return x->id < y->id ? -1 : 1;
  return x->row < y->row ? -1 : x->row > y->row;
}

static int cmp_str_row(const void *a, const void *b) {
  const str_row *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->s, y->s, n);
  if (c)
    return c;
  if (x->len != y->len)
    return x->len < y->len ? -1 : 1;
  return x->row < y->row ? -1 : x->row > y->row;
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Reads the ids file, checks its length and that no id repeats (on a
 * sorted copy, so the message can name both rows). */
static int load_ids(ids_input *ids, uint64_t total) {
  mx_error err = {0};
  if (ends_with(ids->path, ".npy")) {
    if (mx_npy_open(ids->path, &ids->npy, &err) != MX_OK)
      return cli_fail_err("build", &err);
    if (ids->npy.h.type != MX_NPY_U64 || ids->npy.h.ndim != 1)
      return cli_fail("build", "%s: ids must be a 1-dimensional uint64 ('<u8') array, found %s "
                               "with %u dimensions",
                      ids->path, mx_npy_type_descr(ids->npy.h.type), ids->npy.h.ndim);
    ids->kind = MX_IDS_U64;
    ids->u64 = ids->npy.data;
    ids->count = ids->npy.h.shape[0];
  } else {
    if (mx_ids_text_read(ids->path, &ids->text, &err) != MX_OK)
      return cli_fail_err("build", &err);
    ids->kind = MX_IDS_STRING;
    ids->count = ids->text.count;
  }
  if (ids->count != total)
    return cli_fail("build", "%s: %llu ids for %llu documents: need exactly one id per document",
                    ids->path, (unsigned long long)ids->count, (unsigned long long)total);
  int rc = 0;
  if (ids->kind == MX_IDS_U64) {
    u64_row *s = malloc((size_t)total * sizeof *s);
    if (!s)
      return cli_fail("build", "%s: out of memory checking ids", ids->path);
    for (uint64_t i = 0; i < total; i++) {
      memcpy(&s[i].id, (const unsigned char *)ids->u64 + 8 * i, 8);
      s[i].row = i;
    }
    qsort(s, (size_t)total, sizeof *s, cmp_u64_row);
    for (uint64_t i = 1; i < total && !rc; i++)
      if (s[i].id == s[i - 1].id)
        rc = cli_fail("build", "%s: duplicate id %llu at rows %llu and %llu", ids->path,
                      (unsigned long long)s[i].id, (unsigned long long)s[i - 1].row,
                      (unsigned long long)s[i].row);
    free(s);
  } else {
    str_row *s = malloc((size_t)total * sizeof *s);
    if (!s)
      return cli_fail("build", "%s: out of memory checking ids", ids->path);
    for (uint64_t i = 0; i < total; i++)
      s[i] = (str_row){ids->text.ids[i], ids->text.lengths[i], i};
    qsort(s, (size_t)total, sizeof *s, cmp_str_row);
    for (uint64_t i = 1; i < total && !rc; i++)
      if (s[i].len == s[i - 1].len && memcmp(s[i].s, s[i - 1].s, s[i].len) == 0)
        rc = cli_fail("build", "%s: duplicate id '%.*s' at lines %llu and %llu", ids->path,
                      (int)(s[i].len > 80 ? 80 : s[i].len), s[i].s,
                      (unsigned long long)s[i - 1].row + 1, (unsigned long long)s[i].row + 1);
    free(s);
  }
  return rc;
}

/* ---------------------------------------------------------------- command */

/* SIGINT/SIGTERM while documents load: the add loop stops, the builder is
 * aborted (removing only what it created) and the signal is raised again.
 * During mx_builder_finish (training, writing) the default action is back:
 * a signal then kills the build as a crash would, leaving "<out>.building"
 * for the next run to clean. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig) { interrupted = sig; }

static void catch_signals(int on) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on ? on_signal : SIG_DFL;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

int cmd_build(int argc, char **argv) {
  const char *out = NULL, *dtype_name = "f16", *budgets = NULL, *coarse = NULL, *ids_path = NULL;
  uint32_t keep = 0, nprobe = 0, threads = 0, batch = 1024;
  const char *first_stage = "auto";
  uint32_t fs_vectors = 0, fs_query_vectors = 0, fs_max_bytes = 0;
  uint64_t train_sample = 0, seed = 42;
  int overwrite = 0, normalize = 0, no_progress = 0, no_calibrate = 0;
  double calibrate_s = MX_BUILD_CALIBRATE_SECONDS;
  cli_opt opts[] = {
      {"out", CLI_STRING, &out, "DIR", "index directory to create", 1, 0},
      {"dtype", CLI_STRING, &dtype_name, "f32|f16|bf16|int8", "stored dtype (default f16)", 0, 0},
      {"keep", CLI_U32, &keep, "R", "vectors kept per document, a prefix (default all)", 0, 0},
      {"budgets", CLI_STRING, &budgets, "LIST",
       "nested budgets, e.g. 1x1,2x4,4x8,8x16,16x64 (the default, clipped to --keep)", 0, 0},
      {"coarse", CLI_STRING, &coarse, "FACTORY",
       "FAISS factory string for the coarse index (default chosen from N and d)", 0, 0},
      {"nprobe", CLI_U32, &nprobe, "P", "default nprobe recorded for searches (default chosen)",
       0, 0},
      {"train-sample", CLI_U64, &train_sample, "N",
       "leading vectors to train the coarse index on (default chosen)", 0, 0},
      {"first-stage", CLI_STRING, &first_stage, "auto|leading|pooled|multi",
       "what the coarse index holds per document (default auto: measured at build, see "
       "docs/first_stage.md)",
       0, 0},
      {"first-stage-vectors", CLI_U32, &fs_vectors, "M",
       "document vectors pooled or indexed by pooled/multi (default measured, or 4)", 0, 0},
      {"first-stage-query-vectors", CLI_U32, &fs_query_vectors, "R",
       "most query vectors the first stage uses (default all the budget scores)", 0, 0},
      {"first-stage-max-bytes", CLI_U32, &fs_max_bytes, "B",
       "coarse-index bytes per document auto may choose (default 4096)", 0, 0},
      {"ids", CLI_STRING, &ids_path, "FILE",
       "external ids: .npy uint64 [N], or text with one string per line (default: row numbers)",
       0, 0},
      {"threads", CLI_U32, &threads, "T", "threads (default all cores)", 0, 0},
      {"seed", CLI_U64, &seed, "S", "training-sample seed (default 42)", 0, 0},
      {"batch", CLI_U32, &batch, "N", "documents per mx_builder_add call (default 1024)", 0, 0},
      {"overwrite", CLI_FLAG, &overwrite, NULL, "replace an existing index at --out", 0, 0},
      {"normalize", CLI_FLAG, &normalize, NULL,
       "L2-normalise input vectors (default: reject vectors whose norm is not 1)", 0, 0},
      {"no-progress", CLI_FLAG, &no_progress, NULL, "no progress line even on a terminal", 0, 0},
      {"no-calibrate", CLI_FLAG, &no_calibrate, NULL,
       "skip the quick recall calibration on pseudo-queries (docs/recall.md)", 0, 0},
      {"calibrate-time", CLI_DOUBLE, &calibrate_s, "S",
       "time limit of the quick calibration in seconds (default 30; 0 = none)", 0, 0},
      {NULL, 0, NULL, NULL, NULL, 0, 0},
  };
  cli_command cmd = {"build", "DOCS.npy [DOCS.npy ...]",
                     "Builds an index from .npy files of shape [N, R, d] (float32 or float16, C "
                     "order, L2-normalised vectors);\nseveral files form one collection in the "
                     "order given. All inputs are checked before anything is written.",
                     opts, 1, MAX_INPUTS};
  static char *pos[MAX_INPUTS];
  uint32_t n_in;
  int rc = cli_parse(&cmd, argc, argv, pos, MAX_INPUTS, &n_in);
  if (rc >= 0)
    return rc;
  rc = 0;

  mx_error err = {0};
  mx_build_options bo;
  mx_build_options_init(&bo);
  if (mx_dtype_parse(dtype_name, &bo.dtype, &err) != MX_OK)
    return cli_usage_error("build", "invalid value '%s' for --dtype: expected f32, f16, bf16 or "
                                    "int8",
                           dtype_name);
  if (budgets) {
    mx_error perr = {0};
    if (mx_budgets_parse(budgets, bo.budgets, MX_MAX_BUDGETS, &bo.n_budgets, &perr) != MX_OK)
      return cli_usage_error("build", "invalid value for --budgets: %s", perr.message);
  }
  if (mx_first_stage_parse(first_stage, &bo.first_stage, &err) != MX_OK)
    return cli_usage_error("build", "invalid value '%s' for --first-stage: expected auto, "
                                    "leading, pooled or multi",
                           first_stage);
  bo.first_stage_vectors = fs_vectors;
  bo.first_stage_query_vectors = fs_query_vectors;
  bo.first_stage_max_bytes = fs_max_bytes;
  if (batch == 0)
    return cli_usage_error("build", "--batch must be at least 1");
  if (!(calibrate_s >= 0))
    return cli_usage_error("build", "--calibrate-time %g must be >= 0", calibrate_s);
  if (cli_check_threads("build", threads))
    return CLI_EXIT_USAGE;
  if (!overwrite && mx_path_exists(out))
    return cli_fail("build", "%s already exists (pass --overwrite to replace it)", out);

  input *in = calloc(n_in, sizeof *in);
  ids_input ids = {.kind = MX_IDS_ROW, .path = ids_path};
  mx_builder *b = NULL;
  if (!in)
    return cli_fail("build", "out of memory");
  progress prog = {.tty = !no_progress && isatty(STDERR_FILENO), .start_ns = mx_now_ns()};

  /* 1. Validate everything. */
  uint64_t total = 0;
  for (uint32_t i = 0; i < n_in && !rc; i++) {
    in[i].path = pos[i];
    rc = open_input(&in[i], i ? &in[0] : NULL);
    in[i].first = total;
    total += in[i].n;
  }
  uint32_t R = 0, dim = 0;
  if (!rc) {
    R = (uint32_t)in[0].f.h.shape[1];
    dim = (uint32_t)in[0].f.h.shape[2];
    if (keep > R)
      rc = cli_usage_error("build", "--keep %u is more than the %u vectors per document in %s",
                           keep, R, in[0].path);
  }
  for (uint32_t i = 0; i < n_in && !rc; i++)
    rc = check_values(&in[i], normalize, threads, &prog, total);
  if (!rc && ids_path)
    rc = load_ids(&ids, total);

  /* 2. Stream every document through the builder. */
  catch_signals(1);
  if (!rc) {
    bo.keep = keep;
    bo.coarse_factory = coarse;
    bo.coarse_nprobe = nprobe;
    bo.train_sample = train_sample;
    bo.expected_docs = total;
    bo.id_kind = ids.kind;
    bo.threads = threads;
    bo.seed = seed;
    bo.overwrite = overwrite;
    bo.normalize = normalize;
    /* on by default (off where MX_BUILD_CALIBRATE=0); --calibrate-time turns it on */
    bo.calibrate = !no_calibrate && (bo.calibrate || cli_seen(opts, "calibrate-time"));
    bo.calibrate_seconds = calibrate_s;
    bo.progress = builder_progress;
    bo.progress_ctx = &prog;
    if (mx_builder_open(out, dim, R, &bo, &b, &err) != MX_OK)
      rc = cli_fail_err("build", &err);
  }
  for (uint32_t i = 0; i < n_in && !rc; i++) {
    size_t doc_bytes = (size_t)R * dim * mx_dtype_bytes(in[i].dtype);
    for (uint64_t row = 0; row < in[i].n && !rc; row += batch) {
      uint64_t n = in[i].n - row < batch ? in[i].n - row : batch;
      uint64_t g = in[i].first + row;
      const void *vec = (const unsigned char *)in[i].f.data + row * doc_bytes;
      const uint64_t *u64 = ids.kind == MX_IDS_U64 ? ids.u64 + g : NULL;
      const char *const *keys = ids.kind == MX_IDS_STRING ? ids.text.ids + g : NULL;
      const size_t *lens = ids.kind == MX_IDS_STRING ? ids.text.lengths + g : NULL;
      if (interrupted) {
        rc = cli_fail("build", "interrupted; the unfinished build is removed");
      } else if (mx_builder_add(b, n, u64, keys, lens, vec, in[i].dtype, &err) != MX_OK) {
        /* zeros read past a truncation are not the input's fault */
        if (mx_npy_check_intact(&in[i].f, in[i].path, &err) == MX_OK)
          mx_fail_context(&err, err.status, "%s: rows %llu..%llu", in[i].path,
                          (unsigned long long)row, (unsigned long long)(row + n - 1));
        rc = cli_fail_err("build", &err);
      } else {
        progress_fn(&prog, "load", g + n, total);
      }
    }
  }
  if (!rc && interrupted)
    rc = cli_fail("build", "interrupted; the unfinished build is removed");
  /* An input truncated while it was read gave zeros past its new end (not
   * SIGBUS): refuse before anything is published. */
  for (uint32_t i = 0; i < n_in && !rc; i++)
    if (mx_npy_check_intact(&in[i].f, in[i].path, &err) != MX_OK)
      rc = cli_fail_err("build", &err);
  if (!rc && ids.kind == MX_IDS_U64 && mx_npy_check_intact(&ids.npy, ids.path, &err) != MX_OK)
    rc = cli_fail_err("build", &err);
  catch_signals(0);
  if (!rc) {
    mx_builder *fin = b;
    b = NULL;
    if (mx_builder_finish(fin, &err) != MX_OK)
      rc = cli_fail_err("build", &err);
  }
  progress_end(&prog);
  mx_builder_abort(b);
  if (!rc)
    fprintf(stderr, "metaidx build: %llu documents from %u file%s into %s in %.1f s\n",
            (unsigned long long)total, n_in, n_in == 1 ? "" : "s", out,
            mx_ms_since(prog.start_ns) / 1e3);
  for (uint32_t i = 0; i < n_in; i++)
    mx_npy_close(&in[i].f);
  free(in);
  mx_npy_close(&ids.npy);
  mx_ids_text_free(&ids.text);
  if (interrupted)
    raise(interrupted); /* the default action is back: exit by the signal */
  return rc;
}
