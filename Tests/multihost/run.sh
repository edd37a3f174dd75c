#!/usr/bin/env bash
# Tests/multihost/run.sh — rnn-dist across hosts over TCP: three hosts made as Linux network
# namespaces on one machine, launched with mpirun through a launch agent, links shaped with tc.
#
# What it does: installs iproute2 when missing (apt-get; needs root), builds the release binary
# if missing, makes hosts h1..h3 (namespaces, each with a veth pair to one bridge, addresses
# from 198.18.0.0/15 as DESIGN §10 says, mpirun's side on the bridge), writes a launch agent
# that enters a host's namespace (and gives it its own host name) instead of ssh, then:
#   1. trains on 3 hosts (mpirun --host h1:1,h2:1,h3:1, TCP only over the veths) and on one
#      host with 3 ranks: the saved parameters are bit-identical (cmp); the model (H=256) is
#      large enough for the allreduce to overlap BPTT in pieces, and a 3-host run without
#      overlap gives the same bits;
#   2. the veths' byte counters grew by at least the ring allreduce's traffic;
#   3. shapes every link to 1 Gbit/s (tc tbf, both directions) and measures the allreduce's
#      α and β across the hosts (rnn-dist bench --allreduce);
#   4. faults, each with --collective-timeout 5 on 2 Mbit/s links and H=256 (so that a fault
#      finds the ranks in the gradient allreduce): (a) h3's link cut mid-run, (b) every process of h3
#      killed, (c) h3's link slowed to 8 kbit/s. The job ends within the timeout + 10 s with
#      exit 2 or OpenMPI's 205/9, a message names host h3 (rnn-dist's: "rank 2 on host h3"
#      when the ranks wait in the gradient allreduce), the newest checkpoint is intact and a resume on
#      h1 and h2 (2 ranks, same --global-batch) finishes;
#   5. every namespace, veth, bridge and process it made is gone (also on failure: trap);
#   6. 3 hosts × 4 ranks: ring, two-level and mpi against one rank (within the rounding spread),
#      ring = 1 host × 12 ranks bit for bit, auto's choice (and its timed cross-host stage),
#      two-level across hosts by rings = by leaders bit for bit, two-level's overlap bits, the
#      counted cross-host hops and messages, and bench --hops timing all four kinds of ring.
# Only addresses inside its own namespaces and its bridge are used.
#
# Run from anywhere, as root:  bash Tests/multihost/run.sh     (about 3 minutes). Without root,
# or where network namespaces cannot be made (a container without CAP_NET_ADMIN), it prints
# `multihost: skipped: <reason>` and exits 0; otherwise its last line is
# `multihost: N passed, M failed` and the exit status is non-zero when a check failed.
# RNN_DIST_MULTIHOST_KEEP=1 keeps the temporary folder (outputs, checkpoints).
# Tests/multihost/scaling.sh (not run by CI) measures α/β at several link speeds and step
# times at H=512 against the README's scaling model.
# shellcheck disable=SC2317  # helpers are called through check, wait_for and trap
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=Tests/multihost/hosts.sh
source "$root/Tests/multihost/hosts.sh"
# shellcheck source=Tests/checks.sh
source "$root/Tests/checks.sh"
hosts_test_begin multihost

wait_for() { # wait_for SECONDS COMMAND... — polls every 0.2 s
    local limit=$(( $1 * 5 )); shift
    local i
    for ((i = 0; i < limit; i++)); do "$@" && return 0; sleep 0.2; done
    return 1
}
veth_bytes() { # total rx+tx bytes of the host-side veth of host N
    local dev="${HOSTS_VETHS[$1]}"
    echo $(( $(cat "/sys/class/net/$dev/statistics/rx_bytes") + $(cat "/sys/class/net/$dev/statistics/tx_bytes") ))
}
# The bit-for-bit checks need one recurrence kernel in every run: left to measure (KernelSelection),
# a busy machine may pick another path from one run to the next (avx512 here, avx512-onepass
# there), and the paths round differently. The best path this CPU has, for every run.
kernel=generic
grep -qw avx2 /proc/cpuinfo && kernel=avx2
grep -qw avx512f /proc/cpuinfo && kernel=avx512
export RNN_DIST_KERNEL="$kernel"
HOSTS_MPI_EXTRA=(-x RNN_DIST_KERNEL)
one_host() { mpirun --allow-run-as-root --oversubscribe --bind-to none -x OPENBLAS_NUM_THREADS=1 -x RNN_DIST_KERNEL "$@" </dev/null; }

