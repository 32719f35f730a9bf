#!/usr/bin/env bash
# The type registry (--types FILE) is read again on SIGHUP, by the broker and
# by the node, all or nothing: a new binding is enforced from then on (the
# broker refuses with ERROR POLICY, the node before it sends), and a broken
# file is refused with file and line while the registry in force stays.
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip "no jq"

make_sitrep_partners
cat >"$T/policy" <<'P'
role:region publish >
role:region subscribe >
P
printf 'grip.> knoop.crisis.v1.GripLevel\n' >"$T/types.broker"
printf 'grip.> knoop.crisis.v1.GripLevel\n' >"$T/types.node"
EP="ipc://$T/b.sock"
start_broker kcr2-broker-1 "$EP" --types "$T/types.broker"
# vr-utrecht has no registry of its own that binds meting.>: what the broker
# refuses reaches the broker
start_node vr-utrecht --broker "kcr2-broker-1@$EP"
start_node vr-zeeland --broker "kcr2-broker-1@$EP" --types "$T/types.node"
linked() { "$KNOOP" status --api "$(api "$1")" --json | jq -e '.link.state == "up"'; }
wait_for "vr-utrecht linked" 20 linked vr-utrecht
wait_for "vr-zeeland linked" 20 linked vr-zeeland

sitrep() {  # sitrep NODE TOPIC: publish a SitRep, waiting for the broker's verdict
    "$KNOOP" pub --api "$(api "$1")" --topic "$2" --type knoop.crisis.v1.SitRep --wait 10 \
        --json '{"incident_id":"x","summary":"meting"}' 2>"$T/pub.err" >/dev/null
}
hup_seen() {  # hup_seen LOG N: the Nth "read again" of the type registry is in LOG
    [ "$(grep -c 'type registry .* read again' "$1")" -ge "$2" ]
}

# ---- the broker ----
check "broker, before: a SitRep on meting.vr-utrecht is taken (no family binds it)" \
    sitrep vr-utrecht meting.vr-utrecht.a
printf 'meting.> knoop.crisis.v1.WaterLevel\ngrip.> knoop.crisis.v1.GripLevel\n' >"$T/types.broker"
stop_hup() { kill -HUP "$(pid_of "$1")"; }
stop_hup kcr2-broker-1
wait_for "the broker reads its registry again" 10 hup_seen "$T/kcr2-broker-1.log" 1
check "the broker logs the new registry (2 families)" \
    grep -q "broker: type registry $T/types.broker read again (2 families)" "$T/kcr2-broker-1.log"
if sitrep vr-utrecht meting.vr-utrecht.b; then bad "broker, after SIGHUP: a SitRep on meting.* is refused"
else check "broker, after SIGHUP: a SitRep on meting.* is refused, naming the binding" \
    grep -q 'meting.vr-utrecht.b carries knoop.crisis.v1.WaterLevel' "$T/pub.err"; fi
check "... and the broker still listens" bash -c "kill -0 $(pid_of kcr2-broker-1)"
check "the broker journal holds the first SitRep, not the second" \
    bash -c "[ \"\$(count_msgs '$T/kcr2-broker-1' 'meting.>')\" = 1 ]"

printf 'meting.> knoop.crisis.v1.NietBestaand\n' >"$T/types.broker"
stop_hup kcr2-broker-1
wait_for "the broker refuses the broken registry" 10 grep -q "the type registry in force stays" "$T/kcr2-broker-1.log"
check "the refusal names file and line" grep -q "types $T/types.broker:1" "$T/kcr2-broker-1.log"
if sitrep vr-utrecht meting.vr-utrecht.c; then bad "broker: the registry in force (meting → WaterLevel) stays"
else check "broker: the registry in force (meting → WaterLevel) stays" \
    grep -q 'carries knoop.crisis.v1.WaterLevel' "$T/pub.err"; fi

# ---- the node ----
check "node, before: a SitRep on peil.vr-zeeland is published" sitrep vr-zeeland peil.vr-zeeland.a
printf 'peil.> knoop.crisis.v1.WaterLevel\n' >"$T/types.node"
stop_hup vr-zeeland
wait_for "the node reads its registry again" 10 hup_seen "$T/vr-zeeland.log" 1
before=$(count_msgs "$T/vr-zeeland" 'peil.>')
if sitrep vr-zeeland peil.vr-zeeland.b; then bad "node, after SIGHUP: a SitRep on peil.* is refused"
else check "node, after SIGHUP: a SitRep on peil.* is refused by the node, naming the binding" \
    grep -q 'peil.vr-zeeland.b carries knoop.crisis.v1.WaterLevel' "$T/pub.err"; fi
check "... and nothing was stored" bash -c "[ \"\$(count_msgs '$T/vr-zeeland' 'peil.>')\" = '$before' ]"
check "node, after SIGHUP: a WaterLevel on peil.* is published" \
    "$KNOOP" pub --api "$(api vr-zeeland)" --topic peil.vr-zeeland.c --type knoop.crisis.v1.WaterLevel \
        --wait 10 --json '{"gauge_id":"geul-1","gauge_name":"Geul, Meerssen"}'
printf 'peil.> \n' >"$T/types.node"
stop_hup vr-zeeland
wait_for "the node refuses the broken registry" 10 grep -q "the type registry in force stays" "$T/vr-zeeland.log"
if sitrep vr-zeeland peil.vr-zeeland.d; then bad "node: the registry in force stays"
else check "node: the registry in force stays" grep -q 'carries knoop.crisis.v1.WaterLevel' "$T/pub.err"; fi
check "the node still runs" bash -c "kill -0 $(pid_of vr-zeeland)"
