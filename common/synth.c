/* synth.c: deterministic MetaEmbed-shaped synthetic collections.
 *
 * Model (all random directions are Gaussian vectors with per-element
 * standard deviation 1/sqrt(d), so of norm close to 1 and nearly orthogonal
 * to one another):
 *   - T topics (about sqrt(N)); each topic has S sub-topics (about N^(1/4)).
 *     A document belongs to one topic and one of its sub-topics (hashed).
 *   - Document vector j = normalize(a_j*topic + b_j*subtopic + c_j*identity
 *     + w_j*facet_j), where identity is one direction per document and
 *     facet_j one per (document, j). The weights move from coarse to fine
 *     with x_j = min(1, log2(1 + j) / 6) (0 for j = 0, 1 for j = 63):
 *       a_j = 1 - 0.3 x, b_j = k (0.10 + 0.20 x),
 *       detail_j = k (0.06 + 0.02 x), split as c_j = detail cos(1.2 x) and
 *       w_j = detail sin(1.2 x),
 *     so vector 0 is the topic centre plus faint sub-topic and identity
 *     (the coarse stage finds the cluster; a (1,1) budget often confuses
 *     documents of one sub-topic) and later vectors add per-facet detail.
 *     k = (64/d)^(1/4), and the query noise is multiplied by 1/k: together
 *     they keep the separation of every budget nearly independent of d
 *     (measured: N=2000, d=64 and d=256 give the same recall per budget),
 *     while documents of one topic do not become near-duplicates at large d.
 *   - Query q targets document t(q) (hashed); its vector i is
 *     normalize(doc vector f(i) + query_noise * gaussian), with
 *     f(i) = i * R_c / R_q, so q_0 is a noisy copy of the leading vector and
 *     later query vectors need later document vectors to match.
 * Every random number is splitmix64 of (seed, tag, index, index, element),
 * Gaussian by Box-Muller, so any document or query is generated on its own,
 * in any order, in parallel, always to the same bytes (given the same libm). */
#include "synth.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "half.h"
#include "npy.h"
#include "pool.h"
#include "status.h"

/* Weights of the model above (calibrated: see the comment at the top). */
#define SYN_D0 0.06 /* document detail at j = 0 */
#define SYN_D1 0.08 /* document detail at j >= 63 */
#define SYN_TH 1.2  /* angle (radians) of the facet share at j >= 63 */
#define SYN_B0 0.10 /* sub-topic weight at j = 0 */
#define SYN_B1 0.30 /* sub-topic weight at j >= 63 */

enum {
  TAG_TOPIC = 1,
  TAG_SUBTOPIC = 2,
  TAG_IDENTITY = 3,
  TAG_FACET = 4,
  TAG_QNOISE = 5,
  TAG_ASSIGN = 6,
  TAG_QTARGET = 7
};

void mx_synth_params_init(mx_synth_params *p) {
  if (!p)
    return;
  p->n_docs = 10000;
  p->n_queries = 100;
  p->doc_vectors = 64;
  p->query_vectors = 16;
  p->dim = 128;
  p->seed = 42;
  p->n_topics = 0;
  p->query_noise = 0.5f;
}

static uint64_t sm64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static uint64_t key4(uint64_t seed, uint64_t tag, uint64_t a, uint64_t b) {
  return sm64(sm64(sm64(sm64(seed) ^ tag) ^ a) ^ b);
}

/* Element e of the Gaussian stream `key`, times scale; elements 2i and
 * 2i+1 are the two outputs of one Box-Muller transform. */
static void gauss_fill(uint64_t key, float scale, float *out, uint32_t n) {
  const double two_pi = 6.283185307179586476925286766559;
  for (uint32_t e = 0; e < n; e += 2) {
    uint64_t r1 = sm64(key ^ (uint64_t)e), r2 = sm64(key ^ ((uint64_t)e + 1));
    double u1 = (double)((r1 >> 11) + 1) * (1.0 / 9007199254740992.0); /* (0, 1] */
    double u2 = (double)(r2 >> 11) * (1.0 / 9007199254740992.0);       /* [0, 1) */
    double rad = sqrt(-2.0 * log(u1));
    out[e] = (float)(rad * cos(two_pi * u2) * scale);
    if (e + 1 < n)
      out[e + 1] = (float)(rad * sin(two_pi * u2) * scale);
  }
}

