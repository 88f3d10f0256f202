#!/usr/bin/env python3
"""The shared library's ABI is the public header: checks that the functions
libmetaidx.so exports (nm -D) are exactly those include/metaidx.h declares,
and that every declaration there is marked MX_API.

usage: check_exports.py NM HEADER SHARED_LIBRARY"""
import re
import subprocess
import sys


def declared_functions(header_text):
    """(name, marked) for every function declared in the header."""
    text = re.sub(r"/\*.*?\*/", " ", header_text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)
    text = text.replace('extern "C" {', " ")
    out = []
    for statement in re.split(r"[;{}]", text):
        statement = " ".join(statement.split())
        if statement.startswith("typedef"):
            continue  # function pointer types, e.g. mx_progress_fn
        m = re.match(r"^(MX_API\s+)?[A-Za-z_][\w\s\*]*?\b(mx_\w+)\s*\(", statement)
        if m:
            out.append((m.group(2), m.group(1) is not None))
    return out


def exported_symbols(nm, library):
    lines = subprocess.run([nm, "-D", "--defined-only", library], check=True,
                           capture_output=True, text=True).stdout.splitlines()
    return {line.split()[-1] for line in lines if line.strip()}


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    nm, header, library = sys.argv[1:]
    with open(header, encoding="utf-8") as f:
        decls = declared_functions(f.read())
    declared = {name for name, _ in decls}
    unmarked = sorted(name for name, marked in decls if not marked)
    exported = exported_symbols(nm, library)
    problems = []
    if len(declared) < 10:
        problems.append(f"found only {len(declared)} declarations in {header}: parser broken?")
    for name in unmarked:
        problems.append(f"{header}: {name} is declared without MX_API (so it is not exported)")
    for name in sorted(exported - declared):
        problems.append(f"{library} exports {name}, which {header} does not declare")
    for name in sorted(declared - exported - set(unmarked)):
        problems.append(f"{header} declares {name}, which {library} does not export")
    for p in problems:
        print(p)
    print(f"{len(declared)} functions declared, {len(exported)} symbols exported, "
          f"{len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
