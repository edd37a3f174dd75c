# shellcheck shell=bash disable=SC2154  # root, passed and failed belong to the sourcing test (Tests/checks.sh)
# Tests/multihost/hosts.sh — hosts as Linux network namespaces on one machine, for
# Tests/multihost/run.sh and scaling.sh (sourced; needs root, ip and tc).
#
# hosts_make N DIR     makes hosts h1..hN: a namespace each, a veth pair from it to one bridge,
#                      addresses 198.18.S.1..N/24 (S from this shell's pid, inside 198.18.0.0/15,
#                      DESIGN §10), mpirun's side 198.18.S.254 on the bridge, and a launch agent
#                      DIR/agent that runs a command in a host's namespace under its own host name.
# hosts_mpirun N CMD…  mpirun on h1..hN, one rank each, TCP only over the veths.
# hosts_mpirun_per N K CMD…  mpirun on h1..hN, K ranks each (ranks 0..K−1 on h1, …): TCP over the
#                      veths between hosts, shared memory (OpenMPI's vader) between a host's ranks.
#                      Waiting ranks yield the core (mpi_yield_when_idle): N·K ranks share this
#                      machine's 2 cores, which OpenMPI cannot see through the made-up hosts' slots
#                      (it yields by itself when it knows a node is oversubscribed); spinning, a
#                      rank holds a core for its whole time slice while the rank it waits for
#                      cannot run, and every hop of an exchange costs a slice (~0.1 s at load 16).
# HOSTS_MPI_EXTRA=(…)  more mpirun arguments for both.
# hosts_shape RATE     shapes every link to RATE (tc tbf both ways); hosts_shape_one I RATE one
#                      host's link (index I from 0); hosts_unshape removes all shaping.
# hosts_kill I         kills every process in host I's namespace (orted and ranks).
# hosts_remove         kills what runs in the hosts and the mpiruns started here, deletes the
#                      namespaces, veths and bridge; hosts_all_gone checks that nothing is left.
HOSTS_PREFIX="rdmh$$"
HOSTS_BRIDGE="${HOSTS_PREFIX}br"
HOSTS_INNER=eth0
HOSTS_SUBNET=""
HOSTS_AGENT=""
HOSTS_NAMES=()
HOSTS_ADDRESSES=()
HOSTS_NAMESPACES=()
HOSTS_VETHS=()
# mpirun notices a host that stopped answering within ~4 s instead of OpenMPI's default
# 300 + 9×20 s (docs/multihost.md: without it, a cut link hangs mpirun). Empty it to see that.
HOSTS_LIFELINE=(--mca oob_tcp_keepalive_time 2 --mca oob_tcp_keepalive_intvl 1 --mca oob_tcp_keepalive_probes 2)
HOSTS_MPI_EXTRA=()

hosts_make() { # hosts_make N DIR
    local count="$1" dir="$2" i
    local octet=$(( $$ % 250 + 1 ))
    HOSTS_SUBNET="198.18.$octet.0/24"
    HOSTS_AGENT="$dir/agent"
    {
        ip link add "$HOSTS_BRIDGE" type bridge &&
        ip addr add "198.18.$octet.254/24" dev "$HOSTS_BRIDGE" &&
        ip link set "$HOSTS_BRIDGE" up
    } >>"$dir/hosts.log" 2>&1 || return 1
    local cases=""
    for ((i = 0; i < count; i++)); do
        HOSTS_NAMES[i]="h$((i + 1))"
        HOSTS_ADDRESSES[i]="198.18.$octet.$((i + 1))"
        HOSTS_NAMESPACES[i]="$HOSTS_PREFIX-h$((i + 1))"
        HOSTS_VETHS[i]="${HOSTS_PREFIX}v$((i + 1))"
        {
            ip netns add "${HOSTS_NAMESPACES[i]}" &&
            ip link add "${HOSTS_VETHS[i]}" type veth peer name "$HOSTS_INNER" netns "${HOSTS_NAMESPACES[i]}" &&
            ip link set "${HOSTS_VETHS[i]}" master "$HOSTS_BRIDGE" up &&
            ip -n "${HOSTS_NAMESPACES[i]}" addr add "${HOSTS_ADDRESSES[i]}/24" dev "$HOSTS_INNER" &&
            ip -n "${HOSTS_NAMESPACES[i]}" link set "$HOSTS_INNER" up &&
            ip -n "${HOSTS_NAMESPACES[i]}" link set lo up
        } >>"$dir/hosts.log" 2>&1 || return 1
        cases+="    ${HOSTS_NAMES[i]}|${HOSTS_ADDRESSES[i]}) name=${HOSTS_NAMES[i]} namespace=${HOSTS_NAMESPACES[i]} ;;"$'\n'
    done
    # OpenMPI's rsh launcher runs `AGENT HOST COMMAND-LINE` as it would run ssh: the agent enters
    # the host's namespace, gives it its own UTS namespace and host name (what
    # MPI_Get_processor_name reports), and runs the command line through a shell as sshd would.
    cat >"$HOSTS_AGENT" <<AGENT
#!/bin/sh
case "\$1" in
$cases    *) echo "agent: unknown host \$1" >&2; exit 255 ;;
esac
shift
exec ip netns exec "\$namespace" unshare --uts sh -c 'hostname "\$0" && exec sh -c "\$*"' "\$name" "\$@"
AGENT
    chmod +x "$HOSTS_AGENT"
}