static void normalize(float *v, uint32_t n) {
  double s = 0;
  for (uint32_t e = 0; e < n; e++)
    s += (double)v[e] * v[e];
  if (s == 0) {
    v[0] = 1;
    return;
  }
  float inv = (float)(1.0 / sqrt(s));
  for (uint32_t e = 0; e < n; e++)
    v[e] *= inv;
}

/* Derived sizes of a collection. */
typedef struct synth_shape {
  uint64_t topics, subtopics;
  float scale; /* 1/sqrt(d): Gaussian element scale */
  float k;     /* doc-detail weight factor (64/d)^(1/4) */
  float noise; /* query noise factor (d/64)^(1/4) = 1/k */
} synth_shape;

static synth_shape shape_of(const mx_synth_params *p) {
  synth_shape s;
  uint64_t n = p->n_docs ? p->n_docs : 1;
  s.topics = p->n_topics ? p->n_topics : (uint64_t)llround(sqrt((double)n));
  if (s.topics == 0)
    s.topics = 1;
  s.subtopics = (uint64_t)llround(sqrt(sqrt((double)n)));
  if (s.subtopics == 0)
    s.subtopics = 1;
  uint32_t d = p->dim ? p->dim : 1;
  s.scale = (float)(1.0 / sqrt((double)d));
  double k = sqrt(sqrt(64.0 / (double)d));
  if (k < 0.1)
    k = 0.1;
  if (k > 2.0)
    k = 2.0;
  s.k = (float)k;
  s.noise = (float)(1.0 / k);
  return s;
}

/* The document-level directions: topic, sub-topic, identity (d each). */
static void doc_bases(const mx_synth_params *p, const synth_shape *s, uint64_t doc, float *bases) {
  uint64_t topic = key4(p->seed, TAG_ASSIGN, doc, 0) % s->topics;
  uint64_t sub = key4(p->seed, TAG_ASSIGN, doc, 1) % s->subtopics;
  gauss_fill(key4(p->seed, TAG_TOPIC, topic, 0), s->scale, bases, p->dim);
  gauss_fill(key4(p->seed, TAG_SUBTOPIC, topic, sub), s->scale, bases + p->dim, p->dim);
  gauss_fill(key4(p->seed, TAG_IDENTITY, doc, 0), s->scale, bases + 2 * (size_t)p->dim, p->dim);
}

/* Document vector j from its bases. */
static void doc_vector(const mx_synth_params *p, const synth_shape *s, uint64_t doc, uint32_t j,
                       const float *bases, float *out) {
  double x = log2(1.0 + (double)j) / 6.0;
  if (x > 1)
    x = 1;
  double detail = SYN_D0 + (SYN_D1 - SYN_D0) * x; /* identity + facet */
  double theta = SYN_TH * x;                       /* share of the facet */
  float a = (float)(1.0 - 0.3 * x);
  float b = (float)(s->k * (SYN_B0 + (SYN_B1 - SYN_B0) * x));
  float c = (float)(s->k * detail * cos(theta));
  float w = (float)(s->k * detail * sin(theta));
  uint32_t d = p->dim;
  const float *t = bases, *st = bases + d, *id = bases + 2 * (size_t)d;
  gauss_fill(key4(p->seed, TAG_FACET, doc, j), s->scale, out, d);
  for (uint32_t e = 0; e < d; e++)
    out[e] = a * t[e] + b * st[e] + c * id[e] + w * out[e];
  normalize(out, d);
}

static int params_usable(const mx_synth_params *p) {
  return p && p->dim > 0 && p->doc_vectors > 0 && p->query_vectors > 0 && p->n_docs > 0;
}

/* Document `doc` into out, with bases scratch of 3*dim floats. */
static void synth_doc_scratch(const mx_synth_params *p, uint64_t doc, float *out, float *bases) {
  synth_shape s = shape_of(p);
  doc_bases(p, &s, doc, bases);
  for (uint32_t j = 0; j < p->doc_vectors; j++)
    doc_vector(p, &s, doc, j, bases, out + (size_t)j * p->dim);
}

