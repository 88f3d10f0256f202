/* bench_recall.c: recall@10 against brute force, and latency, of mx_search
 * as a function of the candidate count k', per budget, on collections that
 * common/synth.c did not generate. Prints one JSON object per line.
 *
 *   bench_recall --dir /tmp/recall/a [--n 50000] [--d 128] [--rc 16] [--rq 4]
 *                [--topics 200] [--facets 8] [--noise 0.6] [--nest 0.3]
 *                [--seed 1001] [--queries 100] [--cands 100,200,500,1000,2000]
 *                [--first-stage auto,leading,pooled,multi] [--fs-vectors M]
 *                [--fs-query-vectors R]
 *                [--reuse] (search indexes already at DIR/index-KIND)
 *                [--write-npy] (only write DIR/docs.npy [N, R_c, d] and
 *                 DIR/queries.npy [Q, R_q, d], float32, for other tools,
 *                 e.g. bench/token_pipeline.py)
 *
 * One index per first-stage kind in --first-stage (default "auto,leading",
 * i.e. the build's own choice beside today's leading vector), built from
 * the same collection and measured against the same truth in one run.
 *
 * Lines: {"kind":"collection",...}, {"kind":"exact",budget, ms_per_query}
 * (mx_exact_search on one thread, which is also the truth), then for each
 * budget {"kind":"search","candidates":k',"recall":..,"p50_ms":..} for each
 * k' in --cands, and one line "candidates":"default" with the options as
 * mx_search_options_init leaves them. Searches run one query at a time on
 * one thread, warm (a first pass over the queries is not timed).
 *
 * Generator ("bag of facets", unlike synth.c, whose vector 0 carries the
 * topic): each topic has a centre and --facets facet directions around it;
 * a document of topic t has R_c vectors, each a facet of t plus
 * document-specific detail, in random order, so no vector is privileged.
 * --nest W in [0, 1] blends vector j with the document's mean vector by
 * W / (1 + j), making the leading vectors a better summary (W = 0: no
 * nesting at all). A query is --rq noisy views (noise --noise, relative) of
 * distinct vectors of a target document. Each document depends on (seed,
 * doc) only, so collections are streamed to the builder. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "metaidx.h"
#include "metrics.h"
#include "npy.h"

typedef struct gen {
  uint64_t n;
  uint32_t d, rc, rq, topics, facets, nq;
  double noise, nest;
  uint64_t seed;
  float *centres; /* topics x facets x d: facet directions */
} gen;

static uint64_t mix(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double unif(uint64_t *s) {
  return (double)(mix(s) >> 11) / 9007199254740992.0;
}

static float gauss(uint64_t *s) {
  double u = unif(s), v = unif(s);
  return (float)(sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v));
}

static void normalise(float *v, uint32_t d) {
  double n = 0;
  for (uint32_t j = 0; j < d; j++)
    n += (double)v[j] * v[j];
  float inv = (float)(1.0 / sqrt(n > 0 ? n : 1));
  for (uint32_t j = 0; j < d; j++)
    v[j] *= inv;
}

static int gen_init(gen *g) {
  size_t n = (size_t)g->topics * g->facets * g->d;
  g->centres = malloc(n * sizeof(float));
  if (!g->centres)
    return -1;
  uint64_t s = g->seed * 7919 + 1;
  float *centre = malloc(g->d * sizeof(float));
  if (!centre)
    return -1;
  for (uint32_t t = 0; t < g->topics; t++) {
    for (uint32_t e = 0; e < g->d; e++)
      centre[e] = gauss(&s);
    normalise(centre, g->d);
    for (uint32_t f = 0; f < g->facets; f++) {
      float *c = g->centres + ((size_t)t * g->facets + f) * g->d;
      for (uint32_t e = 0; e < g->d; e++)
        c[e] = centre[e] + 0.8f * gauss(&s) / sqrtf((float)g->d) * 1.0f;
      normalise(c, g->d);
    }
  }
  free(centre);
  return 0;
}

