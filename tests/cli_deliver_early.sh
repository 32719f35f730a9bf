#!/usr/bin/env bash
# Delivery before the commit (issue 14, item 4; docs/design-notes.md): the
# broker hands a publish batch to its live subscribers while the batch's own
# commit is still syncing. strace, attached to the broker, holds its
# fdatasync for 3 s, so the commit stays open long enough to act in:
#   1. the subscribing application sees the message well before the
#      broker's commit can have ended;
#   2. kill -9 of the broker inside that commit: the message is not in its
#      journal, yet the subscriber has it; after the restart the origin
#      sends it again, the broker stores it once and the application does
#      not see it twice;
#   3. a commit that fails after the early delivery (fdatasync answers
#      ENOSPC): the broker rewinds its sessions (status
#      deliver_before_commit.rewinds), the origin's retry is stored, the
#      application still sees it once.
# Afterwards all journals agree and verify.
source "$(dirname "$0")/lib.sh"
held_sync_scene

# 1. Seen before the commit can have ended.
hold_syncs kcr2-broker-1 delay_enter=3000000
t0=$(date +%s.%N)
held_pub e-5 &      # knoop pub returns once the broker has acknowledged
PUB=$!
wait_for "the application sees e-5" 10 bash -c '[ "$(app_seen e-5)" -ge 1 ]' || true
dt=$(echo "$(date +%s.%N) $t0" | awk '{ printf "%.2f", $1 - $2 }')
echo "e-5 reached the application after $dt s; the broker's commit takes 3 s or more"
check "the subscriber got e-5 while the broker's commit was still syncing" \
    awk -v d="$dt" 'BEGIN { exit !(d < 2.0) }'

# 2. kill -9 inside that commit.
check "and before the broker acknowledged it to the publisher" kill -0 "$PUB"
kill -9 "$(pid_of kcr2-broker-1)"
wait "$(pid_of kcr2-broker-1)" 2>/dev/null || true
unhold
check "the broker's journal does not hold e-5 (killed before its commit ended)" \
    has_count "$T/kcr2-broker-1" 'sitrep.>' 5
check "the subscribing node's journal holds it" has_count "$T/vr-zeeland" 'sitrep.>' 6
start_broker kcr2-broker-1 "$EP" --timeout-ms 10000
wait_for "the origin sent e-5 again and the broker stored it" 30 \
    has_count "$T/kcr2-broker-1" 'sitrep.>' 6 || true
check "the broker holds all 6 after the restart" has_count "$T/kcr2-broker-1" 'sitrep.>' 6
check "the publisher got its acknowledgement from the restarted broker" wait "$PUB"

# 3. A commit that fails after the early delivery.
hold_syncs kcr2-broker-1 error=ENOSPC:when=1
held_pub e-6 &
PUB=$!
wait_for "the application sees e-6" 10 bash -c '[ "$(app_seen e-6)" -ge 1 ]' || true
check "the application saw e-6" test "$(app_seen e-6)" -ge 1
wait_for "the broker counts a rewind" 10 bash -c \
    "\"$KNOOP\" status --api '$(api kcr2-broker-1)' --json | grep -q '\"rewinds\": *[1-9]'" || true
check "the broker rewound the sessions it had sent from the failed commit" bash -c \
    "\"$KNOOP\" status --api '$(api kcr2-broker-1)' --json | grep -q '\"rewinds\": *[1-9]'"
unhold
check "e-6 was acknowledged after the broker's retry" wait "$PUB"
held_pub e-7
wait_for "the broker stored e-6 and e-7" 30 has_count "$T/kcr2-broker-1" 'sitrep.>' 8 || true
check "the broker holds all 8" has_count "$T/kcr2-broker-1" 'sitrep.>' 8
wait_for "the subscriber converged with the broker" 30 \
    same_digest "$T/kcr2-broker-1" "$T/vr-zeeland" 'sitrep.>' || true
check "the subscriber's journal agrees with the broker's" \
    same_digest "$T/kcr2-broker-1" "$T/vr-zeeland" 'sitrep.>'
wait_for "the application has all 8" 20 bash -c '[ "$(app_seen e-7)" -ge 1 ]' || true
for i in 0 1 2 3 4 5 6 7; do
    check "the application saw e-$i exactly once" test "$(app_seen "e-$i")" -eq 1
done
for j in kcr2-broker-1 vr-utrecht vr-zeeland; do
    check "$j verifies" "$KNOOP" audit verify --journal "$T/$j" --trust "$T/trust" --quiet
done
