"""metaidx: a disk-resident multi-vector (MetaEmbed, MaxSim) index, from numpy.

    import numpy as np, metaidx
    metaidx.build("myindex", docs)            # docs: [N, R, d] float32, L2-normalised
    with metaidx.Index("myindex") as ix:
        ids, scores = ix.search(query, k=10)  # query: [r, d]

The package calls libmetaidx (include/metaidx.h) through ctypes; it is looked
for at $METAIDX_LIBRARY, then where `meson install` put it, then on the
system's library path. See docs/python.md.
"""
from ._capi import lib as _lib
from .build import build
from .errors import *  # noqa: F401,F403  (Error and one subclass per mx_status)
from .errors import BY_STATUS as _BY_STATUS, Error
from .index import HIT_DTYPE, NO_ID, Index, verify

__version__ = _lib.mx_version().decode()
library_path = _lib._name
"""The libmetaidx file this package loaded."""


def simd_path():
    """The SIMD path the kernels use: "avx2" or "scalar"."""
    return _lib.mx_simd_path().decode()


__all__ = ["build", "Index", "verify", "simd_path", "NO_ID", "HIT_DTYPE", "Error",
           "library_path"] + [c.__name__ for c in _BY_STATUS.values()]
