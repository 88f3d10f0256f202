"""Argument checks and the numpy side of every call: which arrays pass to C
by pointer (C-contiguous float32; float16 too for building) and which are
converted (other float dtypes, non-contiguous layouts) or refused (anything
not floating point, wrong shapes), each with a message naming the argument."""
import numbers

import numpy as np

from .errors import invalid

U32_MAX = 2**32 - 1


def u32(name, value, minimum=0):
    """`value` as an int in [minimum, 2^32-1]; refuses bools, floats and
    out-of-range values instead of letting ctypes wrap them."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise invalid(f"{name} must be an integer, not {type(value).__name__}")
    value = int(value)
    if value < minimum or value > U32_MAX:
        raise invalid(f"{name} = {value} is out of range [{minimum}, {U32_MAX}]")
    return value


def u64(name, value, minimum=0):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise invalid(f"{name} must be an integer, not {type(value).__name__}")
    value = int(value)
    if value < minimum or value >= 2**64:
        raise invalid(f"{name} = {value} is out of range [{minimum}, 2^64-1]")
    return value


def budget(name, value):
    """(r_q, r_c) -> two ints; None -> (0, 0), the largest budget."""
    if value is None:
        return 0, 0
    try:
        r_q, r_c = value
    except (TypeError, ValueError):
        raise invalid(f"{name} must be a pair (r_q, r_c), not {value!r}") from None
    return u32(f"{name} r_q", r_q, 1), u32(f"{name} r_c", r_c, 1)


def floats(name, array, ndim, dim=None, keep_f16=False):
    """`array` as a C-contiguous float32 array of `ndim` dimensions (float16
    kept as is when keep_f16), whose last dimension is `dim` when given.
    Returns the same object when no conversion is needed (zero copy)."""
    a = np.asarray(array)
    if a.dtype.kind != "f":
        raise invalid(f"{name}: dtype {a.dtype} is not floating point; pass float32 "
                      "(float16 and float64 are converted)")
    if a.ndim != ndim:
        shape = ["N", "R", "d"][3 - ndim:]
        raise invalid(f"{name}: expected {ndim} dimensions [{', '.join(shape)}], "
                      f"got shape {a.shape}")
    if any(n == 0 for n in a.shape[1:]) or (ndim < 3 and a.shape[0] == 0):
        raise invalid(f"{name}: empty dimension in shape {a.shape}")
    if dim is not None and a.shape[-1] != dim:
        raise invalid(f"{name}: vectors have {a.shape[-1]} floats, the index has d = {dim}")
    target = a.dtype if keep_f16 and a.dtype == np.float16 else np.float32
    return np.ascontiguousarray(a, dtype=target)


def pointer(a):
    """The address of a C-contiguous array's first element."""
    return a.ctypes.data
