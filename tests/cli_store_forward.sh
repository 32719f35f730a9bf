#!/usr/bin/env bash
# Store-and-forward upstream and catch-up downstream, with real processes:
#  1. the broker is down; vr-utrecht publishes 1,000 messages; the broker
#     starts; all 1,000 reach vr-zeeland once, in order.
#  2. vr-zeeland is stopped while 10,000 more are published; started again,
#     it has all of them, verified, with the broker's digest for its pattern.
source "$(dirname "$0")/lib.sh"

make_sitrep_partners
sitrep_policy 'role:region publish sitrep.{id}.>'
EP="tcp://127.0.0.1:$(free_port)"
B="kcr2-broker-1@$EP"

gen() {  # gen N START: N SitRep JSON lines
    local n=$1 s=$2
    awk -v n="$n" -v s="$s" 'BEGIN { for (i = s; i < s + n; i++)
        printf "{\"incident_id\":\"ut-%d\",\"summary\":\"wateroverlast melding %d\"}\n", i, i }'
}

# --- 1. upstream store-and-forward ---
start_node vr-utrecht --broker "$B"
gen 1000 1 >"$T/a.jsonl"
"$KNOOP" pub --api "$(api vr-utrecht)" --topic sitrep.vr-utrecht \
    --type knoop.crisis.v1.SitRep --file "$T/a.jsonl" >"$T/pub1.out"
check "1,000 publications committed while the broker is down" \
    test "$(wc -l <"$T/pub1.out")" -eq 1000
check "the node reports a backlog of 1,000" status_has vr-utrecht '"backlog": 1000'

start_broker kcr2-broker-1 "$EP"
start_node vr-zeeland --broker "$B" --subscribe 'sitrep.>'
wait_for "broker holds 1,000" 30 has_count "$T/kcr2-broker-1" 'sitrep.>' 1000 || true
check "broker holds all 1,000" test "$(count_msgs "$T/kcr2-broker-1" 'sitrep.>')" = 1000
wait_for "vr-zeeland holds 1,000" 30 has_count "$T/vr-zeeland" 'sitrep.>' 1000 || true
"$KNOOP" sub --api "$(api vr-zeeland)" --pattern 'sitrep.>' --from-start --count 1000 \
    --timeout 20 >"$T/sub1.out"
check "vr-zeeland delivers 1,000 to its application" test "$(wc -l <"$T/sub1.out")" -eq 1000
check "each exactly once" test "$(grep -o '"seq":"[0-9]*"' "$T/sub1.out" | sort -u | wc -l)" -eq 1000
check "in seq order" bash -c "grep -o '\"seq\":[0-9]*' '$T/sub1.out' | cut -d: -f2 | sort -n -c"
check "outbox drained" status_has vr-utrecht '"backlog": 0'

# --- 2. downstream catch-up ---
stop vr-zeeland
gen 10000 1001 >"$T/b.jsonl"
"$KNOOP" pub --api "$(api vr-utrecht)" --topic sitrep.vr-utrecht \
    --type knoop.crisis.v1.SitRep --file "$T/b.jsonl" >"$T/pub2.out"
check "10,000 more committed" test "$(wc -l <"$T/pub2.out")" -eq 10000
# ...and, after them, a few FLASH messages on another stream: they must
# come first in the catch-up.
for i in 1 2 3; do
    "$KNOOP" pub --api "$(api vr-utrecht)" --topic sitrep.vr-utrecht.alarm --priority flash \
        --type knoop.crisis.v1.SitRep --json "{\"incident_id\":\"flash-$i\",\"summary\":\"dijkdoorbraak\"}" >/dev/null
done
wait_for "broker holds 11,003" 60 has_count "$T/kcr2-broker-1" 'sitrep.>' 11003 || true
start_node vr-zeeland --broker "$B" --subscribe 'sitrep.>'
wait_for "vr-zeeland caught up" 60 grep -q "caught up from" "$T/vr-zeeland.log" || true
wait_for "digests equal" 30 same_digest "$T/kcr2-broker-1" "$T/vr-zeeland" 'sitrep.>' || true
check "vr-zeeland's digest equals the broker's" \
    same_digest "$T/kcr2-broker-1" "$T/vr-zeeland" 'sitrep.>'
check "vr-zeeland holds 11,003" test "$(count_msgs "$T/vr-zeeland" 'sitrep.>')" = 11003
# Positions are the order in which the node verified (received) messages.
"$KNOOP" sub --api "$(api vr-zeeland)" --pattern 'sitrep.>' --from-start --count 11003 \
    --timeout 20 >"$T/sub2.out"
first_flash=$(grep -m1 -n '"priority":"flash"' "$T/sub2.out" | cut -d: -f1)
first_new_routine=$(grep -m1 -n '"incident_id":"ut-1001"' "$T/sub2.out" | cut -d: -f1)
check "the catch-up sent the FLASH stream before the 10,000 routine ones published earlier" \
    test "${first_flash:-99999}" -lt "${first_new_routine:-0}"
check "vr-zeeland's journal verifies (chains and signatures)" \
    "$KNOOP" audit verify --journal "$T/vr-zeeland" --trust "$T/trust" --quiet
grep "caught up from" "$T/vr-zeeland.log" | tail -1
