"""metaidx.Index: an open index (mx_index) searched with numpy arrays."""
import ctypes
import functools
import os
import threading

import numpy as np

from . import _capi
from ._arrays import budget as _budget, floats, pointer, u32
from ._capi import lib
from .errors import BusyError, Error, StateError, check, invalid, new_error

# mx_hit as a numpy dtype: results are written by the library straight into
# arrays of it, then split into ids and scores.
HIT_DTYPE = np.dtype([("doc", "<u8"), ("id", "<u8"), ("score", "<f4")], align=True)
assert HIT_DTYPE.itemsize == ctypes.sizeof(_capi.Hit)

NO_ID = np.uint64(2**64 - 1)
"""Pads the [Q, k] id arrays of batch calls where a query found fewer than k."""


def _stats_dict(s):
    return {
        "coarse_ms": s.coarse_ms, "prefetch_ms": s.prefetch_ms, "rescore_ms": s.rescore_ms,
        "total_ms": s.total_ms, "stage_ms": list(s.stage_ms[:s.n_stages_run]),
        "candidates": s.candidates, "scored": s.scored, "bytes_touched": s.bytes_touched,
        "bytes_prefetched": s.bytes_prefetched, "corrupt_skipped": s.corrupt_skipped,
        # How k' was chosen (docs/recall.md): "explicit", "table" or "fallback",
        # with the MX_CHOICE_* flags by name.
        "candidates_source": _capi.CANDIDATES_SOURCE_NAMES.get(s.candidates_source, "?"),
        "candidates_flags": [name for bit, name in _capi.CHOICE_FLAG_NAMES.items()
                             if s.candidates_flags & bit],
        "candidates_asked": s.candidates_asked, "nprobe_asked": s.nprobe_asked,
        "recall_target": s.recall_target,
        "recall_expected": None if s.recall_expected < 0 else s.recall_expected,
        "table_budget": (s.table_budget.r_q, s.table_budget.r_c) if s.table_budget.r_q
        else None,
    }


def _open(path, opts):
    handle = ctypes.c_void_p()
    err = new_error()
    check(lib.mx_index_open(path.encode(), ctypes.byref(opts), ctypes.byref(handle),
                            ctypes.byref(err)), err)
    return handle


class _Shared:
    """One mx_index per index directory and process.

    LMDB forbids opening one environment twice in a process: closing the
    second copy invalidates the first one's reader slots (MDB_BAD_RSLOT on
    the next search). So every Index of a directory shares this handle
    (mx_index is thread-safe), counts the calls under way, and verify()
    closes it around mx_index_verify (which opens the store itself) and
    reopens it, once no call is running."""

    _registry = {}
    _registry_lock = threading.Lock()

    def __init__(self, path, opts, key):
        self.path, self.opts, self.key = path, opts, key
        self.handle = _open(path, opts)
        self.users = 1
        self.busy = 0
        self.paused = False
        self.failure = None  # the error of a failed reopen
        self.cond = threading.Condition()

    @classmethod
    def acquire(cls, path, max_readers, verify_records):
        opts = _capi.struct(_capi.OpenOptions)
        lib.mx_open_options_init(ctypes.byref(opts))
        if max_readers is not None:
            opts.max_readers = u32("max_readers", max_readers, 1)
        opts.verify = 1 if verify_records else 0
        key = os.path.realpath(path)
        with cls._registry_lock:
            shared = cls._registry.get(key)
            if shared is None:
                shared = cls._registry[key] = cls(path, opts, key)
                return shared
            if (shared.opts.max_readers, shared.opts.verify) != (opts.max_readers, opts.verify):
                raise BusyError(f"index {path}: already open in this process with "
                                "other max_readers/verify options; close it first")
            shared.users += 1
            return shared

    @classmethod
    def lookup(cls, path):
        with cls._registry_lock:
            return cls._registry.get(os.path.realpath(path))

    def release(self):
        with self._registry_lock:
            self.users -= 1
            if self.users:
                return
            del self._registry[self.key]
        with self.cond:
            while self.busy or self.paused:
                self.cond.wait()
            handle, self.handle = self.handle, None
        if handle:
            lib.mx_index_close(handle)

    def enter(self):
        with self.cond:
            while self.paused:
                self.cond.wait()
            if self.failure is not None:
                raise self.failure
            self.busy += 1
            return self.handle

    def leave(self):
        with self.cond:
            self.busy -= 1
            if not self.busy:
                self.cond.notify_all()

    def run_closed(self, fn):
        """fn() with the handle closed, then reopened."""
        with self.cond:
            while self.paused or self.busy:
                self.cond.wait()
            self.paused = True
        try:
            lib.mx_index_close(self.handle)
            self.handle = None
            try:
                return fn()
            finally:
                try:
                    self.handle = _open(self.path, self.opts)
                    self.failure = None
                except Error as e:
                    self.failure = e
        finally:
            with self.cond:
                self.paused = False
                self.cond.notify_all()


