"""metaidx.build: an index from numpy arrays, one array or a stream of
batches (a list or a generator), through mx_builder_open/add/finish."""
import ctypes
import sys

import numpy as np

from . import _capi
from ._arrays import budget, floats, pointer, u32, u64
from ._capi import lib
from .errors import BadInputError, BusyError, check, invalid, new_error
from .index import _Shared


def _dtype(name):
    err = new_error()
    out = ctypes.c_int()
    check(lib.mx_dtype_parse(str(name).encode(), ctypes.byref(out), ctypes.byref(err)), err)
    return out.value


def _first_stage(name):
    err = new_error()
    out = ctypes.c_int()
    check(lib.mx_first_stage_parse(str(name).encode(), ctypes.byref(out), ctypes.byref(err)),
          err)
    return out.value


def _id_kind(ids):
    """The mx_id_kind of an ids sequence (None -> row numbers)."""
    if ids is None:
        return _capi.IDS_ROW
    if isinstance(ids, np.ndarray):
        if ids.dtype.kind in "US":
            return _capi.IDS_STRING
        if ids.dtype.kind in "iu":
            return _capi.IDS_U64
        raise invalid(f"ids: dtype {ids.dtype} is neither integer nor string")
    first = next(iter(ids), None)
    if isinstance(first, (str, bytes)):
        return _capi.IDS_STRING
    return _capi.IDS_U64


class _Ids:
    """One batch's ids as the C call wants them; keeps the memory alive."""

    def __init__(self, kind, ids, n, first_doc):
        self.ids = self.keys = self.lens = None
        if kind == _capi.IDS_ROW:
            if ids is not None:
                raise invalid("ids: given for some batches but not for the first")
            return
        if ids is None:
            raise invalid(f"ids: missing for the batch starting at document {first_doc}")
        if len(ids) != n:
            raise invalid(f"ids: {len(ids)} ids for {n} documents (batch starting at "
                          f"document {first_doc})")
        if kind == _capi.IDS_U64:
            self._u64(ids, first_doc)
        else:
            self._keys(ids, first_doc)

    def _u64(self, ids, first_doc):
        a = np.asarray(ids)
        if a.dtype.kind not in "iu" and a.size:
            raise invalid(f"ids: integer ids expected (batch starting at document "
                          f"{first_doc}), got dtype {a.dtype}")
        if a.dtype.kind == "i" and a.size and a.min() < 0:
            row = int(np.argmax(a < 0))
            raise invalid(f"ids: document {first_doc + row} has negative id {int(a[row])}")
        self.array = np.ascontiguousarray(a, dtype=np.uint64)
        self.ids = pointer(self.array)

    def _keys(self, ids, first_doc):
        keys = []
        for row, key in enumerate(ids):
            if isinstance(key, (str, np.str_)):
                key = str(key).encode("utf-8", "surrogateescape")
            elif not isinstance(key, (bytes, np.bytes_)):
                raise invalid(f"ids: document {first_doc + row} has a {type(key).__name__} "
                              "id in an index of string ids")
            keys.append(bytes(key))
        self.key_list = keys
        self.keys = (ctypes.c_char_p * len(keys))(*keys)
        self.lens = (ctypes.c_size_t * len(keys))(*map(len, keys))


def _batches(docs, ids):
    """(array, ids or None) per batch: one array is one batch; a list or
    generator yields arrays or (array, ids) pairs; a flat `ids` sequence is
    sliced along the batches."""
    if isinstance(docs, np.ndarray):
        yield docs, ids
        return
    start = 0
    for item in docs:
        if isinstance(item, tuple):
            if len(item) != 2:
                raise invalid("docs: a batch tuple must be (vectors, ids)")
            if ids is not None:
                raise invalid("docs: ids given both in batches and as ids=")
            yield item
            continue
        n = len(item)
        yield item, (None if ids is None else ids[start:start + n])
        start += n
    if ids is not None and start != len(ids):
        raise invalid(f"ids: {len(ids)} ids for {start} documents")


def _progress_printer():
    if not sys.stderr.isatty():
        return None
    def show(phase, done, total):
        of = f"/{total}" if total else ""
        sys.stderr.write(f"\rmetaidx build: {phase} {done}{of}   ")
        if total and done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
    return show


class _Builder:
    """An open mx_builder; aborted unless finished."""

    def __init__(self, path, dim, per_doc, opts, err):
        self.handle = ctypes.c_void_p()
        check(lib.mx_builder_open(path, dim, per_doc, ctypes.byref(opts),
                                  ctypes.byref(self.handle), ctypes.byref(err)), err)

    def abort(self):
        if self.handle:
            lib.mx_builder_abort(self.handle)
            self.handle = ctypes.c_void_p()

    def finish(self, err):
        handle, self.handle = self.handle, ctypes.c_void_p()
        check(lib.mx_builder_finish(handle, ctypes.byref(err)), err)


