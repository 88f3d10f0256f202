"""Every failure raises the metaidx.Error subclass of its mx_status, with the
library's message (or, for arguments refused before the C call, one naming
the argument); nothing crashes and a failed build leaves nothing behind."""
import json
import os

import numpy as np
import pytest

import metaidx
from metaidx import _capi
from conftest import unit_vectors


def small_docs(n=20, r=3, d=8, seed=1):
    return unit_vectors(np.random.default_rng(seed), (n, r, d))


def test_every_status_has_its_class():
    for status in range(1, 18):
        name = _capi.lib.mx_status_name(status).decode()
        words = name[len("MX_ERR_"):].split("_")
        cls = getattr(metaidx, "".join(w.capitalize() for w in words) + "Error")
        assert issubclass(cls, metaidx.Error) and cls.status == status
        with pytest.raises(cls) as e:
            metaidx.errors.raise_status(status, "")
        assert e.value.status_name == name
        assert str(e.value) == _capi.lib.mx_status_str(status).decode()
    assert _capi.lib.mx_status_name(18).decode() not in {"MX_OK"}
    with pytest.raises(metaidx.Error) as e:
        metaidx.errors.raise_status(18, "from the future")
    assert type(e.value) is metaidx.Error and e.value.status == 18


def test_open_missing_directory(tmp_path):
    with pytest.raises(metaidx.NotFoundError, match="nothing"):
        metaidx.Index(tmp_path / "nothing")


def test_build_over_existing_index(tmp_path):
    metaidx.build(tmp_path / "ix", small_docs(), progress=False)
    with pytest.raises(metaidx.ExistsError):
        metaidx.build(tmp_path / "ix", small_docs(), progress=False)
    metaidx.build(tmp_path / "ix", small_docs(30), overwrite=True, progress=False)
    with metaidx.Index(tmp_path / "ix") as ix:
        assert len(ix) == 30


def test_build_over_an_index_open_in_this_process(tmp_path):
    metaidx.build(tmp_path / "ix", small_docs(), progress=False)
    with metaidx.Index(tmp_path / "ix"):
        with pytest.raises(metaidx.BusyError, match="open in this process"):
            metaidx.build(tmp_path / "ix", small_docs(), overwrite=True, progress=False)


@pytest.mark.parametrize("damage, match", [
    (lambda d: d.__setitem__((7, 1, 3), np.nan), "document 7"),
    (lambda d: d.__setitem__((4, 2), 0.0), "document 4"),
    (lambda d: d.__setitem__((9, 0), d[9, 0] * 2), "document 9"),
])
def test_bad_document_vectors(tmp_path, damage, match):
    docs = small_docs()
    damage(docs)
    with pytest.raises(metaidx.BadInputError, match=match):
        metaidx.build(tmp_path / "ix", docs, progress=False)
    assert os.listdir(tmp_path) == []


def test_bad_vector_in_a_later_batch_names_the_document(tmp_path):
    docs = small_docs(40)
    docs[33, 0, 0] = np.inf
    with pytest.raises(metaidx.BadInputError, match="document 33"):
        metaidx.build(tmp_path / "ix", (docs[i:i + 10] for i in range(0, 40, 10)), progress=False)
    assert os.listdir(tmp_path) == []


def test_duplicate_ids(tmp_path):
    with pytest.raises(metaidx.ExistsError):
        metaidx.build(tmp_path / "a", small_docs(3), ids=[5, 6, 5], progress=False)
    with pytest.raises(metaidx.ExistsError):
        metaidx.build(tmp_path / "b", small_docs(3), ids=["x", "y", "x"], progress=False)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kwargs, match", [
    (dict(dtype="f64"), "f64"),
    (dict(ids=[1, 2]), "2 ids for 20 documents"),
    (dict(ids=[-1] + list(range(19))), "negative id"),
    (dict(ids=[1.5] * 20), "integer"),
    (dict(ids=[f"k{i}" for i in range(19)] + [3]), "document 19"),
    (dict(keep=0), "keep"),
    (dict(budgets=[]), "budgets"),
    (dict(budgets=[(1, 1)] * 17), "budgets"),
    (dict(budgets=[(1,)]), "pair"),
    (dict(budgets=[(2, 9)]), ""),
    (dict(coarse="NoSuchIndex"), "NoSuchIndex"),
    (dict(threads=-1), "threads"),
])
def test_bad_build_arguments(tmp_path, kwargs, match):
    with pytest.raises(metaidx.InvalidArgumentError, match=match):
        metaidx.build(tmp_path / "ix", small_docs(), progress=False, **kwargs)
    assert not os.path.exists(tmp_path / "ix")