/* Document `doc`: rc x d floats into out; tmp has room for d floats. */
static void gen_doc(const gen *g, uint64_t doc, float *out, float *mean) {
  uint64_t s = (g->seed << 32) ^ (doc * 0x2545f4914f6cdd1dull) ^ 0x5bd1e995u;
  uint32_t t = (uint32_t)(mix(&s) % g->topics);
  float detail = 1.0f / sqrtf((float)g->d);
  memset(mean, 0, g->d * sizeof(float));
  for (uint32_t j = 0; j < g->rc; j++) {
    const float *c =
        g->centres + ((size_t)t * g->facets + mix(&s) % g->facets) * g->d;
    float *v = out + (size_t)j * g->d;
    for (uint32_t e = 0; e < g->d; e++)
      v[e] = c[e] + 0.9f * gauss(&s) * detail;
    normalise(v, g->d);
    for (uint32_t e = 0; e < g->d; e++)
      mean[e] += v[e];
  }
  normalise(mean, g->d);
  for (uint32_t j = 0; j < g->rc && g->nest > 0; j++) {
    float *v = out + (size_t)j * g->d;
    float w = (float)(g->nest / (1.0 + j));
    for (uint32_t e = 0; e < g->d; e++)
      v[e] = (1 - w) * v[e] + w * mean[e];
    normalise(v, g->d);
  }
}

static void gen_query(const gen *g, uint64_t q, float *out, float *docbuf,
                      float *mean) {
  uint64_t s = (g->seed * 104729 + 17) ^ (q * 0x9e3779b97f4a7c15ull);
  uint64_t target = mix(&s) % g->n;
  gen_doc(g, target, docbuf, mean);
  float scale = (float)g->noise / sqrtf((float)g->d);
  for (uint32_t i = 0; i < g->rq; i++) {
    const float *src = docbuf + (size_t)((i * 7 + mix(&s) % 3) % g->rc) * g->d;
    float *v = out + (size_t)i * g->d;
    for (uint32_t e = 0; e < g->d; e++)
      v[e] = src[e] + scale * gauss(&s);
    normalise(v, g->d);
  }
}

static int fail(const char *what, const mx_error *err) {
  fprintf(stderr, "bench_recall: %s: %s\n", what,
          err ? err->message : "failed");
  return 1;
}

static int build(const gen *g, const char *dir, mx_first_stage kind,
                 uint32_t fs_vectors, uint32_t fs_query_vectors) {
  mx_build_options o;
  mx_build_options_init(&o);
  o.overwrite = 1;
  o.first_stage = kind;
  o.first_stage_vectors = fs_vectors;
  o.first_stage_query_vectors = fs_query_vectors;
  o.expected_docs = g->n;
  mx_builder *b = NULL;
  mx_error err = {0};
  if (mx_builder_open(dir, g->d, g->rc, &o, &b, &err) != MX_OK)
    return fail("builder_open", &err);
  enum { BATCH = 256 };
  float *x = malloc((size_t)BATCH * g->rc * g->d * sizeof(float));
  float *mean = malloc(g->d * sizeof(float));
  if (!x || !mean)
    return fail("out of memory", NULL);
  uint64_t t0 = mx_now_ns();
  for (uint64_t start = 0; start < g->n; start += BATCH) {
    uint64_t n = g->n - start < BATCH ? g->n - start : BATCH;
    for (uint64_t i = 0; i < n; i++)
      gen_doc(g, start + i, x + i * g->rc * g->d, mean);
    if (mx_builder_add(b, n, NULL, NULL, NULL, x, MX_DTYPE_F32, &err) !=
        MX_OK) {
      mx_builder_abort(b);
      return fail("builder_add", &err);
    }
  }
  free(x);
  free(mean);
  if (mx_builder_finish(b, &err) != MX_OK)
    return fail("builder_finish", &err);
  fprintf(stderr, "bench_recall: built %s in %.1f s\n", dir,
          mx_ms_since(t0) / 1e3);
  return 0;
}

static int parse_list(const char *s, uint32_t *out, int cap) {
  int n = 0;
  while (*s && n < cap) {
    char *end;
    out[n++] = (uint32_t)strtoul(s, &end, 10);
    s = *end == ',' ? end + 1 : end;
    if (end == s && *s)
      return -1;
  }
  return n;
}