def build(path, docs, ids=None, dtype="f16", budgets=None, coarse=None, keep=None, threads=None,
          progress=True, overwrite=False, normalize=False, nprobe=None, train_sample=None,
          expected_docs=None, seed=None, first_stage="auto", first_stage_vectors=None,
          first_stage_query_vectors=None, calibrate=None, calibrate_seconds=None):
    """Builds the index directory `path` from documents of R nested vectors of d
    floats each.

    docs: an [N, R, d] float32 or float16 array (passed to the library without
        a copy when C-contiguous; other float dtypes are converted), or an
        iterable (list, generator) of such arrays, or of (array, ids) pairs,
        added batch by batch: memory stays bounded by one batch, so a
        collection larger than RAM can be built from a generator.
    ids: None (ids are row numbers from 0), N integers (uint64 ids) or N
        strings/bytes (string ids, 1..511 bytes each). With an iterable docs
        it is sliced along the batches (or give ids inside (array, ids) pairs).
    dtype: stored dtype, "f32", "f16" (default), "bf16" or "int8".
    budgets: list of (r_q, r_c) pairs; None = MetaEmbed's, clipped to `keep`.
    coarse: FAISS factory string of the coarse stage; None = chosen from N, d.
    keep: vectors stored per document (a prefix of the R given); None = all.
    threads: threads for training and adding; None = all cores.
    progress: True prints progress to stderr when it is a terminal; False is
        silent; a callable(phase, done, total) is called instead.
    overwrite: replace an index already at `path`.
    normalize: L2-normalise vectors; by default unnormalised ones are refused.
    nprobe, train_sample, expected_docs, seed: see mx_build_options.
    first_stage: what the coarse index holds per document: "auto" (default:
        measured at build time), "leading", "pooled" or "multi"
        (docs/first_stage.md); first_stage_vectors (m) and
        first_stage_query_vectors: see mx_build_options.
    calibrate: True/False runs or skips the quick recall calibration on
        pseudo-queries that lets a fresh index search by recall (None = the
        library's default: on, unless MX_BUILD_CALIBRATE=0 is set);
        calibrate_seconds: its time limit (None = 30, 0 = none). See
        docs/recall.md.

    Raises a metaidx.Error subclass (BadInputError for NaN/Inf, zero or
    unnormalised vectors, ExistsError for an existing index or a duplicate id,
    ...) with the library's message; a failed build leaves nothing at `path`.
    """
    err = new_error()
    opts = _capi.struct(_capi.BuildOptions)
    lib.mx_build_options_init(ctypes.byref(opts))
    opts.dtype = _dtype(dtype)
    if keep is not None:
        opts.keep = u32("keep", keep, 1)
    if budgets is not None:
        budgets = list(budgets)
        if not 1 <= len(budgets) <= _capi.MAX_BUDGETS:
            raise invalid(f"budgets: {len(budgets)} given, 1..{_capi.MAX_BUDGETS} allowed")
        opts.n_budgets = len(budgets)
        for i, b in enumerate(budgets):
            opts.budgets[i].r_q, opts.budgets[i].r_c = budget(f"budgets[{i}]", b)
    coarse_bytes = None
    if coarse is not None:
        coarse_bytes = str(coarse).encode()
        opts.coarse_factory = coarse_bytes
    if nprobe is not None:
        opts.coarse_nprobe = u32("nprobe", nprobe, 1)
    if train_sample is not None:
        opts.train_sample = u64("train_sample", train_sample, 1)
    if expected_docs is not None:
        opts.expected_docs = u64("expected_docs", expected_docs)
    if threads is not None:
        opts.threads = u32("threads", threads, 1)
    if seed is not None:
        opts.seed = u64("seed", seed)
    opts.first_stage = _first_stage(first_stage)
    if first_stage_vectors is not None:
        opts.first_stage_vectors = u32("first_stage_vectors", first_stage_vectors, 1)
    if first_stage_query_vectors is not None:
        opts.first_stage_query_vectors = u32("first_stage_query_vectors",
                                             first_stage_query_vectors, 1)
    opts.overwrite = 1 if overwrite else 0
    opts.normalize = 1 if normalize else 0
    if calibrate is not None:
        opts.calibrate = 1 if calibrate else 0
    if calibrate_seconds is not None:
        if isinstance(calibrate_seconds, bool) or not isinstance(calibrate_seconds, (int, float)) \
                or not calibrate_seconds >= 0:
            raise invalid(f"calibrate_seconds must be a number >= 0, not {calibrate_seconds!r}")
        opts.calibrate_seconds = float(calibrate_seconds)
    callback_error = []
    if progress is True:
        progress = _progress_printer()
    if callable(progress):
        def on_progress(_ctx, phase, done, total):
            try:
                progress(phase.decode(), done, total)
            except BaseException as e:  # raised after the C call returns
                callback_error.append(e)
        opts.progress = _capi.PROGRESS_FN(on_progress)
    path_bytes = str(path).encode()
    if _Shared.lookup(str(path)) is not None:
        raise BusyError(f"{path}: an Index of it is open in this process; close it before "
                        "building over it")

    builder = None
    n_added = 0
    try:
        for vectors, batch_ids in _batches(docs, ids):
            vectors = floats(f"docs (batch starting at document {n_added})", vectors, 3,
                             None if builder is None else shape[1], keep_f16=True)
            if builder is None:
                shape = vectors.shape[1:]
                opts.id_kind = _id_kind(batch_ids)
                builder = _Builder(path_bytes, u32("d", shape[1], 1), u32("R", shape[0], 1),
                                   opts, err)
            elif vectors.shape[1:] != shape:
                raise invalid(f"docs: the batch starting at document {n_added} has shape "
                              f"{vectors.shape}, earlier batches [*, {shape[0]}, {shape[1]}]")
            n = vectors.shape[0]
            batch = _Ids(opts.id_kind, batch_ids, n, n_added)
            input_dtype = _capi.DTYPE_F16 if vectors.dtype == np.float16 else _capi.DTYPE_F32
            check(lib.mx_builder_add(builder.handle, n, batch.ids, batch.keys, batch.lens,
                                     pointer(vectors), input_dtype, ctypes.byref(err)), err)
            n_added += n
            if callback_error:
                raise callback_error[0]
        if builder is None:
            raise BadInputError("docs: no batch given, nothing to build")
        builder.finish(err)
    finally:
        if builder is not None:
            builder.abort()
    if callback_error:
        raise callback_error[0]
