/* metaidx.h: the public API of metaidx, a disk-resident index engine for
 * multi-vector (MetaEmbed-style, nested "Matryoshka") collections.
 *
 * This header is the API reference. Anything not declared here is internal.
 *
 * Conventions
 * - Every function that can fail returns an mx_status; MX_OK (0) is success.
 *   A failing call also fills the caller's optional mx_error (may be NULL)
 *   with a message naming the file, row, key or parameter at fault.
 * - Handles are opaque and typed. Every *_close / *_abort accepts NULL.
 * - Options structs are initialised by their *_init function, which sets the
 *   defaults; new fields are only ever appended, so callers that init first
 *   keep working. *_init(NULL) is a no-op.
 * - A NULL handle or a NULL required pointer is MX_ERR_INVALID_ARGUMENT,
 *   never a crash; a function that fails sets its *out handle to NULL.
 * - Results go into arrays the caller allocates. Nothing returned points into
 *   the library's memory maps.
 * - No global state: any number of indexes may be open at once, and one open
 *   mx_index may be searched from any number of threads at the same time.
 * - Binary compatibility: the shared library exports exactly the functions
 *   declared here (each marked MX_API; a test compares the export list with
 *   this header), so nothing internal can be linked by accident. Status and
 *   enum values never change meaning. Options and result structs grow by
 *   appended fields, which changes their size: until version 1.0 every minor
 *   version may change the ABI (the soname is libmetaidx.so.0.MINOR), so
 *   rebuild against the header of the library you load.
 */
#ifndef METAIDX_H
#define METAIDX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the public functions: the library is compiled with
 * -fvisibility=hidden, and only MX_API declarations are exported. */
#if defined(__GNUC__) || defined(__clang__)
#define MX_API __attribute__((visibility("default")))
#else
#define MX_API
#endif

#define MX_VERSION_MAJOR 0
#define MX_VERSION_MINOR 1
#define MX_VERSION_PATCH 0
#define MX_VERSION_STRING "0.1.0"

/* The library's version string, e.g. "0.1.0" (may differ from the header's
 * MX_VERSION_STRING when linked against another build). */
MX_API const char *mx_version(void);

/* ---------------------------------------------------------------- status */

/* X(name, value, message). Values are stable: never renumbered, only added. */
#define MX_STATUS_LIST(X)                                                     \
  X(MX_OK, 0, "success")                                                      \
  X(MX_ERR_INVALID_ARGUMENT, 1, "invalid argument")                          \
  X(MX_ERR_IO, 2, "input/output error")                                      \
  X(MX_ERR_NO_MEMORY, 3, "out of memory")                                    \
  X(MX_ERR_NOT_FOUND, 4, "not found")                                        \
  X(MX_ERR_EXISTS, 5, "already exists")                                      \
  X(MX_ERR_FORMAT, 6, "not a metaidx file or malformed")                     \
  X(MX_ERR_VERSION, 7, "format version is newer than this library supports") \
  X(MX_ERR_CORRUPT, 8, "data corrupted (checksum mismatch)")                 \
  X(MX_ERR_BAD_INPUT, 9, "invalid input data")                               \
  X(MX_ERR_DISK_FULL, 10, "no space left on device")                         \
  X(MX_ERR_MAP_FULL, 11, "storage map full")                                 \
  X(MX_ERR_STORAGE, 12, "storage engine error")                              \
  X(MX_ERR_COARSE, 13, "coarse index error")                                 \
  X(MX_ERR_UNSUPPORTED, 14, "unsupported")                                   \
  X(MX_ERR_BUSY, 15, "resource busy")                                        \
  X(MX_ERR_STATE, 16, "call not valid in the handle's current state")        \
  X(MX_ERR_INTERNAL, 17, "internal error")

typedef enum mx_status {
#define MX_STATUS_ENUM_(name, value, message) name = value,
  MX_STATUS_LIST(MX_STATUS_ENUM_)
#undef MX_STATUS_ENUM_
} mx_status;

