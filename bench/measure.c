/* measure.c: the measurements of one collection: brute force at every
 * budget (the ground truth and the exhaustive baseline), the coarse-only
 * baseline, then every search configuration (budget x nprobe x k' x
 * cascade), warm (single query and batch QPS per thread count) and cold
 * (index closed, store evicted, reopened before each query). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_internal.h"
#include "clock.h"
#include "driver.h"
#include "dtype.h"
#include "metrics.h"
#include "pool.h"

static void quality(const bench *b, const mx_hit *hits, const uint32_t *n_hits, int budget_i,
                    double *recall, double *ndcg, double *mrr) {
  uint32_t k = b->cfg.k;
  uint64_t *ranked = malloc(k * sizeof *ranked), *truth = malloc(k * sizeof *truth);
  double rs = 0, ns = 0, ms = 0;
  size_t rn = 0, qn = 0;
  for (uint32_t q = 0; q < b->nq; q++) {
    for (uint32_t i = 0; i < n_hits[q]; i++)
      ranked[i] = hits[(size_t)q * k + i].doc;
    if (budget_i >= 0) {
      const mx_hit *t = b->truth[budget_i] + (size_t)q * k;
      uint32_t tn = b->truth_n[budget_i][q];
      for (uint32_t i = 0; i < tn; i++)
        truth[i] = t[i].doc;
      double r = mx_recall_at_k(ranked, n_hits[q], truth, tn, 10 < k ? 10 : k);
      if (!isnan(r)) {
        rs += r;
        rn++;
      }
    }
    if (b->qrels) {
      size_t lo = b->qrel_off[q], hi = b->qrel_off[q + 1];
      for (uint32_t i = 0; i < n_hits[q]; i++)
        ranked[i] = hits[(size_t)q * k + i].id;
      double nd = mx_ndcg_at_k(ranked, n_hits[q], b->qrels + lo, hi - lo, 10);
      double mr = mx_mrr_at_k(ranked, n_hits[q], b->qrels + lo, hi - lo, 10);
      if (!isnan(nd)) {
        ns += nd;
        ms += mr;
        qn++;
      }
    }
  }
  *recall = rn ? rs / (double)rn : NAN;
  *ndcg = qn ? ns / (double)qn : NAN;
  *mrr = qn ? ms / (double)qn : NAN;
  free(ranked);
  free(truth);
}

static void lat_stats(row *r, double *lat, size_t n) {
  r->p50_ms = mx_percentile(lat, n, 50);
  r->p95_ms = mx_percentile(lat, n, 95);
  r->p99_ms = mx_percentile(lat, n, 99);
  r->mean_ms = mx_mean(lat, n);
}

static void stat_means(row *r, const mx_search_stats *st, size_t n) {
  double sums[MX_MAX_STAGES + 1] = {0};
  double bytes = 0, scored = 0, cand = 0, co = 0, pf = 0, rs = 0, tot = 0;
  uint32_t stages = 0;
  for (size_t i = 0; i < n; i++) {
    bytes += (double)st[i].bytes_touched;
    scored += (double)st[i].scored;
    cand += (double)st[i].candidates;
    co += st[i].coarse_ms;
    pf += st[i].prefetch_ms;
    rs += st[i].rescore_ms;
    tot += st[i].total_ms;
    if (st[i].n_stages_run > stages)
      stages = st[i].n_stages_run;
    for (uint32_t s = 0; s < st[i].n_stages_run && s <= MX_MAX_STAGES; s++)
      sums[s] += st[i].stage_ms[s];
  }
  double dn = n ? (double)n : 1;
  r->bytes_per_query = bytes / dn;
  r->scored_per_query = scored / dn;
  r->candidates_per_query = cand / dn;
  r->coarse_ms = co / dn;
  r->prefetch_ms = pf / dn;
  r->rescore_ms = rs / dn;
  r->total_ms = tot / dn;
  size_t off = 0;
  r->stage_ms[0] = '\0';
  for (uint32_t s = 0; s < stages && s <= MX_MAX_STAGES; s++)
    off += (size_t)snprintf(r->stage_ms + off, sizeof r->stage_ms - off, "%s%.4g", s ? ";" : "",
                            sums[s] / dn);
}

/* Exhaustive baseline and ground truth at every budget. */
static mx_status run_exhaustive(bench *b, mx_error *err) {
  const bench_cfg *c = &b->cfg;
  unsigned all = mx_cpu_count();
  size_t vb = mx_vector_bytes(b->info.dtype, b->info.dim);
  for (unsigned bi = 0; bi < c->n_budgets; bi++) {
    mx_budget bu = c->budgets[bi];
    b->truth[bi] = malloc((size_t)b->nq * c->k * sizeof(mx_hit));
    b->truth_n[bi] = malloc(b->nq * sizeof(uint32_t));
    if (!b->truth[bi] || !b->truth_n[bi])
      return err->status = MX_ERR_NO_MEMORY;
    uint64_t t0 = mx_now_ns();
    mx_status s = mx_exact_search(b->ix, b->queries, b->nq, b->qv, bu.r_q, bu.r_c, c->k, all,
                                  b->truth[bi], b->truth_n[bi], err);
    if (s != MX_OK)
      return s;
    double ms = mx_ms_since(t0);
    b->exact_ms_per_query[bi] = ms / b->nq;
    row r;
    bench_row_base(b, &r, "exhaustive", "warm");
    r.r_q = bu.r_q;
    r.r_c = bu.r_c;
    r.candidates = b->n_docs;
    snprintf(r.cascade, sizeof r.cascade, "none");
    r.threads = all;
    r.mean_ms = r.p50_ms = ms / b->nq;
    r.qps = b->nq / (ms / 1e3);
    quality(b, b->truth[bi], b->truth_n[bi], bi, &r.recall_at_10, &r.ndcg_at_10, &r.mrr_at_10);
    r.bytes_per_query = (double)b->n_docs * bu.r_c * vb;
    r.scored_per_query = (double)b->n_docs;
    r.flops_per_query = 2.0 * bu.r_q * bu.r_c * b->info.dim * (double)b->n_docs;
    r.budget_bytes = r.bytes_per_query;
    r.total_ms = ms;
    snprintf(r.note, sizeof r.note, "mx_exact_search over all %llu docs, %u queries at once",
             (unsigned long long)b->n_docs, b->nq);
    bench_emit(b, &r);
    bench_log(b, "  exhaustive %ux%u: %.2f ms/query (%u threads)\n", bu.r_q, bu.r_c, ms / b->nq, all);
    /* one thread, on a subset of queries */
    uint32_t n1 = c->exact1_queries < b->nq ? c->exact1_queries : b->nq;
    if (n1 > 0 && all > 1) {
      mx_hit *h = malloc((size_t)n1 * c->k * sizeof *h);
      uint32_t *hn = malloc(n1 * sizeof *hn);
      t0 = mx_now_ns();
      s = mx_exact_search(b->ix, b->queries, n1, b->qv, bu.r_q, bu.r_c, c->k, 1, h, hn, err);
      ms = mx_ms_since(t0);
      free(h);
      free(hn);
      if (s != MX_OK)
        return s;
      r.threads = 1;
      r.n_queries = n1;
      r.mean_ms = r.p50_ms = ms / n1;
      r.qps = n1 / (ms / 1e3);
      r.total_ms = ms;
      r.recall_at_10 = r.ndcg_at_10 = r.mrr_at_10 = NAN;
      bench_proc_mem(&r.vm_rss, &r.vm_hwm);
      snprintf(r.note, sizeof r.note, "mx_exact_search, 1 thread, first %u queries", n1);
      bench_emit(b, &r);
      bench_log(b, "  exhaustive %ux%u: %.2f ms/query (1 thread)\n", bu.r_q, bu.r_c, ms / n1);
    }
  }
  return MX_OK;
}

