#!/usr/bin/env bash
# A bundle carried to a NODE reaches the mesh (issue 12: a region carries a
# USB stick to a neighbour's node, not to a broker). vr-zeeland's node has
# no link at all and publishes; its journal is exported to a bundle. The
# bundle is imported at vr-utrecht's node while that node's link is cut; when
# the link returns, the node forwards vr-zeeland's streams to its broker as
# vr-zeeland signed them, and vr-noord, a durable subscriber on the broker,
# gets every message exactly once. Importing the bundle again forwards
# nothing twice. A stream the broker's policy refuses (vr-zeeland on
# grip.vr-zeeland) is refused by the broker with the stream named, shown in
# the forwarding node's status, and stored nowhere on the broker; a node
# restarted with streams still to forward forwards them after the restart.
source "$(dirname "$0")/lib.sh"

make_partner kcr2-broker-1 broker
for p in vr-zeeland vr-utrecht vr-noord; do make_partner $p region; done
cat >"$T/policy" <<'P'
role:region publish sitrep.{id}
role:region subscribe sitrep.>
P
read -r PB PU PZ < <(free_ports 3)
EP="tcp://127.0.0.1:$PB"
start_broker kcr2-broker-1 "$EP"
start_proxy utrecht "$PU" "$PB"
# vr-zeeland: a broker address where nothing answers (the network is down)
start_node vr-zeeland --broker "kcr2-broker-1@tcp://127.0.0.1:$PZ"
start_node vr-utrecht --broker "kcr2-broker-1@tcp://127.0.0.1:$PU" --subscribe 'sitrep.>'
start_node vr-noord --broker "kcr2-broker-1@$EP" --subscribe 'sitrep.>'
wait_for "vr-utrecht linked" 30 grep -q "caught up from" "$T/vr-utrecht.log"

N=30
sitrep_lines z 1 "$N" 'melding @' >"$T/z.jsonl"
"$KNOOP" pub --api "$(api vr-zeeland)" --topic sitrep.vr-zeeland --type knoop.crisis.v1.SitRep \
    --file "$T/z.jsonl" --no-wait --timeout 10 >/dev/null
"$KNOOP" pub --api "$(api vr-zeeland)" --topic grip.vr-zeeland --type knoop.crisis.v1.GripLevel \
    --json '{"region":"vr-zeeland","level":2}' --no-wait --timeout 10 >/dev/null
"$KNOOP" bundle export --journal "$T/vr-zeeland" --trust "$T/trust" --pattern 'sitrep.>' \
    --out "$T/z.bundle" >"$T/export.out" 2>&1
check "export: $N messages of vr-zeeland" grep -q "exported $N messages of 1 streams" "$T/export.out"
"$KNOOP" bundle export --journal "$T/vr-zeeland" --trust "$T/trust" --pattern 'grip.>' \
    --out "$T/grip.bundle" >/dev/null 2>&1

"$KNOOP" sub --api "$(api vr-noord)" --pattern 'sitrep.vr-zeeland' --durable watch \
    --from-start --timeout 120 >"$T/sub.out" 2>"$T/sub.err" &
SUB=$!
PIDS+=($SUB)

# ---- the node's link is down when the courier arrives
link_cut utrecht
wait_for "vr-utrecht notices the cut" 30 bash -c "'$KNOOP' status --api '$(api vr-utrecht)' --json |
    python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)[\"link\"][\"state\"] == \"up\")'" || true
check "import at the node" "$KNOOP" bundle import --api "$(api vr-utrecht)" "$T/z.bundle"
check "the node holds vr-zeeland's $N messages" has_count "$T/vr-utrecht" sitrep.vr-zeeland $N
forwarding() { "$KNOOP" status --api "$(api vr-utrecht)" --json --timeout 10 |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["bundles"]["forwarding"]))'; }
check "status lists the stream still to forward" test "$(forwarding)" = 1
check "the broker does not hold it yet" \
    bash -c "! '$KNOOP' audit replay --journal '$T/kcr2-broker-1' --pattern sitrep.vr-zeeland | grep -q z-1"

