#!/usr/bin/env bash
# The broker caches its policy verdicts per (partner, topic); a changed policy
# file is reloaded and obeyed within a second, cached verdicts included:
# a publish right taken away refuses the next message on a topic the partner
# had just published on; a file that does not load keeps the rules in force
# (logged, counted); a subscription the new policy no longer allows ends the
# session, and the node's new HELLO gets the refusal.
source "$(dirname "$0")/lib.sh"

make_partner kcr2-broker-1 broker
for n in vr-utrecht vr-zeeland; do make_partner $n region; done
cat >"$T/policy" <<'P'
role:region publish sitrep.{id}.>
role:region subscribe sitrep.>
P
EP="tcp://127.0.0.1:$(free_port)"
start_broker kcr2-broker-1 "$EP"
start_node vr-utrecht --broker "kcr2-broker-1@$EP"
start_node vr-zeeland --broker "kcr2-broker-1@$EP" --subscribe 'sitrep.>'
wait_for "vr-utrecht link up" 10 grep -q "link up" "$T/vr-utrecht.log"
wait_for "vr-zeeland link up" 10 grep -q "link up" "$T/vr-zeeland.log"

BAPI="ipc://$T/kcr2-broker-1/api.sock"
bstatus() { "$KNOOP" status --api "$BAPI" --json; }
# jget EXPR: a value from the broker's status JSON
jget() { bstatus | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
pub() {   # pub TOPIC TEXT
    "$KNOOP" pub --api "$(api vr-utrecht)" --type knoop.crisis.v1.SitRep --topic "$1" \
        --json "{\"incident_id\":\"u-1\",\"summary\":\"$2\"}" >/dev/null
}
# newpolicy: the text on stdin becomes the policy, replaced in one rename as
# an operator's tooling would
newpolicy() { cat >"$T/policy.new"; mv "$T/policy.new" "$T/policy"; }
export -f pub
export KNOOP T

# 1. Allowed, and the verdict is now cached.
for i in 1 2 3; do pub sitrep.vr-utrecht.een "melding $i"; done
wait_for "vr-zeeland holds the first three" 20 has_count "$T/vr-zeeland" 'sitrep.>' 3 || true
check "three messages published and delivered under the first policy" \
    has_count "$T/vr-zeeland" 'sitrep.>' 3
refused0=$(jget 'd["envelopes_refused"]')

# 2. The publish right is taken away. One second later the next message on
#    the same topic is refused, though the cache said yes before.
newpolicy <<'P'
role:region subscribe sitrep.>
P
sleep 1
check "the broker reloaded the policy within a second" \
    test "$(jget 'd["policy"]["reloads"]')" = 1
check "knoop pub says the broker refused message 4" \
    bash -c "! pub sitrep.vr-utrecht.een 'melding 4 na de intrekking' 2>'$T/pub4.err'"
check "because of the new policy" \
    grep -q "policy: vr-utrecht may not publish on sitrep.vr-utrecht.een" "$T/pub4.err"
check "the broker logged the refusal" \
    grep -q "policy: vr-utrecht may not publish on sitrep.vr-utrecht.een" "$T/kcr2-broker-1.log"
check "the refusal is counted" test "$(jget 'd["envelopes_refused"]')" -gt "$refused0"
check "vr-zeeland never got message 4" has_count "$T/vr-zeeland" 'sitrep.>' 3

# 3. A policy that does not load changes nothing, and says so.
newpolicy <<'P'
role:region publsh sitrep.{id}.>
role:region subscribe sitrep.>
P
wait_for "the bad policy is reported" 10 grep -q "the changed policy does not load" \
    "$T/kcr2-broker-1.log" || true
check "the bad policy is refused with its file and line" \
    grep -q "the changed policy does not load.*policy:1: unknown verb 'publsh'" "$T/kcr2-broker-1.log"
check "and counted" test "$(jget 'd["policy"]["reload_errors"]')" = 1
check "the rules in force stay" test "$(jget 'd["policy"]["rules"]')" = 1

# 4. Publishing allowed again (another topic: the refused message stays in
#    vr-utrecht's outbox, its stream waits), but vr-zeeland may now read only
#    Utrecht's 'twee': its subscription to sitrep.> is withdrawn.
newpolicy <<'P'
role:region publish sitrep.{id}.>
vr-zeeland subscribe sitrep.vr-utrecht.twee
P
wait_for "the session of vr-zeeland ends" 10 grep -q \
    "session vr-zeeland closed: subscription no longer allowed by the policy" \
    "$T/kcr2-broker-1.log" || true
check "a subscription the new policy refuses ends the session" grep -q \
    "session vr-zeeland closed: subscription no longer allowed by the policy" "$T/kcr2-broker-1.log"
wait_for "vr-zeeland's new HELLO is answered with the refusal" 20 grep -q \
    "refused subscription of vr-zeeland" "$T/kcr2-broker-1.log" || true
check "vr-zeeland's HELLO after the change has its subscription refused" grep -q \
    "refused subscription of vr-zeeland: policy: vr-zeeland may not subscribe to 'sitrep.>'" \
    "$T/kcr2-broker-1.log"
pub sitrep.vr-utrecht.drie "melding 5"
wait_for "the broker stores message 5" 20 \
    bash -c "'$KNOOP' status --api '$BAPI' --json | grep -q 'sitrep.vr-utrecht.drie'" || true
check "message 5 is stored at the broker" \
    bash -c "'$KNOOP' status --api '$BAPI' --json | grep -q 'sitrep.vr-utrecht.drie'"
sleep 1    # time for anything wrongly sent to arrive
check "vr-zeeland, no longer entitled, did not get message 5" \
    has_count "$T/vr-zeeland" 'sitrep.>' 3