void mx_synth_doc(const mx_synth_params *p, uint64_t doc, float *out) {
  if (!params_usable(p) || !out)
    return;
  enum { STACK_FLOATS = 3 * 1024 };
  float stack[STACK_FLOATS];
  size_t need = 3 * (size_t)p->dim;
  float *bases = need <= STACK_FLOATS ? stack : malloc(need * sizeof *bases);
  if (!bases) {
    /* out of memory: no place to report it, so leave a recognisable zero
     * document rather than garbage */
    memset(out, 0, (size_t)p->doc_vectors * p->dim * sizeof *out);
    return;
  }
  synth_doc_scratch(p, doc, out, bases);
  if (bases != stack)
    free(bases);
}

static uint64_t query_target(const mx_synth_params *p, uint64_t query) {
  return key4(p->seed, TAG_QTARGET, query, 0) % p->n_docs;
}

/* Query `query` into out, with scratch of 4*dim floats. */
static uint64_t synth_query_scratch(const mx_synth_params *p, uint64_t query, float *out,
                                    float *scratch) {
  synth_shape s = shape_of(p);
  uint64_t doc = query_target(p, query);
  uint32_t d = p->dim;
  float *bases = scratch, *noise = scratch + 3 * (size_t)d;
  doc_bases(p, &s, doc, bases);
  for (uint32_t i = 0; i < p->query_vectors; i++) {
    uint32_t f = (uint32_t)((uint64_t)i * p->doc_vectors / p->query_vectors);
    float *q = out + (size_t)i * d;
    doc_vector(p, &s, doc, f, bases, q);
    gauss_fill(key4(p->seed, TAG_QNOISE, query, i), s.scale * s.noise, noise, d);
    for (uint32_t e = 0; e < d; e++)
      q[e] += p->query_noise * noise[e];
    normalize(q, d);
  }
  return doc;
}

uint64_t mx_synth_query(const mx_synth_params *p, uint64_t query, float *out) {
  if (!params_usable(p) || !out)
    return 0;
  enum { STACK_FLOATS = 4 * 1024 };
  float stack[STACK_FLOATS];
  size_t need = 4 * (size_t)p->dim;
  float *scratch = need <= STACK_FLOATS ? stack : malloc(need * sizeof *scratch);
  if (!scratch) {
    memset(out, 0, (size_t)p->query_vectors * p->dim * sizeof *out);
    return query_target(p, query);
  }
  uint64_t doc = synth_query_scratch(p, query, out, scratch);
  if (scratch != stack)
    free(scratch);
  return doc;
}

/* ------------------------------------------------------------ writing */

typedef struct gen_job {
  const mx_synth_params *p;
  uint64_t first;   /* first document or query of the chunk */
  int queries;      /* 0: documents, 1: queries */
  int f16;          /* output as float16 */
  size_t row;       /* floats per item */
  void *out;        /* chunk output, items * row elements */
  float *scratch;   /* per worker: row + 4*dim floats */
  size_t scratch_n; /* floats per worker */
} gen_job;

static void gen_task(void *ctx, size_t item, unsigned worker) {
  gen_job *j = ctx;
  float *scratch = j->scratch + (size_t)worker * j->scratch_n;
  float *vec = j->f16 ? scratch + 4 * (size_t)j->p->dim : (float *)j->out + item * j->row;
  if (j->queries)
    synth_query_scratch(j->p, j->first + item, vec, scratch);
  else
    synth_doc_scratch(j->p, j->first + item, vec, scratch);
  if (j->f16) {
    uint16_t *h = (uint16_t *)j->out + item * j->row;
    for (size_t e = 0; e < j->row; e++)
      h[e] = mx_f32_to_f16(vec[e]);
  }
}

