#!/usr/bin/env bash
# Launch/elastic.sh — run `rnn-dist train` under mpirun on a list of hosts and, when a host or a
# rank is lost, relaunch it on the hosts that remain, from the newest checkpoint, with the same
# global batch: elastic relaunch without a person.
#
# What it does:
#   1. resolves the training configuration once (`rnn-dist train FLAGS --print-config`, no MPI):
#      bad flags or config end here with rnn-dist's line and exit 1. It needs checkpoint-dir.
#   2. runs mpirun on every host (slots = ranks per host) and mirrors its output.
#   3. when the run ends with a lost host or rank — mpirun's 205 or 9 (it lost a daemon), a rank
#      killed by a signal, or rnn-dist's 2 when its output shows a rank that stalled or
#      vanished (the watchdog's "has not completed", OpenMPI's lost-peer messages) — it drops
#      the failed hosts: those the output names (the watchdog's "rank R on host X … did not
#      answer", OpenMPI's "Remote daemon: … on node X", "Peer host: X", "… on node X exited on
#      signal"; a host whose own rank reports is alive, whatever it waited for), those that do
#      not answer a probe (PROBE HOST true, --probe-timeout seconds), and, when no message names
#      a host, those none of whose ranks reported waiting in a collective (a frozen host). Then it relaunches on the rest with --resume CHECKPOINT-DIR and the same global
#      batch G (below), up to --max-restarts times, while at least --min-hosts hosts remain.
#      Each relaunch is one line, with its cause, on stderr and in the log (--log).
#   4. a frozen host (SIGSTOP, a hung kernel: it keeps its connections open) cannot hang it:
#      mpirun gets keepalive settings below the collective timeout (mpirun notices a silent
#      host), rnn-dist's watchdog aborts a collective after collective-timeout, and once a fault
#      is in the output mpirun has --abort-grace seconds to end the job before the supervisor
#      ends mpirun itself (TERM, then KILL 5 s later). Every probe runs under `timeout`.
#   5. SIGTERM or SIGUSR1 (preemption, time limit) is passed on to the ranks as USR1 (after
#      RNN_DIST_SIGNAL_GRACE seconds from the launch, default 10, as Launch/batch-common.sh
#      does): they checkpoint and exit 3, and the supervisor exits 3 without a relaunch.
#
# What to edit: nothing; the options below and rnn-dist's flags after `--` say everything.
#
# The global batch. G is fixed by the first launch: global-batch, or batch-per-rank × ranks ×
# accumulate. A relaunch on P ranks keeps G and keeps each rank's micro-batch at most what it
# was (its activation memory), raising accumulate k where needed:
#   global-batch G:     --global-batch G --accumulate k, k the smallest ≥ the configured one
#                       with ⌈⌈G/P⌉/k⌉ ≤ the first launch's largest micro-batch (rnn-dist splits
#                       G into shares that differ by at most one; the same sum either way);
#   batch-per-rank B:   --batch-per-rank B' --accumulate k with B' × P × k = G exactly and
#                       B' ≤ B; when no such integers exist it stops (exit 2) with a line
#                       saying so (set global-batch to allow unequal shares).
# Either way the trajectory is the same math on another rank count: float rounding apart.
#
# Exit status (docs/design.md §9 / README "Exit codes"): 0 done; 1 bad input (rnn-dist's, or
# this script's options); 2 a fault: restarts exhausted, fewer than --min-hosts hosts left, no
# integer batch split, or a fault that is not a lost host or rank (e.g. a non-finite gradient
# with on-nonfinite: stop — a relaunch would repeat it); 3 stopped by a signal after a
# checkpoint. mpirun's own codes (205, 9, 137, …) never reach the caller.
#
# Usage:
#   Launch/elastic.sh --hosts node1:8,node2:8,node3:8 [options] -- [rnn-dist train flags...]
#                                      (`train` instead of `--` also starts rnn-dist's flags)
#   Launch/elastic.sh --hostfile FILE [options] -- ...   (a line per host: "NAME [slots=N]", or
#                                                         PBS's node file, a line per rank)
# Options:
#   --max-restarts N     relaunches allowed (default 3)
#   --min-hosts M        fewest hosts to relaunch on (default 1)
#   --log FILE           the supervisor's log: one line per launch, relaunch and the end
#                        (default: elastic.log beside the checkpoint folder); each attempt's
#                        output goes to FILE.N (N = 0, 1, …) and to standard output
#   --agent CMD          OpenMPI's launch agent (mpirun --mca plm_rsh_agent CMD), e.g. an ssh
#                        with options; also the default probe
#   --probe CMD          how a host is probed: CMD HOST true (default: the agent, else
#                        ssh -o BatchMode=yes -o ConnectTimeout=S)
#   --probe-timeout S    seconds a probe may take (default 10)
#   --abort-grace S      seconds mpirun may take to end a job after a fault shows (default 10)
#   --mpirun-arg ARG     one more mpirun argument (repeat it), e.g. --mpirun-arg --bind-to
#                        --mpirun-arg none; placed after the supervisor's own, so they win
#   --binary PATH        rnn-dist (default $RNN_DIST_BIN, else this checkout's release build)
# Launch/slurm.sbatch and Launch/pbs.sh call it when RNN_DIST_MAX_RESTARTS is set (docs/cluster.md).
#
# What it cannot do: replace a host (it only drops hosts; the batch system's allocation stays as
# it was granted), notice a hang before rnn-dist's watchdog or mpirun's keepalive does, or end
# processes on a host that does not answer (a frozen host keeps its frozen processes).
set -uo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log=""
say() { # one line on stderr and, once the log is open, in the log
    echo "elastic: $*" >&2
    if [ -n "$log" ]; then echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $*" >>"$log"; fi
}
usage() { say "$* (usage: Launch/elastic.sh --hosts H:N,... | --hostfile FILE [options] -- [rnn-dist train flags]; its header lists the options)"; exit 1; }

