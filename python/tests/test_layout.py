"""The ctypes declarations of metaidx._capi against the C header: sizes and
offsets printed by tests/layout.c, compiled by meson."""
import ctypes
import json
import os
import re
import subprocess
import warnings
from pathlib import Path

import pytest

from metaidx import _capi


@pytest.fixture(scope="module")
def layout():
    exe = os.environ.get("METAIDX_LAYOUT")
    if not exe:
        pytest.skip("METAIDX_LAYOUT (the py_layout program meson builds) is not set")
    return json.loads(subprocess.run([exe], check=True, capture_output=True, text=True).stdout)


def test_every_struct_is_declared(layout):
    assert sorted(layout) == sorted(_capi.STRUCTS)


# Structs the package allocates one at a time with _capi.struct (slack
# behind) and that metaidx.h grows by appending fields: the header's may be
# larger than the declaration (a newer field the package does not use yet,
# initialised by the library's *_init). The others are laid out in arrays
# or embedded, and must match exactly.
GROWABLE = {"mx_build_options", "mx_open_options", "mx_info", "mx_search_options",
            "mx_search_stats", "mx_verify_report"}


@pytest.mark.parametrize("name", sorted(_capi.STRUCTS))
def test_struct_matches_header(layout, name):
    struct = _capi.STRUCTS[name]
    c = layout[name]
    offsets = {f[0]: getattr(struct, f[0]).offset for f in struct._fields_}
    assert offsets == c["fields"], f"{name}: field offsets differ from metaidx.h"
    size = ctypes.sizeof(struct)
    if name in GROWABLE:
        assert size <= c["size"] <= size + _capi.STRUCT_SLACK, \
            f"{name}: {c['size']} bytes in metaidx.h, {size} declared"
        if c["size"] > size:
            warnings.warn(f"{name} has {c['size'] - size} bytes of fields metaidx.h appended "
                          "that python/metaidx/_capi.py does not declare yet")
    else:
        assert size == c["size"], f"{name}: sizeof differs from metaidx.h"


def test_abi_version_is_the_headers():
    header = (Path(__file__).resolve().parents[2] / "include" / "metaidx.h").read_text()
    major = re.search(r"#define MX_VERSION_MAJOR (\d+)", header).group(1)
    minor = re.search(r"#define MX_VERSION_MINOR (\d+)", header).group(1)
    assert _capi.ABI_VERSION == f"{major}.{minor}"
