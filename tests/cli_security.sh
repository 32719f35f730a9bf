#!/usr/bin/env bash
# Security with real daemons: a key not in the trust store, an expired
# certificate, a topic outside the policy, a subscription outside the
# policy, and a key revoked while connected are each refused with a reason
# an operator can read, and the broker keeps serving everyone else.
# (A forged origin and forged signatures: tests/test_broker_input.c.)
source "$(dirname "$0")/lib.sh"

make_sitrep_partners
make_partner vr-expired region --valid-from 2020-01-01T00:00:00Z --valid-days 1
# A stranger: its own trust store knows the broker, the broker does not know it.
"$KNOOP" keys new --id vr-stranger --role region --out "$T/stranger" >/dev/null
mkdir -p "$T/stranger-trust"
cp "$T/stranger/vr-stranger.cert" "$T/trust/kcr2-broker-1.cert" "$T/stranger-trust/"
sitrep_policy
EP="tcp://127.0.0.1:$(free_port)"
B="kcr2-broker-1@$EP"
start_broker kcr2-broker-1 "$EP"
start_node vr-utrecht --broker "$B" --subscribe 'sitrep.>' --subscribe 'grip.>'
start_node vr-zeeland --broker "$B" --subscribe 'sitrep.>'
wait_for "vr-utrecht link up" 10 grep -q "link up" "$T/vr-utrecht.log"

# Unknown key: refused at the handshake, logged with its fingerprint.
"$NODE" --id vr-stranger --data "$T/vr-stranger" --key "$T/stranger/vr-stranger.key" \
    --trust "$T/stranger-trust" --broker "$B" --timeout-ms 1500 >"$T/vr-stranger.log" 2>&1 &
PIDS+=($!)
wait_for "broker refuses the unknown key" 10 grep -q "refused unknown key" "$T/kcr2-broker-1.log" || true
check "unknown key refused and logged with its fingerprint" \
    grep -Eq "zap: refused unknown key [0-9a-f]{16} from" "$T/kcr2-broker-1.log"
wait_for "stranger gives up on HELLO" 10 grep -q "no WELCOME" "$T/vr-stranger.log" || true
check "the stranger's node says it got no WELCOME" grep -q "no WELCOME" "$T/vr-stranger.log"

# Expired certificate.
start_node vr-expired --broker "$B"
wait_for "broker refuses the expired cert" 10 grep -q "refused vr-expired" "$T/kcr2-broker-1.log" || true
check "expired certificate refused, with its end date" \
    grep -q "refused vr-expired .*certificate valid until 2020-01-02" "$T/kcr2-broker-1.log"
# The refusal names the fingerprint `knoop keys show` prints for that partner
# (of its Ed25519 key), so an operator can match the two by eye.
fp=$("$KNOOP" keys show "$T/keys/vr-expired.cert" | awk '/^fingerprint:/ {print $2}')
check "the ZAP log shows the fingerprint knoop keys show prints ($fp)" \
    grep -q "refused vr-expired (key $fp)" "$T/kcr2-broker-1.log"
# The node itself says at start that its own certificate has expired, and
# gives that as the reason it gets no WELCOME.
check "the node with an expired certificate says so at start" \
    grep -q "our own certificate (vr-expired) is not valid now: valid from 2020-01-01T00:00:00Z until 2020-01-02" \
    "$T/vr-expired.log"
wait_for "no WELCOME with the reason" 10 grep -q "no WELCOME from kcr2-broker-1 within .*: our own certificate" \
    "$T/vr-expired.log" || true
check "... and as the reason it gets no WELCOME" \
    grep -q "no WELCOME from kcr2-broker-1 within .*: our own certificate (vr-expired)" "$T/vr-expired.log"

# Subscription outside the policy.
check "subscription 'grip.>' refused with the reason" \
    grep -q "subscription refused: policy: vr-utrecht may not subscribe to 'grip.>'" "$T/vr-utrecht.log"

# Topic outside the policy: stored locally, refused by the broker, reported:
# knoop pub waits for the broker's verdict and exits 1 with its reason.
rc=0
"$KNOOP" pub --api "$(api vr-utrecht)" --topic sitrep.vr-zeeland --type knoop.crisis.v1.SitRep \
    --json '{"incident_id":"x","summary":"not mine to say"}' >"$T/refused.out" 2>"$T/refused.err" || rc=$?
check "knoop pub exits 1 on the broker's policy refusal" test "$rc" -eq 1
check "knoop pub prints the broker's reason" \
    grep -q "the broker refused vr-utrecht sitrep.vr-zeeland 1: .*policy: vr-utrecht may not publish on sitrep.vr-zeeland" "$T/refused.err"
wait_for "policy refusal reported" 10 status_has vr-utrecht 'may not publish on sitrep.vr-zeeland' || true
check "publishing on another region's topic refused with the reason, shown in status" \
    status_has vr-utrecht 'policy: vr-utrecht may not publish on sitrep.vr-zeeland'

# The broker keeps serving everyone else.
"$KNOOP" pub --api "$(api vr-zeeland)" --topic sitrep.vr-zeeland --type knoop.crisis.v1.SitRep \
    --json '{"incident_id":"z-1","summary":"dijk Westkapelle stabiel"}' >/dev/null
wait_for "vr-utrecht receives vr-zeeland's sitrep" 10 bash -c \
    "'$KNOOP' sub --api '$(api vr-utrecht)' --pattern 'sitrep.>' --from-start --count 2 --timeout 2 | grep -q Westkapelle"
check "others are still served" bash -c \
    "'$KNOOP' sub --api '$(api vr-utrecht)' --pattern 'sitrep.>' --from-start --count 2 --timeout 5 | grep -q Westkapelle"

# Revocation while connected: remove the cert.
rm "$T/trust/vr-zeeland.cert"
wait_for "broker drops the revoked partner" 10 grep -q "session vr-zeeland closed: key revoked" "$T/kcr2-broker-1.log" || true
check "a key revoked while connected stops being served" \
    grep -q "session vr-zeeland closed: key revoked" "$T/kcr2-broker-1.log"
check "the broker is still running" kill -0 "$(pid_of kcr2-broker-1)"
