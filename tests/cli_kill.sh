#!/usr/bin/env bash
# kill -9 during a publishing run: the broker, the publishing node and the
# subscribing node are each killed with SIGKILL and restarted while an
# application keeps publishing and a durable subscriber keeps reading.
# Afterwards nothing acknowledged to the publishing application is missing
# anywhere, and the durable subscriber saw no message twice.
source "$(dirname "$0")/lib.sh"

start_sitrep_scene

# The durable subscriber: survives node restarts (it subscribes again).
"$KNOOP" sub --api "$(api vr-zeeland)" --pattern 'sitrep.>' --durable audit --from-start \
    --timeout 60 >"$T/sub.out" 2>"$T/sub.err" &
SUB=$!
PIDS+=($SUB)

# The publishing application: chunks of 50; a chunk's printed lines are the
# acknowledged ones (a chunk in flight when its node dies may print none).
publisher() {
    for c in $(seq 1 60); do
        sitrep_lines "k-$c" 1 50 x >"$T/chunk$c"
        if "$KNOOP" pub --api "$(api vr-utrecht)" --topic sitrep.vr-utrecht \
               --type knoop.crisis.v1.SitRep --file "$T/chunk$c" >"$T/acked$c" 2>>"$T/pub.err"; then :; fi
        head -n "$(wc -l <"$T/acked$c")" "$T/chunk$c" >>"$T/acked.jsonl"
        sleep 0.1
    done
}
publisher &
PUBLISHER=$!

sleep 1.5; echo "kill -9 broker";     kill -9 "$(pid_of kcr2-broker-1)"; sleep 1
start_broker kcr2-broker-1 "$EP"
sleep 1.5; echo "kill -9 publisher";  kill -9 "$(pid_of vr-utrecht)"; sleep 0.5
start_node vr-utrecht --broker "$B"
sleep 1.5; echo "kill -9 subscriber"; kill -9 "$(pid_of vr-zeeland)"; sleep 0.5
start_node vr-zeeland --broker "$B" --subscribe 'sitrep.>'
wait "$PUBLISHER"

acked=$(wc -l <"$T/acked.jsonl")
echo "acknowledged to the application: $acked of 3000"
check "most chunks were acknowledged" test "$acked" -ge 2000
healed=$SECONDS
wait_for "subscriber journal converged with the broker" 30 \
    same_digest "$T/kcr2-broker-1" "$T/vr-zeeland" 'sitrep.>' || true
conv=$((SECONDS - healed))
check "vr-zeeland converged with the broker" same_digest "$T/kcr2-broker-1" "$T/vr-zeeland" 'sitrep.>'

ids() { grep -o '"incident_id":"k-[0-9]*-[0-9]*"' | sort; }
ids <"$T/acked.jsonl" >"$T/acked.ids"
"$KNOOP" audit replay --journal "$T/kcr2-broker-1" --pattern 'sitrep.>' | ids >"$T/broker.ids"
check "every acknowledged message is at the broker" holds_ids "$T/acked.ids" "$T/broker.ids"
wait_for "the subscriber printed every acknowledged message" 30 \
    bash -c "[ -z \"\$(comm -23 '$T/acked.ids' <(grep -o '\"incident_id\":\"k-[0-9]*-[0-9]*\"' '$T/sub.out' | sort -u))\" ]" || true
ids <"$T/sub.out" >"$T/sub.ids"
check "the durable subscriber got every acknowledged message" holds_ids "$T/acked.ids" "$T/sub.ids"
check "and none twice" no_repeats "$T/sub.ids"
check "no message twice in the broker's journal" no_repeats "$T/broker.ids"
check "journals verify after the kills" \
    "$KNOOP" audit verify --journal "$T/kcr2-broker-1" --trust "$T/trust" --quiet
kill "$SUB" 2>/dev/null || true

grep -o '"incident_id":"k-[0-9]*-[0-9]*"' "$T/acked.jsonl" | cut -d'"' -f4 >"$T/acked.ids.plain"
verdict "kill -9 of broker, publisher and subscriber" \
    "kill -9 of the broker, the publishing node and the subscribing node, one after another, while publishing" \
    3 "$T/acked.ids.plain" "$conv" 'sitrep.>' "$T/kcr2-broker-1" "$T/vr-zeeland" \
    -- --holder "durable-subscriber=$T/sub.out"
