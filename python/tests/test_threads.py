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


def longest_pause(call):
    """Runs call() in a thread while this one counts: the longest time this
    thread could not run, and how long the call took. A call holding the GIL
    would stall this thread for its whole duration."""
    started = threading.Event()
    box = {}

    def run():
        started.set()
        t = time.perf_counter()
        call()
        box["took"] = time.perf_counter() - t

    worker = threading.Thread(target=run)
    worker.start()
    started.wait()
    last, gap = time.perf_counter(), 0.0
    while worker.is_alive():
        now = time.perf_counter()
        gap, last = max(gap, now - last), now
    worker.join()
    return gap, box["took"]


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
        for call in (lambda: ix.exact(queries, threads=1),
                     lambda: ix.search_batch(np.repeat(queries, 8, axis=0), candidates=400,
                                             threads=1)):
            gap, took = longest_pause(call)
            assert took > 0.03, "the call is too short to tell"
            assert gap < took / 2, f"this thread stalled {gap:.3f} s of a {took:.3f} s call"


def test_gil_released_during_build(big, tmp_path):
    _, _, docs = big
    gap, took = longest_pause(lambda: metaidx.build(tmp_path / "ix", docs, threads=1,
                                                    progress=False))
    assert took > 0.03
    assert gap < took / 2, f"this thread stalled {gap:.3f} s of a {took:.3f} s build"


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
