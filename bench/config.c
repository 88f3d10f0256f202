/* config.c: a benchmark run's configuration: defaults, the presets, the
 * usage text and argv (flags override the preset wherever they appear;
 * budget lists and cascades in the one syntax of common/budget.h). */
#include <errno.h>
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

int bench_parse_args(bench_cfg *c, int argc, char **argv, int first, const char *prog) {
  bench_cfg_defaults(c);
  /* the preset first, so that flags override it wherever they appear */
  for (int j = first; j + 1 < argc; j++)
    if (strcmp(argv[j], "--preset") == 0 && bench_apply_preset(c, argv[j + 1]) != 0) {
      fprintf(stderr, "%s: unknown preset '%s'\n", prog, argv[j + 1]);
      bench_usage(stderr, prog);
      return 2;
    }
  int budgets_given = 0, ns_given = 0, cascades_given = 0;
  for (int i = first; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE                                                                                 \
  do {                                                                                             \
    if (!v) {                                                                                      \
      fprintf(stderr, "%s: %s needs a value\n", prog, a);                                          \
      goto usage_err;                                                                              \
    }                                                                                              \
    i++;                                                                                           \
  } while (0)
    unsigned nn;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      bench_usage(stdout, prog);
      return 0;
    } else if (!strcmp(a, "--preset")) {
      NEED_VALUE;
    } else if (!strcmp(a, "--out")) {
      NEED_VALUE;
      snprintf(c->out, sizeof c->out, "%s", v);
    } else if (!strcmp(a, "--index")) {
      NEED_VALUE;
      snprintf(c->index_dir, sizeof c->index_dir, "%s", v);
    } else if (!strcmp(a, "--docs")) {
      NEED_VALUE;
      snprintf(c->docs, sizeof c->docs, "%s", v);
    } else if (!strcmp(a, "--query-file")) {
      NEED_VALUE;
      snprintf(c->queries, sizeof c->queries, "%s", v);
    } else if (!strcmp(a, "--qrels")) {
      NEED_VALUE;
      snprintf(c->qrels, sizeof c->qrels, "%s", v);
    } else if (!strcmp(a, "--n")) {
      NEED_VALUE;
      if (parse_u64_list(v, c->ns, &c->n_ns, MAX_NS))
        goto bad_value;
      ns_given = 1;
    } else if (!strcmp(a, "--d") || !strcmp(a, "--rc") || !strcmp(a, "--rq") ||
               !strcmp(a, "--queries") || !strcmp(a, "--k") || !strcmp(a, "--reps") ||
               !strcmp(a, "--cold-queries") || !strcmp(a, "--exact1-queries")) {
      NEED_VALUE;
      uint32_t x[MAX_LIST];
      if (parse_u32_list(v, x, &nn) || nn != 1)
        goto bad_value;
      if (!strcmp(a, "--d"))
        c->d = x[0];
      else if (!strcmp(a, "--rc"))
        c->rc = x[0];
      else if (!strcmp(a, "--rq"))
        c->rq = x[0];
      else if (!strcmp(a, "--queries"))
        c->nq = x[0];
      else if (!strcmp(a, "--k"))
        c->k = x[0];
      else if (!strcmp(a, "--reps"))
        c->reps = x[0];
      else if (!strcmp(a, "--cold-queries"))
        c->cold_queries = x[0];
      else
        c->exact1_queries = x[0];
    } else if (!strcmp(a, "--dtype")) {
      NEED_VALUE;
      mx_error e;
      if (mx_dtype_parse(v, &c->dtype, &e) != MX_OK)
        goto bad_value;
    } else if (!strcmp(a, "--budgets")) {
      NEED_VALUE;
      uint32_t nb = 0;
      mx_error e = {0};
      if (mx_budgets_parse(v, c->budgets, MAX_LIST, &nb, &e) != MX_OK) {
        fprintf(stderr, "%s: --budgets: %s\n", prog, e.message);
        goto usage_err;
      }
      c->n_budgets = nb;
      budgets_given = 1;
    } else if (!strcmp(a, "--candidates")) {
      NEED_VALUE;
      if (parse_u32_list(v, c->cands, &c->n_cands))
        goto bad_value;
    } else if (!strcmp(a, "--nprobe")) {
      NEED_VALUE;
      if (parse_u32_list(v, c->nprobes, &c->n_nprobes))
        goto bad_value;
    } else if (!strcmp(a, "--threads")) {
      NEED_VALUE;
      if (parse_u32_list(v, c->threads, &c->n_threads))
        goto bad_value;
    } else if (!strcmp(a, "--cascade")) {
      NEED_VALUE;
      if (!cascades_given) /* the first --cascade replaces the preset's list */
        c->n_cascades = 0;
      cascades_given = 1;
      mx_stage st[MX_MAX_STAGES];
      uint32_t ns2;
      mx_error e = {0};
      if (c->n_cascades >= MAX_LIST || strlen(v) >= sizeof c->cascades[0]) {
        fprintf(stderr, "%s: at most %d --cascade values of fewer than %zu bytes\n", prog,
                MAX_LIST, sizeof c->cascades[0]);
        goto usage_err;
      }
      if (mx_bench_parse_cascade(v, st, &ns2, MX_MAX_STAGES, &e)) {
        fprintf(stderr, "%s: --cascade: %s\n", prog, e.message);
        goto usage_err;
      }
      snprintf(c->cascades[c->n_cascades++], sizeof c->cascades[0], "%s", v);
    } else if (!strcmp(a, "--factory")) {
      NEED_VALUE;
      snprintf(c->factory, sizeof c->factory, "%s", v);
    } else if (!strcmp(a, "--noise")) {
      NEED_VALUE;
      c->noise = strtof(v, NULL);
    } else if (!strcmp(a, "--seed")) {
      NEED_VALUE;
      c->seed = strtoull(v, NULL, 10);
    } else if (!strcmp(a, "--disk-seconds")) {
      NEED_VALUE;
      c->disk_seconds = strtod(v, NULL);
    } else if (!strcmp(a, "--warm")) {
      c->warm = 1;
      c->cold = 0;
    } else if (!strcmp(a, "--cold")) {
      c->cold = 1;
      c->warm = 0;
    } else if (!strcmp(a, "--replot")) {
      c->replot = 1;
    } else if (!strcmp(a, "--build-only")) {
      c->build_only = 1;
    } else if (!strcmp(a, "--rebuild")) {
      c->rebuild = 1;
    } else if (!strcmp(a, "--no-plots")) {
      c->plots = 0;
    } else if (!strcmp(a, "--no-disk")) {
      c->disk = 0;
    } else if (!strcmp(a, "--quiet")) {
      c->quiet = 1;
    } else {
      fprintf(stderr, "%s: unknown option '%s'\n", prog, a);
      goto usage_err;
    }
    continue;
  bad_value:
    fprintf(stderr, "%s: bad value '%s' for %s\n", prog, v, a);
    goto usage_err;
  }
#undef NEED_VALUE
  (void)ns_given;
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