# --- 1. and 2.: three hosts against one, and traffic on the veths --------------------------
small=(--hidden 256 --seq-len 32 --global-batch 48 --steps 30 --log-every 10 --seed 7)
declare -a before
for i in 0 1 2; do before[i]="$(veth_bytes "$i")"; done
hosts_mpirun 3 "$binary" train "${small[@]}" --save "$tmp/three-hosts.safetensors" >"$tmp/three-hosts.out" 2>&1
status=$?
check "3 hosts: training exits 0 (got $status)" test "$status" -eq 0
where="$(hosts_mpirun 3 hostname 2>/dev/null | sort | tr '\n' ' ')"
check "3 hosts: one rank on each of h1 h2 h3 (hostname under mpirun: $where)" test "$where" = "h1 h2 h3 "
one_host -np 3 "$binary" train "${small[@]}" --save "$tmp/one-host.safetensors" >"$tmp/one-host.out" 2>&1
check "1 host, 3 ranks (shared memory): training exits 0" test $? -eq 0
check "3 hosts and 1 host end with bit-identical parameters (cmp)" \
    cmp -s "$tmp/three-hosts.safetensors" "$tmp/one-host.safetensors"
parameters="$(sed -n 's/.*H=256, \([0-9]*\) parameters.*/\1/p' "$tmp/three-hosts.out" | head -1)"
# Each rank sends 2(p−1)/p = 4/3 of the gradient per step and receives as much (4 bytes a parameter).
least=$(( ${parameters:-0} * 4 * 8 * 30 / 3 ))
for i in 0 1 2; do
    grew=$(( $(veth_bytes "$i") - before[i] ))
    check "traffic crossed ${HOSTS_NAMES[i]}'s veth: $grew bytes ≥ $least (ring allreduce of $parameters parameters × 30 steps)" \
        test "$grew" -ge "$least" -a "$least" -gt 0
done

hosts_mpirun 3 "$binary" train "${small[@]}" --no-overlap-allreduce --save "$tmp/three-hosts-after.safetensors" \
    >"$tmp/three-hosts-after.out" 2>&1
check "3 hosts: the allreduce after BPTT (--no-overlap-allreduce) gives the overlapped run's bits (cmp)" \
    cmp -s "$tmp/three-hosts.safetensors" "$tmp/three-hosts-after.safetensors"

# --- 3.: shaped links, α and β --------------------------------------------------------------
hosts_shape 1gbit
hosts_mpirun 3 "$binary" bench --allreduce --json >"$tmp/bench-1gbit.json" 2>"$tmp/bench-1gbit.err"
alpha="$(sed -n 's/.*"alpha_us" *: *\([0-9.e+-]*\).*/\1/p' "$tmp/bench-1gbit.json" | head -1)"
beta="$(sed -n 's/.*"beta_gb_per_s" *: *\([0-9.e+-]*\).*/\1/p' "$tmp/bench-1gbit.json" | head -1)"
echo "     1 Gbit/s links, 3 hosts: alpha ${alpha:-?} us, beta ${beta:-?} GB/s"
# tbf at 1 Gbit/s caps β at 0.125 GB/s (unshaped veths give ~2.6 GB/s). Three ranks spinning on
# two shared cores reach only a fraction of it (docs/multihost.md), so the floor is low.
check "1 Gbit/s links: bench --allreduce fits β ≤ 0.13 GB/s, the link's rate (got ${beta:-none})" \
    awk -v b="${beta:-0}" 'BEGIN { exit !(b > 0.002 && b <= 0.13) }'
