#!/usr/bin/env bash
# Launch/local.sh — train on this workstation with N ranks, in one command.
#
# What it does: installs OpenMPI/OpenBLAS if they are missing (apt-get), builds rnn-dist in
# release mode if needed, then runs `mpirun -np N rnn-dist ARGS...` with the flags this
# machine needs: --allow-run-as-root as root, --oversubscribe when N exceeds the cores,
# and one BLAS thread per rank when the ranks fill the cores.
#
# What to edit: nothing; set RANKS (default 8) in the environment, pass rnn-dist's flags
# after the script name.
#
# Examples:
#   Launch/local.sh                                   # 8 ranks, built-in synthetic task
#   RANKS=2 Launch/local.sh --data input.txt --hidden 256
#   RANKS=4 Launch/local.sh --config configs/shakespeare.yaml --data input.txt
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ranks="${RANKS:-8}"

bash "$root/Launch/install-deps.sh"

binary="$root/.build/release/rnn-dist"
if [ ! -x "$binary" ] || [ -n "$(find "$root/Sources" "$root/Package.swift" -newer "$binary" -print -quit)" ]; then
    echo "local.sh: building rnn-dist (release)..." >&2
    (cd "$root" && swift build -c release --product rnn-dist >&2)
fi

cores="$(nproc)"
flags=(-np "$ranks" --bind-to none)
[ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
[ "$ranks" -gt "$cores" ] && flags+=(--oversubscribe)
threads=$(( cores / ranks )); [ "$threads" -lt 1 ] && threads=1
flags+=(-x "OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-$threads}")
# A live status line when this script's output is a terminal, plain lines in a log.
if [ -t 1 ]; then progress=live; else progress=plain; fi
flags+=(-x "RNN_DIST_PROGRESS=${RNN_DIST_PROGRESS:-$progress}")

exec mpirun "${flags[@]}" "$binary" "$@"
