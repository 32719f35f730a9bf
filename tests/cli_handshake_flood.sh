#!/usr/bin/env bash
# Connections that never authenticate (issue 8, finding 1; catalogue S-abuse
# "idle raw TCP and stalled half-greetings"): 1,100 raw TCP connections from
# 127.0.0.2, 700 idle and 400 stopping after the first bytes of a ZMTP
# greeting, against a broker limited to 1,024 descriptors, as on a default
# system. Before the fix these took every descriptor, the broker spun and
# logged nothing, and a restarting node could no longer connect. Now:
#   - every such connection is closed: beyond the per-address cap at once,
#     the rest by the handshake timeout;
#   - a node starting during the flood connects, publishes, and its messages
#     reach a subscriber on another node in time;
#   - the trust store still reloads (it needs descriptors);
#   - the broker logs the flood with the address it came from, and counts it
#     in its status; it does not spin.
source "$(dirname "$0")/lib.sh"
FLOOD="$KNOOP_SRC/tests/tools/flood.py"
command -v python3 >/dev/null || { echo "SKIP: python3 is needed for the flood client"; exit 77; }
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null \
    || { echo "SKIP: cannot bind 127.0.0.2 (no loopback /8)"; exit 77; }

make_sitrep_partners
make_partner vr-drenthe region
sitrep_policy
PORT=$(free_port)
EP="tcp://127.0.0.1:$PORT"
B="kcr2-broker-1@$EP"
HANDSHAKE_MS=2000
# Sanitized builds run several times slower: the time bounds scale.
SLOW=1
[ -n "${KNOOP_SANITIZED:-}" ] && SLOW=2

# The broker as it runs on a default system: 1,024 descriptors; a per-address
# cap of 32 (the default is 128, for partners behind one NAT address) so that
# most of the flood is refused at once.
bash -c 'ulimit -n 1024 && exec "$@"' broker "$BROKER" --id kcr2-broker-1 --listen "$EP" \
    --data "$T/kcr2-broker-1" --key "$T/keys/kcr2-broker-1.key" --trust "$T/trust" \
    --policy "$T/policy" --heartbeat-ms 200 --timeout-ms 2000 --handshake-ms "$HANDSHAKE_MS" \
    --max-handshakes-per-address 32 \
    --log-level "${KNOOP_TEST_LOG:-info}" >>"$T/kcr2-broker-1.log" 2>&1 &
PIDS+=($!)
PID_kcr2_broker_1=$!
wait_for "broker listening" 10 grep -q "listening on" "$T/kcr2-broker-1.log"
check "the broker states its handshake timeout, caps and descriptor limit" \
    grep -Eq "handshake timeout $HANDSHAKE_MS ms; at most [0-9]+ connections in handshake, 32 per address; descriptor limit 1024" \
    "$T/kcr2-broker-1.log"

start_node vr-zeeland --broker "$B" --subscribe 'sitrep.>'
wait_for "vr-zeeland link up" 10 grep -q "link up" "$T/vr-zeeland.log"

# The same publish-to-delivery of 20 without a flood, timed on this machine
# as loaded as it is now: the bound during the flood is relative to it (a
# fixed bound failed a sanitized build at load 27 with no flood at fault).
t0=$(date +%s.%N)
start_node vr-drenthe --broker "$B"
wait_for "vr-drenthe link up" 10 grep -q "link up" "$T/vr-drenthe.log"
t1=$(date +%s.%N)
LBOUND=$(echo "b = 3 * ($t1 - $t0); if (b < 3 * $SLOW) b = 3 * $SLOW; b" | bc)
relay20 vr-drenthe vr-zeeland calm
check "without a flood, 20 messages reach the subscriber" test "$RELAY_GOT" -eq 20
CALM=$RELAY_SECS
# The bound during the flood: three times the calm figure, at least 3 s.
BOUND=$(echo "b = 3 * $CALM; if (b < 3 * $SLOW) b = 3 * $SLOW; b" | bc)
echo "publish to delivery of 20 without a flood: $CALM s (bound during the flood: $BOUND s)"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)
bpid=$(pid_of kcr2-broker-1)
fj() { python3 -c "import json,sys; print(json.load(open('$1'))['$2'])"; }

# 1. A burst of 1,100 at once: every one is closed, none outlives the
#    handshake timeout.
python3 "$FLOOD" 127.0.0.1 "$PORT" --source 127.0.0.2 --count 1100 --half 400 --hold 6 \
    >"$T/burst.json" 2>"$T/burst.err"
