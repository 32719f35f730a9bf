#!/usr/bin/env bash
# A primary/standby pair of one partner (vr-utrecht, one key, two nodes):
# - the pair sees each other's messages live (no reconnect in between);
# - the standby refuses to publish while the primary is active;
# - the primary is killed with kill -9 while an application publishes: the
#   standby takes over within 5 s; nothing acknowledged to the application is
#   lost (the primary's link is cut first, so it dies with messages in its
#   outbox that only it holds), a durable subscriber at another partner gets every acknowledged
#   message exactly once, and audit verify finds no fork anywhere;
# - the old primary started again stays standby (longer than the takeover
#   time) and delivers what was still in its outbox, until `knoop node
#   promote`, after which the other instance yields.
source "$(dirname "$0")/lib.sh"

make_sitrep_partners
sitrep_policy
read -r PB PP < <(free_ports 2)
EP="tcp://127.0.0.1:$PB"
B="kcr2-broker-1@$EP"
start_broker kcr2-broker-1 "$EP"
# The primary reaches the broker through a cuttable link.
start_proxy primary "$PP" "$PB"

# pair_node, mode_is and sees_active: tests/lib.sh

pair_node primary primary "kcr2-broker-1@tcp://127.0.0.1:$PP"
pair_node standby standby "$B"
start_node vr-zeeland --broker "$B" --subscribe 'sitrep.>'

check "the primary is active" wait_for "primary active" 30 mode_is primary active
check "the standby is standby and sees the active primary" \
    wait_for "standby sees the primary" 30 sees_active standby
check "the standby is not active" mode_is standby standby
broker_shows_pair() { "$KNOOP" status --api "ipc://$T/kcr2-broker-1/api.sock" --json --timeout 10 2>/dev/null |
    python3 -c 'import json,sys
m = sorted(r["instance"]["mode"] for r in json.load(sys.stdin)["sessions"]
           if r["partner"] == "vr-utrecht" and "instance" in r)
sys.exit(m != ["active", "standby"])'; }
check "the broker's status shows the pair: one active, one standby" broker_shows_pair
"$KNOOP" status --api "$(api standby)" | grep -E '^instance|^  other' || true

# ---- live: a message of the primary reaches the standby without a reconnect
wait_for "standby caught up" 30 grep -q "caught up from" "$T/standby.log"
"$KNOOP" pub --api "$(api primary)" --topic sitrep.vr-utrecht --type knoop.crisis.v1.SitRep \
    --json '{"incident_id":"live-1","summary":"x"}' >/dev/null
check "the standby holds the primary's message live" \
    wait_for "live at the standby" 30 has_count "$T/standby" 'sitrep.vr-utrecht' 1
check "... without a second HELLO (not a catch-up)" \
    test "$(grep -c 'link up to' "$T/standby.log")" = 1
check "the standby refuses to publish" \
    bash -c "! '$KNOOP' pub --api '$(api standby)' --topic sitrep.vr-utrecht \
        --type knoop.crisis.v1.SitRep --json '{\"incident_id\":\"no\",\"summary\":\"x\"}' \
        2>'$T/refused.err'"
check "... saying it is the standby" grep -q "standby of vr-utrecht" "$T/refused.err"

# ---- the durable subscriber at the other partner
"$KNOOP" sub --api "$(api vr-zeeland)" --pattern 'sitrep.vr-utrecht' --durable audit \
    --from-start --timeout 90 >"$T/sub.out" 2>"$T/sub.err" &
SUB=$!
PIDS+=($SUB)

# ---- the application: chunks of 20 to whichever instance takes them; a
# chunk's printed lines are the acknowledged ones (committed by the node:
# --no-wait, so the primary may die with messages still in its outbox). A chunk that fails is not
# sent again (so any duplicate would be the system's), the next one goes to
# the other instance.
publisher() {
    local target=primary
    for c in $(seq 1 30); do
        awk -v c="$c" 'BEGIN { for (i = 1; i <= 20; i++)
            printf "{\"incident_id\":\"k-%d-%d\",\"summary\":\"x\"}\n", c, i }' >"$T/chunk$c"
        if ! "$KNOOP" pub --api "$(api $target)" --topic sitrep.vr-utrecht --timeout 5 --no-wait \
               --type knoop.crisis.v1.SitRep --file "$T/chunk$c" >"$T/acked$c" 2>>"$T/pub.err"; then
            [ $target = primary ] && target=standby
        fi
        head -n "$(wc -l <"$T/acked$c")" "$T/chunk$c" >>"$T/acked.jsonl"
        sleep 0.1
    done
}
publisher &
PUBLISHER=$!
PIDS+=($PUBLISHER)

# Cut the primary's link once it has taken a few chunks, then kill -9 it
# while its outbox holds acknowledged messages the broker never saw.
backlog() { "$KNOOP" status --api "$(api "$1")" --json --timeout 10 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["outbox"]["backlog"])'; }
backlog_above() { [ "$(backlog "$1")" -gt "$2" ]; }
export -f backlog backlog_above
wait_for "the primary took chunks" 30 test -s "$T/acked3"
link_cut primary
echo "link of the primary cut"
check "the cut primary holds acknowledged messages in its outbox" \
    wait_for "primary outbox" 30 backlog_above primary 0