def _verify(path):
    err = new_error()
    report = _capi.struct(_capi.VerifyReport)
    messages = []
    fn = _capi.PROBLEM_FN(lambda _ctx, msg: messages.append(msg.decode("utf-8", "replace")))
    check(lib.mx_index_verify(str(path).encode(), fn, None, ctypes.byref(report),
                              ctypes.byref(err)), err)
    return {"records": report.records, "bad_records": report.bad_records,
            "bad_keys": report.bad_keys, "problems": report.problems, "messages": messages,
            "ok": report.problems == 0}


def verify(path):
    """Checks every file and record of the index at `path` (mx_index_verify).
    Returns a dict: records, bad_records, bad_keys, problems (counts), messages
    (one per problem, naming the file and record) and ok (no problem).
    If an Index of `path` is open in this process, its searches pause while
    the check runs."""
    shared = _Shared.lookup(str(path))
    if shared is None:
        return _verify(path)
    return shared.run_closed(lambda: _verify(path))


@functools.lru_cache(maxsize=256, typed=True)
def _search_options(k, budget_, candidates, cascade, nprobe, ef_search, prefetch, skip_corrupt,
                    coarse_only, recall):
    """An mx_search_options for these arguments. Cached (the library only
    reads it, from any thread): a repeated search skips rebuilding it."""
    o = _capi.struct(_capi.SearchOptions)
    lib.mx_search_options_init(ctypes.byref(o))
    o.k = u32("k", k, 1)
    o.r_q, o.r_c = _budget("budget", budget_)
    if candidates is not None:
        o.candidates = u32("candidates", candidates, 1)
    if nprobe is not None:
        o.nprobe = u32("nprobe", nprobe, 1)
    if ef_search is not None:
        o.ef_search = u32("ef_search", ef_search, 1)
    if cascade is not None:
        try:
            stages = list(cascade)
        except TypeError:
            raise invalid(f"cascade must be a list of (r_q, r_c, keep), not {cascade!r}") \
                from None
        if len(stages) > _capi.MAX_STAGES:
            raise invalid(f"cascade: {len(stages)} stages, at most {_capi.MAX_STAGES}")
        o.n_stages = len(stages)
        for i, stage in enumerate(stages):
            try:
                r_q, r_c, keep = stage
            except (TypeError, ValueError):
                raise invalid(f"cascade[{i}] must be (r_q, r_c, keep), not {stage!r}") from None
            o.stages[i].r_q = u32(f"cascade[{i}] r_q", r_q, 1)
            o.stages[i].r_c = u32(f"cascade[{i}] r_c", r_c, 1)
            o.stages[i].keep = u32(f"cascade[{i}] keep", keep, 1)
    o.prefetch = 1 if prefetch else 0
    o.skip_corrupt = 1 if skip_corrupt else 0
    o.coarse_only = 1 if coarse_only else 0
    if recall is not None:
        if isinstance(recall, bool) or not isinstance(recall, (int, float, np.floating,
                                                                  np.integer)):
            raise invalid(f"recall must be a number in (0, 1], not {recall!r}")
        if not 0 < recall <= 1:  # NaN fails too
            raise invalid(f"recall {recall!r} is outside (0, 1]")
        o.recall = float(recall)
    return o


def _options(*args):
    try:
        hash(args)
    except TypeError:  # a list somewhere (budget=[4, 16], cascade=[...]): not cached
        return _search_options.__wrapped__(*args)
    return _search_options(*args)