/* Searches every query with o (one thread, one at a time, a warm-up pass
 * first) and prints recall@k against truth and latency percentiles. */
static int measure(mx_index *ix, const gen *g, const float *qs,
                   const mx_search_options *o, const mx_hit *truth,
                   const uint32_t *n_truth, const char *label, double exact_ms,
                   const char *first_stage) {
  uint32_t k = o->k;
  mx_hit *hits = malloc((size_t)k * sizeof *hits);
  double *lat = malloc(g->nq * sizeof *lat);
  uint64_t *ids = malloc((size_t)k * sizeof *ids),
           *tids = malloc((size_t)k * sizeof *tids);
  if (!hits || !lat || !ids || !tids)
    return fail("out of memory", NULL);
  double recall = 0, cands = 0;
  mx_error err = {0};
  for (int pass = 0; pass < 2; pass++)
    for (uint32_t q = 0; q < g->nq; q++) {
      uint32_t n = 0;
      mx_search_stats st;
      if (mx_search(ix, qs + (size_t)q * g->rq * g->d, g->rq, o, hits, &n, &st,
                    &err) != MX_OK)
        return fail("search", &err);
      if (pass == 0)
        continue;
      lat[q] = st.total_ms;
      cands += (double)st.candidates;
      for (uint32_t i = 0; i < n; i++)
        ids[i] = hits[i].doc;
      const mx_hit *t = truth + (size_t)q * k;
      for (uint32_t i = 0; i < n_truth[q]; i++)
        tids[i] = t[i].doc;
      recall += mx_recall_at_k(ids, n, tids, n_truth[q], k);
    }
  double p50 = mx_percentile(lat, g->nq, 50);
  printf("{\"kind\":\"search\",\"first_stage\":\"%s\",\"budget\":\"%ux%u\","
         "\"candidates\":%s,"
         "\"mean_candidates\":%.1f,\"recall\":%.4f,\"p50_ms\":%.3f,\"p95_ms\":%"
         ".3f,"
         "\"exact_ms\":%.2f,\"exact_over_p50\":%.1f}\n",
         first_stage, o->r_q, o->r_c, label, cands / g->nq, recall / g->nq, p50,
         mx_percentile(lat, g->nq, 95), exact_ms, exact_ms / p50);
  fflush(stdout);
  free(hits);
  free(lat);
  free(ids);
  free(tids);
  return 0;
}

/* Writes the collection and its queries as .npy files (streamed). */
static int write_npy(const gen *g, const char *dir) {
  char path[4096];
  mx_error err = {0};
  mx_npy_writer *w = NULL;
  float *x = malloc((size_t)g->rc * g->d * sizeof(float)), *mean = malloc(g->d * sizeof(float));
  if (!x || !mean)
    return fail("out of memory", NULL);
  snprintf(path, sizeof path, "%s/docs.npy", dir);
  uint64_t shape[3] = {g->n, g->rc, g->d};
  if (mx_npy_writer_open(path, MX_NPY_F32, 3, shape, &w, &err) != MX_OK)
    return fail(path, &err);
  for (uint64_t i = 0; i < g->n; i++) {
    gen_doc(g, i, x, mean);
    if (mx_npy_writer_write(w, x, (size_t)g->rc * g->d * sizeof(float), &err) != MX_OK)
      return fail(path, &err);
  }
  if (mx_npy_writer_close(w, &err) != MX_OK)
    return fail(path, &err);
  snprintf(path, sizeof path, "%s/queries.npy", dir);
  uint64_t qshape[3] = {g->nq, g->rq, g->d};
  if (mx_npy_writer_open(path, MX_NPY_F32, 3, qshape, &w, &err) != MX_OK)
    return fail(path, &err);
  for (uint32_t q = 0; q < g->nq; q++) {
    float *qv = malloc((size_t)g->rq * g->d * sizeof(float));
    if (!qv)
      return fail("out of memory", NULL);
    gen_query(g, q, qv, x, mean);
    mx_status st = mx_npy_writer_write(w, qv, (size_t)g->rq * g->d * sizeof(float), &err);
    free(qv);
    if (st != MX_OK)
      return fail(path, &err);
  }
  if (mx_npy_writer_close(w, &err) != MX_OK)
    return fail(path, &err);
  free(x);
  free(mean);
  return 0;
}

