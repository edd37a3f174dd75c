#!/usr/bin/env bash
# Launch/pbs.sh — train rnn-dist as a PBS Pro / Torque batch job, surviving preemption.
#
# What it does: runs `mpirun -np <lines of $PBS_NODEFILE> --hostfile $PBS_NODEFILE rnn-dist
# train ...` from the submit folder: one MPI rank per line of the node file (PBS lists each
# node once per MPI process), one BLAS thread per rank, a checkpoint folder per job. It builds
# nothing: the binary must already exist (`swift build -c release` once, on a login node).
# If the folder already holds a checkpoint (a rerun job keeps its id, or
# RNN_DIST_CHECKPOINT_DIR points at an earlier job's folder) the run resumes from the newest
# one. On SIGUSR1 or SIGTERM (`qsig -s USR1 JOBID`, `qdel`, preemption) the ranks finish their
# step, rank 0 writes a checkpoint and all exit 3; after a USR1 the script submits the
# continuation (qsub, RNN_DIST_RESUBMIT=1, the default). The script exits with rnn-dist's
# code: 0 done, 1 bad input, 2 fault, 3 stopped after a checkpoint.
# The launch, the stop-signal handling and the wait are in Launch/batch-common.sh, which
# it shares with slurm.sbatch.
#
# What to edit: the #PBS lines below (nodes and MPI processes per node, walltime, queue and
# account if your site needs them; the first resource line is Torque's, the commented one is
# PBS Pro's). These environment variables (qsub -v NAME=value,...) adjust the rest:
#   RNN_DIST_ARGS             flags for `rnn-dist train`, e.g. "--config configs/shakespeare.yaml
#                             --steps 20000" (no commas: qsub -v splits on them); arguments
#                             given to the script (Torque: qsub -F "...") are added after them
#   RNN_DIST_BIN              the binary (default $PBS_O_WORKDIR/.build/release/rnn-dist)
#   RNN_DIST_THREADS_PER_RANK BLAS threads per rank (default 1)
#   RNN_DIST_RUNS             parent of the per-job folders (default $PBS_O_WORKDIR/runs)
#   RNN_DIST_CHECKPOINT_DIR   checkpoint folder (default $RNN_DIST_RUNS/$PBS_JOBID/checkpoints)
#                             (set this, not --checkpoint-dir: the script resumes from here)
#   RNN_DIST_CHECKPOINT_EVERY steps between periodic checkpoints (default 200; empty: the
#                             config's value)
#   RNN_DIST_RESUBMIT         1 (default): after a stop by USR1, qsub the continuation; 0: no
#   RNN_DIST_SIGNAL_GRACE     seconds after the launch before a stop signal is passed on to
#                             the ranks, which must be up to catch it (default 10)
#   RNN_DIST_SCRIPT           this script, for the resubmission (default $PBS_O_WORKDIR/Launch/pbs.sh)
#   RNN_DIST_MAX_RESTARTS     set (e.g. 3): elastic relaunch through Launch/elastic.sh: a lost
#                             node is dropped and the run resumes on the others, up to this many
#                             times (PBS Pro: qsub -W tolerate_node_failures=all, or PBS ends the
#                             job when a node fails; docs/cluster.md)
#   RNN_DIST_MIN_HOSTS        with RNN_DIST_MAX_RESTARTS: fewest nodes to go on with (default 1)
#
# How to submit (from the repository's root):
#   qsub Launch/pbs.sh
#   qsub -l nodes=4:ppn=32,walltime=12:00:00 \
#        -v RNN_DIST_ARGS="--config configs/shakespeare.yaml --data /scratch/me/input.txt" Launch/pbs.sh
#   qsig -s USR1 JOBID      # checkpoint now, stop, and continue in a new job
# Output: PBS's rnn-dist.oJOBID in the submit folder; checkpoints and metrics in runs/JOBID/.
#
#PBS -N rnn-dist
#PBS -l nodes=1:ppn=2
## PBS Pro: #PBS -l select=1:ncpus=2:mpiprocs=2
#PBS -l walltime=01:00:00
#PBS -j oe
#PBS -r y
set -uo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
say() { echo "pbs.sh: $*" >&2; }

if [ -z "${PBS_JOBID:-}" ] || [ -z "${PBS_NODEFILE:-}" ]; then
    say "not inside a PBS job (no PBS_JOBID/PBS_NODEFILE); submit it with: qsub Launch/pbs.sh"
    exit 1
