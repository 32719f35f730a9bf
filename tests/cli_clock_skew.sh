#!/usr/bin/env bash
# Clock skew (issue 8, finding 4; catalogue F7), with libfaketime (package
# faketime) changing the nodes' clocks while they run:
#   - a node whose clock runs 310 s ahead (over the 300 s the broker allows)
#     is told so (log, status, metrics); the broker refuses what it publishes
#     as dated in the future, which its status shows; once its clock is right
#     again the messages become acceptable and the node offers them again by
#     itself, without a reconnect: nothing is lost;
#   - a node 30 minutes behind is warned too; what it publishes is taken and
#     delivered;
#   - ordering and dedupe are not affected: every message arrives once, each
#     stream in order.
source "$(dirname "$0")/lib.sh"
FAKETIME_LIB=""
for f in /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 /usr/lib/*/faketime/libfaketime.so.1; do
    [ -f "$f" ] && { FAKETIME_LIB=$f; break; }
done
[ -n "$FAKETIME_LIB" ] || { echo "SKIP: libfaketime (package faketime) not installed"; exit 77; }
if [ -n "${KNOOP_SANITIZED:-}" ]; then
    echo "SKIP: libfaketime and the address sanitizer do not preload together"; exit 77
fi

make_partner kcr2-broker-1 broker
make_partner vr-ahead region
make_partner vr-behind region
make_partner vr-zeeland region
sitrep_policy
EP="tcp://127.0.0.1:$(free_port)"
B="kcr2-broker-1@$EP"
start_broker kcr2-broker-1 "$EP"
start_node vr-zeeland --broker "$B" --subscribe 'sitrep.>'

# start_skewed_node ID OFFSET: the node's wall clock is shifted by the offset in
# $T/ID.clock, re-read at every call (monotonic clocks are left alone).
start_skewed_node() {
    local id=$1
    echo "$2" >"$T/$id.clock"
    FAKETIME_TIMESTAMP_FILE="$T/$id.clock" FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1 \
        LD_PRELOAD="$FAKETIME_LIB" start_node "$id" --broker "$B"
}
sitreps() { sitrep_lines "$1" 1 "$2" "$1-bericht-@" 2; }     # sitreps PREFIX N
jget() { python3 -c "import json,sys; d=json.load(open('$1')); print(eval('d' + sys.argv[1]))" "$2"; }

# --- a node 310 s ahead ---
start_skewed_node vr-ahead +310s
wait_for "vr-ahead warned about its clock" 10 grep -q "clock: this node's clock is 3[01][0-9] s ahead of broker kcr2-broker-1" \
    "$T/vr-ahead.log" || true
check "the node ahead is told in its log" \
    grep -q "clock: this node's clock is 3[01][0-9] s ahead of broker kcr2-broker-1" "$T/vr-ahead.log"
sitreps ahead 5 >"$T/ahead.jsonl"
set +e
"$KNOOP" pub --api "$(api vr-ahead)" --topic sitrep.vr-ahead --type knoop.crisis.v1.SitRep \
    --file "$T/ahead.jsonl" >/dev/null 2>"$T/ahead-pub.err"
prc=$?
set -e
cat "$T/ahead-pub.err"
check "the publisher's exit code says the broker refused them (exit $prc)" test $prc -ne 0
check "... as dated in the future, kept and offered again when due" \
    grep -Eq "refused vr-ahead sitrep.vr-ahead 1: seq 1: .*dated 3[01][0-9] s in the future.*offered again when due" \
    "$T/ahead-pub.err"
wait_for "refusal shown in status" 10 status_has vr-ahead 'dated 3[01][0-9] s in the future' || true
"$KNOOP" status --api "$(api vr-ahead)" --json >"$T/ahead-status.json"
check "its status shows the refusal as dated in the future" \
    grep -Eq 'seq [1-5]: vr-ahead on sitrep.vr-ahead seq [1-5] is dated 3[01][0-9] s in the future' "$T/ahead-status.json"
check "... and the clock warning, with the offset (about -310 s)" \
    test "$(jget "$T/ahead-status.json" "['clock']['offset_ms'] // 1000")" -le -300
"$KNOOP" status --api "$(api vr-ahead)" >"$T/ahead-status.txt"
check "... also in the text status" grep -q "dated 3[01][0-9] s in the future" "$T/ahead-status.txt"
check "nothing of it reached the subscriber yet" \
    bash -c "! '$KNOOP' sub --api '$(api vr-zeeland)' --pattern 'sitrep.vr-ahead' --from-start --count 1 --timeout 1 2>/dev/null | grep -q ahead-bericht"

# Its clock is put right: the messages are due ~10 s after they were made.
# (The step back also makes the link's silence timer fire once: the node
# reconnects; what is tested is that the messages go without waiting for it.)
t0=$SECONDS
echo "+0s" >"$T/vr-ahead.clock"
wait_for "vr-zeeland gets the 5 messages" 40 bash -c \
    "'$KNOOP' sub --api '$(api vr-zeeland)' --pattern 'sitrep.vr-ahead' --from-start --count 5 --timeout 1 2>/dev/null | grep -c ahead-bericht | grep -qx 5" || true
echo "delivered $((SECONDS - t0)) s after the clock was put right"
"$KNOOP" sub --api "$(api vr-zeeland)" --pattern 'sitrep.vr-ahead' --from-start --count 5 --timeout 5 \
    >"$T/ahead-received.jsonl" 2>/dev/null || true
check "once due, all 5 are offered again by themselves and delivered, once" \
    test "$(grep -o 'ahead-bericht-[0-9]*' "$T/ahead-received.jsonl" | sort -u | wc -l)" -eq 5
check "... in order" bash -c "grep -o 'ahead-bericht-[0-9]*' '$T/ahead-received.jsonl' | sort -c"
check "the node logged that it offered them again, or a reconnect did" \
    grep -Eq "offering sitrep.vr-ahead from seq 1 again|link up .*outbox 5 message" "$T/vr-ahead.log"
wait_for "clock agrees" 10 grep -q "clock agrees with broker kcr2-broker-1 again" "$T/vr-ahead.log" || true
check "the node says its clock agrees again" grep -q "clock agrees with broker kcr2-broker-1 again" "$T/vr-ahead.log"
wait_for "blocked cleared" 10 status_has vr-ahead '"blocked": \[\]' || true
check "and nothing is blocked any more" status_has vr-ahead '"blocked": \[\]'

# --- a node 30 minutes behind ---
start_skewed_node vr-behind -1800s
wait_for "vr-behind warned" 10 grep -q "clock: this node's clock is 1[78][0-9][0-9] s behind broker kcr2-broker-1" \
    "$T/vr-behind.log" || true
check "the node 30 minutes behind is warned too" \
    grep -q "clock: this node's clock is 1[78][0-9][0-9] s behind broker kcr2-broker-1" "$T/vr-behind.log"
check "... in its status" status_has vr-behind "s behind broker kcr2-broker-1"
sitreps behind 5 >"$T/behind.jsonl"
"$KNOOP" pub --api "$(api vr-behind)" --topic sitrep.vr-behind --type knoop.crisis.v1.SitRep \
    --file "$T/behind.jsonl" >/dev/null
"$KNOOP" sub --api "$(api vr-zeeland)" --pattern 'sitrep.vr-behind' --from-start --count 5 --timeout 10 \
    >"$T/behind-received.jsonl" 2>/dev/null || true
check "what it publishes is taken and delivered, once, in order" bash -c \
    "test \$(grep -o 'behind-bericht-[0-9]*' '$T/behind-received.jsonl' | sort -u | wc -l) -eq 5 && grep -o 'behind-bericht-[0-9]*' '$T/behind-received.jsonl' | sort -c"
