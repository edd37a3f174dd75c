#!/usr/bin/env bash
# Runs the whole test suite, as on CI: installs OpenMPI/OpenBLAS when missing, builds the
# release binaries that the multi-rank tests launch under mpirun, then runs `swift test`.
# Extra arguments go to `swift test` (e.g. --filter DistributedTrainingTests).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash Launch/install-deps.sh

swift build -c release
RNN_DIST_BUILD_DIR="$(swift build -c release --show-bin-path)"
export RNN_DIST_BUILD_DIR
export OPENBLAS_NUM_THREADS=1

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
swift test --disable-swift-testing "$@" 2>&1 | tee "$log" || status=$?

# One plain closing line, counted from XCTest's per-test lines.
passed="$(grep -cE "^Test Case .* passed \(" "$log" || true)"
failed="$(grep -cE "^Test Case .* failed \(" "$log" || true)"
skipped="$(grep -cE "^Test Case .* skipped \(" "$log" || true)"
echo "tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
exit "$status"
