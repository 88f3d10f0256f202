/* config.c: a benchmark run's configuration: defaults, the presets, the
 * usage text and argv (flags override the preset wherever they appear;
 * budget lists and cascades in the one syntax of common/budget.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"
#include "budget.h"
#include "driver.h"

void bench_cfg_defaults(bench_cfg *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->preset, sizeof c->preset, "custom");
  c->ns[0] = 10000;
  c->n_ns = 1;
  c->d = 128;
  c->rc = 64;
  c->rq = 16;
  c->nq = 100;
  c->k = 10;
  c->dtype = MX_DTYPE_F16;
  c->cands[0] = 100;
  c->n_cands = 1;
  snprintf(c->cascades[0], sizeof c->cascades[0], "none");
  c->n_cascades = 1;
  c->nprobes[0] = 0;
  c->n_nprobes = 1;
  c->threads[0] = 1;
  c->threads[1] = 2;
  c->n_threads = 2;
  c->reps = 3;
  c->warm = 1;
  c->cold = 1;
  c->cold_queries = 10;
  c->exact1_queries = 16;
  c->noise = 0.5f;
  c->seed = 42;
  c->plots = 1;
  c->disk = 1;
  c->disk_seconds = 2.0;
}

static void set_list_u32(uint32_t *dst, unsigned *n, const uint32_t *src, unsigned m) {
  memcpy(dst, src, m * sizeof *src);
  *n = m;
}
static void set_cascades(bench_cfg *c, const char *const *list, unsigned m) {
  for (unsigned i = 0; i < m; i++)
    snprintf(c->cascades[i], sizeof c->cascades[i], "%s", list[i]);
  c->n_cascades = m;
}

int bench_apply_preset(bench_cfg *c, const char *name) {
  snprintf(c->preset, sizeof c->preset, "%s", name);
  if (strcmp(name, "tiny") == 0) {
    c->ns[0] = 2000;
    c->n_ns = 1;
    c->d = 64;
    c->rc = 64;
    c->rq = 16;
    c->nq = 50;
    set_list_u32(c->cands, &c->n_cands, (uint32_t[]){50, 100, 200}, 3);
    set_cascades(c, (const char *[]){"none", "4x8:50"}, 2);
    c->reps = 3;
    c->cold_queries = 5;
    c->exact1_queries = 16;
    c->disk_seconds = 0.5;
  } else if (strcmp(name, "s128-100k") == 0) {
    c->ns[0] = 100000;
    c->n_ns = 1;
    c->d = 128;
    c->rc = 64;
    c->rq = 16;
    c->nq = 100;
    set_list_u32(c->cands, &c->n_cands, (uint32_t[]){100, 200, 500, 1000}, 4);
    set_cascades(c, (const char *[]){"none", "4x8:100", "4x8:200", "2x4:400,8x16:100"}, 4);
    c->reps = 3;
    c->cold_queries = 20;
  } else if (strcmp(name, "paper7b-20k") == 0) {
    c->ns[0] = 20000;
    c->n_ns = 1;
    c->d = 3584;
    c->rc = 64;
    c->rq = 16;
    c->nq = 50;
    set_list_u32(c->cands, &c->n_cands, (uint32_t[]){50, 100, 200}, 3);
    set_cascades(c, (const char *[]){"none", "2x4:50", "4x8:20", "4x8:25", "4x8:30", "4x8:40",
                                     "8x16:20", "2x4:100,8x16:20"},
                 8);
    /* the SQ8 coarse scan costs ~0.3 ms per probed list at d = 3584: probe
     * few lists (nprobe 0, the default, scans ~20 k' vectors: 7 ms at k' 100) */
    set_list_u32(c->nprobes, &c->n_nprobes, (uint32_t[]){2, 4}, 2);
    c->reps = 3;
    c->cold_queries = 10;
    c->exact1_queries = 8;
    /* The builder's default (IVF512 for N = 20k) wants 19968 training vectors
     * but its reservoir holds 256 MiB = 18724 vectors at d = 3584. */
    snprintf(c->factory, sizeof c->factory, "IVF256,SQ8");
  } else if (strcmp(name, "scale-1m") == 0) {
    c->ns[0] = 10000;
    c->ns[1] = 100000;
    c->ns[2] = 1000000;
    c->n_ns = 3;
    c->d = 128;
    c->rc = 16;
    c->rq = 16;
    c->nq = 100;
    set_list_u32(c->cands, &c->n_cands, (uint32_t[]){200}, 1);
    set_cascades(c, (const char *[]){"none"}, 1);
    c->reps = 3;
    c->cold_queries = 20;
  } else {
    return -1;
  }
  return 0;
}

