#!/usr/bin/env bash
# Writes the committed golden index tests/golden/v2.0-f16-strings with the
# tool of a build (default build/): 40 documents of 8 vectors, d = 16, f16,
# string ids, budgets 1x1,2x4,4x8, plus 5 queries and the exact runs at 2x4
# and 4x8 that tests/test_golden.c expects of every future reader. Run it
# only to add a fixture for a new format version: an existing fixture is
# never regenerated (that is what makes it a test of the reader).
set -euo pipefail
cd "$(dirname "$0")/.."
metaidx=${1:-build/tools/metaidx}
out=tests/golden/v2.0-f16-strings
if [ -e "$out" ]; then
  echo "make_golden.sh: $out exists; fixtures are never rewritten" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$metaidx" gen --out "$tmp/src" --n 40 --queries 5 --rc 8 --rq 4 --d 16 --seed 1234 --topics 5
for i in $(seq 0 39); do printf 'doc-%03d\n' "$i"; done > "$tmp/src/ids.txt"
mkdir -p "$out"
"$metaidx" build --out "$out/index" --dtype f16 --ids "$tmp/src/ids.txt" --budgets 1x1,2x4,4x8 \
  --no-progress "$tmp/src/docs.npy"
cp "$tmp/src/queries.npy" "$out/queries.npy"
for b in 2x4 4x8; do
  "$metaidx" exact --index "$out/index" --queries "$out/queries.npy" --k 10 --rq "${b%x*}" \
    --rc "${b#*x}" --tag golden > "$out/exact-$b.trec"
done
rm -f "$out/index/store/lock.mdb" # made by opening the index, not part of it
