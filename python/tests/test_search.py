"""Building from arrays and searching: every answer is compared with MaxSim
computed in numpy, the batch call with the single one, and each id kind and
input layout with the plain case."""
import numpy as np
import pytest

import metaidx
from metaidx import _arrays
from conftest import assert_matches_reference, maxsim, stored, unit_vectors


def assert_same_answers(path_a, path_b, queries, k=10):
    """The indexes at path_a and path_b hold as many documents and answer
    every query identically."""
    with metaidx.Index(path_a) as a, metaidx.Index(path_b) as b:
        assert len(a) == len(b)
        for query in queries:
            ra, rb = a.search(query, k=k), b.search(query, k=k)
            np.testing.assert_array_equal(ra[0], rb[0])
            np.testing.assert_array_equal(ra[1], rb[1])


def test_info_describes_the_build(index, corpus):
    info = index.info
    assert (info["n_docs"], info["vectors_per_doc"], info["dim"]) == (333, 7, 37)
    assert info["dtype"] == "f32" and info["id_kind"] == "row"
    assert info["budgets"] == [(1, 1), (2, 3), (5, 7)]
    assert len(index) == 333 and index.dim == 37
    assert info["library_version"] == metaidx.__version__


@pytest.mark.parametrize("budget", [None, (1, 1), (2, 3), (5, 7), (3, 2), (4, 6)])
def test_search_at_all_candidates_equals_numpy_maxsim(index, corpus, budget):
    docs = stored(corpus["docs"], corpus["dtype"])
    r_q, r_c = budget or (5, 7)
    for query in corpus["queries"]:
        ref = maxsim(query, docs, r_q, r_c)
        ids, scores = index.search(query, k=13, budget=budget, candidates=len(docs))
        assert ids.dtype == np.uint64 and scores.dtype == np.float32
        assert_matches_reference(ids, scores, ref, 13)


def test_exact_equals_numpy_maxsim(index, corpus):
    docs = stored(corpus["docs"], corpus["dtype"])
    ids, scores = index.exact(corpus["queries"], k=9, budget=(2, 3))
    assert ids.shape == scores.shape == (11, 9)
    for q, query in enumerate(corpus["queries"]):
        assert_matches_reference(ids[q], scores[q], maxsim(query, docs, 2, 3), 9)
    one_ids, one_scores = index.exact(corpus["queries"][4], k=9, budget=(2, 3))
    np.testing.assert_array_equal(one_ids, ids[4])
    np.testing.assert_array_equal(one_scores, scores[4])


def test_cascade_scores_are_the_final_budgets(index, corpus):
    docs = stored(corpus["docs"], corpus["dtype"])
    for query in corpus["queries"]:
        ids, scores, stats = index.search(query, k=5, budget=(5, 7), candidates=200,
                                          cascade=[(1, 1, 60), (2, 3, 20)], stats=True)
        ref = maxsim(query, docs, 5, 7)
        np.testing.assert_allclose(scores, ref[ids.astype(np.int64)], rtol=1e-5, atol=1e-5)
        assert np.all(np.diff(scores) <= 0)
        assert stats["candidates"] == 200 and stats["total_ms"] > 0


def test_batch_equals_single(index, corpus):
    kw = dict(k=7, budget=(2, 3), candidates=50)
    ids, scores = index.search_batch(corpus["queries"], threads=2, **kw)
    assert ids.shape == (11, 7) and scores.shape == (11, 7)
    for q, query in enumerate(corpus["queries"]):
        one_ids, one_scores = index.search(query, **kw)
        np.testing.assert_array_equal(ids[q], one_ids)
        np.testing.assert_array_equal(scores[q], one_scores)


def test_batch_pads_short_rows(tmp_path):
    rng = np.random.default_rng(7)
    docs = unit_vectors(rng, (3, 2, 8))
    metaidx.build(tmp_path / "ix", docs, progress=False)
    with metaidx.Index(tmp_path / "ix") as ix:
        ids, scores = ix.search_batch(docs[:2], k=5)
        assert ids.shape == (2, 5)
        assert np.all(ids[:, 3:] == metaidx.NO_ID) and np.all(np.isneginf(scores[:, 3:]))
        assert ids[0, 0] == 0 and ids[1, 0] == 1
        single_ids, _ = ix.search(docs[0], k=5)
        assert len(single_ids) == 3