fi
work_dir="${PBS_O_WORKDIR:-$PWD}"
cd "$work_dir" || { say "cannot enter $work_dir"; exit 1; }
binary="${RNN_DIST_BIN:-$work_dir/.build/release/rnn-dist}"
if [ ! -x "$binary" ]; then
    say "no rnn-dist binary at $binary; this script builds nothing:"
    say "build it first (swift build -c release in $work_dir) or set RNN_DIST_BIN"
    exit 1
fi

# The part shared with slurm.sbatch. PBS runs a copy of this script from its spool folder, so
# look beside it (a run by hand), then in the submit folder, then in the binary's checkout.
common=""
for dir in "$script_dir" "$work_dir/Launch" "${binary%/.build/*}/Launch"; do
    [ -f "$dir/batch-common.sh" ] && common="$dir/batch-common.sh" && break
done
if [ -z "$common" ]; then
    say "cannot find Launch/batch-common.sh; submit from the repository's root"
    exit 1
fi
# shellcheck source=SCRIPTDIR/batch-common.sh
. "$common"

if [ ! -s "$PBS_NODEFILE" ]; then
    say "the node file $PBS_NODEFILE is missing or empty"
    exit 1
fi
ranks="$(grep -c . "$PBS_NODEFILE")"

job="${PBS_JOBID%%.*}"
run_dir="${RNN_DIST_RUNS:-$work_dir/runs}/$job"
checkpoints="${RNN_DIST_CHECKPOINT_DIR:-$run_dir/checkpoints}"
if ! mkdir -p "$run_dir" "$checkpoints"; then
    say "cannot create $run_dir or $checkpoints"
    exit 1
fi

export OPENBLAS_NUM_THREADS="${RNN_DIST_THREADS_PER_RANK:-1}"

# `rnn-dist train` flags: ours first, so that the user's flags (after them) win.
read -r -a user_flags <<< "${RNN_DIST_ARGS:-}"
user_flags+=("$@")
[ "${user_flags[0]:-}" = train ] && user_flags=("${user_flags[@]:1}")
stamp="$(date +%Y%m%d-%H%M%S)"
flags=(train --checkpoint-dir "$checkpoints" --metrics "$run_dir/metrics-$stamp.jsonl")
every="${RNN_DIST_CHECKPOINT_EVERY-200}"
[ -n "$every" ] && flags+=(--checkpoint-every "$every")
resume=""
has_checkpoint "$checkpoints" && resume="$checkpoints" && flags+=(--resume "$resume")
flags+=("${user_flags[@]}")

# OpenMPI reads PBS's allocation only when built with Torque (tm) support; the node file
# works everywhere.
launcher=(mpirun -np "$ranks" --hostfile "$PBS_NODEFILE"
          --map-by "slot:PE=$OPENBLAS_NUM_THREADS" --bind-to core -x OPENBLAS_NUM_THREADS)
[ "$(id -u)" -eq 0 ] && launcher+=(--allow-run-as-root)
if [ -n "${RNN_DIST_MAX_RESTARTS:-}" ]; then
    # Nodes are probed over ssh, as mpirun reaches them without Torque support.
    elastic_launcher "$run_dir" "ssh -o BatchMode=yes -o ConnectTimeout=10" --hostfile "$PBS_NODEFILE" \
        --mpirun-arg --map-by --mpirun-arg "slot:PE=$OPENBLAS_NUM_THREADS" --mpirun-arg --bind-to --mpirun-arg core
fi

say "job $job on $(sort -u "$PBS_NODEFILE" | paste -sd, -), $ranks ranks, $OPENBLAS_NUM_THREADS BLAS thread(s) per rank"
say "checkpoints: $checkpoints; metrics: $run_dir/metrics-$stamp.jsonl"
if [ -n "$resume" ]; then say "resuming from the newest checkpoint in $checkpoints"; fi

# Stop requests (USR1, TERM) to this shell become a checkpoint and exit 3: see batch-common.sh.
launch_and_wait "$run_dir" "$checkpoints" "${launcher[@]}" "$binary" "${flags[@]}"
status=$?

if [ "$status" -eq 3 ]; then
    script="${RNN_DIST_SCRIPT:-$work_dir/Launch/pbs.sh}"
    args="${user_flags[*]}"
    resubmit=(qsub -v "RNN_DIST_CHECKPOINT_DIR=$checkpoints,RNN_DIST_ARGS=$args" "$script")
    if [ "$stop_signal" != TERM ] && [ "${RNN_DIST_RESUBMIT:-1}" = 1 ] && command -v qsub >/dev/null 2>&1 &&
       next="$("${resubmit[@]}")"; then
        say "stopped after a checkpoint; submitted the continuation as job $next"
    else
        say "stopped after a checkpoint; to continue: ${resubmit[*]}"
    fi
fi
exit "$status"