/* Short generic message for a status ("checksum mismatch", ...); never NULL. */
MX_API const char *mx_status_str(mx_status status);
/* The enum constant's name ("MX_ERR_CORRUPT"); never NULL. */
MX_API const char *mx_status_name(mx_status status);

#define MX_ERROR_MESSAGE_MAX 512

/* Filled by a failing call: status plus a specific, human-readable message. */
typedef struct mx_error {
  mx_status status;
  char message[MX_ERROR_MESSAGE_MAX];
} mx_error;

/* ---------------------------------------------------------------- dtypes */

/* Stored (and input) element types. Values are stored on disk: stable. */
typedef enum mx_dtype {
  MX_DTYPE_F32 = 0,
  MX_DTYPE_F16 = 1,
  MX_DTYPE_BF16 = 2,
  MX_DTYPE_INT8 = 3 /* symmetric, one float32 scale per vector */
} mx_dtype;

/* "f32", "f16", "bf16", "int8"; NULL for an unknown value. */
MX_API const char *mx_dtype_name(mx_dtype dtype);
/* Parses a name as printed by mx_dtype_name. */
MX_API mx_status mx_dtype_parse(const char *name, mx_dtype *out, mx_error *err);

/* The SIMD path the kernels run on this machine: "avx2" or "scalar"
 * (forced by the environment variable MX_SIMD=scalar). */
MX_API const char *mx_simd_path(void);

/* A scoring budget: the first r_q query vectors against the first r_c
 * document vectors. */
typedef struct mx_budget {
  uint32_t r_q;
  uint32_t r_c;
} mx_budget;


#define MX_MAX_BUDGETS 16
#define MX_MAX_STAGES 8
#define MX_MAX_KEY_BYTES 511
/* Most threads a build or search may be asked for (libgomp dies of stack
 * exhaustion far above it: 60000 threads failed, 100000 crashed). */
#define MX_MAX_THREADS 1024

/* How documents are named outside the index. */
typedef enum mx_id_kind {
  MX_IDS_ROW = 0,   /* external id = row number across the inputs, from 0 */
  MX_IDS_U64 = 1,   /* caller-given 64-bit integers */
  MX_IDS_STRING = 2 /* caller-given strings of 1..MX_MAX_KEY_BYTES bytes of UTF-8,
                       without spaces or control characters */
} mx_id_kind;

/* ---------------------------------------------------------------- first stage
 *
 * What the coarse (first) stage indexes for each document and searches
 * with; chosen at build time and recorded in the manifest. How well the
 * leading vector alone predicts a budget's ranking depends on the model and
 * the data, so by default the build measures it (docs/first_stage.md). */
typedef enum mx_first_stage {
  MX_FIRST_STAGE_LEADING = 0, /* document vector 0; searched with query vector 0 */
  MX_FIRST_STAGE_POOLED = 1,  /* one entry per document, the normalised mean of its
                                 first m vectors; searched with the normalised sum of
                                 the query vectors the budget scores */
  MX_FIRST_STAGE_MULTI = 2,   /* the first m document vectors, m entries per
                                 document; each query vector the budget scores
                                 searches, and documents are ranked by the
                                 approximate MaxSim of what came back (a query
                                 vector that did not reach a document counts the
                                 lowest score it returned) */
  MX_FIRST_STAGE_AUTO = 3     /* build only: the build measures the three on a
                                 sample (pseudo-queries) and keeps the cheapest
                                 that ranks well enough, preferring the leading
                                 vector unless another needs clearly fewer
                                 candidates */
} mx_first_stage;

/* "leading", "pooled", "multi", "auto"; NULL for an unknown value. */
MX_API const char *mx_first_stage_name(mx_first_stage kind);
/* Parses a name as printed by mx_first_stage_name. */
MX_API mx_status mx_first_stage_parse(const char *name, mx_first_stage *out, mx_error *err);

/* ---------------------------------------------------------------- building
 *
 * An index is built offline by one thread: open, add documents in order
 * (any number of calls), finish. The build happens in "<dir>.building"
 * beside the target and is published by one rename; a build that fails, is
 * aborted or is killed leaves no directory that looks like an index, and
 * running it again starts over cleanly. The builder deletes only what it
 * created: a leftover "<dir>.building" or an index to overwrite that holds
 * any other file is refused (MX_ERR_EXISTS naming the file), and a target
 * that appears during a build without overwrite is never replaced. Memory
 * stays bounded by the batch given to mx_builder_add and the training
 * sample, never by N. */

