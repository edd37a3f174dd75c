# The check counting shared by the shell-level tests (Tests/slurm/run.sh, Tests/multihost/run.sh):
# each check prints "ok   WHAT" or "FAIL WHAT", and the script ends with its counts.
# shellcheck shell=bash disable=SC2034  # passed/failed are read by the sourcing script
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
check() { # check DESCRIPTION COMMAND...
    local what="$1"; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
has() { grep -qE -- "$2" "$1" 2>/dev/null; }
