#!/usr/bin/env bash
# What crosses the broker links, read from the brokers' own counters: in a
# full mesh of three a message published at A crosses A->B and A->C once
# each, never back to A (no echo) and never between B and C (no relay: each
# pulls from A itself). When C's links to A are cut, B relays A's messages to
# C at once (C's new HELLO says it no longer pulls from A), and after the
# heal all three hold the same. Anti-entropy is set to a minute, so what
# repairs the partition here is the link-change HELLO alone.
source "$(dirname "$0")/lib.sh"

for b in 1 2 3; do make_partner kcr2-broker-$b broker; done
for n in vr-utrecht vr-zeeland; do make_partner $n region; done
sitrep_policy
for b in 1 2 3; do PORT[$b]=$(free_port); done
# C's links to and from A run through cuttable proxies.
PAC=$(free_port); PCA=$(free_port)
start_proxy a-to-c "$PAC" "${PORT[3]}"
start_proxy c-to-a "$PCA" "${PORT[1]}"
ep() { echo "tcp://127.0.0.1:$1"; }
start_broker kcr2-broker-1 "$(ep ${PORT[1]})" --peer "kcr2-broker-2@$(ep ${PORT[2]})" \
    --peer "kcr2-broker-3@$(ep $PAC)" --anti-entropy-ms 60000
start_broker kcr2-broker-2 "$(ep ${PORT[2]})" --peer "kcr2-broker-1@$(ep ${PORT[1]})" \
    --peer "kcr2-broker-3@$(ep ${PORT[3]})" --anti-entropy-ms 60000
start_broker kcr2-broker-3 "$(ep ${PORT[3]})" --peer "kcr2-broker-1@$(ep $PCA)" \
    --peer "kcr2-broker-2@$(ep ${PORT[2]})" --anti-entropy-ms 60000
start_node vr-utrecht --broker "kcr2-broker-1@$(ep ${PORT[1]})"
start_node vr-zeeland --broker "kcr2-broker-3@$(ep ${PORT[3]})" --subscribe 'sitrep.>'

note() { echo "# ${SECONDS}s: $*"; }
note "started"
bapi() { echo "ipc://$T/kcr2-broker-$1/api.sock"; }
# links B: broker B's peer sessions each name the third broker as linked
# (every link is up and every broker has told the others)
links_settled() {
    for b in 1 2 3; do
        "$KNOOP" status --api "$(bapi $b)" --json | python3 -c '
import json, sys
b = int(sys.argv[1]); d = json.load(sys.stdin)
ids = {"kcr2-broker-%d" % i for i in (1, 2, 3)}
ps = [s for s in d["sessions"] if s["peer"]]
ok = len(ps) == 2 and all(set(s["linked"]) == ids - {s["partner"], "kcr2-broker-%d" % b}
                          for s in ps)
ok = ok and all(p["state"] == "up" for p in d["peers"])
if not ok:
    print("broker %d: sessions %s; peers %s" % (b, [(s["partner"], s["linked"]) for s in ps],
          [(p["id"], p["state"]) for p in d["peers"]]), file=sys.stderr)
sys.exit(0 if ok else 1)' "$b" || return 1
    done
}
export -f links_settled bapi
export T
wait_for "every link up and every peer session's linked list complete" 30 links_settled || true
check "every link is up and each peer says it pulls from the third broker" links_settled

# counters B: "from-ID received.messages" per peer link, "to-ID delivered
# echo relay" per peer session, one per line
counters() {
    "$KNOOP" status --api "$(bapi $1)" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
for p in d["peers"]:
    print("from-%s %d" % (p["id"], p["received"]["messages"]))
for s in d["sessions"]:
    if s["peer"]:
        print("to-%s %d %d %d" % (s["partner"], s["delivered"], s["echo_skipped"],
                                  s["relay_skipped"]))'
}
# snap NAME: every broker's counters into $T/NAME-B; delta B KEY FIELD: how
# much FIELD (1 = first number) of KEY at broker B grew from "before" to
# "after"
snap() { for b in 1 2 3; do counters $b >"$T/$1-$b"; done; }
delta() {
    local now before
    now=$(awk -v k="$2" -v f="$3" '$1 == k { print $(f + 1) }' "$T/after-$1")
    before=$(awk -v k="$2" -v f="$3" '$1 == k { print $(f + 1) }' "$T/before-$1")
    echo $(( ${now:-0} - ${before:-0} ))
}

