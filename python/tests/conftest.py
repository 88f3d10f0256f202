"""Shared fixtures: random L2-normalised documents of awkward sizes and the
numpy reference MaxSim every search is compared with."""
import os

import numpy as np
import pytest

import metaidx

SANITIZED = os.environ.get("METAIDX_SANITIZED") == "1"


def unit_vectors(rng, shape, dtype=np.float32):
    """Random vectors of the given shape, L2-normalised along the last axis."""
    a = rng.standard_normal(shape, dtype=np.float32)
    a /= np.linalg.norm(a, axis=-1, keepdims=True)
    return a.astype(dtype)


def stored(docs, dtype):
    """docs as the index stores them (f16 rounding), back in float32."""
    return docs.astype(np.float16).astype(np.float32) if dtype == "f16" else docs


def maxsim(query, docs, r_q, r_c):
    """Reference MaxSim in float64 of one [r, d] query against [N, R, d] docs:
    sum over the first r_q query vectors of the max over the first r_c
    document vectors of the inner product."""
    q = query[:r_q].astype(np.float64)
    c = docs[:, :r_c].astype(np.float64)
    sims = np.einsum("id,njd->nij", q, c)
    return sims.max(axis=2).sum(axis=1)


def assert_matches_reference(ids, scores, ref, k, rows=None):
    """(ids, scores) are the top k of the reference scores `ref` (over all
    documents): same best scores, and each hit's score is its document's
    reference score. `rows` maps returned ids to rows of ref (default: the
    ids are the rows)."""
    ids = list(ids)
    assert len(ids) == min(k, len(ref))
    best = np.sort(ref)[::-1][:len(ids)]
    np.testing.assert_allclose(scores, best, rtol=1e-5, atol=1e-5)
    got_rows = [rows[i] for i in ids] if rows is not None else [int(i) for i in ids]
    np.testing.assert_allclose(scores, ref[got_rows], rtol=1e-5, atol=1e-5)
    assert len(set(got_rows)) == len(got_rows)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """An f32 index of 333 documents of 7 vectors of d = 37 (exact coarse
    stage), and its documents and queries."""
    rng = np.random.default_rng(20261206)
    docs = unit_vectors(rng, (333, 7, 37))
    queries = unit_vectors(rng, (11, 5, 37))
    path = tmp_path_factory.mktemp("corpus") / "index"
    metaidx.build(path, docs, dtype="f32", budgets=[(1, 1), (2, 3), (5, 7)], coarse="Flat",
                  progress=False)
    return {"path": path, "docs": docs, "queries": queries, "dtype": "f32"}


@pytest.fixture
def index(corpus):
    with metaidx.Index(corpus["path"]) as ix:
        yield ix