# shellcheck source=SCRIPTDIR/batch-common.sh
. "$script_dir/batch-common.sh"   # has_checkpoint, on_stop_request (stop_signal, stop_marker)

hosts_option="" hostfile="" max_restarts=3 min_hosts=1 log_option="" agent="" probe_option=""
probe_timeout=10 abort_grace=10 binary="${RNN_DIST_BIN:-$script_dir/../.build/release/rnn-dist}"
mpirun_args=()
is_count() { [[ "$1" =~ ^[0-9]+$ ]]; }
while [ $# -gt 0 ]; do
    case "$1" in
        --|train) [ "$1" = -- ] && shift; break ;;
        --hosts|--hostfile|--max-restarts|--min-hosts|--log|--agent|--probe|--probe-timeout|--abort-grace|--mpirun-arg|--binary)
            [ $# -ge 2 ] || usage "$1 needs a value"
            case "$1" in
                --hosts) hosts_option="$2" ;;
                --hostfile) hostfile="$2" ;;
                --max-restarts) max_restarts="$2" ;;
                --min-hosts) min_hosts="$2" ;;
                --log) log_option="$2" ;;
                --agent) agent="$2" ;;
                --probe) probe_option="$2" ;;
                --probe-timeout) probe_timeout="$2" ;;
                --abort-grace) abort_grace="$2" ;;
                --mpirun-arg) mpirun_args+=("$2") ;;
                --binary) binary="$2" ;;
            esac
            shift 2 ;;
        *) usage "unknown option '$1' (rnn-dist's flags go after --)" ;;
    esac
done
train_flags=("$@")
[ "${train_flags[0]:-}" = train ] && train_flags=("${train_flags[@]:1}")
for pair in "max-restarts:$max_restarts" "min-hosts:$min_hosts" "probe-timeout:$probe_timeout" "abort-grace:$abort_grace"; do
    is_count "${pair#*:}" || usage "--${pair%%:*} must be a whole number, not '${pair#*:}'"