static int parse_u32_list(const char *s, uint32_t *out, unsigned *n) {
  unsigned m = 0;
  const char *p = s;
  while (*p) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(p, &end, 10);
    if (end == p || errno || v > UINT32_MAX || m >= MAX_LIST)
      return -1;
    if (*end == 'k' || *end == 'K') {
      v *= 1000;
      end++;
    }
    out[m++] = (uint32_t)v;
    if (*end == ',')
      end++;
    else if (*end)
      return -1;
    p = end;
  }
  *n = m;
  return m ? 0 : -1;
}

static int parse_u64_list(const char *s, uint64_t *out, unsigned *n, unsigned max) {
  unsigned m = 0;
  const char *p = s;
  while (*p) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (end == p || errno || m >= max)
      return -1;
    if (*end == 'k' || *end == 'K') {
      v *= 1000;
      end++;
    } else if (*end == 'm' || *end == 'M') {
      v *= 1000000;
      end++;
    }
    out[m++] = v;
    if (*end == ',')
      end++;
    else if (*end)
      return -1;
    p = end;
  }
  *n = m;
  return m ? 0 : -1;
}

/* MetaEmbed's budgets clipped to (rq, rc), plus (rq, rc) itself. */
void bench_default_budgets(bench_cfg *c) {
  unsigned m = mx_budgets_default(c->rq, c->rc, c->budgets);
  if (m == 0 || c->budgets[m - 1].r_q != c->rq || c->budgets[m - 1].r_c != c->rc)
    c->budgets[m++] = (mx_budget){c->rq, c->rc};
  c->n_budgets = m;
}

void bench_usage(FILE *f, const char *prog) {
  fprintf(f,
          "usage: %s [--preset NAME] [options]\n"
          "\n"
          "Benchmarks an index end to end: latency, QPS, recall@10 against brute force,\n"
          "nDCG@10/MRR@10 against qrels, bytes/FLOPs per query, warm and cold, beside the\n"
          "exhaustive and coarse-only baselines. Writes results.jsonl, results.csv,\n"
          "paper_table.md and plots (SVG, PNG) under --out.\n"
          "\n"
          "presets: tiny (N=2000, d=64; < 1 min), s128-100k (d=128, N=100k, R_c=64),\n"
          "         paper7b-20k (d=3584, N=20k, f16, R_q=16, R_c=64),\n"
          "         scale-1m (d=128, R_c=16, N = 10k,100k,1M)\n"
          "\n"
          "collection (default: synthetic, generated with the synth generator):\n"
          "  --n N[,N...]        documents (k/M suffixes); several = one run per N\n"
          "  --d D --rc R_C --rq R_Q --queries Q --noise X --seed S\n"
          "  --docs X.npy --query-file Q.npy [--qrels FILE]   use these instead\n"
          "  --index DIR         open this index instead of building one\n"
          "  --dtype f16|f32|bf16|int8   stored dtype (default f16)\n"
          "  --factory STR       FAISS factory for the coarse stage\n"
          "  --rebuild           build again even if the out dir holds the index\n"
          "  --build-only        build (or find) the index, measure nothing\n"
          "  --replot            redo paper_table.md and the plots from --out's results.jsonl\n"
          "search configurations (lists are comma separated):\n"
          "  --budgets 1x1,2x4,...    (default MetaEmbed's, clipped to R_q, R_c)\n"
          "  --candidates K'[,...]    coarse candidates\n"
          "  --cascade C              'none' or stages RQxRC:KEEP[,RQxRC:KEEP...] as in\n"
          "                           'metaidx search'; once per cascade compared\n"
          "  --nprobe P[,...]         (0 = index default)\n"
          "  --threads T[,...]        batch QPS threads (default 1,2)\n"
          "  --k K --reps R --cold-queries N --exact1-queries N\n"
          "  --warm | --cold          only warm / only cold (default both)\n"
          "  --no-disk --disk-seconds S --no-plots --quiet\n"
          "  --out DIR               (default bench-out/PRESET)\n"
          "  --help                  show this help and exit\n",
          prog);
}