left=$(backlog primary || echo 0)
kill -9 "$(pid_of primary)"
t0=$(date +%s.%N)
echo "kill -9 primary with $left message(s) in its outbox"
wait_for "the standby takes over" 30 mode_is standby active || true
check "the standby took over" mode_is standby active
# The time from the kill to the standby's own account of its takeover (its
# log), not to our polling of its status, which a loaded machine slows down.
took=$(python3 - "$t0" "$T/standby.log" <<'PY'
import sys, datetime
t0 = float(sys.argv[1])
for line in open(sys.argv[2]):
    if "is now ACTIVE" in line:
        t = datetime.datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S.%f")
        print("%.1f" % (t.replace(tzinfo=datetime.timezone.utc).timestamp() - t0))
        break
else:
    print("never")
PY
)
echo "takeover after ${took} s"
check "within 5 s of the kill (took ${took} s)" awk -v t="$took" 'BEGIN { exit !(t != "never" && t <= 5.0) }'
"$KNOOP" status --api "$(api standby)" | grep -E '^instance' || true
wait "$PUBLISHER" || true

acked=$(wc -l <"$T/acked.jsonl")
echo "acknowledged to the application: $acked of 600"
check "chunks were acknowledged before and after the takeover" \
    bash -c "[ $acked -ge 200 ] && grep -qE 'k-(2[5-9]|30)-' '$T/acked.jsonl'"

# ---- the old primary, started again with its link back, stays standby
link_heal primary
pair_node primary primary "kcr2-broker-1@tcp://127.0.0.1:$PP"
check "the old primary comes back as standby" wait_for "primary back" 30 sees_active primary
sleep 2.5     # more than --takeover-ms: it must not take over nor flap
check "... and stays standby" mode_is primary standby
check "... while the standby stays active" mode_is standby active
backlog_zero() { "$KNOOP" status --api "$(api "$1")" --json --timeout 10 2>/dev/null |
    python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)["outbox"]["backlog"] != 0)'; }
export -f backlog_zero
grep -o 'outbox [0-9]* message(s) to send' "$T/primary.log" | tail -1 | sed 's/^/restarted primary: /'
check "the old primary's outbox reached the broker" wait_for "outbox empty" 30 backlog_zero primary

# ---- nothing lost, nothing twice, no fork
ids() { grep -o '"incident_id":"k-[0-9]*-[0-9]*"' | sort; }
ids <"$T/acked.jsonl" >"$T/acked.ids"
wait_for "the subscriber printed every acknowledged message" 30 \
    bash -c "[ -z \"\$(comm -23 '$T/acked.ids' <(grep -o '\"incident_id\":\"k-[0-9]*-[0-9]*\"' '$T/sub.out' | sort -u))\" ]" || true
"$KNOOP" audit replay --journal "$T/kcr2-broker-1" --pattern 'sitrep.>' | ids >"$T/broker.ids"
ids <"$T/sub.out" >"$T/sub.ids"
check "every acknowledged message is at the broker" \
    test -z "$(comm -23 "$T/acked.ids" <(sort -u "$T/broker.ids"))"
check "the durable subscriber got every acknowledged message" \
    test -z "$(comm -23 "$T/acked.ids" <(sort -u "$T/sub.ids"))"
check "... and none twice" test -z "$(uniq -d "$T/sub.ids")"
check "no message twice in the broker's journal" test -z "$(uniq -d "$T/broker.ids")"
kill "$SUB" 2>/dev/null || true
streams=$("$KNOOP" status --api "$(api vr-zeeland)" --json |
          python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin)["streams"] if r["origin"] == "vr-utrecht"))')
check "the takeover published on a stream of its own ($streams streams of vr-utrecht)" test "$streams" -ge 2
for j in kcr2-broker-1 vr-zeeland primary standby; do
    check "audit verify: $j has no fork and verifies" \
        "$KNOOP" audit verify --journal "$T/$j" --trust "$T/trust" --quiet
done
check "the pair and the broker hold the same of vr-utrecht" \
    wait_for "pair converged" 30 bash -c "same_digest '$T/kcr2-broker-1' '$T/primary' sitrep.vr-utrecht &&
        same_digest '$T/kcr2-broker-1' '$T/standby' sitrep.vr-utrecht"

# ---- failback is the operator's: promote the old primary
check "knoop node promote" "$KNOOP" node promote --api "$(api primary)" --reason "failback test"
check "the primary is active again" mode_is primary active
check "the other instance yields" wait_for "standby yields" 30 mode_is standby standby
check "publishing at the primary works again" \
    "$KNOOP" pub --api "$(api primary)" --topic sitrep.vr-utrecht --type knoop.crisis.v1.SitRep \
        --json '{"incident_id":"back-1","summary":"x"}'
check "... and reaches the standby live" \
    wait_for "back-1 at the standby" 30 bash -c "'$KNOOP' audit replay --journal '$T/standby' \
        --pattern sitrep.vr-utrecht 2>/dev/null | grep -q back-1"
check "knoop node demote of a node not in a pair is refused, saying why" \
    bash -c "out=\$('$KNOOP' node demote --api '$(api vr-zeeland)' 2>&1); rc=\$?;
             [ \$rc = 2 ] && grep -q 'not one of a primary/standby pair' <<<\"\$out\""