def test_f16_index_equals_numpy_on_rounded_vectors(tmp_path):
    rng = np.random.default_rng(11)
    docs = unit_vectors(rng, (150, 4, 19))
    metaidx.build(tmp_path / "ix", docs, progress=False)  # stored f16 by default
    ref_docs = stored(docs, "f16")
    with metaidx.Index(tmp_path / "ix") as ix:
        assert ix.info["dtype"] == "f16"
        for query in unit_vectors(rng, (6, 3, 19)):
            ids, scores = ix.search(query, k=10, candidates=150)
            assert_matches_reference(ids, scores, maxsim(query, ref_docs, 3, 4), 10)


def test_float16_input_builds_the_same_index(tmp_path):
    rng = np.random.default_rng(12)
    docs = unit_vectors(rng, (80, 3, 16))
    metaidx.build(tmp_path / "a", docs, progress=False)
    metaidx.build(tmp_path / "b", docs.astype(np.float16), progress=False)
    assert_same_answers(tmp_path / "a", tmp_path / "b", docs[:9, :2])


def test_u64_ids_come_back(tmp_path):
    rng = np.random.default_rng(13)
    docs = unit_vectors(rng, (60, 2, 12))
    # ids above 2^63 too: they must not pass through a signed type
    ids = rng.choice(2**62, 60, replace=False).astype(np.uint64) * np.uint64(3)
    metaidx.build(tmp_path / "ix", docs, ids=ids, progress=False)
    rows = {v: r for r, v in enumerate(ids.tolist())}
    with metaidx.Index(tmp_path / "ix") as ix:
        assert ix.id_kind == "u64"
        got, scores = ix.search(docs[17], k=60, candidates=60)
        assert int(got[0]) == int(ids[17])
        assert_matches_reference(got.tolist(), scores, maxsim(docs[17], stored(docs, "f16"), 2, 2),
                                 60, rows=rows)
        batch_ids, _ = ix.search_batch(docs[:4], k=3)
        assert [int(i) for i in batch_ids[:, 0]] == [int(i) for i in ids[:4]]


def test_string_ids_come_back_as_str(tmp_path):
    rng = np.random.default_rng(14)
    docs = unit_vectors(rng, (40, 2, 12))
    keys = [f"doc-{i}-é" for i in range(39)] + ["x" * 511]
    metaidx.build(tmp_path / "ix", docs, ids=keys, progress=False)
    with metaidx.Index(tmp_path / "ix") as ix:
        assert ix.id_kind == "string"
        got, scores = ix.search(docs[5], k=4)
        assert isinstance(got, list) and got[0] == "doc-5-é"
        assert ix.search(docs[39], k=1)[0] == ["x" * 511]
        batch, _ = ix.search_batch(docs[:3], k=2)
        assert [row[0] for row in batch] == keys[:3]
        exact_ids, _ = ix.exact(docs[:3], k=2)
        assert exact_ids == batch
        assert ix.doc_key(7) == keys[7]


def test_bytes_and_numpy_string_ids(tmp_path):
    rng = np.random.default_rng(15)
    docs = unit_vectors(rng, (10, 2, 8))
    metaidx.build(tmp_path / "a", docs, ids=np.array([f"k{i}" for i in range(10)]),
                  progress=False)
    metaidx.build(tmp_path / "b", docs, ids=[b"k%d" % i for i in range(10)], progress=False)
    for name in "ab":
        with metaidx.Index(tmp_path / name) as ix:
            assert ix.search(docs[6], k=1)[0] == ["k6"]