typedef struct search_conf {
  mx_budget budget;
  uint32_t candidates, nprobe;
  mx_stage stages[MX_MAX_STAGES];
  uint32_t n_stages;
  const char *cascade;
  int coarse_only;
} search_conf;

static void conf_opts(const bench *b, const search_conf *sc, mx_search_options *o) {
  mx_search_options_init(o);
  o->k = b->cfg.k;
  o->r_q = sc->budget.r_q;
  o->r_c = sc->budget.r_c;
  o->candidates = sc->candidates;
  o->nprobe = sc->nprobe;
  o->n_stages = sc->n_stages;
  memcpy(o->stages, sc->stages, sizeof o->stages);
  o->coarse_only = sc->coarse_only;
}

static void conf_row(const bench *b, row *r, const search_conf *sc, const char *kind,
                     const char *mode, uint32_t threads) {
  bench_row_base(b, r, kind, mode);
  r->r_q = sc->budget.r_q;
  r->r_c = sc->budget.r_c;
  r->candidates = sc->candidates;
  snprintf(r->cascade, sizeof r->cascade, "%s", sc->cascade);
  r->nprobe = sc->nprobe;
  r->threads = threads;
  r->budget_bytes =
      (double)b->n_docs * sc->budget.r_c * mx_vector_bytes(b->info.dtype, b->info.dim);
}

