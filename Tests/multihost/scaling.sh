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
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=Tests/multihost/hosts.sh
source "$root/Tests/multihost/hosts.sh"
binary="$root/.build/release/rnn-dist"
[ -x "$binary" ] || (cd "$root" && swift build -c release --product rnn-dist) || exit 1
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
