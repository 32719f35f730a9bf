#!/usr/bin/env bash
# TLP 2.0 with real brokers and nodes: AMBER+STRICT and RED reach only the
# partners the message names (also across the mesh, where the named partner
# sits on the other broker); everyone else with a subscription to the topic
# never receives them, not in the catch-up and not live. One topic may carry
# both (the node gives each audience its own stream), and knoop pub refuses
# a restricted label without recipients.
source "$(dirname "$0")/lib.sh"

make_partner kcr2-broker-1 broker
make_partner kcr2-broker-2 broker
for n in vr-utrecht vr-zeeland vr-twente vr-drenthe vr-fryslan vr-groningen; do make_partner $n region; done
sitrep_policy 'role:region publish sitrep.{id}.>'
start_broker_pair
start_node vr-utrecht --broker "kcr2-broker-1@$EP1"
start_node vr-twente --broker "kcr2-broker-1@$EP1" --subscribe 'sitrep.>'
wait_for "vr-utrecht link up" 10 grep -q "link up" "$T/vr-utrecht.log"

pub() { "$KNOOP" pub --api "$(api vr-utrecht)" --type knoop.crisis.v1.SitRep "$@"; }

# Restricted before the open one: the open one is the marker that all went.
pub --topic sitrep.vr-utrecht.rood --tlp red --recipient vr-zeeland \
    --json '{"incidentId":"u-1","summary":"ROOD alleen voor Zeeland"}' >/dev/null
pub --topic sitrep.vr-utrecht.strikt --tlp amber+strict --recipient vr-zeeland,vr-twente \
    --json '{"incident_id":"u-1","summary":"STRIKT voor Zeeland en Twente"}' >/dev/null
pub --topic sitrep.vr-utrecht --tlp amber \
    --json '{"incident_id":"u-1","summary":"open voor allen"}' >/dev/null

# Two late-comers on the other broker: they get it all through the catch-up.
start_node vr-zeeland --broker "kcr2-broker-2@$EP2" --subscribe 'sitrep.>'
start_node vr-drenthe --broker "kcr2-broker-2@$EP2" --subscribe 'sitrep.>'

wait_for "vr-zeeland holds all three" 20 has_count "$T/vr-zeeland" 'sitrep.>' 3 || true
wait_for "vr-twente holds the open and the strict one" 20 has_count "$T/vr-twente" 'sitrep.>' 2 || true
wait_for "vr-drenthe holds the open one" 20 has_count "$T/vr-drenthe" 'sitrep.>' 1 || true

# Live as well: a second RED message while everyone is connected.
pub --topic sitrep.vr-utrecht.rood --tlp red --recipient vr-zeeland \
    --json '{"incident_id":"u-1","summary":"ROOD 2"}' >/dev/null
pub --topic sitrep.vr-utrecht --tlp amber --json '{"incident_id":"u-1","summary":"open 2"}' >/dev/null
wait_for "vr-zeeland holds the live RED one" 20 has_count "$T/vr-zeeland" 'sitrep.>' 5 || true
wait_for "vr-drenthe holds the second open one" 20 has_count "$T/vr-drenthe" 'sitrep.>' 2 || true
wait_for "vr-twente holds the second open one" 20 has_count "$T/vr-twente" 'sitrep.>' 3 || true
sleep 1     # time for anything wrongly sent to arrive

check "the named partner (other broker) holds both RED messages" \
    has_count "$T/vr-zeeland" 'sitrep.vr-utrecht.rood' 2
check "the named partner holds the AMBER+STRICT message" \
    has_count "$T/vr-zeeland" 'sitrep.vr-utrecht.strikt' 1
check "vr-twente, named for AMBER+STRICT only, holds it" \
    has_count "$T/vr-twente" 'sitrep.vr-utrecht.strikt' 1
check "vr-twente (same broker as the publisher) never received RED" \
    has_count "$T/vr-twente" 'sitrep.vr-utrecht.rood' 0
check "vr-drenthe received neither RED nor AMBER+STRICT" \
    has_count "$T/vr-drenthe" 'sitrep.vr-utrecht.*' 0
check "vr-drenthe received both open messages" has_count "$T/vr-drenthe" 'sitrep.vr-utrecht' 2
check "the broker of the named partner holds the RED messages (the mesh carries them)" \
    has_count "$T/kcr2-broker-2" 'sitrep.vr-utrecht.rood' 2
