#!/usr/bin/env bash
# Runs the whole test suite, as on CI: installs OpenMPI/OpenBLAS when missing, builds the
# release binaries that the multi-rank tests launch under mpirun, then runs `swift test`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash Launch/install-deps.sh

swift build -c release
RNN_DIST_BUILD_DIR="$(swift build -c release --show-bin-path)"
export RNN_DIST_BUILD_DIR
export OPENBLAS_NUM_THREADS=1
swift test "$@"