done
[ "$min_hosts" -ge 1 ] || usage "--min-hosts must be at least 1"
[ -x "$binary" ] || usage "no rnn-dist binary at $binary (build it, or give --binary / RNN_DIST_BIN)"

# The hosts, in order, with their slots (ranks).
names=() slots=()
add_host() { # add_host NAME SLOTS — a name seen again adds its slots
    local i
    for i in "${!names[@]}"; do
        if [ "${names[i]}" = "$1" ]; then slots[i]=$(( slots[i] + $2 )); return; fi
    done
    names+=("$1"); slots+=("$2")
}
if [ -n "$hosts_option" ]; then
    IFS=, read -r -a entries <<<"$hosts_option"
    for entry in "${entries[@]}"; do
        count="${entry##*:}"; [ "$count" = "$entry" ] && count=1
        if ! is_count "$count" || [ "$count" -lt 1 ]; then usage "--hosts: '$entry' is not HOST or HOST:SLOTS"; fi
        add_host "${entry%%:*}" "$count"
    done
elif [ -n "$hostfile" ]; then
    [ -r "$hostfile" ] || usage "cannot read the host file $hostfile"
    while read -r name rest; do
        case "$name" in ''|'#'*) continue ;; esac
        count=1
        [[ "$rest" =~ slots=([0-9]+) ]] && count="${BASH_REMATCH[1]}"
        add_host "$name" "$count"
    done <"$hostfile"
fi
[ "${#names[@]}" -ge 1 ] || usage "no hosts: give --hosts or --hostfile"

# The configuration the flags resolve to (rnn-dist's key-table JSON, one line).
if ! config="$("$binary" train "${train_flags[@]}" --print-config)"; then exit 1; fi
config_value() { # config_value KEY — a scalar of the JSON line, quotes and \/ escapes removed
    printf '%s\n' "$config" | sed -n "s/.*\"$1\":\(\"\([^\"\\\\]\|\\\\.\)*\"\|[^,}]*\).*/\1/p" |
        sed 's/^"//; s/"$//; s#\\/#/#g'
}
checkpoints="$(config_value checkpoint-dir)"
if [ -z "$checkpoints" ] || [ "$checkpoints" = null ]; then
    say "set checkpoint-dir (flag or config): a relaunch resumes from the newest checkpoint there"
    exit 1
fi
if ! mkdir -p "$checkpoints"; then say "cannot create the checkpoint folder $checkpoints"; exit 1; fi
log="${log_option:-$(dirname "$checkpoints")/elastic.log}"
if ! : >>"$log"; then log=""; say "cannot write the log $log_option"; exit 1; fi
collective_timeout="$(config_value collective-timeout)"
[ "$(config_value checkpoint-every)" = 0 ] &&
    say "warning: checkpoint-every is 0: a relaunch starts again from step 0 (or the last stop's checkpoint)"

total_slots() { local sum=0 n; for n in "${slots[@]}"; do sum=$((sum + n)); done; echo "$sum"; }
host_list() { local list="" i; for i in "${!names[@]}"; do list+="${list:+,}${names[i]}:${slots[i]}"; done; echo "$list"; }

# G and the largest micro-batch of the first launch, the bound a relaunch keeps.
first_ranks="$(total_slots)"
accumulate="$(config_value accumulate)"
global="$(config_value global-batch)"
if [ "$global" != null ]; then
    split=global
    largest_share=$(( (global + first_ranks - 1) / first_ranks ))
    micro=$(( (largest_share + accumulate - 1) / accumulate ))
else
    split=per-rank
    micro="$(config_value batch-per-rank)"
    global=$(( micro * first_ranks * accumulate ))