check "no RED text in vr-drenthe's subscription" bash -c \
    "! '$KNOOP' sub --api '$(api vr-drenthe)' --pattern 'sitrep.>' --from-start --count 5 --timeout 2 | grep -q ROOD"
check "vr-zeeland's application sees the RED message with its label and recipients" bash -c \
    "'$KNOOP' sub --api '$(api vr-zeeland)' --pattern 'sitrep.vr-utrecht.rood' --from-start --count 1 --timeout 5 | grep -q '\"tlp\": *\"red\"'"
check "the broker counts what it withheld" bash -c \
    "'$KNOOP' status --api 'ipc://$T/kcr2-broker-2/api.sock' --json | grep -Eq '\"withheld\": *[1-9]'"

# One topic, both audiences: the node puts the RED message on a stream of
# its own, so the open ones after it still reach everyone.
pub --topic sitrep.vr-utrecht --tlp red --recipient vr-zeeland \
    --json '{"summary":"ROOD op het open topic"}' >/dev/null
pub --topic sitrep.vr-utrecht --tlp amber --json '{"summary":"open 3"}' >/dev/null
wait_for "vr-drenthe holds the third open one" 20 has_count "$T/vr-drenthe" 'sitrep.vr-utrecht' 3 || true
wait_for "vr-zeeland holds the RED one on the open topic" 20 has_count "$T/vr-zeeland" 'sitrep.vr-utrecht' 4 || true
sleep 1
check "RED and open messages on one topic: vr-drenthe gets the open ones after the RED" \
    has_count "$T/vr-drenthe" 'sitrep.vr-utrecht' 3
check "... and not the RED one" bash -c \
    "! '$KNOOP' sub --api '$(api vr-drenthe)' --pattern 'sitrep.>' --from-start --count 6 --timeout 2 | grep -q ROOD"
check "vr-zeeland gets all four on that topic" has_count "$T/vr-zeeland" 'sitrep.vr-utrecht' 4
rc=0
pub --topic sitrep.vr-utrecht.x --tlp red --json '{"summary":"aan niemand"}' >/dev/null 2>"$T/nr.err" || rc=$?
check "RED without --recipient is a usage error" test "$rc" -eq 2
check "... naming --recipient" grep -q -- "--recipient" "$T/nr.err"

# A catch-up walks streams, where messages carry no log position: the
# broker may not let what it learned about one such message (open) stand
# for the next (RED). On a freshly started broker (nothing learned yet),
# vr-fryslan's catch-up walks only an open stream, then vr-groningen, named
# by nothing, catches up on everything.
pub --topic sitrep.vr-utrecht.open --tlp clear --json '{"summary":"open 4"}' >/dev/null
wait_for "broker 2 holds the open one" 20 has_count "$T/kcr2-broker-2" 'sitrep.vr-utrecht.open' 1 || true
stop kcr2-broker-2
mv "$T/kcr2-broker-2.log" "$T/kcr2-broker-2.log.1"   # start_broker waits for a new "listening on"
start_broker kcr2-broker-2 "$EP2" --peer "kcr2-broker-1@$EP1" --anti-entropy-ms 500
start_node vr-fryslan --broker "kcr2-broker-2@$EP2" --subscribe 'sitrep.vr-utrecht.open'
wait_for "vr-fryslan holds the open one" 20 has_count "$T/vr-fryslan" 'sitrep.>' 1 || true
check "vr-fryslan's open-only catch-up ran first" has_count "$T/vr-fryslan" 'sitrep.>' 1
start_node vr-groningen --broker "kcr2-broker-2@$EP2" --subscribe 'sitrep.>'
wait_for "vr-groningen holds the four open ones" 20 has_count "$T/vr-groningen" 'sitrep.>' 4 || true
sleep 1
check "a late-comer after an open-only catch-up holds the open messages" \
    has_count "$T/vr-groningen" 'sitrep.>' 4
"$KNOOP" sub --api "$(api vr-groningen)" --pattern 'sitrep.>' --from-start --count 8 \
    --timeout 2 >"$T/groningen.sub" 2>/dev/null || true
check "... its application reads them (the last open one among them)" grep -q 'open 4' "$T/groningen.sub"
check "... and neither RED nor AMBER+STRICT" lacks -E 'ROOD|STRIKT' "$T/groningen.sub"