typedef struct mx_builder mx_builder;

/* Progress callback: phase is "load", "trial" (choosing the first stage),
 * "train", "add" or "calibrate" (the quick recall calibration); total is 0
 * when unknown. Called from the building thread. */
typedef void (*mx_progress_fn)(void *ctx, const char *phase, uint64_t done, uint64_t total);

typedef struct mx_build_options {
  mx_dtype dtype;          /* stored dtype; default MX_DTYPE_F16 */
  uint32_t keep;           /* vectors kept per document (a prefix); 0 = all */
  uint32_t n_budgets;      /* 0 = MetaEmbed's (1,1) (2,4) (4,8) (8,16) (16,64), */
  mx_budget budgets[MX_MAX_BUDGETS]; /*   clipped to what is kept */
  const char *coarse_factory; /* FAISS factory string; NULL = chosen from N, d */
  uint32_t coarse_nprobe;  /* default nprobe recorded for searches; 0 = chosen */
  uint64_t train_sample;   /* leading vectors to train on; 0 = chosen */
  uint64_t expected_docs;  /* hint for sizing the store; 0 = unknown */
  mx_id_kind id_kind;      /* default MX_IDS_ROW */
  uint32_t threads;        /* 0 = all cores; at most MX_MAX_THREADS */
  uint64_t seed;           /* training-sample seed; default 42 */
  int overwrite;           /* replace an index already at dir; default 0 */
  int normalize;           /* 1: L2-normalise input vectors; 0 (default):
                              reject vectors whose norm is off by > 1e-2 */
  mx_progress_fn progress; /* optional */
  void *progress_ctx;
  mx_first_stage first_stage;   /* default MX_FIRST_STAGE_AUTO */
  uint32_t first_stage_vectors; /* m of pooled and multi (1..kept vectors);
                                   0 = measured (auto) or 4 (capped at kept) */
  uint32_t first_stage_query_vectors; /* most query vectors the first stage
                                   uses (pooled, multi); 0 = all the budget scores */
  uint32_t first_stage_max_bytes; /* coarse-index bytes per document auto may
                                   spend (an estimate from the factory); 0 = 4096 */
  int calibrate;           /* 1 (default): mx_builder_finish ends with a quick
                              calibration (mx_index_tune on pseudo-queries, see
                              docs/recall.md) stored in the index before it is
                              published, so a fresh index searches by recall; 0:
                              none (searches then use MX_DEFAULT_CANDIDATES) */
  double calibrate_seconds; /* its time limit; default MX_BUILD_CALIBRATE_SECONDS;
                               0 = none. Budgets it leaves unmeasured are marked
                               skipped and searched with a larger one's entry */
  float calibrate_recall;  /* its recall@10 target; default MX_DEFAULT_RECALL */
} mx_build_options;

/* The build's quick calibration stops measuring after this many seconds. */
#define MX_BUILD_CALIBRATE_SECONDS 30.0

MX_API void mx_build_options_init(mx_build_options *o);

/* Starts a build of an index with vectors of `dim` floats and
 * `vectors_per_doc` nested vectors per document (as given to add; `keep`
 * may store fewer). MX_ERR_EXISTS if dir exists and overwrite is 0;
 * MX_ERR_BUSY if another build of dir is running. */
MX_API mx_status mx_builder_open(const char *dir, uint32_t dim, uint32_t vectors_per_doc,
                                 const mx_build_options *opts, mx_builder **out, mx_error *err);

