#!/usr/bin/env bash
# Partners behind one NAT address (issue 14, W7): the broker's per-address
# cap on connections in handshake must let a site's partners in when they
# connect together, as after a broker restart. Each connection holds a slot
# for up to the handshake timeout (lib/gate.h, caveats), so 60 partners from
# one address need a cap of 60 at least: the default is 128. Here 60
# connections from 127.0.0.2 are held in handshake while a real node
# connects from the same address: none is refused and the node links.
# Where the cap bites (a broker started with a cap of 10), the refusals are
# counted and one log line names the address, the cap and the option.
source "$(dirname "$0")/lib.sh"
FLOOD="$KNOOP_SRC/tests/tools/flood.py"
command -v python3 >/dev/null || skip "python3 is needed for the connection client"
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null \
    || skip "cannot bind 127.0.0.2 (no loopback /8)"

make_partner kcr2-broker-1 broker
make_partner kcr2-broker-2 broker
make_partner vr-utrecht region
cat >"$T/policy" <<'P'
role:region publish sitrep.{id}
role:region subscribe sitrep.>
P
fj() { python3 -c "import json,sys; print(json.load(open('$1'))['$2'])"; }
gate() {    # gate BROKER FIELD: from the broker's status
    "$KNOOP" status --api "ipc://$T/$1/api.sock" --json |
        python3 -c "import json,sys; print(json.load(sys.stdin)['gate']['$2'])"
}

# 1. The default cap: 60 from one address and a node from it too.
read -r P1 P2 <<<"$(free_ports 2)"
start_broker kcr2-broker-1 "tcp://127.0.0.1:$P1" --handshake-ms 4000
check "the default cap is 128 per address" \
    grep -q "connections in handshake, 128 per address" "$T/kcr2-broker-1.log"
python3 "$FLOOD" 127.0.0.1 "$P1" --source 127.0.0.2 --count 60 --hold 3 >"$T/flood1.json" &
FPID=$!
sleep 1
start_node vr-utrecht --broker "kcr2-broker-1@tcp://127.0.0.2:0;127.0.0.1:$P1"
wait_for "the node behind the same address links" 20 grep -q "link up" "$T/vr-utrecht.log" || true
wait "$FPID" || true
cat "$T/flood1.json"
check "the node from 127.0.0.2 linked while 60 others were in handshake" \
    grep -q "link up" "$T/vr-utrecht.log"
check "all 60 connections were opened" test "$(fj "$T/flood1.json" opened)" = 60
check "none was refused over the cap" test "$(gate kcr2-broker-1 refused_over_cap)" = 0
check "none was closed before the handshake timeout" \
    test "$(fj "$T/flood1.json" closed_by_server)" = 0
check "no cap line in the log" \
    lacks 'the per-address cap' "$T/kcr2-broker-1.log"
stop vr-utrecht

# 2. A cap of 10 bites: counted, and said once with the address and the way out.
start_broker kcr2-broker-2 "tcp://127.0.0.1:$P2" --handshake-ms 4000 \
    --max-handshakes-per-address 10
check "the option sets the cap" \
    grep -q "connections in handshake, 10 per address" "$T/kcr2-broker-2.log"
python3 "$FLOOD" 127.0.0.1 "$P2" --source 127.0.0.2 --count 25 --hold 2 >"$T/flood2.json"
cat "$T/flood2.json"
check "15 of 25 refused at once" test "$(gate kcr2-broker-2 refused_over_cap)" = 15
wait_for "the cap line" 5 grep -q "the per-address cap" "$T/kcr2-broker-2.log" || true
check "one line names the address, the cap and the option" \
    test "$(grep -c "127.0.0.2 has 10 connections in handshake, the per-address cap; more from it are refused at once (partners behind one NAT address that connect together need a higher --max-handshakes-per-address)" "$T/kcr2-broker-2.log")" = 1
