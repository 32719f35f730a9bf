#!/usr/bin/env bash
# The settled summary between brokers (docs/protocol.md, "The settled
# summary"): a broker restarted after its peer's streams went quiet names
# none of them in its HELLO to the peer — it summarises them as of its last
# complete catch-up from that peer, kept in its journal — and the peer
# matches every bucket and sends only what is new.
source "$(dirname "$0")/lib.sh"

EPOCHS=10
make_partner kcr2-broker-1 broker
make_partner kcr2-broker-2 broker
make_partner vr-utrecht region
sitrep_policy
read -r p1 p2 <<<"$(free_ports 2)"
EP1="tcp://127.0.0.1:$p1"; EP2="tcp://127.0.0.1:$p2"
B1="kcr2-broker-1@$EP1"; B2="kcr2-broker-2@$EP2"
MESH=(--anti-entropy-ms 500 --settled-margin-ms 1000)
start_broker kcr2-broker-1 "$EP1" --peer "$B2" "${MESH[@]}"
start_broker kcr2-broker-2 "$EP2" --peer "$B1" "${MESH[@]}"
start_node vr-utrecht --broker "$B1"
publish_epochs vr-utrecht "$EPOCHS" --broker "$B1"
total=$((EPOCHS * 2))
wait_for "kcr2-broker-2 holds all $total" 30 has_count "$T/kcr2-broker-2" 'sitrep.>' "$total"
sleep 4                               # its complete_hlc for broker 1 passes them
stop kcr2-broker-2
publish_acked vr-utrecht more 1 5
total=$((total + 5))
wait_for "kcr2-broker-1 holds all $total" 10 has_count "$T/kcr2-broker-1" 'sitrep.>' "$total"

blog=$(wc -l <"$T/kcr2-broker-1.log")
mv "$T/kcr2-broker-2.log" "$T/kcr2-broker-2.first.log"
start_broker kcr2-broker-2 "$EP2" --peer "$B1" "${MESH[@]}"
wait_for "kcr2-broker-2 holds all $total" 20 has_count "$T/kcr2-broker-2" 'sitrep.>' "$total"
hello=$(grep "peer kcr2-broker-1: HELLO: " "$T/kcr2-broker-2.log" | head -1)
echo "broker 2: $hello"
read -r named settled buckets < <(hello_counts "$hello")
check "the restarted broker names none of the quiet streams ($named named)" test "${named:-99}" -eq 0
check "... and summarises them ($settled in $buckets buckets)" \
    test "${settled:-0}" -eq "$EPOCHS" -a "${buckets:-0}" -ge 5
line=$(tail -n "+$((blog + 1))" "$T/kcr2-broker-1.log" | grep "peer kcr2-broker-2 .*settled: " | head -1)
echo "broker 1: $line"
check "its peer matches every bucket and sends only the 5 new messages" \
    grep -Eq "catch-up: 1 streams, 5 messages; settled: $buckets buckets matched, 0 missed" <<<"$line"
check "the brokers agree (digest)" same_digest "$T/kcr2-broker-1" "$T/kcr2-broker-2" 'sitrep.>'
