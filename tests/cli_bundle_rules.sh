#!/usr/bin/env bash
# A bundle meets the broker's payload rules, as a PUBLISH does: vr-zeeland's
# node, offline and lenient (it may name anyone as sender, and its registry
# lets a grip topic carry a SitRep), publishes one good sitrep stream and
# two streams the broker's rules refuse: a GRIP that names vr-utrecht as
# its region, and a SitRep on a grip topic. Its signed bundle imported at
# the broker: each of the two streams refused with the stream, seq and rule
# named, counted (the summary's refused, status payloads_refused), nothing
# of them stored; the good stream is taken, and reaches a subscriber.
source "$(dirname "$0")/lib.sh"

make_sitrep_partners
grip_policy
printf 'sitrep.> knoop.crisis.v1.SitRep\n' >"$T/lenient-types"
EP="tcp://127.0.0.1:$(free_port)"
start_broker kcr2-broker-1 "$EP"
start_node vr-utrecht --broker "kcr2-broker-1@$EP" --subscribe 'sitrep.>'
start_node vr-zeeland --speak-for '*' --types "$T/lenient-types"      # no broker: offline
pub() { "$KNOOP" pub --api "$(api vr-zeeland)" --no-wait --timeout 10 "$@" >/dev/null; }

for i in 1 2 3 4 5; do
    pub --topic sitrep.vr-zeeland --type knoop.crisis.v1.SitRep --json "{\"summary\":\"melding $i\"}"
done
pub --topic grip.vr-zeeland --type knoop.crisis.v1.GripLevel --json '{"region":"vr-zeeland","level":"GRIP_2"}'
pub --topic grip.vr-zeeland --type knoop.crisis.v1.GripLevel --json '{"region":"vr-utrecht","level":"GRIP_4"}'
pub --topic grip.vr-zeeland.zvl --type knoop.crisis.v1.SitRep --json '{"summary":"geen GRIP"}'
check "vr-zeeland's node took all 8 (its rules are lenient)" has_count "$T/vr-zeeland" '>' 8

"$KNOOP" bundle export --journal "$T/vr-zeeland" --trust "$T/trust" --key "$T/keys/vr-zeeland.key" \
    --out "$T/z.bundle" >"$T/export.out" 2>&1
check "the bundle holds the 8 messages of 3 streams" grep -q "exported 8 messages of 3 streams" "$T/export.out"
check "the import at the broker reports refusals (exit 1)" \
    exits 1 "$T/import.out" "$KNOOP" bundle import --api "$(api kcr2-broker-1)" "$T/z.bundle"
check "... 5 stored, 3 refused" grep -q "8 messages, 5 stored, 0 held already, 3 refused" "$T/import.out"
# the streams come in the journal's order: either may be the first named
check "... the first named: stream, seq and rule" grep -Eq \
    "first: stream vr-zeeland/grip\.vr-zeeland(\.zvl)? \(epoch [0-9a-f]*\) seq [12]: (sender|payload): " "$T/import.out"
check "the broker logs the GRIP naming another region: stream, seq, the sender rule" \
    grep -q "stream vr-zeeland/grip.vr-zeeland (epoch [0-9a-f]*) refused at seq 2: sender: vr-zeeland on grip.vr-zeeland names vr-utrecht as region" "$T/kcr2-broker-1.log"
check "the broker logs the SitRep on a grip topic" \
    grep -q "stream vr-zeeland/grip.vr-zeeland.zvl (epoch [0-9a-f]*) refused at seq 1: payload: .*grip.vr-zeeland.zvl carries knoop.crisis.v1.GripLevel, not knoop.crisis.v1.SitRep" "$T/kcr2-broker-1.log"
check "the broker counts both refused payloads" bash -c \
    "[ \"\$('$KNOOP' status --api '$(api kcr2-broker-1)' --json | jq -r .payloads_refused)\" = 2 ]"
check "the import itself was not refused (bundles.refused 0, imported 5)" bash -c \
    "[ \"\$('$KNOOP' status --api '$(api kcr2-broker-1)' --json | jq -c '[.bundles.imported, .bundles.refused]')\" = '[5,0]' ]"
check "the broker holds the 5 sitreps" has_count "$T/kcr2-broker-1" 'sitrep.vr-zeeland' 5
check "... and nothing of the refused streams" has_count "$T/kcr2-broker-1" 'grip.>' 0
wait_for "vr-utrecht gets the 5 sitreps" 20 has_count "$T/vr-utrecht" 'sitrep.vr-zeeland' 5 || true
check "vr-utrecht holds vr-zeeland's sitrep stream as vr-zeeland does" \
    same_digest "$T/vr-zeeland" "$T/vr-utrecht" 'sitrep.vr-zeeland'
# again: the good stream is held, the refused ones refused again
check "importing again: 5 held, the 3 refused again (exit 1)" \
    bash -c "exits 1 '$T/import2.out' '$KNOOP' bundle import --api '$(api kcr2-broker-1)' '$T/z.bundle' \
        && grep -q '8 messages, 0 stored, 5 held already, 3 refused' '$T/import2.out'"
