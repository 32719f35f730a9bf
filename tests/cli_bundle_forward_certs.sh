#!/usr/bin/env bash
# A node forwards the certificate of an imported stream's origin with the
# stream (issue 12): vr-zeeland's certificate, issued by the root, is known
# to nobody but vr-zeeland; it travels in vr-zeeland's bundle to
# vr-utrecht's node, which learns it there. The broker never met vr-zeeland:
# when vr-utrecht forwards the imported stream, the certificate goes along
# in the PUBLISH; the broker takes it because its root vouches for it,
# journals it on its trust stream, and stores the stream instead of refusing
# it as an unknown partner.
source "$(dirname "$0")/lib.sh"

# make_root, issue, node_trust and start_node_in: tests/lib.sh
make_root
issue kcr2-broker-1 broker
issue vr-zeeland region
issue vr-utrecht region
cp "$T/issued/kcr2-broker-1.cert" "$T/trust/"
# each node's own trust: the root, the broker, itself
node_trust vr-zeeland
node_trust vr-utrecht
cp "$T/issued/vr-utrecht.cert" "$T/trust/"                  # not vr-zeeland's
sitrep_policy
EP="tcp://127.0.0.1:$(free_port)"
start_broker kcr2-broker-1 "$EP"
start_node_in vr-zeeland vr-zeeland "$T/trust-vr-zeeland"    # offline
start_node_in vr-utrecht vr-utrecht "$T/trust-vr-utrecht" --broker "kcr2-broker-1@$EP"
wait_for "vr-utrecht linked" 30 grep -q "caught up from" "$T/vr-utrecht.log"

sitrep_lines z 1 10 'melding @' >"$T/z.jsonl"
"$KNOOP" pub --api "$(api vr-zeeland)" --topic sitrep.vr-zeeland --type knoop.crisis.v1.SitRep \
    --file "$T/z.jsonl" --no-wait --timeout 10 >/dev/null
"$KNOOP" bundle export --journal "$T/vr-zeeland" --trust "$T/trust-vr-zeeland" --key "$T/keys/vr-zeeland.key" \
    --out "$T/z.bundle" >"$T/export.out" 2>&1
check "the bundle holds vr-zeeland's 10 and its certificate" grep -q "exported 10 messages of 1 streams from 1 origins, 2 certificates" "$T/export.out"
# its trust store holds certificates (vr-utrecht's among them), none of
# vr-zeeland; what it learned (DATA/trust, made when it first learns one) neither
check "the broker does not know vr-zeeland" bash -c "lacks '^id = vr-zeeland\$' '$T/trust' &&
    { [ ! -e '$T/kcr2-broker-1/trust' ] || lacks --empty-ok '^id = vr-zeeland\$' '$T/kcr2-broker-1/trust'; }"
check "import at vr-utrecht's node" "$KNOOP" bundle import --api "$(api vr-utrecht)" "$T/z.bundle"
check "vr-utrecht learned vr-zeeland's certificate from the bundle" grep -q "learned certificate of vr-zeeland" "$T/vr-utrecht.log"
check "the broker stores the 10 vr-utrecht forwarded" \
    wait_for "forwarded to the broker" 30 has_count "$T/kcr2-broker-1" sitrep.vr-zeeland 10
check "... having learned vr-zeeland's certificate from the forward" \
    grep -q "learned 1 certificate(s) sent by vr-utrecht with forwarded streams" "$T/kcr2-broker-1.log"
check "... and journaled it on its trust stream (after its own)" has_count "$T/kcr2-broker-1" trust.certs 2
check "the broker's copy is vr-zeeland's stream" same_digest "$T/kcr2-broker-1" "$T/vr-zeeland" sitrep.vr-zeeland
check "nothing left to forward" wait_for "forwarding done" 30 bash -c "[ \"\$('$KNOOP' status --api '$(api vr-utrecht)' --json | jq '.bundles.forwarding | length')\" = 0 ]"
check "the broker refused no forward" bash -c "[ \"\$('$KNOOP' status --api '$(api kcr2-broker-1)' --json | jq .bundles.forwards_refused)\" = 0 ]"
check "audit verify: the broker's journal" "$KNOOP" audit verify --journal "$T/kcr2-broker-1" --trust "$T/trust" --quiet