fi
batch_flags=()
batch_text=""
plan_batch() { # plan_batch RANKS — sets batch_flags/batch_text for RANKS ranks, or fails
    local ranks="$1" k share
    if [ "$split" = global ]; then
        share=$(( (global + ranks - 1) / ranks ))
        k=$(( (share + micro - 1) / micro )); [ "$k" -lt "$accumulate" ] && k="$accumulate"
        batch_flags=(--global-batch "$global" --accumulate "$k")
        batch_text="global batch $global over $ranks ranks (≤ $share per rank), accumulate $k"
        return 0
    fi
    for ((k = accumulate; ranks * k <= global; k++)); do
        if [ $(( global % (ranks * k) )) -eq 0 ] && [ $(( global / (ranks * k) )) -le "$micro" ]; then
            batch_flags=(--batch-per-rank $(( global / (ranks * k) )) --accumulate "$k")
            batch_text="global batch $global = $(( global / (ranks * k) )) per rank × $ranks ranks × accumulate $k"
            return 0
        fi
    done
    return 1
}

# mpirun notices a silent host through its keepalive: time + interval × probes = 2T/3, below
# the collective timeout T (docs/multihost.md), so that it, not a watchdog's MPI_Abort that a
# frozen daemon never acknowledges, ends the job.
keep=$(awk -v t="$collective_timeout" 'BEGIN { a = int(t / 3); b = int(t / 6); if (a < 1) a = 1; if (b < 1) b = 1; print a, b }')
launcher_base=(mpirun --mca oob_tcp_keepalive_time "${keep% *}" --mca oob_tcp_keepalive_intvl "${keep#* }"
               --mca oob_tcp_keepalive_probes 2)
[ -n "$agent" ] && launcher_base+=(--mca plm_rsh_agent "$agent")
[ "$(id -u)" -eq 0 ] && launcher_base+=(--allow-run-as-root)
if [ -n "$probe_option" ]; then read -r -a probe <<<"$probe_option"
elif [ -n "$agent" ]; then read -r -a probe <<<"$agent"
else probe=(ssh -o BatchMode=yes -o "ConnectTimeout=$probe_timeout"); fi

# What in mpirun's output says a host or rank was lost, and what names the host.
fault_shown='has not completed after|did not answer|lost communication with a remote daemon|unexpectedly disconnected|unable to reliably start|exited on signal|ORTE does not know how to route'
named_hosts() { # named_hosts FILE — the hosts a fault message names, one a line
    # A rank that reports ("rnn-dist: rank 1 on h2: …") is alive, whatever it waited for: in a
    # ring, the neighbour of a silent rank waits on a healthy one that waits on the silent one.
    local reporters
    reporters="$(sed -n -E 's/.*rnn-dist: rank [0-9]+ on ([^ :]+): .*/\1/p' "$1" | sort -u)"
    sed -n -E -e 's/.*rank [0-9]+ on host ([^ ]+) .*did not answer.*/\1/p' \
        -e 's/.*Remote daemon: .* on node ([^ ]+).*/\1/p' \
        -e 's/.*Peer host: +([^ ]+).*/\1/p' \
        -e 's/.*on node ([^ ]+) exited on signal.*/\1/p' "$1" | sort -u |
        grep -vxF -f <(printf '%s\n' "$reporters") || true
}

stop_marker="$(dirname "$log")/.elastic-stop-requested"
rm -f "$stop_marker"
trap 'rm -f "$stop_marker"' EXIT
trap 'on_stop_request USR1' USR1
trap 'on_stop_request TERM' TERM
grace="${RNN_DIST_SIGNAL_GRACE:-10}"
# A stop request ends the supervisor with 3 when the ranks checkpointed after it, else with
# the run's own status mapped onto 0–3.
finish_stopped() { # finish_stopped STATUS
    if [ "$1" -eq 0 ]; then say "done (a stop was requested as the run finished)"; exit 0; fi
    if [ "$1" -eq 3 ] || [ -n "$(find "$checkpoints" -maxdepth 1 -name 'checkpoint-*.safetensors' -newer "$stop_marker" -print -quit 2>/dev/null)" ]; then
        say "stopped by SIG$stop_signal after a checkpoint; no relaunch (exit 3); resume with --resume $checkpoints"
        exit 3
    fi
    say "stopped by SIG$stop_signal, but no checkpoint was written after it (rnn-dist exited $1): exit 2"
    exit 2
}

