#!/usr/bin/env bash
# The health of the exchange as the node's local API and knoop-web tell it:
# the node's last catch-up (when, from which broker, how many messages, how
# long) and the brokers' agreement, which the node's broker passes on in its
# heartbeats (per peer: link up, digests equal at the last comparison, when;
# the broker's digest). Two brokers in a mesh; a node on broker 1 that
# catches up what another node published through broker 2; then broker 2 is
# killed and the verdict turns. knoop-web's status event carries the same.
source "$(dirname "$0")/lib.sh"

WEB=$BIN_DIR/web/knoop-web
SRC=${KNOOP_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
command -v curl >/dev/null || skip "no curl"
command -v jq >/dev/null || skip "no jq"

for b in 1 2; do make_partner kcr2-broker-$b broker; done
make_partner vr-utrecht region
make_partner vr-zeeland region
sitrep_policy
for b in 1 2; do EP[$b]="tcp://127.0.0.1:$(free_port)"; done
start_broker kcr2-broker-1 "${EP[1]}" --peer "kcr2-broker-2@${EP[2]}" --anti-entropy-ms 300
start_broker kcr2-broker-2 "${EP[2]}" --peer "kcr2-broker-1@${EP[1]}" --anti-entropy-ms 300

# vr-zeeland publishes 25 SitReps through broker 2; they reach broker 1
start_node vr-zeeland --broker "kcr2-broker-2@${EP[2]}" --subscribe 'sitrep.>'
seq 1 25 | awk '{ printf "{\"incident_id\":\"z-%d\",\"summary\":\"melding %d\"}\n", $1, $1 }' >"$T/z.jsonl"
"$KNOOP" pub --api "$(api vr-zeeland)" --topic sitrep.vr-zeeland --type knoop.crisis.v1.SitRep \
    --file "$T/z.jsonl" >/dev/null || bad "publishing at vr-zeeland"
wait_for "broker 1 holds the 25" 30 has_count "$T/kcr2-broker-1" 'sitrep.>' 25

st() { "$KNOOP" status --api "$(api vr-utrecht)" --json; }
# what the node says before its first link: nothing yet, and not made up
start_node vr-utrecht --subscribe 'sitrep.>'
check "without a link: no catch-up and no mesh verdict in status" \
    bash -c "[ \"\$('$KNOOP' status --api '$(api vr-utrecht)' --json | jq -c '[.catchup, .mesh]')\" = '[{},{}]' ]"
stop vr-utrecht
t0=$(($(date +%s%3N)))
start_node vr-utrecht --broker "kcr2-broker-1@${EP[1]}" --subscribe 'sitrep.>'
wait_for "vr-utrecht caught up" 30 bash -c "'$KNOOP' status --api '$(api vr-utrecht)' --json | jq -e '.catchup.done_ms > 0'"
S=$(st)
trust=$(count_msgs "$T/kcr2-broker-1" 'trust.>') || trust=0
check "catch-up: from kcr2-broker-1" [ "$(jq -r .catchup.broker <<<"$S")" = kcr2-broker-1 ]
check "catch-up: 25 SitReps (+ $trust trust messages) counted" \
    [ "$(jq -r .catchup.messages <<<"$S")" = $((25 + trust)) ]
check "catch-up: the node holds what the catch-up counted" has_count "$T/vr-utrecht" 'sitrep.>' 25
check "catch-up: one stream of SitReps (+ trust streams)" [ "$(jq -r '.catchup.streams >= 1' <<<"$S")" = true ]
check "catch-up: ended after this node started, and took a duration" \
    [ "$(jq -r --argjson t0 "$t0" '.catchup.done_ms >= $t0 and .catchup.duration_ms >= 0 and .catchup.duration_ms < 30000' <<<"$S")" = true ]

# the mesh's verdict, as broker 1 tells it
agree() { st | jq -e '.mesh.agree == true and (.mesh.peers | length) == 1 and .mesh.peers[0].peer == "kcr2-broker-2" and .mesh.peers[0].up and .mesh.peers[0].in_sync'; }
wait_for "broker 1 tells vr-utrecht the mesh agrees" 20 agree
check "the mesh agrees (peer kcr2-broker-2 up, digests equal)" agree
S=$(st)
check "the mesh verdict comes from the node's broker" [ "$(jq -r .mesh.broker <<<"$S")" = kcr2-broker-1 ]
now=$(date +%s%3N)
check "the last comparison is recent (within 10 s)" \
    [ "$(jq -r --argjson now "$now" '($now - .mesh.peers[0].last_sync_ms) < 10000' <<<"$S")" = true ]
check "the broker's digest is the digest of its journal" \
    bash -c "d=\$(digest '$T/kcr2-broker-1' '>') && [ \"\$('$KNOOP' status --api '$(api vr-utrecht)' --json | jq -r .mesh.digest)\" = \"\$d\" ]"

# knoop-web hands the same to the page
WPORT=$(free_port)
"$WEB" --api "$(api vr-utrecht)" --listen "127.0.0.1:$WPORT" --assets "$SRC/web/static" \
    --public-read >>"$T/web.log" 2>&1 &
PIDS+=($!)
wait_for "knoop-web listening" 10 grep -q "serving the picture" "$T/web.log"
webst() { curl -s --max-time 2 "http://127.0.0.1:$WPORT/events" | awk '/^event: status/ { s = 1; next } s && /^data: / { sub(/^data: /, ""); print; exit }'; }
check "knoop-web's status event carries the catch-up" \
    bash -c "[ \"\$($(declare -f webst); WPORT=$WPORT webst | jq -r .catchup.messages)\" = $((25 + trust)) ]"
check "knoop-web's status event carries the mesh verdict" \
    bash -c "$(declare -f webst); WPORT=$WPORT webst | jq -e '.mesh.agree == true and .mesh.peers[0].peer == \"kcr2-broker-2\"'"
check "the page shows both (Dutch)" \
    bash -c "grep -q 'Laatste inhaalslag' '$SRC/web/static/app.js' && grep -q 'Brokers onderling' '$SRC/web/static/app.js'"

# broker 2 goes: the verdict turns, per peer
stop kcr2-broker-2 KILL
disagree() { st | jq -e '.mesh.agree == false and .mesh.peers[0].up == false'; }
wait_for "vr-utrecht hears that broker 2 is gone" 20 disagree
check "without broker 2: the mesh does not agree, peer down" disagree
check "knoop-web says so too" \
    bash -c "$(declare -f webst); for i in \$(seq 50); do WPORT=$WPORT webst | jq -e '.mesh.agree == false' >/dev/null && exit 0; sleep 0.2; done; exit 1"

# the link to broker 1 goes: no stale verdict
stop kcr2-broker-1 KILL
wait_for "vr-utrecht sees its link down" 20 bash -c "'$KNOOP' status --api '$(api vr-utrecht)' --json | jq -e '.link.state != \"up\"'"
check "link down: the mesh verdict of the lost broker is gone" \
    bash -c "[ \"\$('$KNOOP' status --api '$(api vr-utrecht)' --json | jq -c .mesh)\" = '{}' ]"
check "link down: the last catch-up is still told" \
    bash -c "'$KNOOP' status --api '$(api vr-utrecht)' --json | jq -e '.catchup.done_ms > 0'"
