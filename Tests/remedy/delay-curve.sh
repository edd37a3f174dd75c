#!/usr/bin/env bash
# Tests/remedy/delay-curve.sh — the remedy over the delay (docs/remedy.md, issue 24): trains the
# tanh RNN, the LSTM and the GRU on synthetic:recall at several delays and seeds, then plots each
# run's final training loss ÷ the task's entropy floor against the delay, one line per cell
# (median over the seeds, with a bar from the best to the worst seed), as one SVG.
#
# Each run is configs/recall-remedy.yaml with only these changed: the delay D; the truncation
# length k = max(100, 2·D), so that most repeats have their original inside the chunk (the
# gradient then reaches it exactly, as at D = 40 with k = 100) and global batch 32 streams;
# chrono-delay (T_max) = 2·D, the range of dependencies the init is told about, as the config's
# 80 for D = 40; and the steps: the config's 24,000 from D = 40 up, SHORT_STEPS (12,000) below,
# where the gated cells are at the floor long before (the tanh RNN too if it can remember at all)
# and the runs only cost time. Runs go one after another, each on
# RANKS ranks; a run whose log already ends with its final loss is not run again, so the script
# continues where it stopped, and runs of configs/recall-remedy.yaml itself can be copied in
# (D40-<cell>-s<seed>.jsonl and .log).
#
# Environment: DELAYS ("10 20 40 80"), CELLS ("rnn lstm gru"), SEEDS ("1234 99"), STEPS
# (24000), SHORT_STEPS (12000), RANKS (2), OUT (runs/delay-curve), SVG (docs/remedy-delay.svg),
# NICE (10).
# Run from the repository root after `swift build -c release`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
delays="${DELAYS:-10 20 40 80}"
cells="${CELLS:-rnn lstm gru}"
seeds="${SEEDS:-1234 99}"
long_steps="${STEPS:-24000}"
short_steps="${SHORT_STEPS:-12000}"
ranks="${RANKS:-2}"
out="${OUT:-runs/delay-curve}"
svg="${SVG:-docs/remedy-delay.svg}"
binary="$root/.build/release/rnn-dist"
[ -x "$binary" ] || { echo "delay-curve.sh: build first (swift build -c release)" >&2; exit 1; }
mkdir -p "$out"

flags=(-np "$ranks" --bind-to none -x OPENBLAS_NUM_THREADS=1)
[ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
flags+=(--oversubscribe)  # other work may hold the cores: never refuse to start

files=(); plot=()
for delay in $delays; do
    k=$(( 2 * delay > 100 ? 2 * delay : 100 ))
    steps=$(( delay < 40 ? short_steps : long_steps ))
    for cell in $cells; do
        for seed in $seeds; do
            name="$out/D$delay-$cell-s$seed"
            if ! grep -q 'final loss' "$name.log" 2>/dev/null; then
                start=$(date +%s)
                nice -n "${NICE:-10}" mpirun "${flags[@]}" "$binary" train --config configs/recall-remedy.yaml \
                    --data "synthetic:recall:delay=$delay,tokens=4000000" --seq-len "$k" --bptt-steps "$k" \
                    --chrono-delay $(( 2 * delay )) --steps "$steps" --cell "$cell" --seed "$seed" \
                    --eval-every 0 --metrics "$name.jsonl" < /dev/null > "$name.log" 2>&1
                echo "D=$delay $cell seed $seed: $(( $(date +%s) - start )) s, $(grep -o 'final loss.*' "$name.log")"
            fi
            floor=$(grep -o 'entropy floor [0-9.]*' "$name.log" | head -1 | awk '{print $3}')
            files+=("$name.jsonl")
            case "$cell" in rnn) label="tanh RNN" ;; lstm) label=LSTM ;; gru) label=GRU ;; esac
            plot+=(--label "$label" --x "$delay" --floor "$floor")
        done
    done
done
"$binary" plot --final "${files[@]}" "${plot[@]}" --x-label "delay (steps)" --log-x --mark 1.15 --mark 2 -o "$svg"
