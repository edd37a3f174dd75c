#!/usr/bin/env bash
# Tests/compare/run.sh — rnn-dist against the peers a user compares it with, in the same session
# and interleaved rounds: a NumPy + mpi4py trainer of the same tanh RNN (numpy_ddp.py) and
# PyTorch DistributedDataParallel with nn.RNN / nn.LSTM / nn.GRU (torch_ddp.py), 2 ranks, T=64,
# 32 sequences per rank, Adam, global clipping, one thread per rank. Not run by CI (speed is
# measured, never tested). Installs numpy, mpi4py and torch with pip when missing.
#
#   bash Tests/compare/run.sh [ROUNDS]         (default 3)
#   HIDDEN="512 256 1024" GATED="lstm gru" GATED_HIDDEN=512 bash Tests/compare/run.sh 3
#   LOAD=1 bash Tests/compare/run.sh 3          (another process keeps one core busy throughout)
#
# The environment reaches every rank of every program: RNN_DIST_KERNEL=avx2
# OPENBLAS_CORETYPE=Haswell reproduces an AVX2-only machine's kernels for rnn-dist and NumPy.
# PyTorch reads neither; with RNN_DIST_KERNEL=avx2 its own switches hold it to AVX2 as well
# (ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA, MKL_ENABLE_INSTRUCTIONS), so that every peer runs
# what an AVX2-only machine would run. Prints one line per round and configuration and,
# at the end, the median tokens/s of each program, rnn-dist's share of 2 × same-run sgemm, and
# the ratios.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
data="${DATA:-$root/../shared/data/tinyshakespeare.txt}"
[ -f "$data" ] || { echo "compare: no corpus at $data (set DATA=...)"; exit 1; }
python3 -c "import numpy, mpi4py" 2>/dev/null || python3 -m pip install -q numpy mpi4py
python3 -c "import torch" 2>/dev/null || python3 -m pip install -q torch
binary="$root/.build/release/rnn-dist"
[ -x "$binary" ] || (cd "$root" && swift build -c release --product rnn-dist)
hidden_sizes="${HIDDEN:-512 256}"
gated="${GATED:-lstm gru}"
gated_hidden="${GATED_HIDDEN:-512}"
timed="${TIMED:-30}"
flags=(-np 2 --bind-to none -x OPENBLAS_NUM_THREADS=1)
for name in RNN_DIST_KERNEL OPENBLAS_CORETYPE; do [ -n "${!name:-}" ] && flags+=(-x "$name"); done
[ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
torch_flags=("${flags[@]}")
if [ "${RNN_DIST_KERNEL:-}" = avx2 ]; then
    torch_flags+=(-x ATEN_CPU_CAPABILITY=avx2 -x ONEDNN_MAX_CPU_ISA=AVX2 -x MKL_ENABLE_INSTRUCTIONS=AVX2)
fi
results="$(mktemp)"
busy=""
trap 'rm -f "$results"; [ -z "$busy" ] || kill "$busy" 2>/dev/null' EXIT
if [ "${LOAD:-0}" = 1 ]; then
    # One core's worth of someone else's work, for every program alike: the loaded rounds.
    python3 -c 'while True: pass' &
    busy=$!
fi

# field JSON KEY: one number from a JSON line.
field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2], 0))' "$1" "$2"; }
json_line() { grep -m1 '^{' || echo '{}'; }
record() { # record ROUND CELL H PROGRAM JSON
    local tokens percent
    tokens="$(field "$5" tokens_per_s)"
    percent="$(field "$5" percent_of_sgemm_ceiling)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$tokens" "$percent" >>"$results"
    printf 'round %s %s H=%s %-8s %10.0f tokens/s%s\n' "$1" "$2" "$3" "$4" "$tokens" \
        "$([ "$4" = rnn-dist ] && printf ' (%.1f%% of 2 x sgemm)' "$percent")"
}
ours() { mpirun "${flags[@]}" "$binary" bench --data "$data" --timed "$timed" --json "$@" 2>/dev/null | json_line; }
numpy_peer() { mpirun "${flags[@]}" python3 "$root/Tests/compare/numpy_ddp.py" --data "$data" --timed "$timed" "$@" 2>/dev/null | json_line; }
torch_peer() { mpirun "${torch_flags[@]}" python3 "$root/Tests/compare/torch_ddp.py" --data "$data" --timed "$timed" "$@" 2>/dev/null | json_line; }

for ((round = 1; round <= ${1:-3}; round++)); do
    for hidden in $hidden_sizes; do
        record "$round" rnn "$hidden" rnn-dist "$(ours --hidden "$hidden")"
        record "$round" rnn "$hidden" numpy "$(numpy_peer --hidden "$hidden")"
        record "$round" rnn "$hidden" torch "$(torch_peer --hidden "$hidden" --cell rnn)"
    done
    for cell in $gated; do
        record "$round" "$cell" "$gated_hidden" rnn-dist "$(ours --cell "$cell" --hidden "$gated_hidden")"
        record "$round" "$cell" "$gated_hidden" torch "$(torch_peer --cell "$cell" --hidden "$gated_hidden")"
    done
done

python3 - "$results" <<'EOF'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
configurations = []
for _, cell, hidden, _, _, _ in rows:
    if (cell, hidden) not in configurations:
        configurations.append((cell, hidden))
for cell, hidden in configurations:
    def median(program, column=4):
        values = [float(r[column]) for r in rows if r[1] == cell and r[2] == hidden and r[3] == program]
        return statistics.median(values) if values else 0.0
    ours = median("rnn-dist")
    line = f"{cell} H={hidden} median: rnn-dist {ours:.0f} tokens/s ({median('rnn-dist', 5):.1f}% of 2 x sgemm)"
    for peer in ("numpy", "torch"):
        theirs = median(peer)
        if theirs > 0:
            line += f", {peer} {theirs:.0f} ({ours / theirs:.2f}x)"
    print(line)
EOF