# ---- a restart keeps the list (cursor node.forward)
stop vr-utrecht
start_node vr-utrecht --broker "kcr2-broker-1@tcp://127.0.0.1:$PU" --subscribe 'sitrep.>'
check "after a restart the stream is still to forward" test "$(forwarding)" = 1

# ---- the link returns: forwarded, verified by the broker, delivered once
link_heal utrecht
check "the broker holds vr-zeeland's $N messages, forwarded by vr-utrecht" \
    wait_for "forwarded to the broker" 60 has_count "$T/kcr2-broker-1" sitrep.vr-zeeland $N
check "the broker logs the forward as verified" \
    grep -q "vr-utrecht forwarded $N messages" "$T/kcr2-broker-1.log"
check "the forwarding list is empty once acknowledged" \
    wait_for "forwarding done" 30 bash -c "[ \"\$('$KNOOP' status --api '$(api vr-utrecht)' --json |
        python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"bundles\"][\"forwarding\"]))')\" = 0 ]"
ids() { grep -o '"incident_id":"z-[0-9]*"' | sort; }
wait_for "vr-noord got all" 60 bash -c "[ \$(grep -o '\"incident_id\":\"z-[0-9]*\"' '$T/sub.out' | sort -u | wc -l) -ge $N ]" || true
ids <"$T/sub.out" >"$T/sub.ids"
check "vr-noord's durable subscriber got all $N" test "$(sort -u "$T/sub.ids" | wc -l)" = $N
check "the broker's digest of sitrep.vr-zeeland is vr-zeeland's own" \
    same_digest "$T/kcr2-broker-1" "$T/vr-zeeland" sitrep.vr-zeeland

# ---- imported again: nothing new anywhere
check "import again at the node" "$KNOOP" bundle import --api "$(api vr-utrecht)" "$T/z.bundle"
check "... forwarded again and acknowledged" \
    wait_for "forwarding done again" 30 bash -c "[ \"\$('$KNOOP' status --api '$(api vr-utrecht)' --json |
        python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"bundles\"][\"forwarding\"]))')\" = 0 ]"
sleep 1       # a duplicate delivery, were there one, has time to arrive
ids <"$T/sub.out" >"$T/sub.ids"
check "... and the subscriber got none twice" test -z "$(uniq -d "$T/sub.ids")"
check "... nor holds the broker any twice" \
    test -z "$("$KNOOP" audit replay --journal "$T/kcr2-broker-1" --pattern sitrep.vr-zeeland | ids | uniq -d)"

# ---- a stream the policy refuses: named, shown, not stored at the broker
check "the grip bundle imports at the node (a node checks no policy)" \
    "$KNOOP" bundle import --api "$(api vr-utrecht)" "$T/grip.bundle"
refused() { "$KNOOP" status --api "$(api vr-utrecht)" --json --timeout 10 |
    python3 -c 'import json,sys; b=json.load(sys.stdin)["bundles"]
sys.exit(not any("grip.vr-zeeland" in r["refused"] for r in b["forwarding"]))'; }
export -f refused
check "the broker refuses it, named in the node's status" wait_for "grip refused" 30 refused
"$KNOOP" status --api "$(api vr-utrecht)" --json | python3 -c 'import json,sys
for r in json.load(sys.stdin)["bundles"]["forwarding"]: print("refused:", r["refused"])'
check "the broker holds nothing of grip.vr-zeeland" \
    test "$("$KNOOP" audit replay --journal "$T/kcr2-broker-1" --pattern 'grip.>' | wc -l)" = 0
check "the broker counts the refused forward" \
    bash -c "'$KNOOP' status --api '$(api kcr2-broker-1)' --json |
        python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)[\"bundles\"][\"forwards_refused\"] < 1)'"
kill "$SUB" 2>/dev/null || true
for j in kcr2-broker-1 vr-utrecht vr-noord; do
    check "audit verify: $j" "$KNOOP" audit verify --journal "$T/$j" --trust "$T/trust" --quiet
done