say "start: $(host_list) ($first_ranks ranks), checkpoints $checkpoints, max-restarts $max_restarts, min-hosts $min_hosts, collective-timeout ${collective_timeout} s"
restarts=0
relaunch_flags=()
while :; do
    out="$log.$restarts"
    : >"$out"
    "${launcher_base[@]}" --host "$(host_list)" -np "$(total_slots)" "${mpirun_args[@]}" \
        "$binary" train "${train_flags[@]}" "${relaunch_flags[@]}" </dev/null >>"$out" 2>&1 &
    run_pid=$!
    launched=$SECONDS
    tail -n +1 -s 0.2 -f --pid="$run_pid" "$out" &
    mirror=$!
    fault_at="" ended_at="" forwarded="" evidence_bytes=""
    while kill -0 "$run_pid" 2>/dev/null; do
        if [ -n "$stop_signal" ] && [ -z "$forwarded" ] && [ $((SECONDS - launched)) -ge "$grace" ]; then
            kill -USR1 "$run_pid" 2>/dev/null; forwarded=1
        fi
        if [ -z "$fault_at" ] && grep -qE "$fault_shown" "$out"; then fault_at=$SECONDS; fi
        if [ -n "$fault_at" ] && [ -z "$ended_at" ] && [ $((SECONDS - fault_at)) -ge "$abort_grace" ]; then
            say "mpirun is still running $abort_grace s after a fault showed (a frozen host?): ending it"
            # What mpirun says while being ended (ranks "exited on signal 15") names no culprit.
            evidence_bytes="$(stat -c %s "$out")"
            kill -TERM "$run_pid" 2>/dev/null; ended_at=$SECONDS
        fi
        if [ -n "$ended_at" ] && [ $((SECONDS - ended_at)) -ge 5 ]; then kill -KILL "$run_pid" 2>/dev/null; fi
        sleep 0.2 & wait $!   # `wait` returns at once when a stop signal's trap runs
    done
    wait "$run_pid" 2>/dev/null
    status=$?
    wait "$mirror" 2>/dev/null

    if [ -n "$stop_signal" ]; then finish_stopped "$status"; fi
    lost=""
    case "$status" in
        0) say "done: rnn-dist finished (exit 0) after $restarts relaunch(es)"; exit 0 ;;
        3) say "stopped after a checkpoint (exit 3; a stop signal reached the ranks directly); no relaunch"; exit 3 ;;
        205|9) lost="mpirun exited $status (it lost a host's daemon)" ;;
        *)
            if [ -n "$ended_at" ]; then lost="mpirun ended by the supervisor after a fault (exit $status)"
            elif grep -qE "$fault_shown" "$out"; then lost="exit $status after a lost or stalled rank"
            elif [ "$status" -eq 1 ]; then say "bad input (exit 1): no relaunch"; exit 1
            else say "rnn-dist exited $status: a fault that is not a lost host or rank (see $out); no relaunch (exit 2)"; exit 2
            fi ;;
    esac
    first_line="$(grep -m1 -E "$fault_shown" "$out" | cut -c1-200)"

    # Which hosts failed: named in the output, silent to a probe, or — when no message names a
    # host (a frozen host: the watchdogs' abort hangs; a stall in one of OpenMPI's own small
    # collectives, whose peers are not known) — silent in the output. A live rank that waits in
    # a collective says so: at its watchdog's timeout (ranks fire 0.25 s apart, within 2 s, and
    # a hung abort leaves them --abort-grace seconds), or when mpirun ends the job while it
    # waits. A host none of whose ranks said anything is the one that stalled.
    failed=()
    evidence="$out"
    if [ -n "$evidence_bytes" ]; then evidence="$out.evidence"; head -c "$evidence_bytes" "$out" >"$evidence"; fi
    mapfile -t named < <(named_hosts "$evidence")
    reporters=()
    if [ "${#named[@]}" -eq 0 ]; then
        mapfile -t reporters < <(sed -n -E 's/.*rnn-dist: rank [0-9]+ on ([^ :]+): .*/\1/p' "$evidence" | sort -u)
    fi
    [ "$evidence" = "$out" ] || rm -f "$evidence"
    declare -A probe_status=()
    for i in "${!names[@]}"; do
        timeout -k 2 "$probe_timeout" "${probe[@]}" "${names[i]}" true </dev/null >/dev/null 2>&1 &
        probe_status[$i]=$!
    done
    for i in "${!names[@]}"; do
        how=""
        if ! wait "${probe_status[$i]}"; then how="no answer to the probe"; fi
        for n in "${named[@]}"; do [ "$n" = "${names[i]}" ] && how="${how:+$how, }named in the output"; done
        if [ "${#reporters[@]}" -gt 0 ]; then
            reported=""
            for n in "${reporters[@]}"; do [ "$n" = "${names[i]}" ] && reported=1; done
            [ -z "$reported" ] && how="${how:+$how, }none of its ranks reported the stalled collective"
        fi
        if [ -n "$how" ]; then failed+=("${names[i]} ($how)"); fi
    done
    unset probe_status
    if [ -n "$stop_signal" ]; then
        # Between two launches no rank is left to checkpoint: the newest checkpoint is where a
        # resume continues, so that is a stop after a checkpoint.
        if has_checkpoint "$checkpoints"; then
            say "stopped by SIG$stop_signal between launches (after: $lost); no relaunch (exit 3); resume with --resume $checkpoints"
            exit 3
        fi
        say "stopped by SIG$stop_signal between launches, before any checkpoint (after: $lost): exit 2"
        exit 2
    fi

    kept_names=() kept_slots=()
    for i in "${!names[@]}"; do
        drop=""
        for f in "${failed[@]}"; do [ "${f%% *}" = "${names[i]}" ] && drop=1; done
        if [ -z "$drop" ]; then kept_names+=("${names[i]}"); kept_slots+=("${slots[i]}"); fi
    done
    cause="$lost; ${failed[*]:-no host named or silent: relaunching on the same hosts}${first_line:+; first sign: $first_line}"
    if [ "$restarts" -ge "$max_restarts" ]; then
        say "giving up: restarts exhausted ($restarts of --max-restarts $max_restarts); last fault: $cause (exit 2)"
        exit 2
    fi
    if [ "${#kept_names[@]}" -lt "$min_hosts" ]; then
        say "giving up: ${#kept_names[@]} host(s) left (${kept_names[*]:-none}), fewer than --min-hosts $min_hosts; fault: $cause (exit 2)"
        exit 2
    fi
    names=("${kept_names[@]}") slots=("${kept_slots[@]}")
    if ! plan_batch "$(total_slots)"; then
        say "giving up: cannot keep the global batch $global = batch-per-rank $micro × $first_ranks ranks × accumulate $accumulate on $(total_slots) ranks: no batch-per-rank ≤ $micro and accumulate ≥ $accumulate with $(total_slots) × B × k = $global (set global-batch instead: rnn-dist then splits it unequally); fault: $cause (exit 2)"
        exit 2
    fi
    restarts=$((restarts + 1))
    relaunch_flags=("${batch_flags[@]}")
    from="step 0 (no checkpoint yet)"
    if has_checkpoint "$checkpoints"; then
        relaunch_flags+=(--resume "$checkpoints")
        newest="$(find "$checkpoints" -maxdepth 1 -name 'checkpoint-*.safetensors' | sort | tail -1)"
        from="${newest##*/}"
    fi
    say "relaunch $restarts of $max_restarts: $cause; now on $(host_list) ($(total_slots) ranks) from $from, $batch_text"
done