/* Adds n documents: vectors is n x vectors_per_doc x dim of input_dtype
 * (MX_DTYPE_F32 or MX_DTYPE_F16), C order. ids: n integers for
 * MX_IDS_U64, NULL otherwise; keys: n strings for MX_IDS_STRING (key_lens
 * may be NULL for NUL-terminated), NULL otherwise. Each batch is checked
 * before anything of it is written: NaN/Inf, all-zero vectors and norms
 * fail with MX_ERR_BAD_INPUT naming the document (0-based, over the whole
 * build) and vector; a duplicate id fails with MX_ERR_EXISTS. n = 0 is a
 * no-op. MX_ERR_INVALID_ARGUMENT (NULL vectors, ids or keys where needed, an
 * input dtype other than f32/f16) leaves the builder as it was; after any
 * other error it only accepts mx_builder_abort (mx_builder_finish then
 * fails with MX_ERR_STATE and frees it). */
MX_API mx_status mx_builder_add(mx_builder *b, uint64_t n, const uint64_t *ids, const char *const *keys,
                                const size_t *key_lens, const void *vectors, mx_dtype input_dtype,
                                mx_error *err);

/* Trains the coarse index, adds every leading vector, writes coarse.faiss and
 * manifest.json, runs the quick calibration (unless calibrate is 0; a
 * failing calibration fails the build, its message saying so), makes
 * everything durable and publishes the directory. The
 * builder is freed whatever the outcome (do not abort it afterwards).
 * MX_ERR_BAD_INPUT if no document was added, MX_ERR_STATE after a failed
 * add, MX_ERR_INVALID_ARGUMENT for NULL. */
MX_API mx_status mx_builder_finish(mx_builder *b, mx_error *err);

/* Discards the build and frees the builder. NULL is a no-op. */
MX_API void mx_builder_abort(mx_builder *b);

/* ---------------------------------------------------------------- searching */

typedef struct mx_index mx_index;

typedef struct mx_open_options {
  uint32_t max_readers; /* concurrent searches on this handle; 0 = 126. One
                           more is MX_ERR_BUSY. Each handle counts its own:
                           readers keep no lock file (an index can be
                           searched on read-only media or by another user,
                           and opened any number of times in a process). */
  int verify;           /* check record checksums on every read; default 1 */
  int ignore_calibration; /* 1: do not load calibration.jsonl (searches then
                             use the uncalibrated default); default 0 */
} mx_open_options;

MX_API void mx_open_options_init(mx_open_options *o);

/* Opens the index at dir: checks the manifest (MX_ERR_VERSION for a newer
 * format), the coarse index against its recorded checksum (MX_ERR_CORRUPT)
 * and the store's document count. opts may be NULL for defaults.
 * MX_ERR_NOT_FOUND for a directory without an index; a damaged manifest is
 * MX_ERR_FORMAT, a damaged coarse.faiss or a count mismatch MX_ERR_CORRUPT.
 * A calibration table (calibration.jsonl) is optional: without one searches
 * use the uncalibrated default; one that is damaged (checksum, syntax,
 * values) or belongs to another index (it names the manifest it was
 * measured on) is MX_ERR_CORRUPT naming the file, and one of a newer format
 * MX_ERR_VERSION: it is never silently ignored. Run mx_index_tune again
 * (it replaces the file), delete the file, or set ignore_calibration. */
MX_API mx_status mx_index_open(const char *dir, const mx_open_options *opts, mx_index **out,
                               mx_error *err);

/* NULL is a no-op. No search may be running on the index. */
MX_API void mx_index_close(mx_index *index);

typedef struct mx_info {
  uint32_t format_major, format_minor;
  uint32_t dim;
  uint32_t vectors_per_doc;
  mx_dtype dtype;
  uint64_t n_docs;
  uint32_t n_budgets;
  mx_budget budgets[MX_MAX_BUDGETS];
  mx_id_kind id_kind;
  char coarse_factory[256];
  uint32_t coarse_nprobe, coarse_ef_search;
  uint64_t coarse_bytes; /* coarse.faiss on disk */
  uint64_t store_bytes;  /* store/ on disk */
  char created[32];
  char library_version[32];
  mx_first_stage first_stage;         /* never MX_FIRST_STAGE_AUTO */
  uint32_t first_stage_vectors;       /* m: 1 for leading */
  uint32_t first_stage_query_vectors; /* 0 = all the budget scores */
  uint64_t coarse_entries;            /* vectors in the coarse index */
  char first_stage_trial[256];        /* what the build measured (auto), or "" */
} mx_info;