def test_bad_string_ids(tmp_path):
    for bad in ("", "x" * 512, "two words", "tab\there"):
        with pytest.raises(metaidx.BadInputError, match="document 19"):
            metaidx.build(tmp_path / "ix", small_docs(), ids=[f"k{i}" for i in range(19)] + [bad],
                          progress=False)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("docs, error, match", [
    (iter([]), metaidx.BadInputError, "no batch"),
    ([small_docs(4, 3, 8), small_docs(4, 3, 9)], metaidx.InvalidArgumentError, "d = 8"),
    ([small_docs(4, 3, 8), small_docs(4, 2, 8)], metaidx.InvalidArgumentError, "shape"),
    (np.zeros((4, 3, 8), np.int32), metaidx.InvalidArgumentError, "not floating point"),
    (np.zeros((4, 8), np.float32), metaidx.InvalidArgumentError, "3 dimensions"),
    (np.zeros((4, 0, 8), np.float32), metaidx.InvalidArgumentError, "empty"),
    ([(small_docs(4), [1, 2, 3, 4], 5)], metaidx.InvalidArgumentError, "tuple"),
])
def test_bad_document_batches(tmp_path, docs, error, match):
    with pytest.raises(error, match=match):
        metaidx.build(tmp_path / "ix", docs, progress=False)
    assert os.listdir(tmp_path) == []


def test_exception_in_the_generator_aborts_the_build(tmp_path):
    def batches():
        yield small_docs(10)
        raise KeyError("upstream")
    with pytest.raises(KeyError, match="upstream"):
        metaidx.build(tmp_path / "ix", batches(), progress=False)
    assert os.listdir(tmp_path) == []


def test_exception_in_the_progress_callback_is_raised(tmp_path):
    def progress(phase, done, total):
        raise RuntimeError("callback says no")
    with pytest.raises(RuntimeError, match="callback says no"):
        metaidx.build(tmp_path / "ix", small_docs(), progress=progress)


@pytest.mark.parametrize("kwargs, match", [
    (dict(k=0), "k = 0"),
    (dict(k=-3), "k = -3"),
    (dict(k=2**32), "k = 4294967296"),
    (dict(k=True), "k must be an integer"),
    (dict(k=2.0), "k must be an integer"),
    (dict(budget=(1, 8)), ""),
    (dict(budget=(6, 1)), ""),
    (dict(budget=(0, 1)), "r_q"),
    (dict(budget=3), "pair"),
    (dict(candidates=0), "candidates"),
    (dict(cascade=[(1, 1, 5)] * 9), "at most 8"),
    (dict(cascade=[(1, 1)]), "cascade"),
    (dict(cascade=[(1, 1, 0)]), "keep"),
    (dict(nprobe=-1), "nprobe"),
    (dict(cascade=5), "cascade must be a list"),
    (dict(k=True), "k must be an integer"),
])
def test_bad_search_options(index, corpus, kwargs, match):
    query = corpus["queries"][0]
    with pytest.raises(metaidx.InvalidArgumentError, match=match) as e:
        index.search(query, **kwargs)
    assert isinstance(e.value, ValueError)
    with pytest.raises(metaidx.InvalidArgumentError):
        index.search_batch(corpus["queries"], **kwargs)


@pytest.mark.parametrize("query, match", [
    (np.zeros((5, 36), np.float32), "d = 37"),
    (np.zeros(37, np.float32), "2 dimensions"),
    (np.zeros((5, 37), np.int64), "not floating point"),
    (np.zeros((5, 37), np.complex64), "not floating point"),
    (np.array([["a"] * 37]), "not floating point"),
    (np.zeros((0, 37), np.float32), "empty"),
])
def test_bad_query_arrays(index, query, match):
    with pytest.raises(metaidx.InvalidArgumentError, match=match):
        index.search(query)


def test_bad_query_batches(index):
    with pytest.raises(metaidx.InvalidArgumentError, match="3 dimensions"):
        index.search_batch(np.zeros((5, 37), np.float32))
    with pytest.raises(metaidx.InvalidArgumentError, match="d = 37"):
        index.exact(np.zeros((2, 5, 38), np.float32))
    with pytest.raises(metaidx.InvalidArgumentError):
        index.exact(np.zeros((2, 5, 37), np.float32) + 0.1, budget=(1, 8))


