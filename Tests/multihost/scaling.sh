#!/usr/bin/env bash
# Tests/multihost/scaling.sh — the README's scaling model against real TCP links between hosts.
#
# Makes HOSTS hosts (default 2: one core per rank on a 2-core machine) (Tests/multihost/hosts.sh), and for each link speed (default: unshaped,
# 10gbit, 1gbit; RATES="…" to choose): shapes the links with tc tbf, measures the allreduce's
# α and β across the hosts (rnn-dist bench --allreduce), runs the training bench at H=512,
# T=64, 32 sequences per rank, and prints the measured step time next to the model's
#     predicted = compute + 2(p−1)·α + 2(p−1)/p · 4·parameters / β
# where compute = forward + backward + optimizer of the same run (without overlap: the model is
# of a step whose allreduce follows BPTT), then the same bench with the allreduce overlapped
# with BPTT (overlap-allreduce, the default) and the step time it saves. REPEATS=N interleaves N
# rounds over the speeds; IDLE_RESTART=0 turns off TCP's slow start after idle in the hosts. Needs root; about 1 minute per round and speed.
#
# TOPOLOGY=3x4: the allreduce algorithms instead. Makes 3 hosts, shapes the links to RATE
# (default 1gbit), fits α and β between hosts (TCP: bench --allreduce on 3 hosts × 1 rank) and
# within one (shared memory: 1 host × 4 ranks), β at the gradient's size from the same bench's
# H=512 line; then REPEATS (default 3) interleaved rounds of, on 3 hosts × 4 ranks, one ring
# hop's latency in that layout (bench --hops: MPI_Sendrecv rings of all 12 ranks, within each
# host, across the hosts, of the hosts' first ranks alone) and the training bench for each of ring, two-level
# across hosts by rings, two-level across hosts by leaders, and mpi (tiny model, H=32, allreduce after BPTT; one
# more two-level run lets auto time and pick its cross-host stage, which the round prints), and one
# rank's compute for H=512 tanh and the 2×1024 LSTM (T=64, 32 sequences). Prints the medians,
# writes OUT (default /tmp/rnn-dist-allreduce-model.json) and runs Tests/multihost/model.py on it
# (the tables of docs/multihost.md and SVG=… (default docs/allreduce-model.svg)).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=Tests/multihost/hosts.sh
source "$root/Tests/multihost/hosts.sh"
binary="$root/.build/release/rnn-dist"
[ -x "$binary" ] || (cd "$root" && swift build -c release --product rnn-dist) || exit 1
[ "${TOPOLOGY:-}" = 3x4 ] && HOSTS=3
read -r -a rates <<<"${RATES:-none 1gbit 100mbit}"
repeats="${REPEATS:-1}"
hidden="${HIDDEN:-512}"
tmp="$(mktemp -d /tmp/rnn-dist-scaling.XXXXXX)"
trap 'hosts_remove; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
hosts_make "${HOSTS:-2}" "$tmp" || { echo "scaling: cannot make hosts: $(cat "$tmp/hosts.log")"; exit 1; }
# IDLE_RESTART=0: TCP keeps its congestion window across the compute phase (Linux restarts from
# slow start after an idle RTO by default). A per-namespace setting: the machine's is untouched.
if [ -n "${IDLE_RESTART:-}" ]; then
    for namespace in "${HOSTS_NAMESPACES[@]}"; do
        ip netns exec "$namespace" sysctl -q -w "net.ipv4.tcp_slow_start_after_idle=$IDLE_RESTART"
    done
fi

field() { sed -n "s/.*\"$2\" *: *\([0-9.e+-]*\).*/\1/p" "$1" | head -1; }