MX_API mx_status mx_index_info(const mx_index *index, mx_info *out, mx_error *err);

/* One cascade stage: score the surviving candidates at (r_q, r_c) and keep
 * the best `keep` for the next stage. */
typedef struct mx_stage {
  uint32_t r_q, r_c, keep;
} mx_stage;

typedef struct mx_search_options {
  uint32_t k;          /* hits wanted; default 10; 0 is MX_ERR_INVALID_ARGUMENT */
  uint32_t r_q, r_c;   /* final budget; 0 = the largest (every query vector
                          given / every stored vector) */
  uint32_t candidates; /* k': coarse candidates rescored, raised to k. 0 (the
                          default): chosen from the index's calibration table
                          for the final budget, k and `recall` (see
                          mx_search_stats.candidates_source, docs/recall.md);
                          without a usable entry MX_DEFAULT_CANDIDATES.
                          k' >= the document count rescores every document
                          (exact search over the collection) */
  uint32_t nprobe;     /* coarse IVF lists probed; 0 = the index's default */
  uint32_t ef_search;  /* coarse HNSW; 0 = the index's default */
  uint32_t n_stages;   /* cascade stages before the final one; default 0 */
  mx_stage stages[MX_MAX_STAGES];
  int prefetch;        /* hint the kernel for all candidates' pages; default 1 */
  int skip_corrupt;    /* 1: skip (and count) corrupt records instead of failing */
  int coarse_only;     /* 1: return the first stage's ranking and scores, no rescoring */
  float recall;        /* recall@k target for candidates = 0: in (0, 1], or 0
                          (default) for the table's own target (what it was
                          tuned for: 0.95 unless tuned otherwise). NaN, < 0
                          or > 1 is MX_ERR_INVALID_ARGUMENT, even when
                          candidates is given (which then wins) */
  uint32_t threads;    /* threads one mx_search may rescore on: 0 (default) =
                          automatic, more than one only for a stage of enough
                          work (candidates x r_q x r_c x d of ~32 M multiply-
                          adds or more per thread, at most one per core); 1 =
                          the calling thread only (what a server running many
                          searches at once wants). The hits do not depend on
                          it. mx_search_batch runs each query on one thread. */
} mx_search_options;

/* k' when candidates is 0 and the table has no usable entry (or the index
 * has no table): the fixed count of earlier versions. */
#define MX_DEFAULT_CANDIDATES 100
/* The recall target reported for a search without a table and without a
 * recall option (the build's quick calibration aims at it too). */
#define MX_DEFAULT_RECALL 0.95f

MX_API void mx_search_options_init(mx_search_options *o);

/* Sets o's cascade from n_stages stages, in order, with the rules of
 * `metaidx search --cascade` (so a program gets the command line's
 * behaviour; filling o->stages by hand keeps them as given):
 * - when o->r_q and o->r_c are both 0 (the defaults), the final budget
 *   becomes the last stage's;
 * - a last stage at the final budget is the final stage itself: it is
 *   dropped, and the final stage keeps k (so MX_MAX_STAGES + 1 stages may
 *   be given when the last is the final budget);
 * - o->candidates, when not 0 and below the first stage's keep, is raised
 *   to it (a stage keeps at most what it is given); set candidates after
 *   this call to rescore fewer.
 * n_stages = 0 clears the cascade. Budgets are checked against the index by
 * mx_search. Errors, leaving o unchanged: MX_ERR_INVALID_ARGUMENT for NULL
 * o (or stages with n_stages > 0), a stage with r_q, r_c or keep of 0, or
 * more than MX_MAX_STAGES stages before the final budget. The text form
 * "4x8:200,16x64:20" is the command line's; see README.md. */
MX_API mx_status mx_search_options_set_cascade(mx_search_options *o, const mx_stage *stages,
                                               uint32_t n_stages, mx_error *err);