int main(int argc, char **argv) {
  gen g = {.n = 50000,
           .d = 128,
           .rc = 16,
           .rq = 4,
           .topics = 200,
           .facets = 8,
           .nq = 100,
           .noise = 0.6,
           .nest = 0.3,
           .seed = 1001};
  const char *dir = NULL, *cands_arg = "100,200,500,1000,2000",
             *kinds_arg = "auto,leading";
  uint32_t fs_vectors = 0, fs_query_vectors = 0;
  int reuse = 0, npy_only = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--reuse") == 0) {
      reuse = 1;
      continue;
    }
    if (strcmp(a, "--write-npy") == 0) {
      npy_only = 1;
      continue;
    }
    if (!v) {
      fprintf(
          stderr,
          "bench_recall: %s needs a value (see the top of bench_recall.c)\n",
          a);
      return 2;
    }
    i++;
    if (strcmp(a, "--dir") == 0)
      dir = v;
    else if (strcmp(a, "--n") == 0)
      g.n = strtoull(v, NULL, 10);
    else if (strcmp(a, "--d") == 0)
      g.d = (uint32_t)atoi(v);
    else if (strcmp(a, "--rc") == 0)
      g.rc = (uint32_t)atoi(v);
    else if (strcmp(a, "--rq") == 0)
      g.rq = (uint32_t)atoi(v);
    else if (strcmp(a, "--topics") == 0)
      g.topics = (uint32_t)atoi(v);
    else if (strcmp(a, "--facets") == 0)
      g.facets = (uint32_t)atoi(v);
    else if (strcmp(a, "--queries") == 0)
      g.nq = (uint32_t)atoi(v);
    else if (strcmp(a, "--noise") == 0)
      g.noise = atof(v);
    else if (strcmp(a, "--nest") == 0)
      g.nest = atof(v);
    else if (strcmp(a, "--seed") == 0)
      g.seed = strtoull(v, NULL, 10);
    else if (strcmp(a, "--cands") == 0)
      cands_arg = v;
    else if (strcmp(a, "--first-stage") == 0)
      kinds_arg = v;
    else if (strcmp(a, "--fs-vectors") == 0)
      fs_vectors = (uint32_t)atoi(v);
    else if (strcmp(a, "--fs-query-vectors") == 0)
      fs_query_vectors = (uint32_t)atoi(v);
    else {
      fprintf(stderr, "bench_recall: unknown option %s\n", a);
      return 2;
    }
  }
  if (!dir || !g.n || !g.d || !g.rc || !g.rq || !g.topics || !g.facets ||
      !g.nq) {
    fprintf(stderr, "bench_recall: --dir is required; sizes must be >= 1\n");
    return 2;
  }
  uint32_t cands[32];
  int n_cands = parse_list(cands_arg, cands, 32);
  if (n_cands < 0)
    return fail("--cands: expected a comma-separated list", NULL);
  if (gen_init(&g) != 0)
    return fail("out of memory", NULL);
  mx_first_stage kinds[8];
  int n_kinds = 0;
  char kbuf[256];
  snprintf(kbuf, sizeof kbuf, "%s", kinds_arg);
  for (char *save = NULL, *t = strtok_r(kbuf, ",", &save); t;
       t = strtok_r(NULL, ",", &save)) {
    mx_error kerr;
    if (n_kinds == 8 ||
        mx_first_stage_parse(t, &kinds[n_kinds++], &kerr) != MX_OK)
      return fail(
          "--first-stage: expected up to 8 of auto, leading, pooled, multi",
          NULL);
  }
  mkdir(dir, 0755);
  if (npy_only)
    return write_npy(&g, dir);
  printf("{\"kind\":\"collection\",\"n\":%llu,\"d\":%u,\"rc\":%u,\"rq\":%u,"
         "\"topics\":%u,"
         "\"facets\":%u,\"noise\":%.3f,\"nest\":%.3f,\"seed\":%llu,\"queries\":"
         "%u}\n",
         (unsigned long long)g.n, g.d, g.rc, g.rq, g.topics, g.facets, g.noise,
         g.nest, (unsigned long long)g.seed, g.nq);
  float *qs = malloc((size_t)g.nq * g.rq * g.d * sizeof(float));
  float *docbuf = malloc((size_t)g.rc * g.d * sizeof(float)),
        *mean = malloc(g.d * sizeof(float));
  mx_hit *truth = malloc((size_t)g.nq * 10 * sizeof *truth);
  uint32_t *n_truth = malloc(g.nq * sizeof *n_truth);
  if (!qs || !docbuf || !mean || !truth || !n_truth)
    return fail("out of memory", NULL);
  for (uint32_t q = 0; q < g.nq; q++)
    gen_query(&g, q, qs + (size_t)q * g.rq * g.d, docbuf, mean);
  mx_index *ix = NULL;
  for (int kind = 0; kind < n_kinds; kind++) {
    char ixdir[4096];
    const char *kname = mx_first_stage_name(kinds[kind]);
    snprintf(ixdir, sizeof ixdir, "%s/index-%s", dir, kname);
    uint64_t tb = mx_now_ns();
    if (!reuse && build(&g, ixdir, kinds[kind], fs_vectors, fs_query_vectors))
      return 1;
    double build_s = mx_ms_since(tb) / 1000;
    mx_error err = {0};
    if (mx_index_open(ixdir, NULL, &ix, &err) != MX_OK)
      return fail("open", &err);
    mx_info info;
    if (mx_index_info(ix, &info, &err) != MX_OK)
      return fail("info", &err);
    printf("{\"kind\":\"index\",\"first_stage_asked\":\"%s\",\"first_stage\":"
           "\"%s\","
           "\"first_stage_vectors\":%u,\"trial\":\"%s\",\"build_s\":%.1f,"
           "\"factory\":\"%s\","
           "\"nprobe\":%u,\"coarse_entries\":%llu,\"coarse_bytes\":%llu,"
           "\"store_bytes\":%llu}\n",
           kname, mx_first_stage_name(info.first_stage),
           info.first_stage_vectors, info.first_stage_trial,
           reuse ? 0.0 : build_s, info.coarse_factory, info.coarse_nprobe,
           (unsigned long long)info.coarse_entries,
           (unsigned long long)info.coarse_bytes,
           (unsigned long long)info.store_bytes);
    char label_fs[48];
    snprintf(label_fs, sizeof label_fs, "%s%s%s", kname,
             kinds[kind] == MX_FIRST_STAGE_AUTO ? ":" : "",
             kinds[kind] == MX_FIRST_STAGE_AUTO
                 ? mx_first_stage_name(info.first_stage)
                 : "");
    for (uint32_t b = 0; b < info.n_budgets; b++) {
      mx_budget bu = info.budgets[b];
      if (bu.r_q > g.rq)
        bu.r_q = g.rq;
      uint64_t t0 = mx_now_ns();
      if (mx_exact_search(ix, qs, g.nq, g.rq, bu.r_q, bu.r_c, 10, 1, truth,
                          n_truth, &err) != MX_OK)
        return fail("exact", &err);
      double exact_ms = mx_ms_since(t0) / g.nq;
      printf("{\"kind\":\"exact\",\"first_stage\":\"%s\",\"budget\":\"%ux%u\","
             "\"ms_per_query\":%.2f}\n",
             label_fs, bu.r_q, bu.r_c, exact_ms);
      mx_search_options o;
      mx_search_options_init(&o);
      o.r_q = bu.r_q;
      o.r_c = bu.r_c;
      if (measure(ix, &g, qs, &o, truth, n_truth, "\"default\"", exact_ms,
                  label_fs))
        return 1;
      for (int c = 0; c < n_cands; c++) {
        char label[16];
        snprintf(label, sizeof label, "%u", cands[c]);
        o.candidates = cands[c];
        if (measure(ix, &g, qs, &o, truth, n_truth, label, exact_ms, label_fs))
          return 1;
      }
    }
    mx_index_close(ix);
    ix = NULL;
  }
  mx_index_close(ix);
  free(qs);
  free(docbuf);
  free(mean);
  free(truth);
  free(n_truth);
  free(g.centres);
  return 0;
}
