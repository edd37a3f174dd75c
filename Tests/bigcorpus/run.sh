#!/usr/bin/env bash
# The large-corpus targets of issue 14, printed as a table (NOT part of the CI run: it
# writes and reads gigabytes). tinyshakespeare repeated REPEATS times (270: 300 MB; 2700:
# 3 GB) is generated into a temporary folder under /tmp and deleted at the end; then
#   prepare            wall time of `rnn-dist prepare` (target <= 60 s at 300 MB, linear)
#   train              wall time of `mpirun -np RANKS rnn-dist train` on the token file:
#                      launch, 3 steps at H=64, final bounded evaluation (target <= 10 s)
#   private / file     peak RssAnon (private, anonymous memory) and peak RssFile (mapped
#                      file pages: the shared page cache) of each rank, sampled every 10 ms
#                      from /proc/PID/status (target: private <= 100 MB, flat in the corpus),
#                      and VmHWM, the kernel's exact peak of all resident memory (private,
#                      file-backed and MPI's shared memory together): an upper bound that a
#                      10 ms sample cannot miss
# Usage: Tests/bigcorpus/run.sh [REPEATS] [RANKS] [TEXT]   (TEXT: also train on the text file)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
repeats="${1:-270}"
ranks="${2:-2}"
source="${RNN_DIST_SHAKESPEARE:-$root/../shared/data/tinyshakespeare.txt}"
[ -f "$source" ] || { echo "skipped: $source not found (set RNN_DIST_SHAKESPEARE)"; exit 0; }
bin="${RNN_DIST_BUILD_DIR:-$(cd "$root" && swift build -c release --show-bin-path)}/rnn-dist"
[ -x "$bin" ] || { echo "build first: swift build -c release"; exit 1; }

size_mb=$(( $(stat -c %s "$source") * repeats / 1048576 ))
need_mb=$(( size_mb * 2 + 200 ))   # the text and its token file (1 byte per token)
avail_mb=$(df -Pm /tmp | awk 'NR == 2 { print $4 }')
(( avail_mb > need_mb )) || { echo "not enough space in /tmp: ${avail_mb} MB free, ${need_mb} MB needed"; exit 1; }
work="$(mktemp -d /tmp/rnn-dist-bigcorpus.XXXXXX)"
trap 'rm -rf "$work"' EXIT

for _ in $(seq "$repeats"); do cat "$source"; done > "$work/corpus.txt"
echo "corpus: $(( $(stat -c %s "$work/corpus.txt") / 1048576 )) MB of text (${repeats} x tinyshakespeare), ${ranks} ranks, H=64"

seconds() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(seconds)" 'BEGIN { printf "%.1f", e - s }'; }
start=$(seconds)
TIMEFORMAT="%U s user + %S s system CPU"
cpu=$( { time "$bin" prepare "$work/corpus.txt" --output "$work/corpus.tokens" > "$work/prepare.log"; } 2>&1 )
sed 's/^/  /' "$work/prepare.log"
echo "prepare: $(since "$start") s wall ($cpu; the rest is disk I/O and the final fsync)"

# Runs `train` on $1 under mpirun, sampling each rank's memory; prints one line.
measure() {
    local data="$1" label="$2"
    local start; start=$(seconds)
    OPENBLAS_NUM_THREADS=1 mpirun --oversubscribe --allow-run-as-root -np "$ranks" "$bin" train --data "$data" \
        --steps 3 --hidden 64 --seq-len 64 --global-batch 32 --log-every 1 --quiet > "$work/train.log" 2>&1 &
    local launcher=$! peaks="$work/peaks"
    : > "$peaks"
    while kill -0 "$launcher" 2>/dev/null; do
        for pid in $(pgrep -P "$launcher" 2>/dev/null); do
            awk -v pid="$pid" '/^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 } /^VmHWM:/ { h = $2 } END { if (a != "") print pid, a, f, h }' \
                "/proc/$pid/status" 2>/dev/null >> "$peaks" || true
        done
        sleep 0.01
    done
    local status=0; wait "$launcher" || status=$?
    local elapsed; elapsed=$(since "$start")
    (( status == 0 )) || { echo "train failed (exit $status):"; cat "$work/train.log"; exit 1; }
    printf '%s: launch to end of 3 steps + final evaluation %s s\n  per rank, peak MB of private (RssAnon) / file-backed (RssFile) / all resident (VmHWM):' "$label" "$elapsed"
    awk '{ if ($2 > a[$1]) a[$1] = $2; if ($3 > f[$1]) f[$1] = $3; if ($4 > h[$1]) h[$1] = $4 }
         END { for (p in a) printf "  %.0f / %.0f / %.0f", a[p] / 1024, f[p] / 1024, h[p] / 1024; print "" }' "$peaks"
    grep -E "validation loss" "$work/train.log" | sed 's/^/  /' || true
}
measure synthetic:markov "baseline (built-in synthetic data, no file)"
measure "$work/corpus.tokens" "train (token file)"
if [ "${3:-}" = "TEXT" ]; then measure "$work/corpus.txt" "train (text file)"; fi