def test_generator_batches_build_the_same_index(tmp_path, corpus):
    docs = corpus["docs"]
    metaidx.build(tmp_path / "gen", (docs[i:i + 37] for i in range(0, len(docs), 37)),
                  dtype="f32", budgets=[(1, 1), (2, 3), (5, 7)], coarse="Flat", progress=False)
    assert_same_answers(tmp_path / "gen", corpus["path"], corpus["queries"])


def test_batches_with_their_ids(tmp_path):
    rng = np.random.default_rng(16)
    docs = unit_vectors(rng, (50, 2, 8))
    keys = [f"id{i}" for i in range(50)]
    metaidx.build(tmp_path / "a", ((docs[i:i + 7], keys[i:i + 7]) for i in range(0, 50, 7)),
                  progress=False)
    metaidx.build(tmp_path / "b", [docs[:20], docs[20:]], ids=keys, progress=False)
    for name in "ab":
        with metaidx.Index(tmp_path / name) as ix:
            assert ix.search(docs[33], k=1)[0] == ["id33"]


def test_progress_callable_sees_the_phases(tmp_path):
    rng = np.random.default_rng(17)
    seen = []
    metaidx.build(tmp_path / "ix", unit_vectors(rng, (30, 2, 8)),
                  progress=lambda phase, done, total: seen.append(phase))
    assert "add" in seen or "train" in seen


def test_normalize_option(tmp_path):
    rng = np.random.default_rng(18)
    docs = unit_vectors(rng, (20, 2, 8)) * 3
    metaidx.build(tmp_path / "ix", docs, normalize=True, progress=False)
    with metaidx.Index(tmp_path / "ix") as ix:
        assert ix.search(docs[4] / 3, k=1)[0][0] == 4


def test_contiguous_float32_passes_without_copy():
    a = np.zeros((4, 8), np.float32)
    assert _arrays.floats("q", a, 2) is a
    f16 = np.zeros((2, 4, 8), np.float16)
    assert _arrays.floats("d", f16, 3, keep_f16=True) is f16
    strided = np.zeros((4, 16), np.float32)[:, ::2]
    fortran = np.asfortranarray(np.zeros((4, 8), np.float32))
    for other in (strided, fortran, a.astype(np.float64), a.astype(np.float16)):
        out = _arrays.floats("q", other, 2)
        assert out.dtype == np.float32 and out.flags.c_contiguous
        assert not np.shares_memory(out, other)
        np.testing.assert_array_equal(out, other)


def test_converted_queries_give_the_same_answers(index, corpus):
    query = corpus["queries"][2]
    want = index.search(query, k=8)
    wide = np.zeros((query.shape[0], 74), np.float32)
    wide[:, ::2] = query
    for q in (query.astype(np.float64), np.asfortranarray(query), wide[:, ::2], query.tolist()):
        got = index.search(q, k=8)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


def test_verify_a_good_index(index, corpus):
    report = index.verify()
    assert report["ok"] and report["records"] == 333 and report["messages"] == []
    assert metaidx.verify(corpus["path"])["ok"]
    # the index still searches after verify closed and reopened it
    assert len(index.search(corpus["queries"][0], k=3)[0]) == 3


def test_one_directory_opened_twice_in_a_process(corpus):
    a = metaidx.Index(corpus["path"])
    b = metaidx.Index(corpus["path"])
    query = corpus["queries"][1]
    want = a.search(query, k=4)
    b.close()
    got = a.search(query, k=4)
    np.testing.assert_array_equal(got[0], want[0])
    a.close()


def test_cached_and_uncached_options_agree(index, corpus):
    query = corpus["queries"][3]
    a = index.search(query, k=6, budget=(2, 3), cascade=((1, 1, 40),))
    b = index.search(query, k=6, budget=[2, 3], cascade=[[1, 1, 40]])  # lists: not cached
    c = index.search(query, k=6, budget=(2, 3), cascade=((1, 1, 40),))  # from the cache
    for other in (b, c):
        np.testing.assert_array_equal(a[0], other[0])
        np.testing.assert_array_equal(a[1], other[1])
    assert len(index.search(query, k=7, budget=(2, 3))[0]) == 7  # k is part of the key


