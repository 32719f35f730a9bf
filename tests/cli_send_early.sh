#!/usr/bin/env bash
# The origin sends before its commit (issue 14, item 4; docs/design-notes.md):
# a node hands its new messages to the broker while its own commit of them
# is still syncing, and answers its application only after that commit.
# strace, attached to the publishing node, holds its fdatasync for 3 s:
#   1. a subscriber on another node has the message well before the
#      publishing node's commit can have ended, and the publishing
#      application has no answer yet;
#   2. kill -9 of the publishing node inside that commit: the message is not
#      in its journal, yet the mesh has it; after the restart the node takes
#      it back from the broker, and nobody sees it twice;
#   3. a commit that fails after the send (fdatasync answers ENOSPC): the
#      application is told that the batch was not stored and may still be
#      delivered; a message published right after goes on a stream of a new
#      publishing epoch (no fork), the node takes the first one back, and
#      every journal agrees;
#   4. the same with the broker's commit failing too, after it delivered:
#      the origin keeps what it sent, stores it with a later commit and
#      sends it on, so that all three journals come to hold it.
source "$(dirname "$0")/lib.sh"
held_sync_scene

check "the node says it sends before its commit" status_has vr-utrecht '"enabled": *true'

# The node also commits its complete cursor every 10 s; a held or failed
# sync can fall on that commit instead of the publish. Each step below tries
# again (with a new message) when it did.
IDS=(e-0 e-1 e-2 e-3 e-4)

# 1. Seen elsewhere before the origin's commit can have ended.
for try in 1 2 3; do
    ID=e-5-$try
    hold_syncs vr-utrecht delay_enter=3000000
    t0=$(date +%s.%N)
    held_pub "$ID" &
    PUB=$!
    IDS+=("$ID")
    wait_for "the application sees $ID" 10 bash -c "[ \"\$(app_seen $ID)\" -ge 1 ]" || true
    dt=$(echo "$(date +%s.%N) $t0" | awk '{ printf "%.2f", $1 - $2 }')
    echo "$ID reached the other node's application after $dt s; the origin's commit takes 3 s or more"
    awk -v d="$dt" 'BEGIN { exit !(d < 2.0) }' && break
    [ "$try" = 3 ] && break
    echo "(the held sync fell on another commit first: again)"
    unhold
    wait "$PUB" || true
done
check "the subscriber got $ID while the origin's commit was still syncing" \
    awk -v d="$dt" 'BEGIN { exit !(d < 2.0) }'