hosts_mpirun() { # hosts_mpirun N COMMAND...
    local count="$1" list="" i; shift
    for ((i = 0; i < count; i++)); do list+="${list:+,}${HOSTS_NAMES[i]}:1"; done
    mpirun --allow-run-as-root --bind-to none -x OPENBLAS_NUM_THREADS=1 --host "$list" -np "$count" \
        --mca plm_rsh_agent "$HOSTS_AGENT" --mca btl tcp,self \
        --mca btl_tcp_if_include "$HOSTS_SUBNET" --mca oob_tcp_if_include "$HOSTS_SUBNET" \
        "${HOSTS_LIFELINE[@]}" "${HOSTS_MPI_EXTRA[@]}" "$@" </dev/null
}

hosts_mpirun_per() { # hosts_mpirun_per N K COMMAND...
    local count="$1" per="$2" list="" i; shift 2
    for ((i = 0; i < count; i++)); do list+="${list:+,}${HOSTS_NAMES[i]}:$per"; done
    mpirun --allow-run-as-root --bind-to none -x OPENBLAS_NUM_THREADS=1 --host "$list" -np "$((count * per))" \
        --mca plm_rsh_agent "$HOSTS_AGENT" --mca btl tcp,vader,self --mca mpi_yield_when_idle 1 \
        --mca btl_tcp_if_include "$HOSTS_SUBNET" --mca oob_tcp_if_include "$HOSTS_SUBNET" \
        "${HOSTS_LIFELINE[@]}" "${HOSTS_MPI_EXTRA[@]}" "$@" </dev/null
}

# tbf's bucket holds what the rate sends in 1 ms, and at least 16 KB. Smaller, and the rate is
# not reached on a busy machine (the qdisc's timer fires late: throughput = bucket / delay);
# larger, and messages below the bucket's size pass at full speed.
hosts_tbf() { # hosts_tbf DEVICE RATE [ip -n NAMESPACE]
    local device="$1" rate="$2"; shift 2
    local bits
    bits="$(echo "$rate" | awk '{ n = $0 + 0; u = tolower($0); sub(/^[0-9.]+/, "", u);
        m = (u == "kbit") ? 1e3 : (u == "mbit") ? 1e6 : (u == "gbit") ? 1e9 : 1; printf "%d", n * m }')"
    local burst=$(( bits / 8 / 1000 )); [ "$burst" -lt 16000 ] && burst=16000
    "$@" tc qdisc replace dev "$device" root tbf rate "$rate" burst "$burst" latency 100ms
}
hosts_shape_one() { # hosts_shape_one INDEX RATE
    hosts_tbf "${HOSTS_VETHS[$1]}" "$2"
    hosts_tbf "$HOSTS_INNER" "$2" ip netns exec "${HOSTS_NAMESPACES[$1]}"
}
hosts_shape() { local i; for i in "${!HOSTS_NAMES[@]}"; do hosts_shape_one "$i" "$1"; done; }
hosts_unshape() {
    local i
    for i in "${!HOSTS_NAMES[@]}"; do
        tc qdisc del dev "${HOSTS_VETHS[i]}" root 2>/dev/null
        ip netns exec "${HOSTS_NAMESPACES[i]}" tc qdisc del dev "$HOSTS_INNER" root 2>/dev/null
    done
    return 0
}

