#!/usr/bin/env bash
# The picture across nodes: the latest GRIP level per (incident, region) key
# wins everywhere, exercise traffic never enters the real picture nor a
# default subscription, and `knoop status` shows the link and the streams.
source "$(dirname "$0")/lib.sh"

make_partner kcr2-broker-1 broker
make_partner vr-zuid-limburg region
make_partner vr-limburg-noord region
cat >"$T/policy" <<'P'
role:region publish grip.{id}
role:region subscribe grip.>
role:region publish alert.{id}
role:region subscribe alert.>
P
EP="ipc://$T/b.sock"
B="kcr2-broker-1@$EP"
start_broker kcr2-broker-1 "$EP"
start_node vr-zuid-limburg --broker "$B" --subscribe 'grip.>' --subscribe 'alert.>'
start_node vr-limburg-noord --broker "$B" --subscribe 'grip.>' --subscribe 'alert.>'

pubgrip() {   # pubgrip NODE LEVEL STATUS
    "$KNOOP" pub --api "$(api "$1")" --topic "grip.$1" --type knoop.crisis.v1.GripLevel \
        --key "hoogwater-2021/$1" --status "$3" \
        --json "{\"incident_id\":\"hoogwater-2021\",\"region\":\"$1\",\"level\":\"$2\",\"incident_name\":\"Hoogwater Geul\"}" >/dev/null
}
# An alert with a long description before its headline in the payload.
"$KNOOP" pub --api "$(api vr-zuid-limburg)" --topic alert.vr-zuid-limburg --type knoop.crisis.v1.Alert \
    --json '{"identifier":"ZL-1","sender":"vr-zuid-limburg","status":"CAP_STATUS_ACTUAL","msg_type":"CAP_MSG_TYPE_ALERT","info":[{"event":"Overstroming","description":"Een heel lange beschrijving van wat er in Valkenburg aan de Geul gebeurt, veel langer dan een regel van het beeld kan tonen, met alle details erbij.","headline":"Verlaat het centrum","urgency":"CAP_URGENCY_IMMEDIATE","severity":"CAP_SEVERITY_EXTREME","area":[{"area_desc":"Valkenburg centrum"},{"area_desc":"Meerssen"}]}]}' >/dev/null
pubgrip vr-zuid-limburg GRIP_2 actual
pubgrip vr-zuid-limburg GRIP_4 actual
pubgrip vr-limburg-noord GRIP_2 actual
pubgrip vr-limburg-noord GRIP_RIJK exercise
wait_for "both nodes converge" 20 same_digest "$T/vr-zuid-limburg" "$T/vr-limburg-noord" 'grip.>' || true
wait_for "the alert arrives" 20 has_count "$T/vr-limburg-noord" 'alert.>' 1 || true
check "both nodes hold the same" same_digest "$T/vr-zuid-limburg" "$T/vr-limburg-noord" 'grip.>'

for n in vr-zuid-limburg vr-limburg-noord; do
    "$KNOOP" beeld --api "$(api $n)" >"$T/beeld.$n"
done
check "the picture is the same on both nodes" cmp -s "$T/beeld.vr-zuid-limburg" "$T/beeld.vr-limburg-noord"
check "Zuid-Limburg stands at GRIP 4 (the latest)" grep -q "hoogwater-2021/vr-zuid-limburg.*GRIP_4" "$T/beeld.vr-limburg-noord"
check "GRIP shows region, level and incident name first" \
    grep -q $'GripLevel\tregion=vr-zuid-limburg level=GRIP_4 incident="Hoogwater Geul"' "$T/beeld.vr-limburg-noord"
check "an alert shows headline, severity, urgency and area before its long description" \
    grep -q $'Alert\theadline="Verlaat het centrum" severity=CAP_SEVERITY_EXTREME urgency=CAP_URGENCY_IMMEDIATE area="Valkenburg centrum, Meerssen"' "$T/beeld.vr-limburg-noord"
check "Limburg-Noord at GRIP 2: the exercise GRIP Rijk is not in the real picture" \
    bash -c "grep -q 'hoogwater-2021/vr-limburg-noord.*GRIP_2' '$T/beeld.vr-limburg-noord' && lacks GRIP_RIJK '$T/beeld.vr-limburg-noord'"
"$KNOOP" sub --api "$(api vr-zuid-limburg)" --pattern 'grip.>' --from-start --timeout 2 >"$T/sub.actual" || true
"$KNOOP" sub --api "$(api vr-zuid-limburg)" --pattern 'grip.>' --from-start --status exercise --timeout 2 >"$T/sub.exercise" || true
check "a default subscription shows actual traffic only" \
    bash -c "[ \$(wc -l <'$T/sub.actual') -eq 3 ] && lacks exercise '$T/sub.actual'"
check "exercise traffic is there for whoever asks for it" grep -q GRIP_RIJK "$T/sub.exercise"
check "status names the broker and the link" bash -c \
    "'$KNOOP' status --api '$(api vr-zuid-limburg)' | grep -q 'link        up  broker kcr2-broker-1'"