/* One search configuration, warm and/or cold. budget_i indexes the truth. */
static mx_status run_conf(bench *b, const search_conf *sc, int budget_i, mx_error *err) {
  const bench_cfg *c = &b->cfg;
  uint32_t nq = b->nq, k = c->k;
  size_t per = (size_t)b->qv * b->info.dim;
  mx_search_options o;
  conf_opts(b, sc, &o);
  mx_hit *hits = malloc((size_t)nq * k * sizeof *hits);
  uint32_t *nh = malloc(nq * sizeof *nh);
  mx_search_stats *st = malloc(nq * sizeof *st);
  size_t nl = (size_t)nq * (c->reps ? c->reps : 1);
  double *lat = malloc(nl * sizeof *lat);
  mx_status s = MX_OK;
  if (!hits || !nh || !st || !lat) {
    s = err->status = MX_ERR_NO_MEMORY;
    goto out;
  }
  double flops = sc->coarse_only ? 0
                                 : mx_bench_flops(b->info.dim,
                                                  sc->candidates < b->n_docs ? sc->candidates
                                                                             : b->n_docs,
                                                  sc->stages, sc->n_stages, sc->budget.r_q,
                                                  sc->budget.r_c);
  const char *kind = sc->coarse_only ? "coarse_only" : "search";
  if (c->warm) {
    /* warm-up pass, also the quality and statistics pass */
    for (uint32_t q = 0; q < nq && s == MX_OK; q++)
      s = mx_search(b->ix, b->queries + q * per, b->qv, &o, hits + (size_t)q * k, &nh[q], &st[q],
                    err);
    if (s != MX_OK)
      goto out;
    size_t m = 0;
    for (uint32_t rep = 0; rep < (c->reps ? c->reps : 1) && s == MX_OK; rep++)
      for (uint32_t q = 0; q < nq && s == MX_OK; q++) {
        mx_hit tmp[256];
        uint32_t n_tmp;
        int last = rep + 1 == (c->reps ? c->reps : 1);
        uint64_t t0 = mx_now_ns(); /* statistics from the last (warmest) pass */
        s = mx_search(b->ix, b->queries + q * per, b->qv, &o, tmp, &n_tmp, last ? &st[q] : NULL,
                      err);
        lat[m++] = mx_ms_since(t0);
      }
    if (s != MX_OK)
      goto out;
    row r;
    conf_row(b, &r, sc, kind, "warm", 1);
    lat_stats(&r, lat, m);
    quality(b, hits, nh, budget_i, &r.recall_at_10, &r.ndcg_at_10, &r.mrr_at_10);
    stat_means(&r, st, nq);
    r.flops_per_query = flops;
    double recall = r.recall_at_10, ndcg = r.ndcg_at_10, mrr = r.mrr_at_10;
    /* batch QPS per thread count */
    for (unsigned ti = 0; ti < c->n_threads && s == MX_OK; ti++) {
      uint32_t t = c->threads[ti];
      double qps[16];
      unsigned nr = c->reps ? (c->reps < 16 ? c->reps : 16) : 1;
      for (unsigned rep = 0; rep < nr && s == MX_OK; rep++) {
        uint64_t t0 = mx_now_ns();
        s = mx_search_batch(b->ix, b->queries, nq, b->qv, &o, t, hits, nh, st, err);
        qps[rep] = nq / (mx_ms_since(t0) / 1e3);
      }
      if (s != MX_OK)
        goto out;
      double q50 = mx_percentile(qps, nr, 50);
      if (t == 1) {
        r.qps = q50;
        continue;
      }
      row rt;
      conf_row(b, &rt, sc, kind, "warm", t);
      double *bl = malloc(nq * sizeof *bl);
      for (uint32_t q = 0; q < nq; q++)
        bl[q] = st[q].total_ms;
      lat_stats(&rt, bl, nq);
      free(bl);
      stat_means(&rt, st, nq);
      rt.qps = q50;
      rt.recall_at_10 = recall;
      rt.ndcg_at_10 = ndcg;
      rt.mrr_at_10 = mrr;
      rt.flops_per_query = flops;
      snprintf(rt.note, sizeof rt.note, "latency from stats.total_ms inside mx_search_batch");
      bench_emit(b, &rt);
    }
    bench_emit(b, &r);
    bench_log(b, "  %s %ux%u k'=%u cascade=%s nprobe=%u: p50 %.3f ms p99 %.3f recall %.3f qps1 %.0f\n",
          kind, sc->budget.r_q, sc->budget.r_c, sc->candidates, sc->cascade, sc->nprobe, r.p50_ms,
          r.p99_ms, r.recall_at_10, r.qps);
  }
  if (c->cold && !sc->coarse_only) {
    uint32_t ncold = c->cold_queries < nq ? c->cold_queries : nq;
    char dp[PATH_MAX + 32];
    bench_data_path(b, dp, sizeof dp);
    double res_sum = 0;
    size_t res_n = 0;
    for (uint32_t q = 0; q < ncold && s == MX_OK; q++) {
      mx_index_close(b->ix); /* drops our mappings, so DONTNEED can drop every page */
      b->ix = NULL;
      bench_evict_file(dp);
      double fr = bench_resident_fraction(dp);
      if (!isnan(fr)) {
        res_sum += fr;
        res_n++;
      }
      if ((s = mx_index_open(b->index_dir, NULL, &b->ix, err)) != MX_OK)
        goto out;
      uint64_t t0 = mx_now_ns();
      s = mx_search(b->ix, b->queries + q * per, b->qv, &o, hits + (size_t)q * k, &nh[q], &st[q],
                    err);
      lat[q] = mx_ms_since(t0);
    }
    if (s != MX_OK)
      goto out;
    row r;
    conf_row(b, &r, sc, kind, "cold", 1);
    r.n_queries = ncold;
    lat_stats(&r, lat, ncold);
    stat_means(&r, st, ncold);
    r.flops_per_query = flops;
    r.resident_before = res_n ? res_sum / (double)res_n : NAN;
    /* quality over the cold subset only */
    uint32_t save = b->nq;
    b->nq = ncold;
    quality(b, hits, nh, budget_i, &r.recall_at_10, &r.ndcg_at_10, &r.mrr_at_10);
    b->nq = save;
    /* the disk bound: one 4 KiB read per page touched */
    double pages = 0;
    for (uint32_t q = 0; q < ncold; q++)
      pages += ceil((double)st[q].bytes_touched / 4096.0);
    pages /= ncold ? ncold : 1;
    if (b->disk_iops1 > 0)
      r.disk_bound_qd1_ms = pages / b->disk_iops1 * 1e3;
    if (b->disk_iops32 > 0)
      r.disk_bound_qd32_ms = pages / b->disk_iops32 * 1e3;
    if (b->disk_bw > 0)
      r.disk_bound_bw_ms = r.bytes_per_query / b->disk_bw * 1e3;
    snprintf(r.note, sizeof r.note,
             "index closed, fadvise(DONTNEED) on store/data.mdb, reopened before each query");
    bench_emit(b, &r);
    bench_log(b, "  cold %ux%u k'=%u cascade=%s: p50 %.2f ms (resident before %.4f; bound qd1 %.1f qd32 %.1f bw %.1f ms)\n",
          sc->budget.r_q, sc->budget.r_c, sc->candidates, sc->cascade, r.p50_ms,
          r.resident_before, r.disk_bound_qd1_ms, r.disk_bound_qd32_ms, r.disk_bound_bw_ms);
  }
out:
  free(hits);
  free(nh);
  free(st);
  free(lat);
  return s;
}

