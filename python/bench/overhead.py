"""What the Python package costs over the C API, on one index in one run:
the median wall time of one Index.search call against one mx_search call
(bench/search_c.c) and against a bare ctypes call of mx_search with prepared
arguments (what the package's own code costs), the Python time outside the library (wall minus the
library's own stats total_ms, same calls), batch QPS of
Index.search_batch against mx_search_batch, and the QPS of 1, 2 and 8 Python
threads calling Index.search at once. Rounds alternate C and Python;
every figure is printed as a JSON line, the summary last (medians over
rounds).

Usage: python3 bench/overhead.py SEARCH_C [--n 20000] [--d 128] [--rounds 5]
(SEARCH_C is build/python/py_search_c; METAIDX_LIBRARY as for the tests.)"""
import argparse
import json
import os
import statistics
import subprocess
import time

import ctypes

import numpy as np

import metaidx
from metaidx import _capi
from metaidx.index import _options


def unit(rng, shape):
    a = rng.standard_normal(shape, dtype=np.float32)
    a /= np.linalg.norm(a, axis=-1, keepdims=True)
    return a


def python_round(ix, queries, args):
    kw = dict(k=args.k, budget=(args.rq, args.rc), candidates=args.candidates)
    walls, outside = [], []
    for _ in range(args.reps):
        for q in queries:
            t = time.perf_counter_ns()
            _, _, st = ix.search(q, stats=True, **kw)
            wall = (time.perf_counter_ns() - t) / 1e3
            walls.append(wall)
            outside.append(wall - st["total_ms"] * 1e3)
    plain = []
    for _ in range(args.reps):
        for q in queries:
            t = time.perf_counter_ns()
            ix.search(q, **kw)
            plain.append((time.perf_counter_ns() - t) / 1e3)
    # the bare ctypes call, prepared arguments: what is left is ctypes itself
    opts = _options(args.k, (args.rq, args.rc), args.candidates, None, None, None, True, False,
                    False, None)
    hits = np.empty(args.k, metaidx.HIT_DTYPE)
    n, err = ctypes.c_uint32(), _capi.Error()
    handle, hits_p = ix._shared.handle, hits.ctypes.data
    pointers = [q.ctypes.data for q in queries]
    raw = []
    for _ in range(args.reps):
        for q in pointers:
            t = time.perf_counter_ns()
            _capi.lib.mx_search(handle, q, args.rq, ctypes.byref(opts), hits_p, ctypes.byref(n),
                                None, ctypes.byref(err))
            raw.append((time.perf_counter_ns() - t) / 1e3)
    best = 0.0
    for _ in range(args.reps):
        t = time.perf_counter()
        ix.search_batch(queries, threads=args.threads or None, **kw)
        best = max(best, len(queries) / (time.perf_counter() - t))
    return {"side": "python", "search_median_us": statistics.median(plain),
            "raw_ctypes_median_us": statistics.median(raw),
            "search_stats_median_us": statistics.median(walls),
            "outside_library_median_us": statistics.median(outside), "batch_qps": best}


def threads_qps(ix, queries, args, n_threads):
    """Queries per second of n_threads Python threads each calling
    Index.search over all queries (the GIL is released in the library)."""
    from concurrent.futures import ThreadPoolExecutor
    kw = dict(k=args.k, budget=(args.rq, args.rc), candidates=args.candidates)

    def work(_):
        for q in queries:
            ix.search(q, **kw)

    with ThreadPoolExecutor(n_threads) as pool:
        t = time.perf_counter()
        list(pool.map(work, range(n_threads)))
        return n_threads * len(queries) / (time.perf_counter() - t)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("search_c")
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--r", type=int, default=16)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--rq", type=int, default=4)
    p.add_argument("--rc", type=int, default=16)
    p.add_argument("--candidates", type=int, default=100)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--dir", default="/tmp/python-bench")
    args = p.parse_args()
    rng = np.random.default_rng(20261206)
    os.makedirs(args.dir, exist_ok=True)
    path = os.path.join(args.dir, "index")
    docs = unit(rng, (args.n, args.r, args.d))
    metaidx.build(path, docs, overwrite=True, progress=False)
    del docs
    queries = unit(rng, (args.queries, args.rq, args.d))
    qfile = os.path.join(args.dir, "queries.f32")
    queries.tofile(qfile)
    c_cmd = [args.search_c, path, qfile, str(args.queries), str(args.rq), str(args.k),
             str(args.rq), str(args.rc), str(args.candidates), str(args.reps), str(args.threads)]
    rows = []
    with metaidx.Index(path) as ix:
        python_round(ix, queries, args)  # warm the page cache and the code paths
        for i in range(args.rounds):
            c = json.loads(subprocess.run(c_cmd, check=True, capture_output=True,
                                          text=True).stdout)
            py = python_round(ix, queries, args)
            for row in (c, py):
                row["round"] = i
                print(json.dumps(row), flush=True)
            for n_threads in (1, 2, 8):
                py[f"threads_{n_threads}_qps"] = threads_qps(ix, queries, args, n_threads)
            rows.append((c, py))
    med = lambda xs: round(statistics.median(xs), 2)  # noqa: E731
    print(json.dumps({
        "summary": True, "n": args.n, "d": args.d, "r": args.r, "rq": args.rq, "rc": args.rc,
        "k": args.k, "candidates": args.candidates, "queries": args.queries,
        "c_search_us": med([c["search_median_us"] for c, _ in rows]),
        "py_search_us": med([p["search_median_us"] for _, p in rows]),
        "py_overhead_us": med([p["search_median_us"] - c["search_median_us"] for c, p in rows]),
        "raw_ctypes_us": med([p["raw_ctypes_median_us"] for _, p in rows]),
        "wrapper_over_raw_ctypes_us": med([p["search_median_us"] - p["raw_ctypes_median_us"]
                                           for _, p in rows]),
        "py_outside_library_us": med([p["outside_library_median_us"] for _, p in rows]),
        "c_batch_qps": med([c["batch_qps"] for c, _ in rows]),
        "py_batch_qps": med([p["batch_qps"] for _, p in rows]),
        "py_threads_qps": {n: med([p[f"threads_{n}_qps"] for _, p in rows]) for n in (1, 2, 8)},
        "batch_ratio_py_over_c": round(statistics.median(
            [p["batch_qps"] / c["batch_qps"] for c, p in rows]), 3),
    }))


if __name__ == "__main__":
    main()