if [ "${TOPOLOGY:-}" = 3x4 ]; then
    rate="${RATE:-1gbit}"; repeats="${REPEATS:-3}"

    [ "$rate" != none ] && hosts_shape "$rate"
    # The gradient-sized line of bench --allreduce: its median (µs).
    gradient_us() { tr '{' '\n' <"$1" | grep "gradients H=${2:-512} " | sed -n 's/.*"median_us" *: *\([0-9.e+-]*\).*/\1/p'; }
    # Every run here yields when idle, as hosts_mpirun_per does (3 or 4 ranks on 2 cores too).
    HOSTS_MPI_EXTRA=(--mca mpi_yield_when_idle 1)
    hosts_mpirun 3 "$binary" bench --allreduce --json >"$tmp/tcp.json" 2>/dev/null
    HOSTS_MPI_EXTRA=()
    hosts_mpirun_per 1 4 "$binary" bench --allreduce --json >"$tmp/shm.json" 2>/dev/null
    # β at a gradient's size (H=512's for the predictions, H=32's for the measured tiny model:
    # tbf passes what fits its bucket at the veth's speed, so small messages see another β):
    # 2(p−1)/p · bytes over the time the latency term leaves (none left: bytes cost nothing).
    beta_at() { awk -v t="$1" -v a="$2" -v p="$3" -v n="$4" 'BEGIN { r = t * 1e-6 - 2 * (p - 1) * a * 1e-6;
        printf "%.5f", (r > 0 ? 2 * (p - 1) / p * 4 * n / r / 1e9 : 1e6) }'; }
    n512=$(( 512 * 512 + 2 * 512 * 65 + 512 + 65 )); n32=$(( 32 * 32 + 2 * 32 * 65 + 32 + 65 ))
    alpha_tcp="$(field "$tmp/tcp.json" alpha_us)"; alpha_shm="$(field "$tmp/shm.json" alpha_us)"
    beta_tcp="$(beta_at "$(gradient_us "$tmp/tcp.json")" "$alpha_tcp" 3 "$n512")"
    beta_shm="$(beta_at "$(gradient_us "$tmp/shm.json")" "$alpha_shm" 4 "$n512")"
    beta_tcp_tiny="$(beta_at "$(gradient_us "$tmp/tcp.json" 32)" "$alpha_tcp" 3 "$n32")"
    beta_shm_tiny="$(beta_at "$(gradient_us "$tmp/shm.json" 32)" "$alpha_shm" 4 "$n32")"
    echo "links $rate: TCP alpha $alpha_tcp us, beta at the H=512 gradient $beta_tcp GB/s, at H=32's $beta_tcp_tiny GB/s; shared memory alpha $alpha_shm us, beta $beta_shm GB/s, at H=32's $beta_shm_tiny GB/s"
    rounds=""
    for ((round = 1; round <= repeats; round++)); do
        # One hop's latency in this very layout (12 ranks on the hosts' cores), by plain
        # MPI_Sendrecv rings: the model's α, measured apart from the allreduce it predicts.
        hosts_mpirun_per 3 4 "$binary" bench --hops --json >"$tmp/hops-$round.json" 2>/dev/null
        echo "round $round hops: world ring $(field "$tmp/hops-$round.json" world_ring) us, host rings $(field "$tmp/hops-$round.json" host_rings) us, cross-host rings $(field "$tmp/hops-$round.json" cross_host_rings) us, leader ring $(field "$tmp/hops-$round.json" leader_ring) us"
        for mode in ring two-level-rings two-level-leaders mpi two-level-auto; do
            case "$mode" in
                two-level-*) how=(--allreduce-mode two-level --two-level-cross-host "${mode#two-level-}") ;;
                *) how=(--allreduce-mode "$mode") ;;
            esac
            hosts_mpirun_per 3 4 "$binary" bench --hidden 32 --seq-len 16 --batch-per-rank 4 --warmup 3 --timed 30 \
                --no-overlap-allreduce "${how[@]}" --json >"$tmp/$mode-$round.json" 2>/dev/null
            echo "round $round $mode: step $(field "$tmp/$mode-$round.json" seconds_per_step) s, allreduce $(field "$tmp/$mode-$round.json" allreduce_s) s"
        done
        echo "round $round two-level auto chose: $(sed -n 's/.*"two_level_cross_host" *: *"\([a-z]*\)".*/\1/p' "$tmp/two-level-auto-$round.json") (timed at start: rings $(field "$tmp/two-level-auto-$round.json" two_level_rings_s) s, leaders $(field "$tmp/two-level-auto-$round.json" two_level_leaders_s) s)"
        # The round as the model reads it: its hops beside its three measured allreduces.
        ms() { awk -v x="$(field "$tmp/$1-$round.json" "$2")" 'BEGIN { print x * 1e3 }'; }
        rounds+="${rounds:+,}{\"hop_us\": {\"world_ring\": $(field "$tmp/hops-$round.json" world_ring), \"host_rings\": $(field "$tmp/hops-$round.json" host_rings), \"cross_host_rings\": $(field "$tmp/hops-$round.json" cross_host_rings), \"leader_ring\": $(field "$tmp/hops-$round.json" leader_ring)}, \"allreduce_ms\": {\"ring\": $(ms ring allreduce_s), \"two-level-rings\": $(ms two-level-rings allreduce_s), \"two-level-leaders\": $(ms two-level-leaders allreduce_s), \"mpi\": $(ms mpi allreduce_s)}, \"imbalance_ms\": {\"ring\": $(ms ring waiting_for_slowest_rank_s), \"two-level-rings\": $(ms two-level-rings waiting_for_slowest_rank_s), \"two-level-leaders\": $(ms two-level-leaders waiting_for_slowest_rank_s), \"mpi\": $(ms mpi waiting_for_slowest_rank_s)}}"
    done
    hosts_unshape
    median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
    points=""
    for mode in ring two-level-rings two-level-leaders mpi; do
        step="$(for f in "$tmp/$mode"-*.json; do field "$f" seconds_per_step; done | median)"
        allreduce="$(for f in "$tmp/$mode"-*.json; do field "$f" allreduce_s; done | median)"
        compute="$(for f in "$tmp/$mode"-*.json; do awk -v a="$(field "$f" forward_s)" -v b="$(field "$f" backward_s)" -v c="$(field "$f" optimizer_s)" 'BEGIN { print a + b + c }'; done | median)"
        # Of the allreduce's time, the wait for the slowest rank's compute (its compute minus the
        # ranks' mean, per step): load imbalance, which the allreduce model does not predict.
        imbalance="$(for f in "$tmp/$mode"-*.json; do field "$f" waiting_for_slowest_rank_s; done | median)"
        echo "median of $repeats: $mode step $step s, allreduce $allreduce s (of it waiting for the slowest rank $imbalance s), compute $compute s"
        points+="${points:+,}{\"mode\": \"$mode\", \"model\": \"tiny\", \"hosts\": 3, \"ranks_per_host\": 4, \"compute_ms\": $(awk -v x="$compute" 'BEGIN { print x * 1e3 }'), \"step_ms\": $(awk -v x="$step" 'BEGIN { print x * 1e3 }'), \"allreduce_ms\": $(awk -v x="$allreduce" 'BEGIN { print x * 1e3 }'), \"imbalance_ms\": $(awk -v x="$imbalance" 'BEGIN { print x * 1e3 }')}"
    done
    hop_median() { for f in "$tmp"/hops-*.json; do field "$f" "$1"; done | median; }
    hop_world="$(hop_median world_ring)"; hop_host="$(hop_median host_rings)"; hop_cross="$(hop_median cross_host_rings)"
    hop_leader="$(hop_median leader_ring)"
    echo "median of $repeats: one hop in the 3 x 4 layout: world ring $hop_world us, host rings $hop_host us, cross-host rings $hop_cross us, leader ring $hop_leader us"
    one_rank_ms() { mpirun --allow-run-as-root --mca mpi_yield_when_idle 1 --bind-to none -x OPENBLAS_NUM_THREADS=1 -np 1 "$binary" bench "$@" --seq-len 64 --batch-per-rank 32 \
        --warmup 1 --timed 3 --json 2>/dev/null </dev/null | awk '{ print }' >"$tmp/one.json"
        awk -v s="$(field "$tmp/one.json" seconds_per_step)" 'BEGIN { print s * 1e3 }'; }
    tanh_ms="${TANH_COMPUTE_MS:-$(one_rank_ms --hidden 512)}"
    lstm_ms="${LSTM_COMPUTE_MS:-$(one_rank_ms --cell lstm --layers 2 --hidden 1024)}"
    echo "one rank's step: H=512 tanh $tanh_ms ms, 2x1024 LSTM $lstm_ms ms"
    out="${OUT:-/tmp/rnn-dist-allreduce-model.json}"
    cat >"$out" <<JSON
{"alpha_shm_us": $alpha_shm, "beta_shm_gb_per_s": $beta_shm, "alpha_tcp_us": $alpha_tcp, "beta_tcp_gb_per_s": $beta_tcp,
 "beta_at_tiny": {"beta_shm_gb_per_s": $beta_shm_tiny, "beta_tcp_gb_per_s": $beta_tcp_tiny},
 "rounds": [$rounds],
 "hop_us": {"world_ring": $hop_world, "host_rings": $hop_host, "cross_host_rings": $hop_cross, "leader_ring": $hop_leader},
 "points": [$points],
 "compute_ms": {"tanh512": $tanh_ms, "lstm2x1024": $lstm_ms},
 "cluster": {"alpha_tcp_us": ${CLUSTER_ALPHA_US:-30}, "beta_tcp_gb_per_s": ${CLUSTER_BETA_GB:-2.8}}}