/* A result: the document's internal id (its row), its external id (equal to
 * doc for MX_IDS_ROW and MX_IDS_STRING indexes; see mx_index_doc_key), and
 * its MaxSim score at the final budget. */
typedef struct mx_hit {
  uint64_t doc;
  uint64_t id;
  float score;
} mx_hit;

/* Where a search's k' came from (mx_search_stats.candidates_source). */
typedef enum mx_candidates_source {
  MX_CANDIDATES_EXPLICIT = 0, /* mx_search_options.candidates was given */
  MX_CANDIDATES_TABLE = 1,    /* read from the calibration table */
  MX_CANDIDATES_FALLBACK = 2  /* no usable table entry: MX_DEFAULT_CANDIDATES */
} mx_candidates_source;

/* mx_search_stats.candidates_flags: how a table entry was used (or why
 * there was none). */
#define MX_CHOICE_NO_TABLE 1u     /* fallback: the index has no calibration table */
#define MX_CHOICE_NO_ENTRY 2u     /* fallback: the table measured no budget */
#define MX_CHOICE_OTHER_BUDGET 4u /* no entry for the budget: the one of the smallest
                                     larger budget (r_q' >= r_q, r_c' >= r_c) was used */
#define MX_CHOICE_NOT_MET 8u      /* no measured k' reached the target: the k' of the
                                     best measured recall is used (recall_expected) */
#define MX_CHOICE_K_SCALED 16u    /* k is above the table's k: k' multiplied by
                                     ceil(k / table k), recall_expected not measured */
#define MX_CHOICE_CASCADE 32u     /* the table was measured without a cascade */
#define MX_CHOICE_BEYOND_TABLE 64u /* no measured budget has r_q' >= r_q and r_c' >= r_c:
                                      the largest measured one's entry was used (likely
                                      too few candidates; tune with such queries) */

typedef struct mx_search_stats {
  double coarse_ms;
  double prefetch_ms;
  double rescore_ms; /* all stages */
  double total_ms;
  double stage_ms[MX_MAX_STAGES + 1];
  uint32_t n_stages_run;
  uint64_t candidates;       /* from the coarse stage */
  uint64_t scored;           /* MaxSim evaluations, all stages */
  uint64_t bytes_touched;    /* record bytes read (headers + prefixes) */
  uint64_t bytes_prefetched; /* bytes hinted to the kernel */
  uint64_t corrupt_skipped;
  /* How k' was chosen (docs/recall.md). */
  mx_candidates_source candidates_source;
  uint32_t candidates_flags; /* MX_CHOICE_* bits */
  uint32_t candidates_asked; /* k' asked of the coarse stage (before raising to k
                                and capping at the document count) */
  uint32_t nprobe_asked;     /* nprobe asked (0: the index's rule for k') */
  float recall_target;       /* the target k' was chosen for; 0 when explicit */
  float recall_expected;     /* recall@k the table measured at that k'; -1 unknown */
  mx_budget table_budget;    /* the table entry used; 0x0 for none */
} mx_search_stats;

/* Searches with one query of n_query_vectors x dim floats (row-major,
 * nested order). Writes up to k hits, best first, into hits (room for k)
 * and their count into *n_hits (0 on failure). opts (defaults) and stats
 * may be NULL. Safe to call from many threads at once on one index.
 * Errors: MX_ERR_INVALID_ARGUMENT for a budget beyond what is stored or
 * given or of 0 (r_q or r_c of a cascade stage, or its keep), k = 0, more
 * than MX_MAX_STAGES stages or no query vectors; MX_ERR_BAD_INPUT for
 * NaN/Inf in a query vector that is used; MX_ERR_CORRUPT for a candidate
 * whose record cannot be read (checksum, header, missing from the store),
 * naming the document (with skip_corrupt such candidates are skipped and
 * counted, unless the store's B-tree is damaged so that no later read can
 * work either), and for a hit whose stored external id is missing or
 * malformed (never a silent fallback to the internal id); MX_ERR_BUSY when
 * more searches run than the index has reader slots. Successful answers are
 * never built from damaged data. */