/* Streams n items (documents or queries) into path as [n, rows, dim]. */
static mx_status write_items(const mx_synth_params *p, const char *path, int queries, int f16,
                             mx_error *err) {
  uint64_t n = queries ? p->n_queries : p->n_docs;
  uint32_t rows = queries ? p->query_vectors : p->doc_vectors;
  size_t row = (size_t)rows * p->dim;
  size_t esize = f16 ? 2 : 4;
  uint64_t shape[3] = {n, rows, p->dim};
  /* about 64 MiB per chunk, at most 1024 items */
  size_t chunk = (64u << 20) / (row * esize);
  if (chunk < 1)
    chunk = 1;
  if (chunk > 1024)
    chunk = 1024;
  if (chunk > n)
    chunk = n ? (size_t)n : 1;
  unsigned threads = mx_cpu_count();
  if (threads > chunk)
    threads = (unsigned)chunk;
  size_t scratch_n = row + 4 * (size_t)p->dim;
  void *out = malloc(chunk * row * esize);
  float *scratch = malloc((size_t)threads * scratch_n * sizeof *scratch);
  if (!out || !scratch) {
    free(out);
    free(scratch);
    return mx_fail(err, MX_ERR_NO_MEMORY, "'%s': out of memory for a chunk of %zu items", path,
                   chunk);
  }
  mx_npy_writer *w = NULL;
  mx_status s = mx_npy_writer_open(path, f16 ? MX_NPY_F16 : MX_NPY_F32, 3, shape, &w, err);
  for (uint64_t first = 0; s == MX_OK && first < n; first += chunk) {
    size_t m = n - first < chunk ? (size_t)(n - first) : chunk;
    gen_job job = {p, first, queries, f16, row, out, scratch, scratch_n};
    mx_parallel_for(threads, m, gen_task, &job);
    s = mx_npy_writer_write(w, out, m * row * esize, err);
  }
  if (s == MX_OK)
    s = mx_npy_writer_close(w, err);
  else if (w)
    mx_npy_writer_abort(w);
  free(out);
  free(scratch);
  return s;
}

static mx_status write_qrels(const mx_synth_params *p, const char *path, mx_error *err) {
  FILE *f = fopen(path, "w");
  if (!f) {
    int e = errno;
    return mx_fail(err, mx_status_from_errno(e), "cannot create '%s': %s", path, strerror(e));
  }
  int ok = 1;
  for (uint64_t q = 0; ok && q < p->n_queries; q++)
    ok = fprintf(f, "%" PRIu64 " 0 %" PRIu64 " 1\n", q, query_target(p, q)) > 0;
  ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
  int e = errno;
  if (fclose(f) != 0 && ok) {
    ok = 0;
    e = errno;
  }
  if (!ok) {
    unlink(path);
    return mx_fail(err, mx_status_from_errno(e), "cannot write '%s': %s", path, strerror(e));
  }
  return MX_OK;
}

mx_status mx_synth_write(const mx_synth_params *p, const char *dir, mx_dtype dtype,
                         mx_error *err) {
  if (!p || !dir)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_synth_write: NULL argument");
  if (dtype != MX_DTYPE_F32 && dtype != MX_DTYPE_F16)
    return mx_fail(err, MX_ERR_UNSUPPORTED, "synthetic data is written as f32 or f16, not %s",
                   mx_dtype_name(dtype) ? mx_dtype_name(dtype) : "an unknown dtype");
  if (!params_usable(p))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "synthetic collection needs n_docs, dim, doc_vectors and query_vectors > 0");
  if (!isfinite(p->query_noise) || p->query_noise < 0)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "query_noise must be finite and >= 0");
  MX_TRY(mx_mkdir_p(dir, err));
  char path[PATH_MAX];
  int f16 = dtype == MX_DTYPE_F16;
  if (snprintf(path, sizeof path, "%s/queries.npy", dir) >= (int)sizeof path)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "path too long: '%s'", dir);
  snprintf(path, sizeof path, "%s/docs.npy", dir);
  MX_TRY(write_items(p, path, 0, f16, err));
  snprintf(path, sizeof path, "%s/queries.npy", dir);
  MX_TRY(write_items(p, path, 1, f16, err));
  snprintf(path, sizeof path, "%s/qrels", dir);
  MX_TRY(write_qrels(p, path, err));
  return mx_fsync_path(dir, err);
}