/* A number with nothing after it ("0.5", "42"); strtod/strtoull alone take
 * "0.5x" as 0.5. */
static int parse_double(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end || errno || !isfinite(v))
    return -1;
  *out = v;
  return 0;
}

static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  if (*s < '0' || *s > '9')
    return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (*end || errno)
    return -1;
  *out = v;
  return 0;
}

/* Options that are one value stored in one field, by kind. */
typedef struct text_opt {
  const char *name;
  char *dest;
  size_t cap;
} text_opt;
typedef struct u32_opt {
  const char *name;
  uint32_t *dest;
} u32_opt;
typedef struct list_opt {
  const char *name;
  uint32_t *dest;
  unsigned *n;
} list_opt;
typedef struct flag_opt {
  const char *name;
  int *dest;
  int value;
} flag_opt;

/* Applies one "--name value" of the options that the tables cannot hold.
 * Returns 1 if it knew the name, 0 if not, -1 for a bad value (printed). */
static int special_opt(bench_cfg *c, const char *a, const char *v, const char *prog,
                       int *budgets_given, int *cascades_given) {
  mx_error e = {0};
  double x;
  if (!strcmp(a, "--preset"))
    return 1; /* applied before the other flags */
  if (!strcmp(a, "--n"))
    return parse_u64_list(v, c->ns, &c->n_ns, MAX_NS) ? -1 : 1;
  if (!strcmp(a, "--dtype"))
    return mx_dtype_parse(v, &c->dtype, &e) != MX_OK ? -1 : 1;
  if (!strcmp(a, "--seed"))
    return parse_u64(v, &c->seed) ? -1 : 1;
  if (!strcmp(a, "--noise") || !strcmp(a, "--disk-seconds")) {
    if (parse_double(v, &x) || x < 0)
      return -1;
    if (!strcmp(a, "--noise"))
      c->noise = (float)x;
    else
      c->disk_seconds = x;
    return 1;
  }
  if (!strcmp(a, "--budgets")) {
    uint32_t nb = 0;
    if (mx_budgets_parse(v, c->budgets, MAX_LIST, &nb, &e) != MX_OK) {
      fprintf(stderr, "%s: --budgets: %s\n", prog, e.message);
      return -2;
    }
    c->n_budgets = nb;
    *budgets_given = 1;
    return 1;
  }
  if (!strcmp(a, "--cascade")) {
    if (!*cascades_given) /* the first --cascade replaces the preset's list */
      c->n_cascades = 0;
    *cascades_given = 1;
    mx_stage st[MX_MAX_STAGES];
    uint32_t ns;
    if (c->n_cascades >= MAX_LIST || strlen(v) >= sizeof c->cascades[0]) {
      fprintf(stderr, "%s: at most %d --cascade values of fewer than %zu bytes\n", prog,
              MAX_LIST, sizeof c->cascades[0]);
      return -2;
    }
    if (mx_bench_parse_cascade(v, st, &ns, MX_MAX_STAGES, &e)) {
      fprintf(stderr, "%s: --cascade: %s\n", prog, e.message);
      return -2;
    }
    snprintf(c->cascades[c->n_cascades++], sizeof c->cascades[0], "%s", v);
    return 1;
  }
  return 0;
}

