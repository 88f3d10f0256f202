"""pip install ./python: the metaidx package, pure Python over libmetaidx
(built and installed by meson; found at run time, see metaidx/_capi.py).
No pyproject.toml on purpose: pip then builds with the setuptools already
installed (Debian's python3-setuptools) instead of fetching one, so the
install works offline."""
from setuptools import setup

setup(
    name="metaidx",
    version="0.1.0",  # the library's version; tests/test_packaging.py checks they agree
    description="Disk-resident multi-vector (MetaEmbed, MaxSim) index: numpy arrays in and out",
    license="MIT",
    packages=["metaidx"],
    python_requires=">=3.8",
    install_requires=["numpy"],
)
