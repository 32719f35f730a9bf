#!/usr/bin/env bash
# Failover and out-of-order arrival in a 2-broker mesh:
#  1. the broker a publishing node uses is killed with SIGKILL mid-stream;
#     the node continues through the other; its publications and a durable
#     subscriber lose and duplicate nothing; when the first broker returns it
#     catches up from its peer and the node moves back to it.
#  2. a node alternates brokers between publishes (each in turn stopped);
#     all streams end contiguous and verified everywhere.
source "$(dirname "$0")/lib.sh"

make_sitrep_partners
make_partner kcr2-broker-2 broker
sitrep_policy
start_broker_pair
start_node vr-utrecht --broker "$B1" --broker "$B2" --failback-ms 1500
start_node vr-zeeland --broker "$B2" --broker "$B1" --subscribe 'sitrep.>'
"$KNOOP" sub --api "$(api vr-zeeland)" --pattern 'sitrep.>' --durable ops --from-start \
    --timeout 60 >"$T/sub.out" 2>"$T/sub.err" &
PIDS+=($!)

n=0
publish() {   # publish COUNT: the next COUNT ids u-N (from n), acknowledged ones to acked.ids
    publish_acked vr-utrecht u "$n" "$1"
    n=$((n + $1))
}

# --- 1. SIGKILL of the broker in use ---
for i in 1 2 3; do publish 100; sleep 0.2; done
kill -9 "$(pid_of kcr2-broker-1)"
echo "kill -9 kcr2-broker-1 (vr-utrecht's first choice)"
for i in 1 2 3 4 5; do publish 100; sleep 0.3; done
wait_for "vr-utrecht fails over" 10 grep -q "failover: kcr2-broker-1 -> kcr2-broker-2" "$T/vr-utrecht.log" || true
check "vr-utrecht failed over to kcr2-broker-2" \
    grep -q "failover: kcr2-broker-1 -> kcr2-broker-2" "$T/vr-utrecht.log"
wait_for "outbox drained through kcr2-broker-2" 20 status_has vr-utrecht '"backlog": 0' || true
check "nothing waits in vr-utrecht's outbox" status_has vr-utrecht '"backlog": 0'
start_broker kcr2-broker-1 "$EP1" --peer "$B2" --anti-entropy-ms 500
wait_for "kcr2-broker-1 caught up from its peer" 20 mesh_agrees kcr2-broker-1 kcr2-broker-2 || true
check "the restarted broker caught up from its peer" mesh_agrees kcr2-broker-1 kcr2-broker-2
wait_for "vr-utrecht back on its first choice" 20 grep -q "failback: kcr2-broker-1 answers again" "$T/vr-utrecht.log" || true
check "vr-utrecht returned to kcr2-broker-1" grep -q "failback: kcr2-broker-1 answers again" "$T/vr-utrecht.log"
publish 100
total=$(wc -l <"$T/acked.ids")
wait_for "both brokers hold all $total" 20 has_count "$T/kcr2-broker-2" 'sitrep.>' "$total" || true
check "every acknowledged message is on both brokers ($total)" \
    bash -c "has_count '$T/kcr2-broker-1' 'sitrep.>' $total && has_count '$T/kcr2-broker-2' 'sitrep.>' $total"
wait_for "the durable subscriber has all" 20 bash -c "[ \$(grep -c incident_id '$T/sub.out') -ge $total ]" || true
grep -o '"incident_id":"u-[0-9]*"' "$T/sub.out" | grep -o 'u-[0-9]*' | sort >"$T/sub.ids"
check "the durable subscriber got every acknowledged message" \
    test -z "$(comm -23 <(sort -u "$T/acked.ids") <(sort -u "$T/sub.ids"))"
check "and none twice" test -z "$(uniq -d "$T/sub.ids")"

# --- 2. alternating brokers ---
for turn in 1 2 3; do
    victim=$([ $((turn % 2)) = 1 ] && echo kcr2-broker-1 || echo kcr2-broker-2)
    kill -STOP "$(pid_of $victim)"
    publish 50
    sleep 2.5                      # the node notices and fails over
    publish 50
    kill -CONT "$(pid_of $victim)"
done
total=$(wc -l <"$T/acked.ids")
healed=$SECONDS
wait_for "both brokers agree" 30 mesh_agrees kcr2-broker-1 kcr2-broker-2 || true
conv=never; mesh_agrees kcr2-broker-1 kcr2-broker-2 && conv=$((SECONDS - healed))
check "after alternating, both brokers agree" mesh_agrees kcr2-broker-1 kcr2-broker-2
check "nothing acknowledged is missing ($total)" has_count "$T/kcr2-broker-1" 'sitrep.>' "$total"
for j in kcr2-broker-1 kcr2-broker-2 vr-utrecht vr-zeeland; do
    wait_for "$j verifies" 10 "$KNOOP" audit verify --journal "$T/$j" --trust "$T/trust" --quiet || true
    check "$j: every stream contiguous and verified" \
        "$KNOOP" audit verify --journal "$T/$j" --trust "$T/trust" --quiet
done
# A broker resumed from a pause finds its peers' sessions dropped: it asks them
# to say HELLO again, as a matter of course, not as a protocol error.
check "no broker calls a session dropped during a pause a protocol error (HELLO first)" \
    lacks 'HELLO first' "$T"/kcr2-broker-*.log
# The checker's line over both brokers, both nodes and the durable
# subscriber's application view.
wait_for "the durable subscriber has all $total" 20 bash -c "[ \$(grep -c incident_id '$T/sub.out') -ge $total ]" || true
verdict "failover between two brokers" \
    "kill -9 of the publishing node's broker mid-stream, then 3 pauses (SIGSTOP) alternating between the brokers" \
    4 "$T/acked.ids" "$conv" 'sitrep.>' \
    "$T"/kcr2-broker-{1,2} "$T"/vr-{utrecht,zeeland} -- --holder "vr-zeeland-durable-sub=$T/sub.out"