cat "$T/burst.json"
check "the burst opened its 1,100 connections" test "$(fj "$T/burst.json" opened)" -eq 1100
check "the broker closed every one of them" test "$(fj "$T/burst.json" closed_by_server)" -eq 1100
check "none stayed open longer than the handshake timeout (+1 s)" \
    test "$(echo "$(fj "$T/burst.json" longest_open_s) < $HANDSHAKE_MS / 1000 + 1" | bc)" -eq 1

# 2. The same flood kept up (each closed connection made again at once)
#    while a partner restarts and publishes from another address.
python3 "$FLOOD" 127.0.0.1 "$PORT" --source 127.0.0.2 --count 1100 --half 400 --hold 9 --reopen \
    >"$T/flood.json" 2>"$T/flood.err" &
FPID=$!
PIDS+=($FPID)
sleep 1
c0=$(cpu_ticks "$bpid"); w0=$(date +%s.%N)
t0=$(date +%s.%N)
start_node vr-utrecht --broker "$B"
wait_for "vr-utrecht link up during the flood" 10 grep -q "link up" "$T/vr-utrecht.log" || true
t1=$(date +%s.%N)
check "a node starting during the flood connects" grep -q "link up" "$T/vr-utrecht.log"
echo "node start to link up: $(echo "$t1 - $t0" | bc) s"
check "... within $LBOUND s (3 times a node's start without a flood)" \
    test "$(echo "$t1 - $t0 < $LBOUND" | bc)" -eq 1
relay20 vr-utrecht vr-zeeland flood
check "20 messages reach a subscriber on another node during the flood" test "$RELAY_GOT" -eq 20
echo "publish to delivery of 20: $RELAY_SECS s"
check "... within $BOUND s (3 times the same without a flood)" \
    test "$(echo "$RELAY_SECS < $BOUND" | bc)" -eq 1

# The trust store still reloads: a new partner's certificate is added.
make_partner vr-limburg region
wait_for "trust store reloaded" 5 grep -q "trust store reloaded" "$T/kcr2-broker-1.log" || true
check "the trust store reloads during the flood (no 'Too many open files')" \
    grep -q "trust store reloaded" "$T/kcr2-broker-1.log"

wait "$FPID" || true
c1=$(cpu_ticks "$bpid"); w1=$(date +%s.%N)
cat "$T/flood.json"
cpu=$(echo "($c1 - $c0) / $TICK / ($w1 - $w0)" | bc -l)
printf 'broker CPU during the kept-up flood: %.0f%% of a core\n' "$(echo "$cpu * 100" | bc -l)"
check "the kept-up flood made over 1,100 connections" test "$(fj "$T/flood.json" opened)" -gt 1100
# Measured by the client, so a wait in the kernel's accept queue counts too.
check "none of them stayed open longer than the handshake timeout (+$((2 * SLOW)) s)" \
    test "$(echo "$(fj "$T/flood.json" longest_open_s) < $HANDSHAKE_MS / 1000 + 2 * $SLOW" | bc)" -eq 1

# Logged, with where it came from, and counted.
wait_for "gate summary in the log" 12 grep -q "gate tcp://127.0.0.1:$PORT: connections that did not authenticate" \
    "$T/kcr2-broker-1.log" || true
check "the broker logs the flood and the address it came from" \
    grep -Eq "gate tcp://127.0.0.1:$PORT: connections that did not authenticate: [0-9]+ refused over the caps \(32 per address, [0-9]+ in handshake\), most from 127.0.0.2" \
    "$T/kcr2-broker-1.log"
"$KNOOP" status --api "ipc://$T/kcr2-broker-1/api.sock" --json >"$T/status.json"
gate() { python3 -c "import json; print(json.load(open('$T/status.json'))['gate']['$1'])"; }
echo "gate: $(python3 -c "import json; print(json.load(open('$T/status.json'))['gate'])")"
flooded=$(( 1100 + $(fj "$T/flood.json" closed_by_server) ))
check "status counts every flood connection closed as refused or timed out" \
    test "$(( $(gate refused_over_cap) + $(gate handshake_timeouts) ))" -ge "$flooded"
check "... most refused at once by the per-address cap" test "$(gate refused_over_cap)" -ge 1000
check "... and the partners' handshakes succeeded" test "$(gate handshakes_ok)" -ge 2
check "nothing is left in handshake" test "$(gate in_handshake)" -eq 0
check "the broker is still running" kill -0 "$bpid"
