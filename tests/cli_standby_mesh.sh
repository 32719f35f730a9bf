#!/usr/bin/env bash
# A primary/standby pair split over two brokers of a mesh (issue 12): the
# primary on kcr2-broker-a, the standby at the backup location on
# kcr2-broker-b. The brokers tell each other their pair sessions
# (INSTANCES with partner, over the peer links), so:
# - the standby sees the active primary through the mesh and stays standby
#   (longer than the takeover time) while the primary is alive;
# - the primary killed with kill -9: the standby takes over;
# - the old primary started again on its broker stays standby, seeing the
#   active standby through the mesh; nothing forks.
source "$(dirname "$0")/lib.sh"

make_partner kcr2-broker-a broker
make_partner kcr2-broker-b broker
make_partner vr-utrecht region
sitrep_policy
read -r PA PB < <(free_ports 2)
EPA="tcp://127.0.0.1:$PA"; EPB="tcp://127.0.0.1:$PB"
start_broker kcr2-broker-a "$EPA" --peer "kcr2-broker-b@$EPB" --anti-entropy-ms 500
start_broker kcr2-broker-b "$EPB" --peer "kcr2-broker-a@$EPA" --anti-entropy-ms 500
wait_for "the mesh links are up" 30 bash -c "grep -q 'link up' '$T/kcr2-broker-a.log' &&
    grep -q 'link up' '$T/kcr2-broker-b.log'"

# pair_node, mode_is and sees_active: tests/lib.sh

pair_node primary primary "kcr2-broker-a@$EPA"
check "the primary is active" wait_for "primary active" 30 mode_is primary active
pair_node standby standby "kcr2-broker-b@$EPB"
check "the standby on the other broker sees the active primary through the mesh" \
    wait_for "standby sees the primary" 30 sees_active standby
"$KNOOP" status --api "$(api standby)" | grep -E '^instance|^  other' || true
sleep 3       # three times --takeover-ms: it must not take over
check "... and stays standby while the primary is alive" mode_is standby standby
check "... while the primary stays active" mode_is primary active
check "... and the primary sees the standby through the mesh" \
    bash -c "'$KNOOP' status --api '$(api primary)' --json | python3 -c 'import json,sys
s = json.load(sys.stdin)[\"instance\"]; sys.exit(not any(o[\"mode\"] == \"standby\" for o in s[\"others\"]))'"
"$KNOOP" pub --api "$(api primary)" --topic sitrep.vr-utrecht --type knoop.crisis.v1.SitRep \
    --json '{"incident_id":"a-1","summary":"x"}' >/dev/null
check "the standby refuses to publish" \
    bash -c "! '$KNOOP' pub --api '$(api standby)' --topic sitrep.vr-utrecht \
        --type knoop.crisis.v1.SitRep --json '{\"incident_id\":\"no\",\"summary\":\"x\"}' 2>/dev/null"

# ---- the primary dies: its broker drops the session and tells the mesh
kill -9 "$(pid_of primary)"
echo "kill -9 primary"
check "the standby takes over" wait_for "standby takes over" 30 mode_is standby active
check "publishing at the standby works" \
    "$KNOOP" pub --api "$(api standby)" --topic sitrep.vr-utrecht --type knoop.crisis.v1.SitRep \
        --json '{"incident_id":"b-1","summary":"x"}'

# ---- the old primary, back on its own broker, sees the active standby
pair_node primary primary "kcr2-broker-a@$EPA"
check "the old primary comes back as standby, seeing the active one through the mesh" \
    wait_for "primary sees the standby" 30 sees_active primary
sleep 2.5
check "... and stays standby" mode_is primary standby
check "... while the other stays active" mode_is standby active
check "the brokers agree" wait_for "mesh agrees" 30 mesh_agrees kcr2-broker-a kcr2-broker-b
for j in kcr2-broker-a kcr2-broker-b primary standby; do
    check "audit verify: $j has no fork" \
        "$KNOOP" audit verify --journal "$T/$j" --trust "$T/trust" --quiet
done
