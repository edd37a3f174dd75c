#!/usr/bin/env bash
# Tests/slurm/run.sh — proves Launch/slurm.sbatch on a real single-node Slurm cluster and
# Launch/pbs.sh with a hand-made PBS environment, both running rnn-dist for real (2 ranks).
#
# What it does: installs slurm-wlm, munge and shellcheck when missing (apt-get; needs root),
# builds the release binary if missing, writes a minimal slurm.conf (this host, all its CPUs,
# proctrack/linuxproc, task/none, select/cons_tres) and a munge key under a temporary folder,
# starts munged, slurmctld and slurmd there (their own ports and socket, nothing system-wide),
# then:
#   1. submits Launch/slurm.sbatch as is (srun --mpi=pmix): the job completes, trains, writes
#      a checkpoint and metrics, and ends with the same parameters as a plain mpirun run
#      (Slurm runs a spool copy of the script from a submit folder outside the repository, so
#      the script finds Launch/batch-common.sh through the binary's checkout);
#   2. interrupts a run with `scancel --signal=USR1 JOB` (the signal reaches the srun step):
#      the ranks checkpoint and exit 3, the script requeues the job, the job resumes from the
#      checkpoint and ends bit-identical to the uninterrupted run;
#   3. the same with RNN_DIST_LAUNCHER=mpirun and `scancel --batch --signal=USR1 JOB`
#      (what `--signal=B:USR1@120` does: only the batch shell gets it and must forward it);
#   4. `scancel --full --signal=USR1` with RNN_DIST_REQUEUE=0, then a resubmission with
#      RNN_DIST_CHECKPOINT_DIR pointing at the first job's checkpoints;
#   5. a plain `scancel`: the ranks checkpoint on SIGTERM, the job is not requeued;
#   6. exit codes: a missing binary and a bad flag end the job with exit code 1;
#   7. elastic mode (RNN_DIST_MAX_RESTARTS, Launch/elastic.sh; also for pbs.sh): a run without
#      a fault completes with the plain run's parameters and the supervisor's log;
#   7. (run first) Launch/pbs.sh with PBS_* variables set by hand and a node file naming localhost twice:
#      a full run, a stop by USR1 (continuation submitted through a stand-in qsub), the
#      continuation, and a stop by TERM to the whole process group (as qdel does).
# Every wait is bounded; the daemons it started are stopped on exit. The last line is
# `slurm: N passed, M failed`; the exit status is non-zero when a check failed. When
# slurmctld cannot start here, it prints `slurm: skipped: <reason>` (after the PBS checks)
# and exits 0.
#
# Run from anywhere, as root:  bash Tests/slurm/run.sh     (about 2.5 minutes, plus the apt-get install)
# RNN_DIST_SLURM_KEEP=1 keeps the temporary folder (configs, daemon logs, job outputs).
# shellcheck disable=SC2317  # helpers are called through check, wait_for and trap
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=Tests/checks.sh
source "$root/Tests/checks.sh"
finish() {
    echo "slurm: $passed passed, $failed failed${1:+; $1}"
    [ "$failed" -eq 0 ]
    exit $?
}

if [ "$(id -u)" -ne 0 ]; then
    echo "slurm: skipped: needs root (to start munged, slurmctld and slurmd)"
    exit 0
fi