N=200
publish() {   # publish FIRST LAST
    awk -v a="$1" -v b="$2" 'BEGIN { for (i = a; i <= b; i++)
        printf "{\"incident_id\":\"u-%d\",\"summary\":\"melding %d\"}\n", i, i }' >"$T/batch.jsonl"
    "$KNOOP" pub --api "$(api vr-utrecht)" --topic sitrep.vr-utrecht \
        --type knoop.crisis.v1.SitRep --file "$T/batch.jsonl" >/dev/null
}
all_hold() {   # all_hold COUNT: the three brokers and the subscriber
    for j in kcr2-broker-1 kcr2-broker-2 kcr2-broker-3 vr-zeeland; do
        has_count "$T/$j" 'sitrep.>' "$1" || return 1
    done
}

# 1. Steady state.
note "links settled"
snap before
publish 1 $N
wait_for "all hold $N" 60 all_hold $N || true
check "the three brokers and the subscriber hold all $N" all_hold $N
sleep 1     # time for anything still on its way to arrive and be counted
snap after
check "no echo: A got none of its messages back from B" test "$(delta 1 from-kcr2-broker-2 1)" = 0
check "no echo: A got none of its messages back from C" test "$(delta 1 from-kcr2-broker-3 1)" = 0
check "A->B carried each message once ($N)" test "$(delta 2 from-kcr2-broker-1 1)" = $N
check "A->C carried each message once ($N)" test "$(delta 3 from-kcr2-broker-1 1)" = $N
check "no relay: B->C carried none of them" test "$(delta 3 from-kcr2-broker-2 1)" = 0
check "no relay: C->B carried none of them" test "$(delta 2 from-kcr2-broker-3 1)" = 0
check "A's sessions say the same: $N delivered to B" test "$(delta 1 to-kcr2-broker-2 1)" = $N
check "B left out the $N echoes to A" test "$(delta 2 to-kcr2-broker-1 2)" = $N
check "B left out the $N relays to C" test "$(delta 2 to-kcr2-broker-3 3)" = $N

# 2. C cut from A, both ways: C finds its link gone, tells B, and B relays.
note "steady state checked"
link_cut a-to-c
link_cut c-to-a
wait_for "C has lost its link to A" 20 grep -q "peer kcr2-broker-1: link lost" \
    "$T/kcr2-broker-3.log" || true
note "C lost A"
snap before
publish $((N + 1)) $((2 * N))
wait_for "all hold $((2 * N)) though C is cut from A" 60 all_hold $((2 * N)) || true
check "with C cut from A, B relays: all hold $((2 * N))" all_hold $((2 * N))
snap after
d=$(delta 3 from-kcr2-broker-2 1)
echo "B->C carried $d of the $N during the cut"
check "B->C carried them (at most once each)" test "$d" -ge 1 -a "$d" -le $N
check "still no echo to A" test "$(delta 1 from-kcr2-broker-2 1)" = 0

# 3. Healed: C pulls from A again, B stops relaying; all converge.
note "cut checked"
link_heal a-to-c
link_heal c-to-a
wait_for "links settled again after the heal" 30 links_settled || true
check "after the heal every link is up and the linked lists are complete" links_settled
note "links settled after the heal"
publish $((2 * N + 1)) $((3 * N))
wait_for "all hold $((3 * N))" 60 all_hold $((3 * N)) || true
check "after the heal all hold $((3 * N))" all_hold $((3 * N))
for b in 2 3; do
    check "broker $b agrees with broker 1" same_digest "$T/kcr2-broker-1" "$T/kcr2-broker-$b" 'sitrep.>'
done
check "the mesh says so" mesh_agrees kcr2-broker-1 kcr2-broker-2 kcr2-broker-3
