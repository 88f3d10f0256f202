"""A generator-fed build of more data than a process may allocate: batches
are added and dropped one by one, never gathered."""
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import SANITIZED

CHILD = textwrap.dedent("""
    import resource, sys
    import numpy as np
    import metaidx

    path, mode = sys.argv[1], sys.argv[2]
    BATCH, N_BATCHES, R, D = 1024, 40, 16, 64  # 4 MiB of float32 per batch, 160 MiB in all

    def batches():
        rng = np.random.default_rng(3)
        for _ in range(N_BATCHES):
            b = rng.standard_normal((BATCH, R, D), dtype=np.float32)
            b /= np.linalg.norm(b, axis=-1, keepdims=True)
            yield b

    def vm_data():
        for line in open("/proc/self/status"):
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024

    # warm up: load FAISS and OpenBLAS, start their threads
    metaidx.build(path + ".warm", next(batches())[:300], threads=1, progress=False)
    limit = vm_data() + 48 * 2**20
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    if mode == "gather":
        try:
            all_docs = np.concatenate(list(batches()))
        except MemoryError:
            print("gather: MemoryError")
            sys.exit(0)
        print("gather: fitted")
        sys.exit(1)
    # The leading first stage: what is measured is the builder's own memory;
    # a multi first stage's coarse index alone (4 entries per document)
    # would not fit the limit.
    metaidx.build(path, batches(), threads=1, train_sample=20000, progress=False,
                  first_stage="leading")
    with metaidx.Index(path) as ix:
        print("built", len(ix))
""")


@pytest.mark.skipif(SANITIZED, reason="sanitizer shadow memory defeats RLIMIT_DATA")
def test_generator_build_beyond_a_memory_limit(tmp_path):
    def run(mode):
        return subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / mode), mode],
                              capture_output=True, text=True, env=os.environ.copy(), timeout=600)
    gather = run("gather")
    assert gather.stdout.strip() == "gather: MemoryError", gather.stderr  # the limit bites
    stream = run("stream")
    assert stream.returncode == 0, stream.stderr
    assert stream.stdout.strip() == "built 40960"