hosts_kill() { # hosts_kill INDEX
    local pids
    pids="$(ip netns pids "${HOSTS_NAMESPACES[$1]}" 2>/dev/null)"
    # shellcheck disable=SC2086  # one pid a word
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    return 0
}

hosts_remove() {
    local i pids
    pids="$(jobs -p)"
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    for i in "${!HOSTS_NAMES[@]}"; do
        hosts_kill "$i"
        ip netns del "${HOSTS_NAMESPACES[i]}" 2>/dev/null   # takes its end of the veth along
        ip link del "${HOSTS_VETHS[i]}" 2>/dev/null
    done
    ip link del "$HOSTS_BRIDGE" 2>/dev/null
    wait 2>/dev/null
    return 0
}

hosts_all_gone() {
    ! ip netns list | grep -q "^$HOSTS_PREFIX-" &&
    ! ip -o link show | grep -q ": $HOSTS_PREFIX" &&
    { [ -z "$HOSTS_AGENT" ] || ! pgrep -f -- "$HOSTS_AGENT" >/dev/null; } &&
    [ -z "$(jobs -p)" ]
}

# What a test of three such hosts (run.sh, elastic.sh) does first and last; NAME prefixes its
# lines. hosts_test_begin NAME: skipped (exit 0) without root or where namespaces cannot be
# made (a container without CAP_NET_ADMIN); installs what is missing (Launch/install-deps.sh,
# iproute2), builds the release binary if absent (sets `binary`), makes the scratch folder `tmp`
# (kept when a check failed or RNN_DIST_MULTIHOST_KEEP is set) and hosts h1..h3. finish: removes
# the hosts, checks nothing is left, prints the counts and exits non-zero when a check failed.
# Both use Tests/checks.sh's pass, fail, check, passed and failed; `root` is the repository.
HOSTS_TEST_NAME=""
hosts_test_begin() { # hosts_test_begin NAME
    HOSTS_TEST_NAME="$1"
    if [ "$(id -u)" -ne 0 ]; then
        echo "$HOSTS_TEST_NAME: skipped: needs root (network namespaces, veths, tc)"
        exit 0
    fi
    bash "$root/Launch/install-deps.sh" || exit 1
    if ! command -v ip >/dev/null 2>&1 || ! command -v tc >/dev/null 2>&1; then
        echo "$HOSTS_TEST_NAME: installing iproute2"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq iproute2 >/dev/null || exit 1
    fi
    binary="$root/.build/release/rnn-dist"
    if [ ! -x "$binary" ]; then
        (cd "$root" && swift build -c release --product rnn-dist) || exit 1
    fi
    tmp="$(mktemp -d "/tmp/rnn-dist-$HOSTS_TEST_NAME.XXXXXX")"
    trap hosts_test_cleanup EXIT
    trap 'exit 130' INT TERM
    local probe
    if ! probe="$(ip netns add "$HOSTS_PREFIX-probe" 2>&1)"; then
        echo "$HOSTS_TEST_NAME: skipped: cannot make a network namespace here: $probe"
        exit 0
    fi
    ip netns del "$HOSTS_PREFIX-probe"
    if ! hosts_make 3 "$tmp"; then
        fail "make 3 hosts (namespaces, veths, bridge): $(tail -3 "$tmp/hosts.log" 2>/dev/null | tr '\n' ' ')"
        finish
    fi
    pass "3 hosts: ${HOSTS_NAMES[*]} at ${HOSTS_ADDRESSES[*]} on bridge $HOSTS_BRIDGE ($HOSTS_SUBNET)"
}
hosts_test_cleanup() {
    hosts_remove
    if [ "$failed" -gt 0 ] || [ -n "${RNN_DIST_MULTIHOST_KEEP:-}" ]; then
        echo "$HOSTS_TEST_NAME: outputs kept in $tmp"
    else
        rm -rf "$tmp"
    fi
}
finish() {
    hosts_remove
    check "nothing left behind: no namespace, veth, bridge or process of this test" hosts_all_gone
    echo "$HOSTS_TEST_NAME: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}
