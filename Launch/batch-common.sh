# shellcheck shell=bash
# Launch/batch-common.sh — the part of Launch/slurm.sbatch and Launch/pbs.sh that does not
# depend on the batch system: find an earlier checkpoint, start the launcher (srun or mpirun)
# in the background, turn a stop request to the batch shell into USR1 for the ranks, wait
# until the launcher has really ended, and report how the run ended.
#
# Sourced by those two scripts, never run on its own. The caller defines say() (its messages'
# prefix) before sourcing it. Batch systems run a copy of the job script from a spool folder,
# so the scripts look for this file beside themselves, then in the submit folder's Launch/,
# then in the checkout that the binary was built in.
#
#   has_checkpoint DIR               true when DIR holds a checkpoint-*.safetensors
#   launch_and_wait RUN_DIR CHECKPOINT_DIR COMMAND...
#                                    runs COMMAND (the launcher, rnn-dist and its flags) and
#                                    returns its exit code: 0 done, 1 bad input, 2 fault,
#                                    3 stopped after a checkpoint; sets stop_signal to the
#                                    signal that asked the job to stop (USR1, TERM, or empty)
#   RNN_DIST_SIGNAL_GRACE            seconds after the launch before a stop request is passed
#                                    on to the ranks (default 10)
#   elastic_launcher RUN_DIR PROBE HOST-OPTION...
#                                    when RNN_DIST_MAX_RESTARTS is set, sets `launcher` to
#                                    Launch/elastic.sh on those hosts (relaunch on the hosts
#                                    that remain after a lost one; docs/cluster.md), its log
#                                    RUN_DIR/elastic.log, hosts probed with PROBE HOST true

stop_signal=""
stop_marker=""

has_checkpoint() {
    local file
    for file in "$1"/checkpoint-*.safetensors; do
        [ -e "$file" ] && return 0
    done
    return 1
}

# A stop request reaches the batch shell as USR1 (Slurm's --signal=B:USR1, scancel -b/--full,
# qsig) or TERM (scancel, qdel, the time limit, preemption). It is passed on to the ranks as
# USR1, which srun and mpirun both forward; the ranks then checkpoint and exit 3. (Ranks that
# get the signal straight from the batch system, as with `scancel --signal=USR1 JOBID`, do
# the same.)
# shellcheck disable=SC2317  # called from the traps in launch_and_wait
on_stop_request() {
    stop_signal="$1"
    # Back-dated 2 s: the ranks may get the same signal straight away and checkpoint
    # before this shell's trap runs.
    touch -d "@$(( $(date +%s) - 2 ))" "$stop_marker"
    say "got SIG$1: asking the ranks to checkpoint and stop"
}

# The elastic supervisor instead of a plain launch: it starts mpirun itself, so `launcher` ends
# with its --binary option and the binary that the caller appends next.
# shellcheck disable=SC2034  # launcher is the caller's
elastic_launcher() {
    local run_dir="$1" probe="$2" supervisor
    shift 2
    supervisor="$(dirname "${BASH_SOURCE[0]}")/elastic.sh"
    launcher=(bash "$supervisor" "$@" --max-restarts "$RNN_DIST_MAX_RESTARTS"
              --min-hosts "${RNN_DIST_MIN_HOSTS:-1}" --log "$run_dir/elastic.log" --probe "$probe"
              --mpirun-arg -x --mpirun-arg OPENBLAS_NUM_THREADS --binary)
}

launch_and_wait() {
    local run_dir="$1" checkpoints="$2"
    shift 2
    local grace="${RNN_DIST_SIGNAL_GRACE:-10}" launched=$SECONDS launcher_pid forwarded="" status
    stop_marker="$run_dir/.stop-requested"
    rm -f "$stop_marker"
    trap 'on_stop_request USR1' USR1
    trap 'on_stop_request TERM' TERM

    "$@" &
    launcher_pid=$!
    # `wait` returns early when a trap runs; forward the stop request, then wait again until
    # the launcher has really ended. Each rank installs its stop handler first thing, before
    # MPI starts, but a USR1 that reaches a rank before its process has got that far (srun or
    # mpirun may still be starting it) kills it; so the first RNN_DIST_SIGNAL_GRACE seconds
    # after the launch the request is held back.
    while kill -0 "$launcher_pid" 2>/dev/null; do
        if [ -n "$stop_signal" ] && [ -z "$forwarded" ]; then
            while [ $((SECONDS - launched)) -lt "$grace" ] && kill -0 "$launcher_pid" 2>/dev/null; do
                sleep 1
            done
            kill -USR1 "$launcher_pid" 2>/dev/null
            forwarded=1
        fi
        wait "$launcher_pid"
    done
    wait "$launcher_pid" 2>/dev/null
    status=$?

    # mpirun exits 1 when its ranks were stopped by TERM; a checkpoint written after the stop
    # request says they stopped cleanly.
    if [ -n "$stop_signal" ] && [ "$status" -ne 0 ] && [ "$status" -ne 3 ] &&
       [ -n "$(find "$checkpoints" -maxdepth 1 -name 'checkpoint-*.safetensors' -newer "$stop_marker" -print -quit 2>/dev/null)" ]; then
        status=3
    fi
    rm -f "$stop_marker"
    say "rnn-dist exited with $status"
    return "$status"
}
