"""Prints the directory, under the install prefix given as argument, where
this interpreter imports pure-Python packages from (for python/meson.build)."""
import sys
import sysconfig

prefix = sys.argv[1]
if prefix == "/usr/local" and sysconfig.get_default_scheme() == "posix_local":
    print(sysconfig.get_path("purelib"))  # Debian: /usr/local/lib/python3.X/dist-packages
else:
    print(sysconfig.get_path("purelib", "posix_prefix", {"base": prefix, "platbase": prefix}))
