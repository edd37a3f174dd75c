#!/usr/bin/env bash
# Fuzzes the readers of files users get from others (issue 16 item 5) with libFuzzer:
# builds the package's library modules with coverage instrumentation (-sanitize=fuzzer) into
# their own scratch path .build-fuzz (the normal .build is untouched), links each entry point
# of Fuzz/Targets against them, and runs every target for SECONDS (default 60) from its seed
# corpus Fuzz/corpus/<target>. A thrown error is a normal outcome; a trap, a bounds failure, a
# huge allocation or a slow input is a crash: its input is kept under Fuzz/crashes/ and the
# script exits 1. Usage: bash Fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors checkpoint tokenfile config)

scratch=.build-fuzz
# Checkpoints depends on every module the targets import (Safetensors, TextData, Config, Yams).
swift build -c release --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer --target Checkpoints >&2
build=$scratch/release/
objects=()
while IFS= read -r object; do objects+=("$object"); done < <(find "$build" -name '*.o' | sort)
# The C modules the Swift modules import: the module maps and headers SwiftPM passes them.
clang_flags=()
while IFS= read -r map; do clang_flags+=(-Xcc "-fmodule-map-file=$map"); done < <(
    find "$build" "$scratch/checkouts/Yams/Sources/CYaml" Sources/CBLAS -maxdepth 3 -name module.modulemap | grep -v '/Modules/' | grep -v '^.build-fuzz/release/[A-Za-z]*\.build/include/')
for include in Sources/*/include "$scratch"/checkouts/Yams/Sources/CYaml/include; do clang_flags+=(-Xcc "-I$include"); done

# Swift's own crash backtracer would catch a trap before libFuzzer can save the input.
export SWIFT_BACKTRACE=enable=no
mkdir -p "$scratch/bin" Fuzz/crashes
failed=()
for target in "${targets[@]}"; do
    binary=$scratch/bin/fuzz-$target
    swiftc -O -sanitize=fuzzer -parse-as-library -module-name "Fuzz_${target//-/_}" -I "$build/Modules" "${clang_flags[@]}" \
        "Fuzz/Targets/$target.swift" Fuzz/Support/*.swift "${objects[@]}" -o "$binary"
    # New inputs go to a scratch corpus; the committed seeds stay as they are.
    work=$scratch/corpus/$target
    mkdir -p "$work"
    log=$scratch/fuzz-$target.log
    status=0
    "$binary" "$work" "Fuzz/corpus/$target" -max_total_time="$seconds" -max_len=8192 -timeout=10 \
        -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
        -artifact_prefix="Fuzz/crashes/$target-" >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corpus=$(sed -n 's/.* corp: \([0-9/a-zA-Z]*\).*/\1/p' <<<"$last")
    if [ "$status" -eq 0 ]; then
        echo "fuzz $target: ${runs:-?} executions in ${seconds} s, ${rate:-?} exec/s, cov: ${cov:-?} ft: ${ft:-?}, corpus ${corpus:-?}"
    else
        echo "fuzz $target: CRASH (exit $status) after ${runs:-?} executions; input kept under Fuzz/crashes/; log $log:"
        grep -E 'ERROR|Fatal error|SUMMARY|Test unit written' "$log" | head -20 | sed 's/^/    /' || true
        failed+=("$target")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashed: ${failed[*]}"
    exit 1
fi