JSON
    echo "measured: $out"
    python3 "$root/Tests/multihost/model.py" "$out" "${SVG:-$root/docs/allreduce-model.svg}"
    exit 0
fi
for ((round = 1; round <= repeats; round++)); do
    for rate in "${rates[@]}"; do
        hosts_unshape
        [ "$rate" != none ] && hosts_shape "$rate"
        out="$tmp/$rate-$round"
        hosts_mpirun "${HOSTS:-2}" "$binary" bench --allreduce --json >"$out.allreduce" 2>/dev/null
        hosts_mpirun "${HOSTS:-2}" "$binary" bench --hidden "$hidden" --seq-len 64 --batch-per-rank 32 --warmup 3 --timed 20 \
            --no-overlap-allreduce --json >"$out.train" 2>/dev/null
        hosts_mpirun "${HOSTS:-2}" "$binary" bench --hidden "$hidden" --seq-len 64 --batch-per-rank 32 --warmup 3 --timed 20 \
            --overlap-allreduce --json >"$out.overlap" 2>/dev/null
        alpha="$(field "$out.allreduce" alpha_us)"; beta="$(field "$out.allreduce" beta_gb_per_s)"
        # MPI_Allreduce of exactly the H=512 gradient, timed by the same bench.
        direct="$(tr '{' '\n' <"$out.allreduce" | grep "gradients H=$hidden " | sed -n 's/.*"median_us" *: *\([0-9.e+-]*\).*/\1/p')"
        step="$(field "$out.train" seconds_per_step)"; allreduce="$(field "$out.train" allreduce_s)"
        compute="$(awk -v f="$(field "$out.train" forward_s)" -v b="$(field "$out.train" backward_s)" \
            -v o="$(field "$out.train" optimizer_s)" 'BEGIN { print f + b + o }')"
        count=$(( hidden * hidden + 2 * hidden * 65 + hidden + 65 ))  # W_hh, W_xh, W_hy, b_h, b_y (V=65)
        awk -v rate="$rate" -v a="$alpha" -v b="$beta" -v s="$step" -v c="$compute" -v r="$allreduce" -v n="$count" -v d="${direct:-0}" \
            'BEGIN { p = '"${HOSTS:-2}"'; t = 2 * (p - 1) * a * 1e-6 + 2 * (p - 1) / p * 4 * n / (b * 1e9);
                     g = 2 * (p - 1) / p * 4 * n / (d * 1e-6 - 2 * (p - 1) * a * 1e-6) / 1e9;
                     printf "%-7s fit: alpha %7.1f us beta %7.4f GB/s | gradient (%.2f MB) allreduce %6.1f ms, beta there %7.4f GB/s | H=%d step %7.1f ms = compute %6.1f + allreduce %6.1f | fit model: allreduce %6.1f, step %7.1f ms (%+.0f%%) | gradient-size model: step %7.1f ms (%+.0f%%)\n",
                            rate, a, b, 4 * n / 1e6, d / 1e3, g, '"$hidden"', s * 1e3, c * 1e3, r * 1e3, t * 1e3, (c + t) * 1e3, ((c + t) / s - 1) * 100,
                            (c + d * 1e-6) * 1e3, ((c + d * 1e-6) / s - 1) * 100 }'
        awk -v rate="$rate" -v s="$step" -v o="$(field "$out.overlap" seconds_per_step)" \
            -v a="$(field "$out.overlap" allreduce_s)" -v f="$(field "$out.overlap" reduced_during_backward)" \
            'BEGIN { printf "%-7s overlap: step %7.1f ms (without %7.1f ms, %+.0f%%), allreduce after BPTT %6.1f ms, %.0f%% of the gradient reduced during BPTT\n",
                            rate, o * 1e3, s * 1e3, (o / s - 1) * 100, a * 1e3, f * 100 }'
    done
done
