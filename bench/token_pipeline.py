#!/usr/bin/env python3
"""token_pipeline.py: metaidx's default search against the pipeline a FAISS
user writes by hand (ColBERTv1-style: one IVF-PQ index over every document
vector, each query vector fetching its k nearest, the union of their
documents rescored exactly in numpy), on the same collection, in one run,
one thread, one query at a time, warm. Prints one JSON object per line.

    bench_recall --dir D --n 100000 --d 128 --rc 16 --rq 4 --write-npy
    token_pipeline.py --dir D [--budget 4x16] [--per-vector 32,64,128,256,512]
                      [--candidates 100,200,500] [--first-stage auto,leading]

Needs Debian's python3-faiss (apt-get install python3-faiss) and the
metaidx package (python/; PYTHONPATH and METAIDX_LIBRARY as in its tests).
The truth is mx_exact_search (metaidx's brute force) at the budget; the
FAISS pipeline rescores in float32 numpy over the f16-rounded vectors the
index stores, so both are scored on the same numbers. Bound: this is a
latency benchmark at one core; neither side is near the FMA peak (the
rescoring arithmetic of a few thousand candidates is ~0.1-0.3 ms).
"""
import argparse
import json
import os
import sys
import time

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import faiss  # noqa: E402

import metaidx  # noqa: E402


def recall_at(ids, truth, k=10):
    return len(set(ids[:k].tolist()) & set(truth[:k].tolist())) / max(1, min(k, len(truth)))


def p50(xs):
    return float(np.median(np.array(xs)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--budget", default="4x16")
    ap.add_argument("--per-vector", default="32,64,128,256,512")
    ap.add_argument("--candidates", default="0,100,200,500,1000")
    ap.add_argument("--first-stage", default="auto,leading")
    ap.add_argument("--nlist", type=int, default=1024, help="IVF lists")
    ap.add_argument("--pq", type=int, default=32, help="PQ sub-quantizers (bytes per vector)")
    ap.add_argument("--nprobe", type=int, default=16)
    a = ap.parse_args()
    faiss.omp_set_num_threads(1)
    r_q, r_c = (int(x) for x in a.budget.split("x"))
    docs = np.load(os.path.join(a.dir, "docs.npy"), mmap_mode="r")
    queries = np.load(os.path.join(a.dir, "queries.npy"))
    n, rc, d = docs.shape
    print(json.dumps({"kind": "collection", "n": n, "rc": rc, "d": d, "queries": len(queries),
                      "budget": a.budget}), flush=True)

    truth = None
    for fs in a.first_stage.split(","):
        path = os.path.join(a.dir, "ix-" + fs)
        if not os.path.exists(os.path.join(path, "manifest.json")):
            t0 = time.perf_counter()
            metaidx.build(path, docs, first_stage=fs, progress=False, overwrite=True)
            build_s = time.perf_counter() - t0
        else:
            build_s = None
        with metaidx.Index(path) as ix:
            info = ix.info
            if truth is None:
                t0 = time.perf_counter()
                truth, _ = ix.exact(queries, k=10, budget=(r_q, r_c), threads=1)
                exact_ms = (time.perf_counter() - t0) * 1000 / len(queries)
                print(json.dumps({"kind": "exact", "ms_per_query": round(exact_ms, 3)}), flush=True)
            print(json.dumps({"kind": "index", "first_stage_asked": fs,
                              "first_stage": info["first_stage"],
                              "first_stage_vectors": info["first_stage_vectors"],
                              "coarse": info["coarse_factory"], "build_s": build_s}), flush=True)
            for c in (int(x) for x in a.candidates.split(",")):
                lat, rec = [], []
                for rep in range(2):
                    for qi, q in enumerate(queries):
                        t0 = time.perf_counter()
                        ids, _ = ix.search(q, k=10, budget=(r_q, r_c),
                                           candidates=c if c > 0 else None)
                        if rep:
                            lat.append((time.perf_counter() - t0) * 1000)
                            rec.append(recall_at(ids, truth[qi]))
                print(json.dumps({"kind": "metaidx", "first_stage": info["first_stage"],
                                  "candidates": c or "default", "recall": round(np.mean(rec), 4),
                                  "p50_ms": round(p50(lat), 3)}), flush=True)

    # The hand-built token-level pipeline, over the vectors metaidx stores (f16).
    stored = np.asarray(docs[:, :r_c, :], dtype=np.float16).astype(np.float32)
    flat = np.ascontiguousarray(stored.reshape(-1, d))
    owner = np.repeat(np.arange(n, dtype=np.int64), r_c)
    nlist = a.nlist
    t0 = time.perf_counter()
    quant = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFPQ(quant, d, nlist, a.pq, 8, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(0)
    sample = flat[rng.choice(len(flat), size=min(len(flat), 64 * nlist), replace=False)]
    index.train(sample)
    index.add(flat)
    index.nprobe = a.nprobe
    print(json.dumps({"kind": "faiss_index", "entries": len(flat), "nlist": nlist, "pq": a.pq,
                      "nprobe": a.nprobe, "build_s": round(time.perf_counter() - t0, 1)}),
          flush=True)
    for per in (int(x) for x in a.per_vector.split(",")):
        lat, rec, cands = [], [], []
        for rep in range(2):
            for qi, q in enumerate(queries):
                t0 = time.perf_counter()
                qv = np.ascontiguousarray(q[:r_q], dtype=np.float32)
                _, labels = index.search(qv, per)
                cand = np.unique(owner[labels[labels >= 0]])
                sims = np.einsum("qd,crd->cqr", qv, stored[cand])
                scores = sims.max(axis=2).sum(axis=1)
                top = cand[np.argsort(-scores, kind="stable")[:10]]
                if rep:
                    lat.append((time.perf_counter() - t0) * 1000)
                    rec.append(recall_at(top, truth[qi]))
                    cands.append(len(cand))
        print(json.dumps({"kind": "faiss_pipeline", "per_vector": per,
                          "mean_candidates": round(float(np.mean(cands)), 1),
                          "recall": round(float(np.mean(rec)), 4), "p50_ms": round(p50(lat), 3)}),
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