hosts_unshape

# --- 4.: faults across hosts ----------------------------------------------------------------
timeout_s=5
fault_model=(--hidden 256 --seq-len 32 --global-batch 48 --seed 7)
progress_lines_beyond() { test "$(grep -c '^step ' "$1")" -ge "$2"; }
fault_run() { # fault_run NAME FAULT — runs a long job on 3 hosts, injects FAULT, checks the end
    local name="$1" fault="$2"
    local out="$tmp/$name.out" dir="$tmp/$name-checkpoints"
    hosts_mpirun 3 "$binary" train "${fault_model[@]}" --steps 100000 --log-every 2 \
        --collective-timeout "$timeout_s" --checkpoint-dir "$dir" --checkpoint-every 2 >"$out" 2>&1 &
    local runner=$!
    # The links are shaped only once the first steps are through: OpenMPI opens its TCP
    # connections in the first allreduce, and at 2 Mbit/s a dropped handshake packet waits for
    # TCP's 1 s and 3 s retransmission timers, which took step 1 past the 5 s timeout in a CI run
    # with no fault injected.
    wait_for 90 has "$out" "step +2/"
    hosts_shape 2mbit
    # Unshaped, a step takes ~30 ms, so several more may pass while the links are being shaped:
    # the fault waits for two progress lines of shaped steps. A progress line comes right after
    # the step's small collectives: 0.3 s later the ranks are in the next step's gradient
    # allreduce (~1.5 s at 2 Mbit/s for H=256; compute is ~0.1 s), the collective that knows
    # which peer it waits for.
    local shaped_at
    shaped_at="$(grep -c '^step ' "$out")"
    wait_for 90 progress_lines_beyond "$out" "$((shaped_at + 2))"
    sleep 0.3
    if ! kill -0 "$runner" 2>/dev/null; then
        fail "$name: the job had ended before the fault: $(grep -m1 'rnn-dist: rank' "$out" || tail -1 "$out")"
    fi
    local start
    start="$(date +%s.%N)"
    case "$fault" in
        cut) ip -n "${HOSTS_NAMESPACES[2]}" link set "${HOSTS_INNER}" down ;;
        kill) hosts_kill 2 ;;
        crawl) hosts_shape_one 2 8kbit ;;
    esac
    local status
    wait "$runner"; status=$?
    local took
    took="$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')"
    echo "     $name: job ended $took s after the fault, exit $status"
    echo "$name $took $status" >>"$tmp/fault-timings"
    check "$name: the job ends within collective-timeout + 10 s (took $took s)" \
        awk -v t="$took" -v limit="$((timeout_s + 10))" 'BEGIN { exit !(t <= limit) }'
    # Once mpirun has lost a host's daemon, it ends the job with its own code (205, or 9 when
    # it counts the daemon as failed to start); rnn-dist's watchdog ends it with 2.
    check "$name: exit code 2 (rnn-dist), or OpenMPI's 205 or 9 after losing h3's daemon (got $status)" \
        test "$status" -eq 2 -o "$status" -eq 205 -o "$status" -eq 9
    # rnn-dist names the rank when the ranks wait in the gradient allreduce (most faults land
    # there: it is ~90% of a step at 2 Mbit/s); a rank that got through it waits in one of
    # OpenMPI's small allreduces, whose peer is unknown, and then OpenMPI's message names h3.
    local named="none"
    if has "$out" "rank 2 on host h3"; then named="rnn-dist: rank 2 on host h3"
    elif has "$out" "(on node|Peer host:) +h3"; then named="OpenMPI: host h3"; fi
    echo "     $name: named by $named"
    echo "$name named-by $named" >>"$tmp/fault-timings"
    check "$name: a message names host h3 ($named)" test "$named" != none
    hosts_kill 2
    hosts_unshape
    ip -n "${HOSTS_NAMESPACES[2]}" link set "${HOSTS_INNER}" up
    # The newest checkpoint is intact: a resume on h1 and h2 (2 ranks, same global batch) loads it
    # (its checksum is verified on load) and finishes.
    local newest
    newest="$(find "$dir" -name 'checkpoint-*.safetensors' 2>/dev/null | sort | tail -1)"
    if [ -z "$newest" ]; then fail "$name: no checkpoint was written before the fault"; return; fi
    local resumed="${newest##*checkpoint-}"; resumed="$((10#${resumed%.safetensors}))"
    hosts_mpirun 2 "$binary" train "${fault_model[@]}" --steps "$((resumed + 4))" \
        --log-every 2 --collective-timeout "$timeout_s" --resume "$dir" >"$tmp/$name-resume.out" 2>&1
    status=$?
    check "$name: resume on h1+h2 (2 ranks) from step $resumed finishes (exit $status)" \
        has "$tmp/$name-resume.out" "parameters identical on all 2 ranks"
    check "$name: the resume loaded the newest checkpoint" has "$tmp/$name-resume.out" "resumed from .*checkpoint-0*$resumed"
}
fault_run "link cut" cut
fault_run "host killed" kill
fault_run "crawling link" crawl

