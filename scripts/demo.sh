#!/usr/bin/env bash
# The main job end to end on generated data: set-up if needed, build, then
# generate a MetaEmbed-shaped collection, index it, and for every budget
# compare the index's search with brute force and with the qrels. Prints one
# table. Re-runnable: everything goes to ./demo/ (git-ignored) and is
# overwritten. Sizes can be changed with DEMO_N, DEMO_Q, DEMO_D.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
if [ ! -f build/build.ninja ]; then meson setup build >/dev/null; fi
ninja -C build >/dev/null
./build/tools/metaidx --version

M=./build/tools/metaidx
N=${DEMO_N:-20000}
Q=${DEMO_Q:-200}
D=${DEMO_D:-128}
K=10
CANDIDATES=${DEMO_CANDIDATES:-200}
out=demo
mkdir -p "$out"
start=$(date +%s)

echo "== gen: $N documents x 64 vectors x d=$D, $Q queries x 16 vectors (f16)"
"$M" gen --overwrite --out "$out/data" --n "$N" --queries "$Q" --rc 64 --rq 16 --d "$D" --dtype f16
echo "== build: $out/index (stored f16)"
"$M" build --out "$out/index" --overwrite --dtype f16 "$out/data/docs.npy"
"$M" info "$out/index" | sed -nE 's/^  "(n_docs|coarse_factory|coarse_nprobe|store_bytes|simd)": (.*[^,]),?$/   \1: \2/p'

num() { # key, json: the number after "key":
  sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p" <<<"$2"
}

rows=()
for budget in 1x1 2x4 4x8 8x16 16x64; do
  rq=${budget%x*}
  rc=${budget#*x}
  echo "== budget ($rq,$rc): exact ground truth, search ($CANDIDATES candidates), eval"
  "$M" exact --index "$out/index" --queries "$out/data/queries.npy" --rq "$rq" --rc "$rc" \
    --k "$K" --out "$out/exact_$budget.trec"
  "$M" search --index "$out/index" --queries "$out/data/queries.npy" --rq "$rq" --rc "$rc" \
    --k "$K" --candidates "$CANDIDATES" --tag "metaidx_$budget" --out "$out/run_$budget.trec" \
    --stats "$out/stats_$budget.jsonl" 2>"$out/search_$budget.log"
  cat "$out/search_$budget.log" >&2
  eval_json=$("$M" eval --run "$out/run_$budget.trec" --truth "$out/exact_$budget.trec" \
    --qrels "$out/data/qrels" --k "$K")
  summary=$(tail -n 1 "$out/search_$budget.log")
  p50=$(sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p' <<<"$summary")
  bytes=$(sed -n 's/.*mean_bytes=\([0-9]*\).*/\1/p' <<<"$summary")
  rows+=("$(printf '%-8s %12.3f %12.3f %10.3f %14s' "($rq,$rc)" "$(num "recall@$K" "$eval_json")" \
    "$(num "ndcg@$K" "$eval_json")" "$p50" "$bytes")")
done

echo
echo "metaidx demo: N=$N d=$D, $Q queries, k=$K, $CANDIDATES coarse candidates, $(nproc) cores, simd $("$M" --version | sed 's/.*simd: \(.*\))/\1/')"
printf '%-8s %12s %12s %10s %14s\n' budget "recall@$K" "nDCG@$K" "p50 ms" "bytes/query"
printf '%s\n' "${rows[@]}"
echo "(recall@$K vs brute force at the same budget; nDCG@$K vs the generated qrels; $(($(date +%s) - start)) s in all)"