class Index:
    """An open index. Use as a context manager, or close() it.

    One Index may be searched from any number of Python threads at once: the
    library releases the GIL during every search, and close() waits for the
    searches under way. Search results are (ids, scores): ids a uint64 array
    (a list of str for an index of string ids), scores float32 MaxSim scores
    at the final budget, best first. Several Index objects of one directory
    in a process share one library handle.
    """

    def __init__(self, path, max_readers=None, verify=True):
        """Opens the index directory `path`. max_readers bounds concurrent
        searches (None = 126); verify=False skips record checksums."""
        self.path = str(path)
        self._shared = None
        self._shared = _Shared.acquire(self.path, max_readers, verify)
        info = _capi.struct(_capi.Info)
        err = new_error()
        shared, handle = self._enter()
        try:
            check(lib.mx_index_info(handle, ctypes.byref(info), ctypes.byref(err)), err)
        finally:
            shared.leave()
        self._info = info
        self.dim = info.dim
        self.id_kind = _capi.ID_KIND_NAMES.get(info.id_kind, str(info.id_kind))

    # ------------------------------------------------------------ lifetime
    def close(self):
        """Closes the index, after any search under way in other threads.
        Calls on a closed Index raise StateError. Closing twice is a no-op."""
        shared, self._shared = self._shared, None
        if shared is not None:
            shared.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_shared", None) is not None:
            self.close()

    def _enter(self):
        shared = self._shared
        if shared is None:
            raise StateError(f"index {self.path}: closed")
        return shared, shared.enter()

    # ------------------------------------------------------------ describing
    @property
    def info(self):
        """The manifest's facts as a dict (dim, vectors_per_doc, dtype,
        n_docs, budgets, id_kind, coarse_factory, ...)."""
        i = self._info
        return {
            "format": f"{i.format_major}.{i.format_minor}", "dim": i.dim,
            "vectors_per_doc": i.vectors_per_doc,
            "dtype": (lib.mx_dtype_name(i.dtype) or b"?").decode(), "n_docs": i.n_docs,
            "budgets": [(b.r_q, b.r_c) for b in i.budgets[:i.n_budgets]],
            "id_kind": self.id_kind, "coarse_factory": i.coarse_factory.decode(),
            "coarse_nprobe": i.coarse_nprobe, "coarse_ef_search": i.coarse_ef_search,
            "coarse_bytes": i.coarse_bytes, "store_bytes": i.store_bytes,
            "created": i.created.decode(), "library_version": i.library_version.decode(),
            "first_stage": (lib.mx_first_stage_name(i.first_stage) or b"?").decode(),
            "first_stage_vectors": i.first_stage_vectors,
            "first_stage_query_vectors": i.first_stage_query_vectors,
            "coarse_entries": i.coarse_entries,
            "first_stage_trial": i.first_stage_trial.decode(),
            "simd": lib.mx_simd_path().decode(), "path": self.path,
        }

    def __len__(self):
        return self._info.n_docs

    def __repr__(self):
        state = "closed" if self._shared is None else f"{len(self)} docs, d={self.dim}"
        return f"metaidx.Index({self.path!r}: {state})"

    def doc_key(self, doc):
        """The external id of internal document `doc` as a str."""
        shared, handle = self._enter()
        try:
            return self._key(handle, doc)
        finally:
            shared.leave()

    def _key(self, handle, doc):
        buf = ctypes.create_string_buffer(_capi.MAX_KEY_BYTES + 1)
        n = ctypes.c_size_t()
        err = new_error()
        check(lib.mx_index_doc_key(handle, int(doc), buf, len(buf), ctypes.byref(n),
                                   ctypes.byref(err)), err)
        return buf.raw[:n.value].decode("utf-8", "surrogateescape")

    def verify(self):
        """metaidx.verify(self.path): checks every file and record (searches
        of this index pause meanwhile)."""
        if self._shared is None:
            raise StateError(f"index {self.path}: closed")
        return self._shared.run_closed(lambda: _verify(self.path))

    # ------------------------------------------------------------ searching
    def _ids(self, handle, hits):
        """The external ids of hits (an array of HIT_DTYPE)."""
        if self.id_kind == "string":
            return [self._key(handle, doc) for doc in hits["doc"]]
        return hits["id"].copy()

    def search(self, query, k=10, budget=None, candidates=None, cascade=None, nprobe=None,
               ef_search=None, prefetch=True, skip_corrupt=False, coarse_only=False,
               stats=False, recall=None):
        """Searches with one query: an [r, d] array of r nested vectors (float32
        passed without a copy when C-contiguous; other floats converted).

        k: hits wanted. budget: final (r_q, r_c); None = every query vector
        against every stored vector. candidates: coarse candidates rescored
        (k', raised to k); None = chosen from the index's calibration table
        for the budget, k and `recall` (a target in (0, 1]; None = the
        table's own, see docs/recall.md), 100 without a usable table entry;
        an explicit candidates wins over recall. cascade: list of (r_q, r_c, keep)
        stages run before the final budget. nprobe / ef_search: coarse
        parameters (None = the index's). prefetch, skip_corrupt, coarse_only:
        see mx_search_options. stats=True adds a third result, a dict of the
        search's statistics (times in ms, candidates, bytes touched, and how
        k' was chosen: candidates_source, candidates_flags, recall_target,
        recall_expected, table_budget).

        Returns (ids, scores), at most k each, best first.
        """
        q = floats("query", query, 2, self.dim)
        opts = _options(k, budget, candidates, cascade, nprobe, ef_search, prefetch,
                        skip_corrupt, coarse_only, recall)
        n_vectors = u32("query vectors", q.shape[0])
        hits = np.empty(opts.k, HIT_DTYPE)
        n = ctypes.c_uint32()
        st = _capi.struct(_capi.SearchStats) if stats else None
        err = new_error()
        shared, handle = self._enter()
        try:
            check(lib.mx_search(handle, pointer(q), n_vectors, ctypes.byref(opts), pointer(hits),
                                ctypes.byref(n), None if st is None else ctypes.byref(st),
                                ctypes.byref(err)), err)
            hits = hits[:n.value]
            result = (self._ids(handle, hits), hits["score"].copy())
        finally:
            shared.leave()
        return result + (_stats_dict(st),) if stats else result

    def _batch_result(self, handle, hits, counts):
        """[Q, k] ids and scores from the flat hits, padded with NO_ID (None
        for string ids) and -inf where a query found fewer than k."""
        scores = hits["score"].copy()
        k = hits.shape[1]
        missing = np.arange(k)[None, :] >= counts[:, None]
        scores[missing] = -np.inf
        if self.id_kind == "string":
            ids = [[self._key(handle, doc) for doc in row[:c]] + [None] * (k - c)
                   for row, c in zip(hits["doc"], counts)]
        else:
            ids = hits["id"].copy()
            ids[missing] = NO_ID
        return ids, scores

    def search_batch(self, queries, k=10, budget=None, candidates=None, cascade=None,
                     nprobe=None, ef_search=None, prefetch=True, skip_corrupt=False,
                     coarse_only=False, threads=None, recall=None):
        """Searches Q queries, a [Q, r, d] array, over `threads` threads (None =
        all cores). Options as for search(). Returns [Q, k] ids and scores;
        rows of a query that found fewer than k hits are padded with NO_ID
        (None in the lists of string ids) and -inf. The first failing query
        raises, its message naming the query."""
        q = floats("queries", queries, 3, self.dim)
        opts = _options(k, budget, candidates, cascade, nprobe, ef_search, prefetch,
                        skip_corrupt, coarse_only, recall)
        n_queries = u32("number of queries", q.shape[0])
        per_query = u32("vectors per query", q.shape[1])
        threads = 0 if threads is None else u32("threads", threads, 1)
        hits = np.zeros((n_queries, opts.k), HIT_DTYPE)
        counts = np.zeros(n_queries, np.uint32)
        err = new_error()
        shared, handle = self._enter()
        try:
            check(lib.mx_search_batch(handle, pointer(q), n_queries, per_query,
                                      ctypes.byref(opts), threads, pointer(hits),
                                      pointer(counts), None, ctypes.byref(err)), err)
            return self._batch_result(handle, hits, counts)
        finally:
            shared.leave()

    def exact(self, queries, k=10, budget=None, threads=None):
        """Brute force: exact MaxSim of every query against every document
        (mx_exact_search), the ground truth for search(). queries is [r, d]
        (one query: returns (ids, scores) like search) or [Q, r, d] (returns
        [Q, k] arrays like search_batch). budget None = (r, stored R)."""
        a = np.asarray(queries)
        single = a.ndim == 2
        q = floats("queries", a[None] if single else a, 3, self.dim)
        k = u32("k", k, 1)
        r_q, r_c = _budget("budget", budget)
        r_q = r_q or u32("vectors per query", q.shape[1])
        r_c = r_c or self._info.vectors_per_doc
        threads = 0 if threads is None else u32("threads", threads, 1)
        n_queries = u32("number of queries", q.shape[0])
        per_query = u32("vectors per query", q.shape[1])
        hits = np.zeros((n_queries, k), HIT_DTYPE)
        counts = np.zeros(n_queries, np.uint32)
        err = new_error()
        shared, handle = self._enter()
        try:
            check(lib.mx_exact_search(handle, pointer(q), n_queries, per_query, r_q, r_c, k,
                                      threads, pointer(hits), pointer(counts),
                                      ctypes.byref(err)), err)
            if single:
                h = hits[0, :counts[0]]
                return self._ids(handle, h), h["score"].copy()
            return self._batch_result(handle, hits, counts)
        finally:
            shared.leave()
