"""The package as users install it: `pip install ./python` offline into a
virtual environment that sees Debian's numpy, and the example script."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import metaidx
from conftest import SANITIZED

HERE = Path(__file__).resolve().parent.parent


def test_setup_version_is_the_library_version():
    setup = (HERE / "setup.py").read_text()
    assert re.search(r'version="([^"]+)"', setup).group(1) == metaidx.__version__


@pytest.mark.skipif(SANITIZED, reason="packaging does not involve the library's code")
def test_pip_install_offline_into_a_venv(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(HERE / "metaidx", src / "metaidx",
                    ignore=shutil.ignore_patterns("__pycache__", "*.in"))
    shutil.copy(HERE / "setup.py", src)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, capture_output=True)
    py = str(venv / "bin" / "python")
    r = subprocess.run([py, "-m", "pip", "install", "--no-index", "-q", str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([py, "-c", "import metaidx; print(metaidx.__file__, metaidx.__version__)"],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    where, version = r.stdout.split()
    assert where.startswith(str(venv)) and version == metaidx.__version__


def test_library_not_found_is_a_clear_import_error(tmp_path):
    env = dict(os.environ, METAIDX_LIBRARY=str(tmp_path / "libnothing.so"))
    r = subprocess.run([sys.executable, "-c", "import metaidx"], capture_output=True, text=True,
                       env=env)
    assert r.returncode != 0
    assert "ImportError: metaidx: cannot load libmetaidx: METAIDX_LIBRARY" in r.stderr


def test_example_runs(tmp_path):
    example = HERE / "examples" / "quickstart.py"
    assert len(example.read_text().strip().splitlines()) < 15
    r = subprocess.run([sys.executable, str(example), str(tmp_path / "ix")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:2] == ["1.", "doc"] and lines[0].split()[2] == "7"


def test_overhead_bench_runs(tmp_path):
    search_c = os.environ.get("METAIDX_SEARCH_C")
    if not search_c:
        pytest.skip("METAIDX_SEARCH_C (the py_search_c program meson builds) is not set")
    r = subprocess.run([sys.executable, str(HERE / "bench" / "overhead.py"), search_c,
                        "--n", "300", "--d", "16", "--r", "4", "--rq", "2", "--rc", "4",
                        "--queries", "5", "--reps", "1", "--rounds", "1", "--dir",
                        str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    import json
    summary = json.loads(r.stdout.splitlines()[-1])
    assert summary["c_search_us"] > 0 and summary["py_batch_qps"] > 0