# --- 6.: 3 hosts × 4 ranks: the three allreduce algorithms ------------------------------------
# 12 ranks (4 per host: shared memory within a host, TCP between hosts), a tiny model so that the
# allreduce dominates. What is the same bits, and what is bounded:
#  - ring: its order of additions depends on the rank count and order only, so 3 × 4 ranks give
#    the bits of 1 host × 12 ranks (cmp);
#  - two-level: its order depends on the hosts (each host's sum in rank order, then the hosts'
#    sums around a ring of hosts): fixed for 3 × 4 whatever the timing, so overlapped and not
#    give the same bits (cmp, at H=256 where the gradient is reduced in pieces); against other
#    orders it is bounded like a rank count: within 4 × the rounding spread S of one rank's run
#    under this CPU's other evaluation orders (Tests/EndToEndTests/RoundingSpread.swift's argument);
#  - mpi: the library's order; within the same bound; identical on every rank (checksum).
per_host=4
tiny=(--hidden 32 --seq-len 16 --global-batch 48 --steps 20 --log-every 10 --seed 7)
twelve() { hosts_mpirun_per 3 "$per_host" "$binary" train "${tiny[@]}" "$@"; }
one_host -np 1 "$binary" train "${tiny[@]}" --save "$tmp/tiny-np1.safetensors" >"$tmp/tiny-np1.out" 2>&1
spread_files=("$tmp/tiny-np1.safetensors")
for alternative in RNN_DIST_KERNEL=avx2 RNN_DIST_KERNEL=generic RNN_DIST_KERNEL=blas OPENBLAS_CORETYPE=Prescott; do
    name="${alternative#*=}"
    env "$alternative" mpirun --allow-run-as-root --bind-to none -x OPENBLAS_NUM_THREADS=1 -x "${alternative%%=*}" -np 1 \
        "$binary" train "${tiny[@]}" --save "$tmp/tiny-np1-$name.safetensors" >"$tmp/tiny-np1-$name.out" 2>&1 </dev/null &&
        spread_files+=("$tmp/tiny-np1-$name.safetensors")
done
spread="$(python3 "$root/Tests/multihost/maxrel.py" "${spread_files[@]}" 2>/dev/null)"
echo "     rounding spread S of one rank's run over ${#spread_files[@]} evaluation orders: ${spread:-?}"
check "rounding spread measured: 0 < S < 1e-3 over ${#spread_files[@]} evaluation orders (got ${spread:-none})" \
    awk -v s="${spread:-0}" 'BEGIN { exit !(s > 0 && s < 1e-3) }'