@pytest.mark.parametrize("first_stage", ["leading", "pooled", "multi"])
def test_each_first_stage_equals_numpy_maxsim_at_all_candidates(tmp_path, corpus, first_stage):
    metaidx.build(tmp_path / "ix", corpus["docs"], dtype=corpus["dtype"], first_stage=first_stage,
                  first_stage_vectors=None if first_stage == "leading" else 3)
    docs = stored(corpus["docs"], corpus["dtype"])
    with metaidx.Index(tmp_path / "ix") as ix:
        info = ix.info
        assert info["first_stage"] == first_stage
        m = 1 if first_stage == "leading" else 3
        assert info["first_stage_vectors"] == m
        assert info["coarse_entries"] == len(docs) * (m if first_stage == "multi" else 1)
        for query in corpus["queries"]:
            ref = maxsim(query, docs, 2, 3)
            ids, scores = ix.search(query, k=11, budget=(2, 3), candidates=len(docs))
            assert_matches_reference(ids, scores, ref, 11)


def test_auto_first_stage_is_recorded(tmp_path):
    rng = np.random.default_rng(23)
    metaidx.build(tmp_path / "ix", unit_vectors(rng, (400, 6, 16)))
    with metaidx.Index(tmp_path / "ix") as ix:
        info = ix.info
        assert info["first_stage"] in ("leading", "pooled", "multi")
        assert "pseudo-queries" in info["first_stage_trial"]


def test_unknown_first_stage_is_refused(tmp_path):
    rng = np.random.default_rng(29)
    with pytest.raises(metaidx.InvalidArgumentError, match="first stage"):
        metaidx.build(tmp_path / "ix", unit_vectors(rng, (10, 2, 8)), first_stage="colbert")


def test_search_by_recall_reads_the_build_calibration(tmp_path, corpus):
    """calibrate=True (the library's default; the suite turns it off)
    stores a table; search(recall=...) and search_batch take k' from it, an
    explicit candidates wins, and the recall option is validated."""
    path = tmp_path / "calibrated"
    metaidx.build(path, corpus["docs"], dtype="f32", budgets=[(1, 1), (2, 3), (5, 7)],
                  coarse="Flat", progress=False, calibrate=True, calibrate_seconds=20)
    with metaidx.Index(path) as ix:
        q = corpus["queries"][0]
        _, _, st = ix.search(q, stats=True)
        assert st["candidates_source"] == "table" and st["table_budget"] == (5, 7)
        assert st["candidates_flags"] == [] and st["recall_target"] == pytest.approx(0.95)
        assert st["recall_expected"] >= 0.95
        _, _, low = ix.search(q, stats=True, recall=0.5)
        assert low["candidates_asked"] <= st["candidates_asked"]
        assert low["recall_target"] == pytest.approx(0.5)
        ids, scores = ix.search(q, recall=0.95)
        one = ix.search(q, candidates=st["candidates_asked"])
        np.testing.assert_array_equal(ids, one[0])
        np.testing.assert_array_equal(scores, one[1])
        batch_ids, _ = ix.search_batch(corpus["queries"][:3], recall=0.95)
        np.testing.assert_array_equal(batch_ids[0], ids)
        _, _, ex = ix.search(q, stats=True, candidates=20, recall=0.99)
        assert ex["candidates_source"] == "explicit" and ex["candidates"] == 20
        for bad in (0, -0.5, 1.5, float("nan"), "high", True):
            with pytest.raises(metaidx.InvalidArgumentError):
                ix.search(q, recall=bad)
            with pytest.raises(metaidx.InvalidArgumentError):
                ix.search_batch(corpus["queries"][:2], recall=bad)


def test_without_a_table_search_falls_back_and_says_so(index, corpus):
    _, _, st = index.search(corpus["queries"][0], stats=True, recall=0.9)
    assert st["candidates_source"] == "fallback" and st["candidates_flags"] == ["no_table"]
    assert st["candidates_asked"] == 100 and st["recall_expected"] is None
