#!/usr/bin/env bash
# Tests/multihost/elastic.sh — Launch/elastic.sh, the elastic supervisor, on three hosts made as
# network namespaces (Tests/multihost/hosts.sh): a lost host is dropped and the job finishes on
# the others without a person.
#
# What it checks (a tiny model, H=32, G=48, 1 rank per host, collective-timeout 5 s; each run is
# slowed with the hidden --debug-step-delay so that a fault lands mid-run):
#   0. an uninterrupted 3-host run, and the same run under two other evaluation orders
#      (RNN_DIST_KERNEL=generic, OPENBLAS_CORETYPE=Prescott): their largest parameter difference
#      is the rounding spread S, and a run that changed its rank count may differ from the
#      uninterrupted one by 4 S (Tests/EndToEndTests/RoundingSpread.swift's argument: a rank
#      count changes only the association of the gradient's sums, as these orders do); the same
#      run with G = 45 lands outside that bound (it tells a kept global batch from a lost one);
#   a. every process of h3 killed at step 20: the supervisor drops h3 and relaunches on h1+h2
#      from the newest checkpoint (G = 48 kept: 24 per rank as 2 micro-batches of 12, the first
#      launch's micro-batch being 16); it exits 0, its log has one relaunch line naming h3, the
#      training continues (a progress line of the relaunched run) within collective-timeout +
#      30 s of the fault (measured and printed), the final parameters are within 4 S of the
#      uninterrupted run's, and nothing of the job is left on h1 and h2;
#   b. every process of h3 frozen (SIGSTOP): the same;
#   c. restarts exhausted (--max-restarts 0) and too few hosts (--min-hosts 3): exit 2 and a line
#      saying which; batch-per-rank 5 (G = 15 = 5 × 3 × 1) cannot be split evenly over 2 ranks:
#      exit 2 and a line saying so; a fault that is not a lost host (a NaN gradient with
#      on-nonfinite stop) is not relaunched (exit 2); a bad flag and a missing checkpoint-dir are
#      exit 1 before any launch;
#   d. SIGTERM to the supervisor: the ranks checkpoint, exit 3, no relaunch, nothing left.
#
# Run as root:  bash Tests/multihost/elastic.sh   (about 2 minutes on 2 cores). Without root or
# namespaces it prints `elastic: skipped: <reason>` and exits 0; otherwise its last line is
# `elastic: N passed, M failed`. RNN_DIST_MULTIHOST_KEEP=1 keeps the temporary folder.
# shellcheck disable=SC2317  # helpers are called through check and trap
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=Tests/multihost/hosts.sh
source "$root/Tests/multihost/hosts.sh"
# shellcheck source=Tests/checks.sh
source "$root/Tests/checks.sh"
hosts_test_begin elastic

timeout_s=5
steps=100
model=(--hidden 32 --seq-len 16 --global-batch 48 --seed 11 --steps "$steps" --log-every 2 --collective-timeout "$timeout_s")
slow=(--debug-step-delay 0.1)