int bench_parse_args(bench_cfg *c, int argc, char **argv, int first, const char *prog) {
  bench_cfg_defaults(c);
  /* the preset first, so that flags override it wherever they appear */
  for (int j = first; j + 1 < argc; j++)
    if (strcmp(argv[j], "--preset") == 0 && bench_apply_preset(c, argv[j + 1]) != 0) {
      fprintf(stderr, "%s: unknown preset '%s'\n", prog, argv[j + 1]);
      bench_usage(stderr, prog);
      return 2;
    }
  const text_opt texts[] = {
      {"--out", c->out, sizeof c->out},       {"--index", c->index_dir, sizeof c->index_dir},
      {"--docs", c->docs, sizeof c->docs},    {"--query-file", c->queries, sizeof c->queries},
      {"--qrels", c->qrels, sizeof c->qrels}, {"--factory", c->factory, sizeof c->factory},
  };
  const u32_opt u32s[] = {
      {"--d", &c->d},   {"--rc", &c->rc},     {"--rq", &c->rq},
      {"--queries", &c->nq}, {"--k", &c->k},     {"--reps", &c->reps},
      {"--cold-queries", &c->cold_queries},   {"--exact1-queries", &c->exact1_queries},
  };
  const list_opt lists[] = {
      {"--candidates", c->cands, &c->n_cands},
      {"--nprobe", c->nprobes, &c->n_nprobes},
      {"--threads", c->threads, &c->n_threads},
  };
  const flag_opt flags[] = {
      {"--warm", &c->warm, 1},       {"--warm", &c->cold, 0},          /* only warm */
      {"--cold", &c->cold, 1},       {"--cold", &c->warm, 0},          /* only cold */
      {"--replot", &c->replot, 1},   {"--build-only", &c->build_only, 1},
      {"--rebuild", &c->rebuild, 1}, {"--no-plots", &c->plots, 0},
      {"--no-disk", &c->disk, 0},    {"--quiet", &c->quiet, 1},
  };
  int budgets_given = 0, cascades_given = 0;
  for (int i = first; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      bench_usage(stdout, prog);
      return 0;
    }
    int known = 0;
    for (size_t f = 0; f < sizeof flags / sizeof *flags; f++)
      if (!strcmp(a, flags[f].name)) {
        *flags[f].dest = flags[f].value;
        known = 1;
      }
    if (known)
      continue;
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int rc = 0; /* 1 applied, 0 unknown, -1 bad value, -2 bad value already said */
    for (size_t t = 0; !rc && t < sizeof texts / sizeof *texts; t++)
      if (!strcmp(a, texts[t].name))
        rc = v ? (snprintf(texts[t].dest, texts[t].cap, "%s", v), 1) : -1;
    for (size_t t = 0; !rc && t < sizeof u32s / sizeof *u32s; t++)
      if (!strcmp(a, u32s[t].name)) {
        uint32_t x[MAX_LIST];
        unsigned nn;
        rc = v && !parse_u32_list(v, x, &nn) && nn == 1 ? (*u32s[t].dest = x[0], 1) : -1;
      }
    for (size_t t = 0; !rc && t < sizeof lists / sizeof *lists; t++)
      if (!strcmp(a, lists[t].name))
        rc = v && !parse_u32_list(v, lists[t].dest, lists[t].n) ? 1 : -1;
    if (!rc && v)
      rc = special_opt(c, a, v, prog, &budgets_given, &cascades_given);
    if (rc == 0) {
      fprintf(stderr, "%s: unknown option '%s'\n", prog, a);
      goto usage_err;
    }
    if (rc == -1 && !v) {
      fprintf(stderr, "%s: %s needs a value\n", prog, a);
      goto usage_err;
    }
    if (rc == -1) {
      fprintf(stderr, "%s: bad value '%s' for %s\n", prog, v, a);
      goto usage_err;
    }
    if (rc == -2)
      goto usage_err;
    i++; /* the value */
  }
  if (!c->out[0])
    snprintf(c->out, sizeof c->out, "bench-out/%s", c->preset);
  if (c->k == 0 || c->k > 256 || c->nq == 0 || c->d == 0 || c->rc == 0 || c->rq == 0) {
    fprintf(stderr, "%s: k must be in 1..256 and d, rc, rq, queries at least 1\n", prog);
    goto usage_err;
  }
  if ((c->docs[0] || c->index_dir[0]) && !c->queries[0]) {
    fprintf(stderr, "%s: --docs / --index need --query-file Q.npy\n", prog);
    goto usage_err;
  }
  if (c->docs[0] || c->index_dir[0])
    c->n_ns = 1;
  if (!budgets_given)
    bench_default_budgets(c);
  return -1;
usage_err:
  bench_usage(stderr, prog);
  return 2;
}
