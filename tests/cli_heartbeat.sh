#!/usr/bin/env bash
# Heartbeats (docs/protocol.md, HEARTBEAT): an idle node answers the
# broker's heartbeats instead of sending on a timer of its own, so that the
# answers of a broker's idle sessions come back together (issue 14, W7's idle
# CPU). Its own timer only fires when the broker's heartbeats stop coming:
# here the broker is paused for less than the timeout, the nodes send
# unasked, and no link is lost; after SIGCONT they answer again.
source "$(dirname "$0")/lib.sh"

make_sitrep_partners
make_partner vr-groningen region
sitrep_policy
EP_PORT=$(free_port)
B="kcr2-broker-1@tcp://127.0.0.1:$EP_PORT"
start_broker kcr2-broker-1 "tcp://127.0.0.1:$EP_PORT"      # heartbeats every 200 ms
NODES=(vr-utrecht vr-zeeland vr-groningen)
for n in "${NODES[@]}"; do
    start_node "$n" --broker "$B" --subscribe 'sitrep.>'
done
field() {   # field NODE NAME: the node's status link.NAME
    "$KNOOP" status --api "$(api "$1")" --json 2>/dev/null | jq -r ".link.$2"
}
caught_up() { [ "$(field "$1" caught_up)" = true ]; }
for n in "${NODES[@]}"; do
    wait_for "$n caught up" 20 caught_up "$n" || die "$n did not link"
done

# Idle for 3 s: at the broker's 200 ms, about 10 answers each.
declare -A a0 u0
for n in "${NODES[@]}"; do a0[$n]=$(field "$n" heartbeats_answered); u0[$n]=$(field "$n" heartbeats_unasked); done
sleep 3
for n in "${NODES[@]}"; do
    a=$(field "$n" heartbeats_answered); u=$(field "$n" heartbeats_unasked)
    check "$n answered the broker's heartbeats while idle ($((a - a0[$n])) in 3 s)" test $((a - a0[$n])) -ge 5
    # (a broker late by over 200 ms, on a loaded machine, lets the node's
    # own timer fire now and then: the answers must still be most of them)
    check "$n sent few on its own timer meanwhile ($((u - u0[$n])), under a third of the answers)" \
        test $((3 * (u - u0[$n]))) -lt $((a - a0[$n]))
    u0[$n]=$u; a0[$n]=$a
done

# The broker paused for 1.2 s (its timeout is 2 s): the nodes' own timer
# (two intervals, 400 ms) keeps their side of the link alive.
kill -STOP "$(pid_of kcr2-broker-1)"
sleep 1.2
kill -CONT "$(pid_of kcr2-broker-1)"
sleep 1
for n in "${NODES[@]}"; do
    u=$(field "$n" heartbeats_unasked)
    check "$n sent heartbeats of its own while the broker's did not come ($((u - u0[$n])))" \
        test $((u - u0[$n])) -ge 1
    check "$n kept its link (no failover)" test "$(field "$n" failovers)" = 0
    check "$n is linked and caught up" caught_up "$n"
done
sleep 2
for n in "${NODES[@]}"; do
    a=$(field "$n" heartbeats_answered)
    check "$n answers the broker's heartbeats again ($((a - a0[$n])) since the pause)" test $((a - a0[$n])) -ge 3
done