# max_relative A B — the largest |a − b| over every tensor of two safetensors files, divided by
# that tensor's largest |a| (at least 1e-3), as ParameterDifference.maxRelative: od reads the
# float32 data, the header gives each tensor's byte range.
max_relative() {
    local length header
    length="$(od -An -t u8 -N8 "$1" | tr -d ' ')"
    header="$(head -c $((8 + length)) "$1" | tail -c "$length")"
    # "NAME":{… "data_offsets":[BEGIN,END] …}, one "BEGIN END" a line (bytes into the data).
    printf '%s' "$header" | grep -oE '"data_offsets":\[[0-9]+,[0-9]+\]' | tr -dc '0-9,\n' | tr , ' ' >"$tmp/ranges"
    od -An -v -t f4 -j $((8 + length)) "$1" | tr -s ' ' '\n' | sed '/^$/d' >"$tmp/a.values"
    local other
    other="$(od -An -t u8 -N8 "$2" | tr -d ' ')"
    od -An -v -t f4 -j $((8 + other)) "$2" | tr -s ' ' '\n' | sed '/^$/d' >"$tmp/b.values"
    awk 'FILENAME == ARGV[1] { first[++n] = $1 / 4; last[n] = $2 / 4; next }
         FILENAME == ARGV[2] { a[FNR - 1] = $1 + 0; next }
         { b[FNR - 1] = $1 + 0 }
         END {
             worst = 0
             for (t = 1; t <= n; t++) {
                 scale = 1e-3; diff = 0
                 for (i = first[t]; i < last[t]; i++) {
                     x = a[i] < 0 ? -a[i] : a[i]; if (x > scale) scale = x
                     d = a[i] - b[i]; if (d < 0) d = -d; if (d > diff) diff = d
                 }
                 if (diff / scale > worst) worst = diff / scale
             }
             if (n == 0 || length(a) != length(b)) worst = "inf"
             print worst
         }' "$tmp/ranges" "$tmp/a.values" "$tmp/b.values"
}

# --- 0. the uninterrupted run and the rounding spread ------------------------------------------
hosts_mpirun 3 "$binary" train "${model[@]}" --save "$tmp/reference.safetensors" >"$tmp/reference.out" 2>&1
check "uninterrupted run on h1 h2 h3 exits 0" test $? -eq 0
spread=0
for alternative in RNN_DIST_KERNEL=generic OPENBLAS_CORETYPE=Prescott; do
    name="${alternative%%=*}"
    hosts_mpirun 3 -x "$alternative" "$binary" train "${model[@]}" --save "$tmp/spread-$name.safetensors" >"$tmp/spread-$name.out" 2>&1
    for other in "$tmp/reference.safetensors" "$tmp"/spread-*.safetensors; do
        [ "$other" = "$tmp/spread-$name.safetensors" ] && continue
        difference="$(max_relative "$other" "$tmp/spread-$name.safetensors")"
        spread="$(awk -v s="$spread" -v d="$difference" 'BEGIN { print (d > s) ? d : s }')"
    done
done
bound="$(awk -v s="$spread" 'BEGIN { print 4 * s }')"
echo "     rounding spread S = $spread (3 evaluation orders); bound 4 S = $bound"
check "the rounding spread is measurable and below 1e-3 (S = $spread)" \
    awk -v s="$spread" 'BEGIN { exit !(s > 0 && s < 1e-3) }'
# The bound tells a kept global batch from a lost one: the same run with G = 45 (what a relaunch
# that dropped h3's share would train on) lands far outside it.
hosts_mpirun 3 "$binary" train "${model[@]}" --global-batch 45 --save "$tmp/other-batch.safetensors" >"$tmp/other-batch.out" 2>&1
other_batch="$(max_relative "$tmp/reference.safetensors" "$tmp/other-batch.safetensors")"
echo "     global batch 45 instead of 48: parameters differ by $other_batch"
check "a run with another global batch (45) is outside the bound ($other_batch > $bound)" \
    awk -v d="$other_batch" -v b="$bound" 'BEGIN { exit !(d > b) }'