one_host -np 12 "$binary" train "${tiny[@]}" --allreduce ring --save "$tmp/tiny-1x12-ring.safetensors" >"$tmp/tiny-1x12-ring.out" 2>&1
check "1 host × 12 ranks, ring: exits 0" test $? -eq 0
for mode in ring two-level mpi; do
    twelve --allreduce "$mode" --save "$tmp/tiny-3x4-$mode.safetensors" >"$tmp/tiny-3x4-$mode.out" 2>&1
    status=$?
    check "3 hosts × 4 ranks, $mode: exits 0 (got $status), header names it" \
        has "$tmp/tiny-3x4-$mode.out" "allreduce: $mode \\(3 hosts × 4 ranks[;)]"
    check "3 hosts × 4 ranks, $mode: parameters identical on all 12 ranks" \
        has "$tmp/tiny-3x4-$mode.out" "parameters identical on all 12 ranks"
    difference="$(python3 "$root/Tests/multihost/maxrel.py" "$tmp/tiny-np1.safetensors" "$tmp/tiny-3x4-$mode.safetensors" 2>/dev/null)"
    check "3 hosts × 4 ranks, $mode vs 1 rank: max relative difference ${difference:-?} < 4 S = 4 × ${spread:-?}" \
        awk -v d="${difference:-1}" -v s="${spread:-0}" 'BEGIN { exit !(d < 4 * s) }'
done
check "3 hosts × 4 ranks ring = 1 host × 12 ranks ring, bit for bit (cmp)" \
    cmp -s "$tmp/tiny-3x4-ring.safetensors" "$tmp/tiny-1x12-ring.safetensors"
twelve >"$tmp/tiny-3x4-auto.out" 2>&1
check "3 hosts × 4 ranks: auto chooses two-level, its cross-host stage timed (header)" \
    has "$tmp/tiny-3x4-auto.out" "allreduce: two-level \\(auto: 3 hosts × 4 ranks; across hosts: (rings|leaders) \\([0-9.]+ ms, (rings|leaders) [0-9.]+ ms\\)\\)"
# The two cross-host stages (one ring per local rank; one ring of the hosts' leaders) add in
# the same order: the same bits, whichever the timing at start picks.
for stage in rings leaders; do
    twelve --allreduce two-level --two-level-cross-host "$stage" --save "$tmp/tiny-3x4-$stage.safetensors" >"$tmp/tiny-3x4-$stage.out" 2>&1
    check "3 hosts × 4 ranks, two-level across hosts by $stage: exits 0 (got $?), header names it" \
        has "$tmp/tiny-3x4-$stage.out" "across hosts: $stage \\(chosen\\)"
done
check "3 hosts × 4 ranks, two-level: rings = leaders across hosts, bit for bit (cmp)" \
    cmp -s "$tmp/tiny-3x4-rings.safetensors" "$tmp/tiny-3x4-leaders.safetensors"
for stage in rings leaders; do
    for flag in --overlap-allreduce --no-overlap-allreduce; do
        hosts_mpirun_per 3 "$per_host" "$binary" train --hidden 256 --seq-len 16 --global-batch 24 --steps 4 --log-every 4 --seed 7 \
            --allreduce two-level --two-level-cross-host "$stage" "$flag" --save "$tmp/h256-3x4-$stage$flag.safetensors" \
            >"$tmp/h256-3x4-$stage$flag.out" 2>&1
    done
    check "3 hosts × 4 ranks, two-level ($stage) at H=256 in pieces: overlapped = after BPTT, bit for bit (cmp)" \
        cmp -s "$tmp/h256-3x4-$stage--overlap-allreduce.safetensors" "$tmp/h256-3x4-$stage--no-overlap-allreduce.safetensors"