# --- what the test needs -------------------------------------------------------------
bash "$root/Launch/install-deps.sh" || exit 1
missing=()
command -v slurmctld >/dev/null 2>&1 || missing+=(slurm-wlm)
command -v munged >/dev/null 2>&1 || missing+=(munge)
if [ ${#missing[@]} -gt 0 ]; then
    echo "slurm: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null || exit 1
fi
binary="$root/.build/release/rnn-dist"
if [ ! -x "$binary" ]; then
    (cd "$root" && swift build -c release --product rnn-dist) || exit 1
fi
export RNN_DIST_BIN="$binary"

tmp="$(mktemp -d /tmp/rnn-dist-slurm.XXXXXX)"
chmod 755 "$tmp"
started_slurm=""
any_alive() { local pid; for pid in "$@"; do kill -0 "$pid" 2>/dev/null && return 0; done; return 1; }
cleanup() {
    local pids=() daemon i
    [ -n "$started_slurm" ] && scancel --quiet --user=root >/dev/null 2>&1
    for daemon in slurmd slurmctld munged; do
        [ -s "$tmp/$daemon.pid" ] && pids+=("$(cat "$tmp/$daemon.pid")")
    done
    if [ ${#pids[@]} -gt 0 ]; then
        kill "${pids[@]}" 2>/dev/null
        for ((i = 0; i < 50; i++)); do any_alive "${pids[@]}" || break; sleep 0.2; done
        any_alive "${pids[@]}" && kill -KILL "${pids[@]}" 2>/dev/null
    fi
    if [ "$failed" -gt 0 ] || [ -n "${RNN_DIST_SLURM_KEEP:-}" ]; then
        echo "slurm: logs and outputs kept in $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

# The uninterrupted reference run: every interrupted and resumed run below must end with
# exactly these parameters (same rank count, same steps: bit-identical).
steps=300
ref_out="$tmp/reference.out"
mpirun --allow-run-as-root --oversubscribe -np 2 -x OPENBLAS_NUM_THREADS=1 "$binary" train \
    --steps "$steps" --log-every 100 >"$ref_out" 2>&1
reference="$(sed -n 's/.*parameters identical on all 2 ranks (checksum \([0-9a-f]*\)).*/\1/p' "$ref_out")"
check "reference run (mpirun, 2 ranks, $steps steps): checksum ${reference:-missing}" test -n "$reference"
same_result() { has "$1" "parameters identical on all 2 ranks \(checksum $reference\)"; }

# --- PBS: Launch/pbs.sh with a hand-made job environment --------------------------------
pbs="$tmp/pbs"
mkdir -p "$pbs/bin"
printf 'localhost\nlocalhost\n' >"$pbs/nodefile"
# A stand-in qsub that records what it was asked to submit.
cat >"$pbs/bin/qsub" <<EOF
#!/usr/bin/env bash
printf '%s\n' "\$@" >"$pbs/qsub.args"
echo 4243.fakeserver
EOF
chmod +x "$pbs/bin/qsub"
pbs_run() { # pbs_run JOBID OUTPUT [env...] — runs pbs.sh in its own process group, in the background
    local id="$1" out="$2"; shift 2
    (cd "$pbs" && env PATH="$pbs/bin:$PATH" PBS_JOBID="$id.fakeserver" PBS_NODEFILE="$pbs/nodefile" \
        PBS_O_WORKDIR="$pbs" "$@" setsid bash "$root/Launch/pbs.sh" >"$out" 2>&1) &
}
wait_for() { # wait_for SECONDS COMMAND... — polls every 0.2 s
    local limit=$(( $1 * 5 )); shift
    local i
    for ((i = 0; i < limit; i++)); do "$@" && return 0; sleep 0.2; done
    return 1
}
job_pid() { pgrep -f "^bash $root/Launch/pbs.sh" | head -1; }

pbs_run 4242 "$pbs/full.out" RNN_DIST_ARGS="--steps $steps --log-every 100"
wait $!; status=$?
check "pbs.sh: full run exits 0 (got $status)" test "$status" -eq 0
check "pbs.sh: 2 ranks from the node file, same parameters as the reference" same_result "$pbs/full.out"
check "pbs.sh: checkpoint in runs/4242/checkpoints" test -f "$pbs/runs/4242/checkpoints/checkpoint-00000300.safetensors"

pbs_run 4243 "$pbs/stop.out" RNN_DIST_ARGS="--steps $steps --log-every 50 --debug-step-delay 0.06"
runner=$!
if wait_for 30 has "$pbs/stop.out" "step 100/"; then
    kill -USR1 "$(job_pid)" 2>/dev/null   # the job shell only, as qsig does
fi
wait "$runner"; status=$?
check "pbs.sh: USR1 to the job shell: exit 3 (got $status)" test "$status" -eq 3
check "pbs.sh: ranks stopped by SIGUSR1 after a checkpoint" has "$pbs/stop.out" "stopped by SIGUSR1 after step [0-9]+ of $steps; checkpoint written"
check "pbs.sh: continuation submitted with the checkpoint folder" has "$pbs/qsub.args" "RNN_DIST_CHECKPOINT_DIR=$pbs/runs/4243/checkpoints,RNN_DIST_ARGS=--steps $steps"
pbs_run 4244 "$pbs/resume.out" RNN_DIST_CHECKPOINT_DIR="$pbs/runs/4243/checkpoints" RNN_DIST_ARGS="--steps $steps --log-every 100"
wait $!; status=$?
check "pbs.sh: continuation exits 0 (got $status)" test "$status" -eq 0
check "pbs.sh: continuation resumed from the checkpoint" \
    has "$pbs/resume.out" "resumed from $pbs/runs/4243/checkpoints/checkpoint-[0-9]+.safetensors at step"
check "pbs.sh: resumed run ends bit-identical to the reference" same_result "$pbs/resume.out"

pbs_run 4245 "$pbs/term.out" RNN_DIST_ARGS="--steps $steps --log-every 50 --debug-step-delay 0.06"
runner=$!
if wait_for 30 has "$pbs/term.out" "step 100/"; then
    kill -TERM -- "-$(job_pid)" 2>/dev/null   # the whole job, as qdel does
fi
wait "$runner"; status=$?
check "pbs.sh: TERM to the job's process group: exit 3 (got $status)" test "$status" -eq 3
check "pbs.sh: after TERM, no resubmission, a resubmit command instead" has "$pbs/term.out" "to continue: qsub -v RNN_DIST_CHECKPOINT_DIR=$pbs/runs/4245/checkpoints"

# Elastic mode (Launch/elastic.sh under the script): a run without a fault is the plain run.
pbs_run 4246 "$pbs/elastic.out" RNN_DIST_MAX_RESTARTS=1 RNN_DIST_ARGS="--steps $steps --log-every 100"
wait $!; status=$?
check "pbs.sh, RNN_DIST_MAX_RESTARTS=1: exits 0 (got $status)" test "$status" -eq 0
check "pbs.sh, elastic: same parameters as the reference" same_result "$pbs/elastic.out"
elastic_logged() { has "$1" "start: $2 \\(2 ranks\\)" && has "$1" "done: rnn-dist finished"; }
check "pbs.sh, elastic: its log names the node file's host with 2 slots and says done" \
    elastic_logged "$pbs/runs/4246/elastic.log" localhost:2

out="$(env -u PBS_JOBID bash "$root/Launch/pbs.sh" 2>&1)"; status=$?
check "pbs.sh outside a job: exit 1 with a message" test "$status" -eq 1 -a -n "$out"

# --- Slurm: a real single-node cluster ----------------------------------------------------
host="$(hostname)"
cpus="$(nproc)"
if [ "$cpus" -lt 2 ]; then finish "slurm: skipped: needs 2 CPUs, this machine has $cpus"; fi
port=$(( 20000 + RANDOM % 20000 ))
mkdir -p "$tmp/state" "$tmp/spool" "$tmp/log" "$tmp/submit"
export SLURM_CONF="$tmp/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=rnndisttest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge.socket,cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
JobRequeue=1
ReturnToService=2
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
dd if=/dev/urandom of="$tmp/munge.key" bs=1024 count=1 status=none
chmod 600 "$tmp/munge.key"
if ! munged --force --socket="$tmp/munge.socket" --key-file="$tmp/munge.key" --pid-file="$tmp/munged.pid" \
        --seed-file="$tmp/munged.seed" --log-file="$tmp/log/munged.log" >"$tmp/log/munged.out" 2>&1; then
    finish "skipped: munged cannot start: $(tr '\n' ' ' <"$tmp/log/munged.out")"
fi
started_slurm=1
slurmctld -c >"$tmp/log/slurmctld.out" 2>&1
if ! wait_for 20 scontrol ping >/dev/null 2>&1; then
    reason="$(cat "$tmp/log/slurmctld.out" 2>/dev/null; grep -iE "error|fatal" "$tmp/log/slurmctld.log" 2>/dev/null | tail -3)"
    finish "skipped: slurmctld cannot start: $(echo "$reason" | tr '\n' ' ')"
fi
slurmd >"$tmp/log/slurmd.out" 2>&1
node_idle() { [ "$(sinfo -h -n "$host" -o %T 2>/dev/null)" = idle ]; }
if ! wait_for 30 node_idle; then
    fail "slurmd: node $host not idle after 30 s: $(sinfo -h -o '%T %E' 2>&1) $(tail -3 "$tmp/log/slurmd.log")"
    finish
fi
pass "slurm cluster up: slurmctld + slurmd on $host, $cpus CPUs ($(sinfo --version))"

sub="$tmp/submit"
submit() { (cd "$sub" && sbatch --parsable "$@" 2>&1); }
job_state() { scontrol -o show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
job_field() { scontrol -o show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p"; }
finished() { case "$(job_state "$1")" in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY) return 0;; *) return 1;; esac; }
requeued() { [ "$(job_state "$1")" = PENDING ] && [ "$(job_field "$1" Restarts)" -ge 1 ]; }

# 1. The script as is: srun --mpi=pmix, 2 tasks on this node.
job="$(submit "$root/Launch/slurm.sbatch" --steps "$steps" --log-every 100)"
out="$sub/rnn-dist-$job.out"
wait_for 120 finished "$job"
check "slurm 1: sbatch Launch/slurm.sbatch (job $job) COMPLETED, exit 0:0 (got $(job_state "$job") $(job_field "$job" ExitCode))" \
    test "$(job_state "$job"):$(job_field "$job" ExitCode)" = COMPLETED:0:0
check "slurm 1: 2 ranks over srun, training progress in rnn-dist-$job.out" has "$out" "step $steps/$steps "
check "slurm 1: same parameters as the mpirun reference" same_result "$out"
check "slurm 1: checkpoint in runs/$job/checkpoints" test -f "$sub/runs/$job/checkpoints/checkpoint-00000300.safetensors"
check "slurm 1: metrics in runs/$job/metrics-0.jsonl" test -s "$sub/runs/$job/metrics-0.jsonl"

# Interrupt JOB once it has logged step 100 with `scancel ARGS`, expect a requeue, skip
# Slurm's delay before a requeued job may start again, and check the resumed run.
preempt_and_resume() { # preempt_and_resume NAME JOB SCANCEL-FLAGS...
    local name="$1" job="$2"; shift 2
    local out="$sub/rnn-dist-$job.out"
    wait_for 60 has "$out" "step 100/" && scancel "$@" "$job"
    wait_for 30 has "$out" "stopped by SIGUSR1"
    check "$name: stopped by SIGUSR1 after a checkpoint" has "$out" "stopped by SIGUSR1 after step [0-9]+ of $steps; checkpoint written"
    wait_for 60 requeued "$job"
    check "$name: the script requeued job $job (state $(job_state "$job"), restarts $(job_field "$job" Restarts))" \
        has "$out" "requeueing job $job"
    # Slurm lets a requeued job start again only after cred_expire + 1 s (default 121 s;
    # 10 s in this cluster's slurm.conf).
    wait_for 120 finished "$job"
    check "$name: requeued job resumed from its checkpoint" \
        has "$out" "resumed from $sub/runs/$job/checkpoints/checkpoint-[0-9]+.safetensors at step"
    check "$name: job COMPLETED, exit 0:0 (got $(job_state "$job") $(job_field "$job" ExitCode))" \
        test "$(job_state "$job"):$(job_field "$job" ExitCode)" = COMPLETED:0:0
    check "$name: resumed run ends bit-identical to the uninterrupted one" same_result "$out"
}
slow=(--steps "$steps" --log-every 50 --debug-step-delay 0.06)

# 2. scancel --signal=USR1 JOB: the signal reaches the job steps (srun's ranks), not the shell.
job="$(submit "$root/Launch/slurm.sbatch" "${slow[@]}")"
preempt_and_resume "slurm 2 (srun, scancel --signal=USR1)" "$job" --signal=USR1

# 3. mpirun inside the allocation, signal to the batch shell only (as --signal=B:USR1@120).
job="$(RNN_DIST_LAUNCHER=mpirun submit "$root/Launch/slurm.sbatch" "${slow[@]}")"
preempt_and_resume "slurm 3 (mpirun, scancel --batch --signal=USR1)" "$job" --batch --signal=USR1
check "slurm 3: the batch shell forwarded the signal" has "$sub/rnn-dist-$job.out" "got SIGUSR1: asking the ranks"

# 4. --full (shell and steps both get it), no requeue, then a resubmission that continues.
job="$(RNN_DIST_REQUEUE=0 submit "$root/Launch/slurm.sbatch" "${slow[@]}")"
out="$sub/rnn-dist-$job.out"
wait_for 60 has "$out" "step 100/" && scancel --full --signal=USR1 "$job"
wait_for 60 finished "$job"
check "slurm 4: scancel --full --signal=USR1: job ends with exit 3 (got $(job_state "$job") $(job_field "$job" ExitCode))" \
    test "$(job_field "$job" ExitCode)" = 3:0
check "slurm 4: the output says how to continue" has "$out" "to continue: RNN_DIST_CHECKPOINT_DIR=$sub/runs/$job/checkpoints sbatch"
job2="$(RNN_DIST_CHECKPOINT_DIR="$sub/runs/$job/checkpoints" submit "$root/Launch/slurm.sbatch" --steps "$steps" --log-every 100)"
wait_for 120 finished "$job2"
check "slurm 4: resubmitted job $job2 resumed from job $job's checkpoint" \
    has "$sub/rnn-dist-$job2.out" "resumed from $sub/runs/$job/checkpoints/checkpoint-[0-9]+.safetensors at step"
check "slurm 4: and ends bit-identical to the uninterrupted run" same_result "$sub/rnn-dist-$job2.out"

# 5. A plain scancel (SIGTERM to the shell and the ranks): a checkpoint, and no requeue.
# Which signal the ranks name depends on timing: Slurm's TERM to the step, or the USR1 the
# batch shell forwards on its own TERM once the launch is older than RNN_DIST_SIGNAL_GRACE.
job="$(submit "$root/Launch/slurm.sbatch" "${slow[@]}")"
out="$sub/rnn-dist-$job.out"
wait_for 60 has "$out" "step 100/" && scancel "$job"
wait_for 60 finished "$job"
wait_for 30 has "$out" "stopped by SIG(TERM|USR1)"
check "slurm 5: scancel: the ranks checkpointed (job $(job_state "$job"))" \
    has "$out" "stopped by SIG(TERM|USR1) after step [0-9]+ of $steps; checkpoint written"
check "slurm 5: scancel: the script saw SIGTERM and says how to continue" \
    has "$out" "stopped by SIGTERM after a checkpoint \\(cancelled or out of time\\); to continue: RNN_DIST_CHECKPOINT_DIR="
check "slurm 5: scancel: not requeued (restarts $(job_field "$job" Restarts))" test "$(job_field "$job" Restarts)" = 0

# 6. Exit codes reach Slurm.
job="$(RNN_DIST_BIN="$tmp/no-such-binary" submit "$root/Launch/slurm.sbatch")"
wait_for 60 finished "$job"
check "slurm 6: missing binary: FAILED 1:0 with a message (got $(job_state "$job") $(job_field "$job" ExitCode))" \
    test "$(job_field "$job" ExitCode)" = 1:0 -a "$(grep -c "no rnn-dist binary" "$sub/rnn-dist-$job.out")" -ge 1
job="$(submit "$root/Launch/slurm.sbatch" --hidden 0)"
wait_for 60 finished "$job"
check "slurm 6: bad flag (--hidden 0): exit 1:0 (got $(job_state "$job") $(job_field "$job" ExitCode))" \
    test "$(job_field "$job" ExitCode)" = 1:0

# 7. Elastic mode (RNN_DIST_MAX_RESTARTS: Launch/elastic.sh runs mpirun on the allocation's
# nodes): without a fault it is the plain run. (Dropping a node needs several; that is
# Tests/multihost/elastic.sh.)
job="$(RNN_DIST_MAX_RESTARTS=2 submit --no-kill "$root/Launch/slurm.sbatch" --steps "$steps" --log-every 100)"
wait_for 120 finished "$job"
check "slurm 7: RNN_DIST_MAX_RESTARTS=2: COMPLETED 0:0 (got $(job_state "$job") $(job_field "$job" ExitCode))" \
    test "$(job_state "$job"):$(job_field "$job" ExitCode)" = COMPLETED:0:0
check "slurm 7: same parameters as the mpirun reference" same_result "$sub/rnn-dist-$job.out"
check "slurm 7: the supervisor's log names the node with its 2 tasks and says done" \
    elastic_logged "$sub/runs/$job/elastic.log" "$host:2"

finish