MX_API mx_status mx_search(mx_index *index, const float *query, uint32_t n_query_vectors,
                           const mx_search_options *opts, mx_hit *hits, uint32_t *n_hits,
                           mx_search_stats *stats, mx_error *err);

/* n_queries queries of vectors_per_query vectors each, contiguous, over
 * `threads` threads (0 = all cores). hits has room for n_queries * k;
 * n_hits for n_queries counts; stats for n_queries entries or NULL. Stops
 * at the first failing query and returns its error, its message naming the
 * query ("query 2: ..."). n_queries = 0 is MX_OK (arrays may be NULL). */
MX_API mx_status mx_search_batch(mx_index *index, const float *queries, uint32_t n_queries,
                                 uint32_t vectors_per_query, const mx_search_options *opts,
                                 uint32_t threads, mx_hit *hits, uint32_t *n_hits,
                                 mx_search_stats *stats, mx_error *err);

/* Brute force: exact MaxSim at (r_q, r_c) of every query against every
 * document, streaming over the store on `threads` threads. The ground
 * truth for evaluation and the baseline for benchmarks. Same layout of
 * hits and n_hits as mx_search_batch. MX_ERR_INVALID_ARGUMENT for k = 0,
 * r_q outside 1..vectors_per_query, r_c outside 1..stored; MX_ERR_CORRUPT
 * for an unreadable record or a hit's missing external id; n_queries = 0
 * is MX_OK. */
MX_API mx_status mx_exact_search(mx_index *index, const float *queries, uint32_t n_queries,
                                 uint32_t vectors_per_query, uint32_t r_q, uint32_t r_c, uint32_t k,
                                 uint32_t threads, mx_hit *hits, uint32_t *n_hits, mx_error *err);

/* The external key of a document as bytes (decimal digits for row and u64
 * ids, the string for string ids), NUL-terminated when it fits in cap.
 * *len receives the key's length. buf may be NULL with cap 0 (asks only
 * for the length); a smaller cap gets a truncated, NUL-terminated prefix.
 * MX_ERR_NOT_FOUND for doc >= the document count; MX_ERR_CORRUPT when a
 * keyed index has no (or, for u64 ids, a malformed) key for the document. */
MX_API mx_status mx_index_doc_key(mx_index *index, uint64_t doc, char *buf, size_t cap, size_t *len,
                                  mx_error *err);

/* ---------------------------------------------------------------- calibration
 *
 * How many coarse candidates a search needs for a given recall depends on
 * the model and the data, not on anything the engine can assume. A
 * calibration table, stored in the index (calibration.jsonl, see
 * docs/recall.md), records per budget of the index the smallest candidate
 * count that reached a target recall@k against brute force
 * (mx_exact_search) on sample queries: the caller's, or pseudo-queries
 * drawn from the collection (documents' own leading vectors plus noise).
 * mx_search uses it when mx_search_options.candidates is 0: for the final
 * budget (or, without an entry for it, the smallest larger measured budget,
 * or with none larger the largest measured one)
 * it takes the smallest measured k' whose recall (mean less one standard
 * error, as the calibration judges it) reached the target (the
 * option's, or the table's own), and the nprobe measured with it; when no
 * measured k' reached it, the best measured one, flagged
 * MX_CHOICE_NOT_MET. mx_search_stats says what was chosen and why. */

typedef enum mx_calibration_status {
  MX_CALIBRATION_MET = 0,     /* the target was reached at `candidates`: mean
                                 recall less one standard error >= target */
  MX_CALIBRATION_NOT_MET = 1, /* it was not: `recall` is what the largest
                                 candidate count tried (`candidates`) reached;
                                 `note` says why it stopped there */
  MX_CALIBRATION_SKIPPED = 2  /* not measured; `note` says why */
} mx_calibration_status;

typedef enum mx_query_source {
  MX_QUERIES_PSEUDO = 0, /* drawn from the collection */
  MX_QUERIES_USER = 1    /* given by the caller */
} mx_query_source;

