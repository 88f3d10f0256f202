"""Python threads: eight searching one Index at once get the answers one
thread gets, and the GIL is released inside the library's calls."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import metaidx
from conftest import unit_vectors


def test_eight_threads_search_like_one(index, corpus):
    queries = corpus["queries"]
    kw = [dict(k=10), dict(k=5, budget=(2, 3), candidates=40), dict(k=3, cascade=[(1, 1, 30)])]
    want = [[index.search(q, **o) for q in queries] for o in kw]

    def worker(seed):
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(60):
            o, q = rng.integers(len(kw)), rng.integers(len(queries))
            out.append((o, q, index.search(queries[q], **kw[o])))
        return out

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(worker, range(8)))
    assert sum(len(r) for r in results) == 480
    for r in results:
        for o, q, (ids, scores) in r:
            np.testing.assert_array_equal(ids, want[o][q][0])
            np.testing.assert_array_equal(scores, want[o][q][1])


def assert_gil_released(call, what):
    """call() lets this thread run: on a loaded machine the OS may stall a
    thread anyway, so up to three attempts; a call holding the GIL would
    stall it for its whole duration every time."""
    for _ in range(3):
        gap, took = longest_pause(call)
        assert took > 0.03, f"{what}: the call is too short to tell"
        if gap < took / 2:
            return
    raise AssertionError(f"{what}: this thread stalled {gap:.3f} s of a {took:.3f} s call")


def longest_pause(call):
    """Runs call() in a thread while this one takes timestamps: the longest
    time within the call during which this thread could not run, and how
    long the call took. A call holding the GIL would stall this thread for
    its whole duration."""
    box = {}

    def run():
        box["start"] = time.perf_counter()
        call()
        box["end"] = time.perf_counter()

    worker = threading.Thread(target=run)
    stamps = []
    worker.start()
    while worker.is_alive():
        stamps.append(time.perf_counter())
    worker.join()
    start, end = box["start"], box["end"]
    points = [start] + [t for t in stamps if start < t < end] + [end]
    return max(b - a for a, b in zip(points, points[1:])), end - start


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    rng = np.random.default_rng(5)
    path = tmp_path_factory.mktemp("big") / "ix"
    docs = unit_vectors(rng, (4000, 16, 64))
    metaidx.build(path, docs, threads=1, progress=False)
    return path, unit_vectors(rng, (48, 16, 64)), docs


def test_gil_released_during_exact_and_batch_search(big):
    path, queries, _ = big
    with metaidx.Index(path) as ix:
        assert_gil_released(lambda: ix.exact(queries, threads=1), "exact")
        assert_gil_released(lambda: ix.search_batch(np.repeat(queries, 8, axis=0),
                                                    candidates=400, threads=1), "search_batch")


def test_the_probe_sees_a_call_that_holds_the_gil(big, monkeypatch):
    """Control: through ctypes.PyDLL (which keeps the GIL) the same call
    stalls this thread for most of its duration."""
    import ctypes
    from metaidx import _capi, index as index_module
    held = ctypes.PyDLL(metaidx.library_path)
    for name, (restype, argtypes) in _capi._PROTOTYPES.items():
        getattr(held, name).restype = restype
        getattr(held, name).argtypes = argtypes
    path, queries, _ = big
    with metaidx.Index(path) as ix:
        monkeypatch.setattr(index_module, "lib", held)
        gap, took = longest_pause(lambda: ix.exact(queries, threads=1))
    assert gap > took / 2


def test_gil_released_during_build(big, tmp_path):
    _, _, docs = big
    assert_gil_released(lambda: metaidx.build(tmp_path / "ix", docs, threads=1, overwrite=True,
                                              progress=False), "build")


def test_close_waits_for_running_searches(big):
    path, queries, _ = big
    ix = metaidx.Index(path)
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", ix.exact(queries, threads=1)))
    t.start()
    time.sleep(0.01)
    ix.close()
    t.join()
    assert box["r"][0].shape == (48, 10)