done
check "3 hosts × 4 ranks, two-level at H=256 in pieces: rings = leaders, bit for bit (cmp)" \
    cmp -s "$tmp/h256-3x4-rings--overlap-allreduce.safetensors" "$tmp/h256-3x4-leaders--overlap-allreduce.safetensors"

# Cross-host messages per step and sequential cross-host hops per bucket, counted by the
# algorithms themselves (rnn-dist bench's JSON): a flat ring's 2(p−1) steps each wait on a link
# between hosts; two-level's cross-host rings take 2(hosts−1) steps.
bench_tiny=(bench --hidden 32 --seq-len 16 --batch-per-rank 4 --warmup 2 --timed 10 --no-overlap-allreduce --json)
declare -A hops messages
for mode in ring two-level two-level-leaders; do
    case "$mode" in
        two-level) how=(--allreduce-mode two-level --two-level-cross-host rings) ;;
        two-level-leaders) how=(--allreduce-mode two-level --two-level-cross-host leaders) ;;
        *) how=(--allreduce-mode "$mode") ;;
    esac
    hosts_mpirun_per 3 "$per_host" "$binary" "${bench_tiny[@]}" "${how[@]}" >"$tmp/count-$mode.json" 2>"$tmp/count-$mode.err"
    hops[$mode]="$(sed -n 's/.*"sequential_cross_host_hops_per_bucket" *: *\([0-9]*\).*/\1/p' "$tmp/count-$mode.json")"
    messages[$mode]="$(sed -n 's/.*"cross_host_messages_per_step" *: *\([0-9]*\).*/\1/p' "$tmp/count-$mode.json")"
    echo "     3 hosts × 4 ranks, $mode: ${messages[$mode]:-?} cross-host messages per step, ${hops[$mode]:-?} sequential cross-host hops per bucket"
done
check "ring: 2(p−1) = 22 sequential cross-host hops per bucket (counted: ${hops[ring]:-none})" test "${hops[ring]:-0}" -eq 22
check "two-level: 2(hosts−1) = 4 sequential cross-host hops per bucket, across hosts by rings (counted: ${hops[two-level]:-none}) and by leaders (${hops[two-level-leaders]:-none})" \
    test "${hops[two-level]:-0}" -eq 4 -a "${hops[two-level-leaders]:-0}" -eq 4
# Ring: the 3 ranks whose right neighbour is on the next host send at each of the 22 steps;
# two-level by rings: 4 chunks, each a ring of 3 owners over 4 steps; by leaders: one ring of
# the 3 leaders over 4 steps, each step's message packing the 4 chunks' pieces.
check "cross-host messages per step: ring 3 × 22 = 66 (${messages[ring]:-none}), two-level by rings 4 × 3 × 4 = 48 (${messages[two-level]:-none}), by leaders 3 × 4 = 12 (${messages[two-level-leaders]:-none})" \
    test "${messages[ring]:-0}" -eq 66 -a "${messages[two-level]:-0}" -eq 48 -a "${messages[two-level-leaders]:-0}" -eq 12

# The hop latencies the allreduce model takes (bench --hops): in this layout all three rings
# exist (a ring of 12, 3 rings of 4 in shared memory, 4 rings of 3 across the hosts, and the
# hosts' first ranks alone in a ring of 3).
hosts_mpirun_per 3 "$per_host" "$binary" bench --hops --json >"$tmp/hops.json" 2>"$tmp/hops.err"
echo "     3 hosts × 4 ranks, one hop: $(sed -n 's/.*"hop_us" *: *\({[^}]*}\).*/\1/p' "$tmp/hops.json")"
check "3 hosts × 4 ranks: bench --hops times a ring of all, rings within the hosts and rings across them" \
    grep -q '"cross_host_rings":[0-9.e+-]*,"host_rings":[0-9.e+-]*,"leader_ring":[0-9.e+-]*,"world_ring":[0-9.e+-]*}.*"topology":"3 hosts × 4 ranks"' "$tmp/hops.json"

finish