typedef struct mx_calibration_entry {
  mx_budget budget;
  mx_calibration_status status;
  uint32_t candidates; /* k' measured (see status) */
  uint32_t nprobe;     /* IVF lists probed at that k' (0: not an IVF index) */
  float recall;        /* mean recall@k over the sample at that k' */
  float recall_se;     /* its standard error (std over queries / sqrt(queries)) */
  double p50_ms;       /* median mx_search latency at that k', one thread, warm */
  double exact_ms;     /* mx_exact_search per query (all tuning threads) */
  uint32_t queries;    /* sample size used for this budget */
  char note[96];       /* why skipped or not met; empty otherwise */
} mx_calibration_entry;

typedef struct mx_calibration {
  float target;           /* recall@k target it was tuned for */
  uint32_t k;             /* the k of recall@k */
  mx_query_source source;
  uint32_t n_queries;     /* sample queries drawn or given */
  float noise;            /* pseudo-query noise (relative norm); 0 for user queries */
  uint64_t seed;          /* pseudo-query seed */
  double seconds;         /* time the calibration took */
  char created[32];       /* ISO 8601 UTC */
  uint32_t n_entries;     /* one per budget of the index, largest first */
  mx_calibration_entry entries[MX_MAX_BUDGETS];
} mx_calibration;

typedef struct mx_tune_options {
  float recall;             /* target recall@k in (0, 1]; default 0.95 */
  uint32_t k;               /* default 10 */
  uint32_t pseudo_queries;  /* drawn when no queries are given; default 100 */
  float noise;              /* pseudo-query noise, relative to the vector norm; default 1.0 */
  uint64_t seed;            /* pseudo-query seed; default 42 */
  uint32_t max_candidates;  /* largest k' tried; 0 = every document */
  double time_limit_s;      /* stop measuring after this long; 0 = no limit */
  uint32_t threads;         /* 0 = all cores (latency is always timed on one) */
  int dry_run;              /* 1: measure and report, do not store the table */
} mx_tune_options;

MX_API void mx_tune_options_init(mx_tune_options *o);

/* Calibrates the index at dir and (unless dry_run) stores the table in it
 * atomically, replacing any earlier one; indexes already open keep the
 * table they loaded. queries: n_queries x vectors_per_query x dim floats,
 * or NULL with n_queries = 0 for pseudo-queries. A budget whose r_q exceeds
 * vectors_per_query is measured at r_q = vectors_per_query, the budget such
 * queries are searched at (noted; skipped when that budget is measured
 * already). report (may be NULL) receives the
 * table. Errors: MX_ERR_INVALID_ARGUMENT for a recall outside (0, 1], k = 0,
 * queries without vectors, NULL dir; MX_ERR_BAD_INPUT for NaN/Inf in a
 * query; errors of mx_index_open and mx_search; MX_ERR_IO / MX_ERR_DISK_FULL
 * writing the table (the old table, if any, is then left as it was). */
MX_API mx_status mx_index_tune(const char *dir, const float *queries, uint32_t n_queries,
                               uint32_t vectors_per_query, const mx_tune_options *opts,
                               mx_calibration *report, mx_error *err);

/* The calibration table the index loaded when it was opened.
 * MX_ERR_NOT_FOUND when the index has none. */
MX_API mx_status mx_index_calibration(const mx_index *index, mx_calibration *out, mx_error *err);

/* ---------------------------------------------------------------- verifying */

/* Called once per problem found, with a message naming the file and the
 * record or key. */
typedef void (*mx_problem_fn)(void *ctx, const char *message);

typedef struct mx_verify_report {
  uint64_t records;     /* records checked */
  uint64_t bad_records; /* records with a problem */
  uint64_t bad_keys;    /* id-map entries with a problem */
  uint64_t problems;    /* all problems reported, files included */
} mx_verify_report;

/* Checks everything in the index directory: the manifest, coarse.faiss
 * against its checksum, every segment of every record, and the id maps.
 * Returns MX_OK when the check ran (report->problems says what it found);
 * an error only when it could not run at all. */
MX_API mx_status mx_index_verify(const char *dir, mx_problem_fn fn, void *ctx,
                                 mx_verify_report *report, mx_error *err);

#ifdef __cplusplus
}
#endif
#endif /* METAIDX_H */
