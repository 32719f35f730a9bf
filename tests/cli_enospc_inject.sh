#!/usr/bin/env bash
# F8 by injection: the kernel answers ENOSPC to one journal write (writev, as
# LMDB writes its pages) or to one fdatasync of a publishing node, through
# `strace -e inject=...:error=ENOSPC:when=N`. The publish that hit it gets a
# clear refusal that names the lack of space (never a false success, never
# "input/output error"); the node goes on without a restart; every message
# acknowledged reaches the broker; the journal verifies.
source "$(dirname "$0")/lib.sh"

command -v strace >/dev/null || skip "strace missing (deploy/install-deps.sh installs it)"
strace -f -qq -o /dev/null -e trace=none true 2>/dev/null || skip "strace cannot trace here (ptrace refused)"

make_partner kcr2-broker-1 broker
make_partner vr-utrecht region
cat >"$T/policy" <<'P'
role:region publish sitrep.{id}
P
EP="tcp://127.0.0.1:$(free_port)"
B="kcr2-broker-1@$EP"
start_broker kcr2-broker-1 "$EP"

REAL_NODE=$NODE
# inject SYSCALL N: run the node under strace, failing the Nth SYSCALL on
# data.mdb's descriptors with ENOSPC (counted from the node's start)
inject() {
    local sc=$1 n=$2
    cat >"$T/node-strace" <<EOF
#!/bin/sh
exec strace -f -qq -o "$T/strace-$sc.log" -e trace=$sc -e inject=$sc:error=ENOSPC:when=$n "$REAL_NODE" "\$@"
EOF
    chmod +x "$T/node-strace"
    NODE=$T/node-strace
    rm -f "$T/vr-utrecht/api.sock"
    start_node vr-utrecht --broker "$B"
    NODE=$REAL_NODE
    local sp; sp=$(pid_of vr-utrecht)
    at_exit "pkill -9 -P $sp 2>/dev/null"
}

: >"$T/acked.ids"
run_round() {   # SYSCALL N: publish one at a time until one is refused
    local sc=$1 n=$2 refused=0
    inject "$sc" "$n"
    for i in $(seq 1 40); do
        if "$KNOOP" pub --api "$(api vr-utrecht)" --topic sitrep.vr-utrecht --type knoop.crisis.v1.SitRep \
               --json "{\"incident_id\":\"$sc-$i\",\"summary\":\"x\"}" >/dev/null 2>"$T/pub-$sc.err"; then
            echo "$sc-$i" >>"$T/acked.ids"
        else
            refused=$((refused + 1))
            cp "$T/pub-$sc.err" "$T/refused-$sc.err"
        fi
    done
    echo "$sc: refused: $(cat "$T/refused-$sc.err" 2>/dev/null)"
    check "$sc ENOSPC: exactly one publish was refused" test "$refused" = 1
    check "$sc ENOSPC: the refusal names the lack of space" grep -q "no space for the journal on $T/vr-utrecht" "$T/refused-$sc.err"
    check "$sc ENOSPC: not an input/output error" lacks -i 'input/output' "$T/refused-$sc.err"
    check "$sc ENOSPC: the node went on publishing without a restart" \
        "$KNOOP" pub --api "$(api vr-utrecht)" --topic sitrep.vr-utrecht --type knoop.crisis.v1.SitRep \
            --json "{\"incident_id\":\"$sc-after\",\"summary\":\"x\"}"
    echo "$sc-after" >>"$T/acked.ids"
    check "$sc ENOSPC: status has no error left once a write succeeded" \
        bash -c "'$KNOOP' status --api '$(api vr-utrecht)' | grep -q '^last error  none'"
    # stop the node, not strace (a signal to strace is not the node's stop)
    local sp; sp=$(pid_of vr-utrecht)
    pkill -TERM -P "$sp" || true
    wait "$sp" 2>/dev/null || true
}
# The node's start makes a few commits of its own; the 12th call falls
# among the publishes.
run_round fdatasync 12
run_round writev 12

start_node vr-utrecht --broker "$B"
conv=$(converge_secs 30 'sitrep.>' "$T/vr-utrecht" "$T/kcr2-broker-1")
verdict "ENOSPC injected (strace)" "ENOSPC on the 12th writev and on the 12th fdatasync of the publishing node" \
    2 "$T/acked.ids" "$conv" 'sitrep.>' "$T/vr-utrecht" "$T/kcr2-broker-1"
check "the journal verifies" "$KNOOP" audit verify --journal "$T/vr-utrecht" --trust "$T/trust" --quiet