supervise() { # supervise NAME [supervisor options...] -- [train flags...]; runs in the background
    local name="$1"; shift
    mkdir -p "$tmp/$name"
    "$root/Launch/elastic.sh" --hosts h1:1,h2:1,h3:1 --agent "$HOSTS_AGENT" --probe-timeout 5 --abort-grace 5 \
        --log "$tmp/$name/elastic.log" \
        --mpirun-arg --bind-to --mpirun-arg none --mpirun-arg -x --mpirun-arg OPENBLAS_NUM_THREADS=1 \
        --mpirun-arg --mca --mpirun-arg btl --mpirun-arg tcp,self \
        --mpirun-arg --mca --mpirun-arg btl_tcp_if_include --mpirun-arg "$HOSTS_SUBNET" \
        --mpirun-arg --mca --mpirun-arg oob_tcp_if_include --mpirun-arg "$HOSTS_SUBNET" \
        "$@" >"$tmp/$name/out" 2>&1 &
    supervisor=$!
}
# The job's processes still on host INDEX (its namespace's pids): none once a job has ended.
host_idle() { [ -z "$(ip netns pids "${HOSTS_NAMESPACES[$1]}" 2>/dev/null)" ]; }
wait_for() { # wait_for SECONDS COMMAND... — polls every 0.2 s
    local limit=$(( $1 * 5 )); shift
    local i
    for ((i = 0; i < limit; i++)); do "$@" && return 0; sleep 0.2; done
    return 1
}
freeze_host() { # freeze_host INDEX — SIGSTOP to every process of the host: alive, but silent
    local pids
    pids="$(ip netns pids "${HOSTS_NAMESPACES[$1]}" 2>/dev/null)"
    # shellcheck disable=SC2086  # one pid a word
    [ -n "$pids" ] && kill -STOP $pids
}
progress_after_relaunch() { has "$1/elastic.log.1" "^step +[0-9]+/"; }

# --- a. and b.: a host lost mid-run, killed or frozen ------------------------------------------
elastic_run() { # elastic_run NAME kill|freeze
    local name="$1" fault="$2" dir="$tmp/$1"
    supervise "$name" --max-restarts 2 --min-hosts 2 -- "${model[@]}" "${slow[@]}" \
        --checkpoint-dir "$dir/checkpoints" --checkpoint-every 10 --save "$dir/final.safetensors"
    wait_for 120 has "$dir/out" "^step +20/"
    local start
    start="$(date +%s.%N)"
    case "$fault" in
        kill) hosts_kill 2 ;;
        freeze) freeze_host 2 ;;
    esac
    local continued="never"
    if wait_for 120 progress_after_relaunch "$dir"; then
        continued="$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')"
    fi
    wait "$supervisor"
    local status=$?
    echo "     $name: training continued on h1+h2 $continued s after the fault; supervisor exit $status"
    echo "$name continued $continued" >>"$tmp/timings"
    check "$name: the supervisor exits 0 (got $status)" test "$status" -eq 0
    check "$name: training continues within collective-timeout + 30 s of the fault (took $continued s)" \
        awk -v t="$continued" -v limit="$((timeout_s + 30))" 'BEGIN { exit !(t != "never" && t <= limit) }'
    check "$name: one relaunch, logged with its cause, dropping h3" \
        test "$(grep -c "relaunch 1 of 2: .*h3 (.*now on h1:1,h2:1 (2 ranks) from checkpoint-" "$dir/elastic.log")" -eq 1 -a \
             "$(grep -c "relaunch [0-9]* of" "$dir/elastic.log")" -eq 1
    check "$name: the relaunch keeps the global batch as 2 micro-batches of 12 per rank" \
        has "$dir/elastic.log" "global batch 48 over 2 ranks \(≤ 24 per rank\), accumulate 2"
    check "$name: the relaunched run resumed from a checkpoint" has "$dir/elastic.log.1" "resumed from .*checkpoint-"
    check "$name: the relaunched run finished on 2 ranks" has "$dir/elastic.log.1" "parameters identical on all 2 ranks"
    local difference
    difference="$(max_relative "$tmp/reference.safetensors" "$dir/final.safetensors" 2>/dev/null)"
    echo "     $name: final parameters differ from the uninterrupted run's by $difference (bound $bound)"
    check "$name: final parameters within 4 S of the uninterrupted run ($difference ≤ $bound)" \
        awk -v d="${difference:-inf}" -v b="$bound" 'BEGIN { exit !(d != "inf" && d <= b) }'
    check "$name: nothing of the job left on h1 and h2" eval 'host_idle 0 && host_idle 1'
    hosts_kill 2   # the frozen processes of h3 (a real frozen host keeps them: docs/cluster.md)
}
elastic_run "host killed" kill
elastic_run "host frozen" freeze

