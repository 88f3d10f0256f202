"""ctypes declarations of include/metaidx.h and the loader of libmetaidx.

Only functions declared in metaidx.h are used. Structures mirror the header
field by field; tests/test_layout.py compares every size and offset with a
C program compiled against the header (structs the library grows by appending
fields may be larger there: the package then ignores the new fields). Until
1.0 every minor version may append struct fields, so load() refuses a
library whose major.minor is not ABI_VERSION, and every struct the library
fills is allocated with slack behind it (see `struct`).

Every foreign call goes through ctypes.CDLL, which releases the GIL for the
duration of the call: Python threads search (and a build runs) in parallel
with other Python code.
"""
import ctypes
import ctypes.util
import os

c_u32 = ctypes.c_uint32
c_u64 = ctypes.c_uint64
c_int = ctypes.c_int
c_char_p = ctypes.c_char_p
c_void_p = ctypes.c_void_p
c_size_t = ctypes.c_size_t
c_float_p = ctypes.POINTER(ctypes.c_float)

ABI_VERSION = "0.1"  # major.minor of the metaidx.h these declarations copy
MAX_BUDGETS = 16
MAX_STAGES = 8
MAX_KEY_BYTES = 511
ERROR_MESSAGE_MAX = 512

DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_INT8 = 0, 1, 2, 3
IDS_ROW, IDS_U64, IDS_STRING = 0, 1, 2
ID_KIND_NAMES = {IDS_ROW: "row", IDS_U64: "u64", IDS_STRING: "string"}
CANDIDATES_SOURCE_NAMES = {0: "explicit", 1: "table", 2: "fallback"}
CHOICE_FLAG_NAMES = {1: "no_table", 2: "no_entry", 4: "other_budget", 8: "not_met",
                     16: "k_scaled", 32: "cascade", 64: "beyond_table"}


class Budget(ctypes.Structure):
    _fields_ = [("r_q", c_u32), ("r_c", c_u32)]


class Stage(ctypes.Structure):
    _fields_ = [("r_q", c_u32), ("r_c", c_u32), ("keep", c_u32)]


class Error(ctypes.Structure):
    _fields_ = [("status", c_int), ("message", ctypes.c_char * ERROR_MESSAGE_MAX)]


PROGRESS_FN = ctypes.CFUNCTYPE(None, c_void_p, c_char_p, c_u64, c_u64)
PROBLEM_FN = ctypes.CFUNCTYPE(None, c_void_p, c_char_p)


class BuildOptions(ctypes.Structure):
    _fields_ = [
        ("dtype", c_int),
        ("keep", c_u32),
        ("n_budgets", c_u32),
        ("budgets", Budget * MAX_BUDGETS),
        ("coarse_factory", c_char_p),
        ("coarse_nprobe", c_u32),
        ("train_sample", c_u64),
        ("expected_docs", c_u64),
        ("id_kind", c_int),
        ("threads", c_u32),
        ("seed", c_u64),
        ("overwrite", c_int),
        ("normalize", c_int),
        ("progress", PROGRESS_FN),
        ("progress_ctx", c_void_p),
        ("first_stage", c_int),
        ("first_stage_vectors", c_u32),
        ("first_stage_query_vectors", c_u32),
        ("first_stage_max_bytes", c_u32),
        ("calibrate", c_int),
        ("calibrate_seconds", ctypes.c_double),
        ("calibrate_recall", ctypes.c_float),
    ]


class OpenOptions(ctypes.Structure):
    _fields_ = [("max_readers", c_u32), ("verify", c_int), ("ignore_calibration", c_int)]


class Info(ctypes.Structure):
    _fields_ = [
        ("format_major", c_u32),
        ("format_minor", c_u32),
        ("dim", c_u32),
        ("vectors_per_doc", c_u32),
        ("dtype", c_int),
        ("n_docs", c_u64),
        ("n_budgets", c_u32),
        ("budgets", Budget * MAX_BUDGETS),
        ("id_kind", c_int),
        ("coarse_factory", ctypes.c_char * 256),
        ("coarse_nprobe", c_u32),
        ("coarse_ef_search", c_u32),
        ("coarse_bytes", c_u64),
        ("store_bytes", c_u64),
        ("created", ctypes.c_char * 32),
        ("library_version", ctypes.c_char * 32),
        ("first_stage", c_int),
        ("first_stage_vectors", c_u32),
        ("first_stage_query_vectors", c_u32),
        ("coarse_entries", c_u64),
        ("first_stage_trial", ctypes.c_char * 256),
    ]


class SearchOptions(ctypes.Structure):
    _fields_ = [
        ("k", c_u32),
        ("r_q", c_u32),
        ("r_c", c_u32),
        ("candidates", c_u32),
        ("nprobe", c_u32),
        ("ef_search", c_u32),
        ("n_stages", c_u32),
        ("stages", Stage * MAX_STAGES),
        ("prefetch", c_int),
        ("skip_corrupt", c_int),
        ("coarse_only", c_int),
        ("recall", ctypes.c_float),
        ("threads", c_u32),
    ]


class Hit(ctypes.Structure):
    _fields_ = [("doc", c_u64), ("id", c_u64), ("score", ctypes.c_float)]


class SearchStats(ctypes.Structure):
    _fields_ = [
        ("coarse_ms", ctypes.c_double),
        ("prefetch_ms", ctypes.c_double),
        ("rescore_ms", ctypes.c_double),
        ("total_ms", ctypes.c_double),
        ("stage_ms", ctypes.c_double * (MAX_STAGES + 1)),
        ("n_stages_run", c_u32),
        ("candidates", c_u64),
        ("scored", c_u64),
        ("bytes_touched", c_u64),
        ("bytes_prefetched", c_u64),
        ("corrupt_skipped", c_u64),
        ("candidates_source", c_int),
        ("candidates_flags", c_u32),
        ("candidates_asked", c_u32),
        ("nprobe_asked", c_u32),
        ("recall_target", ctypes.c_float),
        ("recall_expected", ctypes.c_float),
        ("table_budget", Budget),
    ]