static int cascade_fits(const mx_stage *st, uint32_t n, mx_budget bu, uint32_t cand, uint32_t k) {
  uint32_t prev = cand;
  for (uint32_t i = 0; i < n; i++) {
    if (st[i].r_q > bu.r_q || st[i].r_c >= bu.r_c || st[i].keep < k || st[i].keep >= prev)
      return 0;
    prev = st[i].keep;
  }
  return 1;
}

mx_status bench_run_collection(bench *b, uint64_t n, mx_error *err) {
  bench_cfg *c = &b->cfg;
  b->build_s = NAN;
  if (c->index_dir[0]) {
    snprintf(b->index_dir, sizeof b->index_dir, "%s", c->index_dir);
  } else {
    if (c->docs[0])
      bench_sfmt(b->index_dir, sizeof b->index_dir, "%s/index-npy-%s", c->out,
               mx_dtype_name(c->dtype));
    else
      bench_sfmt(b->index_dir, sizeof b->index_dir, "%s/index-n%llu-d%u-rc%u-%s-s%llu", c->out,
               (unsigned long long)n, c->d, c->rc, mx_dtype_name(c->dtype),
               (unsigned long long)c->seed);
    char mpath[PATH_MAX + 32];
    snprintf(mpath, sizeof mpath, "%s/manifest.json", b->index_dir);
    if (c->rebuild || access(mpath, F_OK) != 0) {
      bench_log(b, "building %s\n", b->index_dir);
      mx_status s = bench_build_index(b, n, err);
      if (s != MX_OK)
        return s;
      bench_log(b, "  built in %.1f s\n", b->build_s);
    } else {
      bench_log(b, "reusing %s\n", b->index_dir);
    }
  }
  if (c->build_only)
    return MX_OK;
  mx_status s = mx_index_open(b->index_dir, NULL, &b->ix, err);
  if (s != MX_OK)
    return s;
  if ((s = mx_index_info(b->ix, &b->info, err)) != MX_OK)
    return s;
  b->n_docs = b->info.n_docs;
  bench_dir_bytes(b->index_dir, &b->index_bytes, &b->index_alloc);
  if ((s = bench_load_queries(b, n, err)) != MX_OK)
    return s;
  if (b->qv < c->rq || (c->docs[0] || c->index_dir[0])) {
    /* fit the budgets to what this collection has */
    c->rq = b->qv;
    c->rc = b->info.vectors_per_doc;
  }
  unsigned nb = 0;
  for (unsigned i = 0; i < c->n_budgets; i++)
    if (c->budgets[i].r_q <= b->qv && c->budgets[i].r_c <= b->info.vectors_per_doc)
      c->budgets[nb++] = c->budgets[i];
  c->n_budgets = nb;
  if (nb == 0) {
    snprintf(err->message, sizeof err->message, "no budget fits the collection");
    return err->status = MX_ERR_INVALID_ARGUMENT;
  }
  {
    row r;
    bench_row_base(b, &r, "index", "warm");
    r.seconds = b->build_s;
    bench_sfmt(r.note, sizeof r.note, "%s coarse=%s simd=%s", b->index_dir, b->info.coarse_factory,
             mx_simd_path());
    bench_emit(b, &r);
  }
  bench_log(b, "collection: N=%llu d=%u R_c=%u R_q=%u Q=%u dtype=%s coarse=%s, %.2f GB on disk\n",
        (unsigned long long)b->n_docs, b->info.dim, b->info.vectors_per_doc, b->qv, b->nq,
        mx_dtype_name(b->info.dtype), b->info.coarse_factory, b->index_bytes / 1e9);
  bench_run_disk(b);
  {
    char dp[PATH_MAX + 32];
    bench_data_path(b, dp, sizeof dp);
    uint64_t tw = mx_now_ns();
    bench_warm_file(dp);
    bench_log(b, "  warmed the store in %.1f s (resident %.3f)\n", mx_ms_since(tw) / 1e3,
          bench_resident_fraction(dp));
  }
  if ((s = run_exhaustive(b, err)) != MX_OK)
    return s;
  /* coarse-only baseline: one measurement, compared with each budget's truth */
  {
    search_conf sc = {.budget = c->budgets[0], .candidates = c->k, .cascade = "none",
                      .coarse_only = 1};
    for (unsigned pi = 0; pi < c->n_nprobes && s == MX_OK; pi++) {
      sc.nprobe = c->nprobes[pi];
      for (unsigned bi = 0; bi < c->n_budgets && s == MX_OK; bi++) {
        sc.budget = c->budgets[bi];
        s = run_conf(b, &sc, (int)bi, err);
      }
    }
    if (s != MX_OK)
      return s;
  }
  for (unsigned bi = 0; bi < c->n_budgets; bi++) {
    for (unsigned pi = 0; pi < c->n_nprobes; pi++)
      for (unsigned ci = 0; ci < c->n_cands; ci++)
        for (unsigned xi = 0; xi < c->n_cascades; xi++) {
          search_conf sc = {.budget = c->budgets[bi], .candidates = c->cands[ci],
                            .nprobe = c->nprobes[pi], .cascade = c->cascades[xi]};
          if (mx_bench_parse_cascade(c->cascades[xi], sc.stages, &sc.n_stages, MX_MAX_STAGES,
                                     err))
            return err->status;
          if (!cascade_fits(sc.stages, sc.n_stages, sc.budget, sc.candidates, c->k))
            continue;
          if ((s = run_conf(b, &sc, (int)bi, err)) != MX_OK)
            return s;
        }
  }
  return MX_OK;
}