# --- c. giving up, refusing, and faults that are not a lost host -----------------------------
give_up() { # give_up NAME EXPECTED-LINE SUPERVISOR-OPTIONS... -- TRAIN FLAGS...
    local name="$1" line="$2"; shift 2
    supervise "$name" "$@"
    wait_for 120 has "$tmp/$name/out" "^step +6/"
    hosts_kill 2
    wait "$supervisor"
    local status=$?
    check "$name: exit 2 (got $status)" test "$status" -eq 2
    check "$name: the line says so" has "$tmp/$name/out" "$line"
    check "$name: no relaunch" test "$(grep -c "relaunch [0-9]* of" "$tmp/$name/elastic.log")" -eq 0
    check "$name: nothing of the job left on h1 and h2" eval 'host_idle 0 && host_idle 1'
}
give_up "restarts exhausted" "giving up: restarts exhausted \(0 of --max-restarts 0\)" \
    --max-restarts 0 -- "${model[@]}" "${slow[@]}" --checkpoint-dir "$tmp/restarts exhausted/checkpoints" --checkpoint-every 2
give_up "too few hosts" "giving up: 2 host\(s\) left \(h1 h2\), fewer than --min-hosts 3" \
    --min-hosts 3 -- "${model[@]}" "${slow[@]}" --checkpoint-dir "$tmp/too few hosts/checkpoints" --checkpoint-every 2
give_up "no integer split" "cannot keep the global batch 15 = batch-per-rank 5 × 3 ranks × accumulate 1 on 2 ranks" \
    -- "${model[@]}" "${slow[@]}" --batch-per-rank 5 --checkpoint-dir "$tmp/no integer split/checkpoints" --checkpoint-every 2

supervise "nan stop" -- "${model[@]}" --debug-nan-at-step 3 --on-nonfinite stop --checkpoint-dir "$tmp/nan stop/checkpoints"
wait "$supervisor"
status=$?
check "a fault that is not a lost host (NaN, on-nonfinite stop): exit 2, not relaunched (got $status)" \
    test "$status" -eq 2 -a "$(grep -c "relaunch [0-9]* of" "$tmp/nan stop/elastic.log")" -eq 0
check "NaN stop: the supervisor says why it does not relaunch" has "$tmp/nan stop/out" "not a lost host or rank"
supervise "bad flag" -- "${model[@]}" --hidden 0 --checkpoint-dir "$tmp/bad flag/checkpoints"
wait "$supervisor"
status=$?
check "a bad flag: exit 1 with rnn-dist's line, before any launch (got $status)" \
    test "$status" -eq 1 -a ! -e "$tmp/bad flag/elastic.log.0"
supervise "no checkpoint dir" -- "${model[@]}"
wait "$supervisor"
status=$?
asked=""; has "$tmp/no checkpoint dir/out" "set checkpoint-dir" && asked=yes
check "no checkpoint-dir: exit 1 and a line asking for it (got $status)" test "$status" -eq 1 -a "$asked" = yes

# --- d. preemption: SIGTERM to the supervisor ---------------------------------------------------
dir="$tmp/preempted"
export RNN_DIST_SIGNAL_GRACE=2   # the ranks are long up when the signal comes
supervise preempted -- "${model[@]}" "${slow[@]}" --checkpoint-dir "$dir/checkpoints"
wait_for 120 has "$dir/out" "^step +10/"
kill -TERM "$supervisor"
wait "$supervisor"
status=$?
check "SIGTERM to the supervisor: exit 3, the preemption status (got $status)" test "$status" -eq 3
check "SIGTERM: the ranks wrote a checkpoint and stopped" has "$dir/out" "stopped by SIGUSR1 after step"
check "SIGTERM: no relaunch" test "$(grep -c "relaunch [0-9]* of" "$dir/elastic.log")" -eq 0 -a ! -e "$dir/elastic.log.1"
check "SIGTERM: nothing of the job left on h1, h2, h3" eval 'host_idle 0 && host_idle 1 && host_idle 2'

finish