def test_nan_in_a_query(index, corpus):
    query = corpus["queries"][0].copy()
    query[1, 3] = np.nan
    with pytest.raises(metaidx.BadInputError):
        index.search(query)
    index.search(query, budget=(1, 7))  # the NaN vector is not used
    queries = corpus["queries"].copy()
    queries[6, 0, 0] = np.inf
    with pytest.raises(metaidx.BadInputError, match="query 6"):
        index.search_batch(queries)


def test_closed_index(corpus):
    ix = metaidx.Index(corpus["path"])
    ix.close()
    ix.close()
    for call in (lambda: ix.search(corpus["queries"][0]),
                 lambda: ix.search_batch(corpus["queries"]),
                 lambda: ix.exact(corpus["queries"]), ix.verify, lambda: ix.doc_key(0)):
        with pytest.raises(metaidx.StateError, match="closed"):
            call()
    assert "closed" in repr(ix)


def test_doc_key_out_of_range(index):
    with pytest.raises(metaidx.NotFoundError):
        index.doc_key(333)


def test_open_twice_with_other_options(index, corpus):
    with pytest.raises(metaidx.BusyError, match="other max_readers"):
        metaidx.Index(corpus["path"], max_readers=3)


def copy_index(src, dst):
    import shutil
    shutil.copytree(src, dst)
    for stale in ("lock.mdb",):
        p = dst / "store" / stale
        if p.exists():
            p.unlink()
    return dst


def test_damaged_manifest(tmp_path, corpus):
    ix = copy_index(corpus["path"], tmp_path / "ix")
    (ix / "manifest.json").write_text("{ not json")
    with pytest.raises(metaidx.FormatError, match="manifest"):
        metaidx.Index(ix)


def test_newer_format(tmp_path, corpus):
    ix = copy_index(corpus["path"], tmp_path / "ix")
    manifest = json.loads((ix / "manifest.json").read_text())
    manifest["format_major"] += 1
    (ix / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(metaidx.VersionError):
        metaidx.Index(ix)


def test_corrupt_coarse_index(tmp_path, corpus):
    ix = copy_index(corpus["path"], tmp_path / "ix")
    data = bytearray((ix / "coarse.faiss").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (ix / "coarse.faiss").write_bytes(bytes(data))
    with pytest.raises(metaidx.CorruptError, match="coarse.faiss"):
        metaidx.Index(ix)
    report = metaidx.verify(ix)
    assert not report["ok"] and any("coarse.faiss" in m for m in report["messages"])


def test_verify_missing_directory(tmp_path):
    with pytest.raises(metaidx.Error):
        metaidx.verify(tmp_path / "nothing")


def test_corrupt_record(tmp_path):
    rng = np.random.default_rng(21)
    docs = unit_vectors(rng, (40, 4, 16))
    metaidx.build(tmp_path / "ix", docs, dtype="f32", progress=False)
    data = bytearray((tmp_path / "ix" / "store" / "data.mdb").read_bytes())
    needle = docs[5, 3].tobytes()  # stored f32: the vector's bytes are in the file as given
    at = data.find(needle)
    assert at >= 0 and data.find(needle, at + 1) < 0
    data[at + 5] ^= 0x40
    (tmp_path / "ix" / "store" / "data.mdb").write_bytes(bytes(data))
    with metaidx.Index(tmp_path / "ix") as ix:
        with pytest.raises(metaidx.CorruptError, match="record id 5"):
            ix.search(docs[5], k=3, candidates=40)
        ix.search(docs[5], k=3, candidates=40, budget=(4, 1))  # its damaged segment is not read
        ids, _, stats = ix.search(docs[5], k=3, candidates=40, skip_corrupt=True, stats=True)
        assert stats["corrupt_skipped"] == 1 and 5 not in ids.tolist()
        report = ix.verify()
        assert report["bad_records"] == 1 and not report["ok"]


def test_more_searches_than_reader_slots(tmp_path, corpus):
    ix_dir = copy_index(corpus["path"], tmp_path / "ix")  # no lock.mdb: this open sizes it
    queries = np.repeat(corpus["queries"], 40, axis=0)
    with metaidx.Index(ix_dir, max_readers=1) as ix:
        for _ in range(5):  # two pool threads overlap within 440 queries: practically always
            try:
                ix.search_batch(queries, threads=2, candidates=300)
            except metaidx.BusyError as e:
                assert "reader slots" in str(e)
                break
        else:
            pytest.fail("2 threads never overlapped on 1 reader slot")
        assert len(ix.search(corpus["queries"][0])[0]) == 10  # one at a time still works
