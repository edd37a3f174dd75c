#!/usr/bin/env bash
# Installs what rnn-dist needs beyond Swift, only when it is missing: OpenMPI (library,
# headers, mpirun), OpenBLAS and pkg-config, from Debian/Ubuntu packages.
# Sourced or run by Launch/local.sh, Tests/run.sh and .ci/run; safe to run again.
set -euo pipefail

missing=()
command -v mpirun >/dev/null 2>&1 || missing+=(openmpi-bin)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if command -v pkg-config >/dev/null 2>&1; then
    pkg-config --exists ompi-c 2>/dev/null || missing+=(libopenmpi-dev)
    pkg-config --exists openblas 2>/dev/null || missing+=(libopenblas-dev)
else
    missing+=(libopenmpi-dev libopenblas-dev)
fi

if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}" >&2
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
            echo "install-deps: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1
        fi
    else
        sudo=()
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq libopenmpi-dev openmpi-bin libopenblas-dev pkg-config >/dev/null
fi