class VerifyReport(ctypes.Structure):
    _fields_ = [("records", c_u64), ("bad_records", c_u64), ("bad_keys", c_u64),
                ("problems", c_u64)]


STRUCTS = {
    "mx_budget": Budget, "mx_stage": Stage, "mx_error": Error,
    "mx_build_options": BuildOptions, "mx_open_options": OpenOptions, "mx_info": Info,
    "mx_search_options": SearchOptions, "mx_hit": Hit, "mx_search_stats": SearchStats,
    "mx_verify_report": VerifyReport,
}

# Bytes of room past every struct the library fills, for fields appended by
# a newer library than these declarations (an ABI mismatch the version check
# in load() refuses anyway; this keeps a mistake from writing past memory).
STRUCT_SLACK = 4096


def struct(struct_type):
    """A zeroed instance of a struct the library initialises or fills
    (options, info, stats, report), with STRUCT_SLACK bytes of room behind."""
    buf = ctypes.create_string_buffer(ctypes.sizeof(struct_type) + STRUCT_SLACK)
    obj = struct_type.from_buffer(buf)
    obj._slack_buffer = buf  # keeps the memory alive with the struct
    return obj


P = ctypes.POINTER
_PROTOTYPES = {
    "mx_version": (c_char_p, []),
    "mx_status_str": (c_char_p, [c_int]),
    "mx_status_name": (c_char_p, [c_int]),
    "mx_dtype_name": (c_char_p, [c_int]),
    "mx_dtype_parse": (c_int, [c_char_p, P(c_int), P(Error)]),
    "mx_simd_path": (c_char_p, []),
    "mx_first_stage_name": (c_char_p, [c_int]),
    "mx_first_stage_parse": (c_int, [c_char_p, P(c_int), P(Error)]),
    "mx_build_options_init": (None, [c_void_p]),
    "mx_builder_open": (c_int, [c_char_p, c_u32, c_u32, c_void_p, P(c_void_p), P(Error)]),
    "mx_builder_add": (c_int, [c_void_p, c_u64, c_void_p, c_void_p, c_void_p, c_void_p, c_int,
                               P(Error)]),
    "mx_builder_finish": (c_int, [c_void_p, P(Error)]),
    "mx_builder_abort": (None, [c_void_p]),
    "mx_open_options_init": (None, [c_void_p]),
    "mx_index_open": (c_int, [c_char_p, c_void_p, P(c_void_p), P(Error)]),
    "mx_index_close": (None, [c_void_p]),
    "mx_index_info": (c_int, [c_void_p, c_void_p, P(Error)]),
    "mx_search_options_init": (None, [c_void_p]),
    "mx_search": (c_int, [c_void_p, c_void_p, c_u32, c_void_p, c_void_p, P(c_u32), c_void_p,
                          P(Error)]),
    "mx_search_batch": (c_int, [c_void_p, c_void_p, c_u32, c_u32, c_void_p, c_u32, c_void_p,
                                c_void_p, c_void_p, P(Error)]),
    "mx_exact_search": (c_int, [c_void_p, c_void_p, c_u32, c_u32, c_u32, c_u32, c_u32, c_u32,
                                c_void_p, c_void_p, P(Error)]),
    "mx_index_doc_key": (c_int, [c_void_p, c_u64, c_char_p, c_size_t, P(c_size_t), P(Error)]),
    "mx_index_verify": (c_int, [c_char_p, PROBLEM_FN, c_void_p, P(VerifyReport), P(Error)]),
}


def _candidates():
    """Where the library is looked for, in order."""
    env = os.environ.get("METAIDX_LIBRARY")
    if env:
        return [env], True
    found = []
    try:
        from . import _config  # written by `meson install` beside this file
        found.append(_config.LIBRARY)
    except ImportError:
        pass
    name = ctypes.util.find_library("metaidx")
    if name:
        found.append(name)
    found.append("libmetaidx.so")
    for prefix in ("/usr/local/lib/x86_64-linux-gnu", "/usr/local/lib"):
        found.append(os.path.join(prefix, "libmetaidx.so"))
    return list(dict.fromkeys(found)), False


def load():
    """Loads libmetaidx and declares its functions; ImportError naming every
    place tried when it cannot be found."""
    paths, from_env = _candidates()
    tried = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            break
        except OSError as e:
            tried.append(f"{path} ({e})")
    else:
        hint = ("METAIDX_LIBRARY is set but does not load" if from_env else
                "install it (meson install -C build) or set METAIDX_LIBRARY to libmetaidx.so")
        raise ImportError("metaidx: cannot load libmetaidx: " + hint + "; tried: " +
                          "; ".join(tried))
    for fn, (restype, argtypes) in _PROTOTYPES.items():
        try:
            f = getattr(lib, fn)
        except AttributeError:
            raise ImportError(f"metaidx: {lib._name} does not export {fn}; "
                              "it is not a compatible libmetaidx") from None
        f.restype = restype
        f.argtypes = argtypes
    version = lib.mx_version().decode()
    if version.split(".")[:2] != ABI_VERSION.split("."):
        raise ImportError(f"metaidx: {lib._name} is libmetaidx {version}; this package is "
                          f"written for {ABI_VERSION}.x (python/metaidx/_capi.py)")
    return lib


lib = load()
