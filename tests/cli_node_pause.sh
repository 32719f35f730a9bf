#!/usr/bin/env bash
# A paused node (issue 8; catalogue S/F: a subscriber stopped with SIGSTOP):
# the broker hears nothing from it past its heartbeat timeout, drops its
# session, says so in one WARNING line that names the partner by id and by
# the fingerprint of its Ed25519 key (what `knoop keys show` prints), and
# counts it (status sessions_silent, metric knoop_sessions_silent_total).
# The publisher goes on meanwhile. Once resumed (SIGCONT) the node says
# HELLO again, catches up, and its application gets every message exactly
# once: nothing lost during the pause, nothing delivered twice.
source "$(dirname "$0")/lib.sh"

TIMEOUT_MS=2000     # start_broker's --timeout-ms (heartbeats every 200 ms)
make_sitrep_partners
cat >"$T/policy" <<'P'
role:region publish sitrep.{id}
role:region subscribe sitrep.>
P
read -r EP_PORT BM <<<"$(free_ports 2)"
B="kcr2-broker-1@tcp://127.0.0.1:$EP_PORT"
start_broker kcr2-broker-1 "tcp://127.0.0.1:$EP_PORT" --metrics "127.0.0.1:$BM"
start_node vr-utrecht --broker "$B"
start_node vr-zeeland --broker "$B" --subscribe 'sitrep.>'
"$KNOOP" sub --api "$(api vr-zeeland)" --pattern 'sitrep.>' --durable ops --from-start \
    --timeout 120 >"$T/sub.out" 2>"$T/sub.err" &
PIDS+=($!)

n=0
: >"$T/acked.ids"
publish() {   # publish COUNT: the next COUNT ids p-N (from n), acknowledged ones to acked.ids
    publish_acked vr-utrecht p "$n" "$1" --timeout 10
    n=$((n + $1))
}
app_count() { grep -c '"incident_id":"p-' "$T/sub.out" 2>/dev/null || true; }
broker_status() {
    "$KNOOP" status --api "ipc://$T/kcr2-broker-1/api.sock" --json 2>/dev/null
}
silent() { broker_status | jq -r '.sessions_silent'; }

# Before the pause: both sessions up, the application receives.
publish 30
wait_for "the application has the first 30" 20 bash -c "[ \$(grep -c incident_id '$T/sub.out') -ge 30 ]" || true
check "before the pause the application got all 30" test "$(app_count)" = 30
check "no session was dropped for silence yet" test "$(silent)" = 0

# The pause: 3 timeouts long, with the publisher going on.
FP=$("$KNOOP" keys show "$T/keys/vr-zeeland.cert" | awk '$1 == "fingerprint:" { print $2 }')
[[ "$FP" =~ ^[0-9a-f]{16}$ ]] || die "no fingerprint from knoop keys show: '$FP'"
kill -STOP "$(pid_of vr-zeeland)"
echo "SIGSTOP vr-zeeland for $((3 * TIMEOUT_MS)) ms"
paused=$(date +%s%3N)
while [ $(( $(date +%s%3N) - paused )) -lt $((3 * TIMEOUT_MS)) ]; do
    publish 10
    sleep 0.3
done
wait_for "the broker drops the silent session" 10 \
    grep -q "partner vr-zeeland (key $FP) silent for" "$T/kcr2-broker-1.log" || true
check "the broker logged a WARNING naming vr-zeeland and its key's fingerprint ($FP)" \
    grep -q "WARN.*partner vr-zeeland (key $FP) silent for [0-9]* ms, over the timeout of $TIMEOUT_MS ms" \
    "$T/kcr2-broker-1.log"
check "the broker's status counts one session dropped for silence" test "$(silent)" = 1
check "its metric knoop_sessions_silent_total is 1" bash -c \
    "curl -s --max-time 5 'http://127.0.0.1:$BM/metrics' | grep -qx 'knoop_sessions_silent_total 1'"
check "the publisher's session was not dropped: it was never silent" \
    lacks 'partner vr-utrecht (key' "$T/kcr2-broker-1.log"
check "vr-zeeland has no session at the broker while paused" bash -c \
    "! '$KNOOP' status --api 'ipc://$T/kcr2-broker-1/api.sock' --json | jq -e '.sessions[] | select(.partner == \"vr-zeeland\")' >/dev/null"
during=$(wc -l <"$T/acked.ids")
check "publishing went on during the pause ($((during - 30)) acknowledged)" test "$during" -gt 40

# Resume: it says HELLO again and catches up, each message once.
kill -CONT "$(pid_of vr-zeeland)"
echo "SIGCONT vr-zeeland"
publish 20
total=$(wc -l <"$T/acked.ids")
wait_for "the application has all $total" 30 bash -c "[ \$(grep -c incident_id '$T/sub.out') -ge $total ]" || true
grep -o '"incident_id":"p-[0-9]*"' "$T/sub.out" | grep -o 'p-[0-9]*' | sort >"$T/sub.ids"
check "after SIGCONT the application got every acknowledged message ($total)" \
    test -z "$(comm -23 <(sort -u "$T/acked.ids") <(sort -u "$T/sub.ids"))"
check "and none twice ($(wc -l <"$T/sub.ids") lines for $total messages)" \
    test -z "$(uniq -d "$T/sub.ids")"
check "and nothing it was not sent" test "$(wc -l <"$T/sub.ids")" = "$total"
wait_for "vr-zeeland's session is back" 10 bash -c \
    "'$KNOOP' status --api 'ipc://$T/kcr2-broker-1/api.sock' --json | jq -e '.sessions[] | select(.partner == \"vr-zeeland\")'" || true
check "vr-zeeland has a session again" bash -c \
    "'$KNOOP' status --api 'ipc://$T/kcr2-broker-1/api.sock' --json | jq -e '.sessions[] | select(.partner == \"vr-zeeland\")' >/dev/null"
check "the counter stays at 1 once it is back" test "$(silent)" = 1
conv=$(converge_secs 30 'sitrep.>' "$T/kcr2-broker-1" "$T/vr-zeeland" "$T/vr-utrecht")
verdict "paused subscriber node" \
    "SIGSTOP of a subscribing node for 3 heartbeat timeouts while its region's partner publishes" \
    1 "$T/acked.ids" "$conv" 'sitrep.>' \
    "$T"/kcr2-broker-1 "$T"/vr-{utrecht,zeeland} -- --holder "vr-zeeland-durable-sub=$T/sub.out"
