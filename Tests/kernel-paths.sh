#!/usr/bin/env bash
# The numerics-sensitive tests once more under every other evaluation order this CPU can run,
# so that one machine catches what a CPU with other kernels would see: each recurrence kernel
# path besides the best (RNN_DIST_KERNEL), the BLAS's products, and on an AVX-512 CPU the
# AVX2-only machine's regime (RNN_DIST_KERNEL=avx2 with OpenBLAS's Haswell core).
# `bash Tests/run.sh` already ran them as a run chooses its kernel. Extra arguments replace the
# test filter.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Rank-count invariance, overlap bit-identity, exact and cross-rank-count resume, optimizer
# steps against hand-computed values, the Float64 references and gradient checks, export.
filter="${1:-DistributedTrainingTests|GatedTrainingTests|CheckpointResumeTests|TruncatedBPTTTests|OptimizerTests|GradientCheckTests|StackedGradientCheckTests|RecurrenceKernelTrainingTests|PrecisionTests|GatedCellKernelTests|ExportTests}"

has_flag() { grep -qwm1 "$1" /proc/cpuinfo 2>/dev/null; }
passes=("RNN_DIST_KERNEL=blas")
# Where the environment holds OpenBLAS to a core (OPENBLAS_CORETYPE), Tests/run.sh ran on it:
# once more on the core the library (or rnn-dist) picks for this CPU, whose products round
# differently. RNN_DIST_BLAS_AUTO is left as it is.
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then passes+=("-u OPENBLAS_CORETYPE" "-u OPENBLAS_CORETYPE RNN_DIST_KERNEL=blas"); fi
if has_flag avx512f; then
    passes+=("RNN_DIST_KERNEL=avx2" "RNN_DIST_KERNEL=avx2 OPENBLAS_CORETYPE=Haswell" "RNN_DIST_KERNEL=generic")
elif has_flag avx2 && has_flag fma; then
    passes+=("RNN_DIST_KERNEL=generic")
fi
total_passed=0
total_failed=0
status=0
for pass in "${passes[@]}"; do
    log="$(mktemp)"
    pass_status=0
    # shellcheck disable=SC2086  # each pass is a list of words for env (NAME=VALUE, -u NAME)
    env ${pass} bash Tests/run.sh --filter "$filter" >"$log" 2>&1 || pass_status=$?
    passed="$(grep -cE "^Test Case .* passed \(" "$log" || true)"
    failed="$(grep -cE "^Test Case .* failed \(" "$log" || true)"
    echo "== ${pass}: ${passed} passed, ${failed} failed (exit ${pass_status})"
    if [ "$pass_status" -ne 0 ]; then
        status=1
        grep -E "^Test Case .* failed \(|error: " "$log" || tail -n 40 "$log"
    fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    rm -f "$log"
done
echo "kernel paths: ${total_passed} passed, ${total_failed} failed"
exit "$status"
