"""The ctypes declarations of metaidx._capi against the C header: sizes and
offsets printed by tests/layout.c, compiled by meson."""
import ctypes
import json
import os
import re
import subprocess
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


@pytest.mark.parametrize("name", sorted(_capi.STRUCTS))
def test_struct_matches_header(layout, name):
    struct = _capi.STRUCTS[name]
    c = layout[name]
    assert ctypes.sizeof(struct) == c["size"], f"{name}: sizeof differs from metaidx.h"
    offsets = {f[0]: getattr(struct, f[0]).offset for f in struct._fields_}
    assert offsets == c["fields"]


def test_abi_version_is_the_headers():
    header = (Path(__file__).resolve().parents[2] / "include" / "metaidx.h").read_text()
    major = re.search(r"#define MX_VERSION_MAJOR (\d+)", header).group(1)
    minor = re.search(r"#define MX_VERSION_MINOR (\d+)", header).group(1)
    assert _capi.ABI_VERSION == f"{major}.{minor}"