HELD=$(( ${#IDS[@]} - 1 ))     # in the origin's journal: all but $ID

# 2. kill -9 of the origin inside that commit.
check "and before the origin answered its application" kill -0 "$PUB"
kill -9 "$(pid_of vr-utrecht)"
wait "$(pid_of vr-utrecht)" 2>/dev/null || true
unhold
kill "$PUB" 2>/dev/null || true
wait "$PUB" 2>/dev/null || true
check "the origin's journal does not hold $ID (killed before its commit ended)" \
    has_count "$T/vr-utrecht" 'sitrep.>' "$HELD"
wait_for "the broker stored $ID" 10 has_count "$T/kcr2-broker-1" 'sitrep.>' $((HELD + 1)) || true
check "the broker holds $ID" has_count "$T/kcr2-broker-1" 'sitrep.>' $((HELD + 1))
start_node vr-utrecht --broker "$B" --timeout-ms 10000
wait_for "the origin took $ID back" 30 has_count "$T/vr-utrecht" 'sitrep.>' $((HELD + 1)) || true
check "the restarted origin took $ID back from the broker" \
    has_count "$T/vr-utrecht" 'sitrep.>' $((HELD + 1))

# 3. A commit that fails after the send, and a message published at once
# after it: that one must go on a new stream (the broker may hold, under
# the old stream's next seq, what the failed commit left out: a fork).
wait_for "the origin is linked again" 20 status_has vr-utrecht '"caught_up": *true' || true
epoch_of() {
    "$KNOOP" status --api "$(api vr-utrecht)" --json |
        sed -n 's/.*"publishing_epoch": *"\([0-9a-f]*\)".*/\1/p'
}
E0=$(epoch_of)
for try in 1 2 3; do
    ID=e-6-$try
    hold_syncs vr-utrecht error=ENOSPC:when=1
    if held_pub "$ID"; then rc=0; else rc=$?; fi
    unhold
    IDS+=("$ID")
    grep -q 'sent before the commit' "$T/pub-$ID.err" && break
    [ "$try" = 3 ] && break
    echo "(the failed sync fell on another commit first, $ID was stored: again)"
done
check "e-7 is published and acknowledged right after" held_pub e-7
IDS+=(e-7)
check "the application was told $ID was not stored (exit $rc)" test "$rc" -ne 0
check "and that it had gone out and may still be delivered" \
    grep -q 'sent before the commit.*may still be delivered' "$T/pub-$ID.err"
check "the node counts the failed commit" status_has vr-utrecht '"failed_commits": *1'
E1=$(epoch_of)
check "new messages go out under a new publishing epoch ($E0 -> $E1)" \
    test -n "$E1" -a "$E1" != "$E0"
check "knoop status says so" bash -c "'$KNOOP' status --api '$(api vr-utrecht)' |
    grep -q '^publishing  $E1 (a new one after 1 failed commit'"
wait_for "the application sees $ID" 10 bash -c "[ \"\$(app_seen $ID)\" -ge 1 ]" || true
check "the application on the other node saw $ID" test "$(app_seen "$ID")" -ge 1
N=${#IDS[@]}
wait_for "the origin took $ID back" 30 has_count "$T/vr-utrecht" 'sitrep.>' "$N" || true
check "the origin took $ID back into its journal ($N messages)" \
    has_count "$T/vr-utrecht" 'sitrep.>' "$N"
for j in kcr2-broker-1 vr-zeeland; do
    wait_for "$j agrees with the origin" 30 \
        same_digest "$T/vr-utrecht" "$T/$j" 'sitrep.>' || true
    check "$j's journal agrees with the origin's ($N messages)" \
        same_digest "$T/vr-utrecht" "$T/$j" 'sitrep.>'
done

# 4. Both commits of one batch fail: the origin's after its send, and the
# broker's after it delivered to vr-zeeland. Neither holds the message then,
# the subscriber does; the origin keeps what it sent and stores it with a
# later commit, and the outbox sends it on, so every journal comes to hold it.
# Every broker sync fails while held, so the broker cannot store it before
# the checks below; a broker delivers before its commit only while its last
# write succeeded, so its first failure must be this batch: a try in which
# something else failed first (or the origin's failure fell on its cursor
# commit) is done again with a new message.
wait_for "the origin is linked again" 20 status_has vr-utrecht '"caught_up": *true' || true
fails() { grep -c "$2" "$T/$1.log" || true; }
for try in 1 2 3; do
    ID=e-8-$try
    IDS+=("$ID")
    LOGLINE=$(wc -l <"$T/vr-utrecht.log")
    hold_syncs kcr2-broker-1 error=ENOSPC
    BROKER_STRACE=$STRACE
    b0=$(fails kcr2-broker-1 'not stored')
    hold_syncs vr-utrecht error=ENOSPC:when=1
    clean=$([ "$(fails kcr2-broker-1 'not stored')" = "$b0" ] && echo yes || echo no)
    if held_pub "$ID"; then rc=0; else rc=$?; fi
    unhold
    if [ "$clean" = yes ] && grep -q 'sent before the commit' "$T/pub-$ID.err"; then
        wait_for "the application sees $ID" 10 bash -c "[ \"\$(app_seen $ID)\" -ge 1 ]" || true
        # all at once, while the broker still cannot write
        seen_held=$(app_seen "$ID")
        broker_held=$(count_msgs "$T/kcr2-broker-1" 'sitrep.>')
        b1=$(fails kcr2-broker-1 'not stored')
        [ "$seen_held" -ge 1 ] && break
    fi
    [ "$try" = 3 ] && break
    echo "(another commit failed first, or the broker delivered nothing before its commit: again)"
    STRACE=$BROKER_STRACE unhold
    wait_for "the broker writes again" 20 has_count "$T/kcr2-broker-1" 'sitrep.>' ${#IDS[@]} || true
done
N=${#IDS[@]}
check "the application was told $ID was not stored (exit $rc)" test "$rc" -ne 0
check "the application on the other node saw $ID while the broker could not write" \
    test "${seen_held:-0}" -ge 1
check "the broker's commit of it failed (broker log)" test "${b1:-0}" -gt "${b0:-0}"
check "and the broker did not hold it then ($((N - 1)) messages)" \
    test "${broker_held:-x}" = $((N - 1))
sleep 1
STRACE=$BROKER_STRACE unhold
wait_for "the origin stored $ID later" 30 has_count "$T/vr-utrecht" 'sitrep.>' "$N" || true
check "the origin stored $ID with a later commit ($N messages)" \
    has_count "$T/vr-utrecht" 'sitrep.>' "$N"
check "and said so (1 stored, 0 held already)" bash -c "tail -n +$((LOGLINE + 1)) '$T/vr-utrecht.log' |
    grep -q '1 message(s) sent before a commit that failed are stored now (0 held already)'"
for j in kcr2-broker-1 vr-zeeland; do
    wait_for "$j agrees with the origin" 30 \
        same_digest "$T/vr-utrecht" "$T/$j" 'sitrep.>' || true
    check "$j's journal agrees with the origin's ($N messages)" \
        same_digest "$T/vr-utrecht" "$T/$j" 'sitrep.>'
done
check "nothing is left waiting in the origin" status_has vr-utrecht '"held_for_retry": *0'

wait_for "the application has all $N" 20 bash -c '[ "$(app_seen e-7)" -ge 1 ]' || true
for id in "${IDS[@]}"; do
    check "the application saw $id exactly once" test "$(app_seen "$id")" -eq 1
done
check "no fork anywhere" lacks -i 'fork' "$T/kcr2-broker-1.log" "$T/vr-utrecht.log" \
    "$T/vr-zeeland.log"
# Three streams: the first run's, the second run's up to the failed commit,
# and e-7's (and e-8's) under the new publishing epoch.
for j in kcr2-broker-1 vr-utrecht vr-zeeland; do
    "$KNOOP" audit verify --journal "$T/$j" --trust "$T/trust" --quiet >"$T/verify-$j.out" 2>&1
    check "$j verifies" test $? -eq 0
    check "$j holds 3 streams, 0 forked (e-7 on a stream of its own)" \
        grep -q "3 streams, $N messages, 0 broken, 0 forked" "$T/verify-$j.out"
done
