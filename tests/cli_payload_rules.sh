#!/usr/bin/env bash
# Payload rules with real daemons: the node refuses on publish, with the
# reason, a type on another family's topic, a sender field naming another
# partner, and content against the rules (a time that is no time); a node
# allowed to speak for others (--speak-for) still meets the broker's policy,
# which refuses what no speak-for rule allows and knoop pub says so (exit 1).
# The broker's own gate without a node in front: tests/test_broker_input.c.
source "$(dirname "$0")/lib.sh"

make_sitrep_partners
grip_policy 'role:region publish vitaal.>' 'vr-zeeland speak-for vr-zeeuws-vlaanderen'
SRC=${KNOOP_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
printf 'grip.> knoop.crisis.v1.GripLevel\ngrip.x knoop.crisis.v1.Nope\n' >"$T/bad-types"
rc=0
"$BROKER" --id kcr2-broker-1 --listen "ipc://$T/never.sock" --data "$T/never" \
    --key "$T/keys/kcr2-broker-1.key" --trust "$T/trust" --policy "$T/policy" \
    --types "$T/bad-types" >"$T/bad-types.log" 2>&1 || rc=$?
check "a broker with a bad registry file does not start" test "$rc" -ne 0
check "... and names the file and line" grep -q "types $T/bad-types:2: unknown payload type 'knoop.crisis.v1.Nope'" "$T/bad-types.log"
# The registry beside the policy (deploy/types) for the broker and one node;
# the other node uses the same table built in.
EP="tcp://127.0.0.1:$(free_port)"
start_broker kcr2-broker-1 "$EP" --types "$SRC/deploy/types"
start_node vr-utrecht --broker "kcr2-broker-1@$EP" --types "$SRC/deploy/types"
start_node vr-zeeland --broker "kcr2-broker-1@$EP" --speak-for '*'
wait_for "links up" 10 bash -c "grep -q 'link up' '$T/vr-utrecht.log' && grep -q 'link up' '$T/vr-zeeland.log'"

pub() { local who=$1; shift; "$KNOOP" pub --api "$(api "$who")" "$@"; }
refused() {   # refused EXIT WHAT PATTERN -- pub args...
    local want=$1 what=$2 pat=$3; shift 4
    local rc=0
    pub "$@" >"$T/out" 2>"$T/err" || rc=$?
    check "$what: exit $want" test "$rc" -eq "$want"
    check "$what: says why" grep -q -- "$pat" "$T/err"
}

# At the node.
refused 1 "SitRep on a GRIP topic, refused by the node" \
    "topic grip.vr-utrecht carries knoop.crisis.v1.GripLevel, not knoop.crisis.v1.SitRep" -- \
    vr-utrecht --topic grip.vr-utrecht --type knoop.crisis.v1.SitRep --json '{"summary":"x"}'
refused 1 "an outage in the name of vp-stedin, refused by the node" \
    "provider names vp-stedin as its sender; vr-utrecht may only name itself" -- \
    vr-utrecht --topic vitaal.energie.vp-stedin --type knoop.crisis.v1.VitalOutage \
    --json '{"sector":"SECTOR_ENERGY","provider":"vp-stedin"}'
refused 2 "a GRIP declared 'gisteren', refused before it leaves the CLI" \
    "declared_at: 'gisteren' is not an RFC 3339 time" -- \
    vr-utrecht --topic grip.vr-utrecht --type knoop.crisis.v1.GripLevel \
    --json '{"region":"vr-utrecht","level":"GRIP_1","declared_at":"gisteren"}'
check "nothing of it reached the broker" has_count "$T/kcr2-broker-1" '>' 0

# At the broker: vr-zeeland's node lets it name anyone, the policy does not.
refused 1 "GRIP for vr-utrecht from vr-zeeland, refused by the broker" \
    "the broker refused vr-zeeland grip.vr-zeeland 1: .*sender: vr-zeeland on grip.vr-zeeland names vr-utrecht as region" -- \
    vr-zeeland --topic grip.vr-zeeland --type knoop.crisis.v1.GripLevel \
    --json '{"region":"vr-utrecht","level":"GRIP_4"}'
check "speaking for a partner a speak-for rule allows is fine" \
    exits 0 "$T/err" pub vr-zeeland --topic grip.vr-zeeland.zvl --type knoop.crisis.v1.GripLevel \
        --json '{"region":"vr-zeeuws-vlaanderen","level":"GRIP_2"}'
check "its own GRIP (lowerCamelCase JSON) is accepted by the broker" \
    exits 0 "$T/err" pub vr-utrecht --topic grip.vr-utrecht --type knoop.crisis.v1.GripLevel \
        --json '{"region":"vr-utrecht","level":"GRIP_2","declaredAt":"2021-07-14T18:00:00+02:00"}'
check "the broker holds exactly the two accepted" has_count "$T/kcr2-broker-1" '>' 2
check "the broker counts the refused payload" bash -c \
    "'$KNOOP' status --api 'ipc://$T/kcr2-broker-1/api.sock' --json | grep -Eq '\"payloads_refused\": *1'"
