#!/usr/bin/env bash
# Tests/compare/run.sh — rnn-dist against a NumPy + mpi4py data-parallel trainer of the same model
# (numpy_ddp.py), in the same session, interleaved: the comparison issue 13 asks for. Not run by
# CI (speed is measured, never tested). Installs mpi4py with pip when missing (numpy too).
#
#   bash Tests/compare/run.sh [ROUNDS]     (default 3; H=512 and H=256, 2 ranks, T=64, 32/rank)
#
# Prints one line per run and, at the end, the median tokens/s of each and their ratio.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
data="${DATA:-$root/../shared/data/tinyshakespeare.txt}"
[ -f "$data" ] || { echo "compare: no corpus at $data (set DATA=...)"; exit 1; }
python3 -c "import numpy, mpi4py" 2>/dev/null || python3 -m pip install -q numpy mpi4py
binary="$root/.build/release/rnn-dist"
[ -x "$binary" ] || (cd "$root" && swift build -c release --product rnn-dist)
flags=(-np 2 --bind-to core -x OPENBLAS_NUM_THREADS=1)
[ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
tokens() { sed -n 's/.*"tokens_per_s" *: *\([0-9.e+-]*\).*/\1/p' | head -1; }
results="$(mktemp)"
trap 'rm -f "$results"' EXIT
for ((round = 1; round <= ${1:-3}; round++)); do
    for hidden in 512 256; do
        ours="$(mpirun "${flags[@]}" "$binary" bench --hidden "$hidden" --data "$data" --timed 30 --json 2>/dev/null | tokens)"
        theirs="$(mpirun "${flags[@]}" python3 "$root/Tests/compare/numpy_ddp.py" --data "$data" --hidden "$hidden" \
            --timed 30 2>/dev/null | tokens)"
        echo "round $round H=$hidden: rnn-dist ${ours%.*} tokens/s, numpy ${theirs%.*} tokens/s" | tee -a "$results"
    done
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for hidden in 512 256; do
    ours="$(grep "H=$hidden:" "$results" | awk '{ print $5 }' | median)"
    theirs="$(grep "H=$hidden:" "$results" | awk '{ print $8 }' | median)"
    awk -v h="$hidden" -v a="$ours" -v b="$theirs" \
        'BEGIN { printf "H=%d median: rnn-dist %d, numpy %d tokens/s: %.2fx\n", h, a, b, (b > 0 ? a / b : 0) }'
done
