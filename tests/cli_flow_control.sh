#!/usr/bin/env bash
# Flow control: a subscribing node that stops reading (SIGSTOP) does not slow
# the other subscriber, and the broker's memory does not grow with what the
# stopped node misses (the journal is the only queue). When the stopped node
# resumes, it catches up everything.
source "$(dirname "$0")/lib.sh"

make_partner vr-twente region
start_sitrep_scene "ipc://$T/broker.sock"
start_node vr-twente --broker "$B" --subscribe 'sitrep.>'
wait_for "subscribers connected" 10 bash -c "grep -q 'link up' '$T/vr-zeeland.log' && grep -q 'link up' '$T/vr-twente.log'"

# Anonymous memory only: the journal's mmap'd file pages are page cache, not heap.
rss() { awk '/RssAnon/ {print $2}' "/proc/$(pid_of kcr2-broker-1)/status"; }
rss0=$(rss)
kill -STOP "$(pid_of vr-twente)"

# Two backlogs of 30,000 (~7 MB each) while vr-twente is stopped. The first
# costs the broker its working set (publish batches, the window of 4,096
# deliveries queued to the stopped node, allocator arenas); the second must
# cost about nothing more: the journal is the only queue.
backlog() {   # backlog FIRST: 30,000 more, then vr-zeeland holds FIRST+29,999
    local first=$1
    awk -v f="$first" 'BEGIN { for (i = f; i < f + 30000; i++) printf "{\"incident_id\":\"i-%d\",\"summary\":\"%0200d\"}\n", i, i }' >"$T/m.jsonl"
    local start=$SECONDS
    "$KNOOP" pub --api "$(api vr-utrecht)" --topic sitrep.vr-utrecht --type knoop.crisis.v1.SitRep \
        --file "$T/m.jsonl" >/dev/null
    wait_for "vr-zeeland has all $((first + 29999)) while vr-twente is stopped" 60 \
        has_count "$T/vr-zeeland" 'sitrep.>' $((first + 29999)) || true
    check "the reading subscriber got all $((first + 29999)) (in $((SECONDS - start))s) while the other was stopped" \
        test "$(count_msgs "$T/vr-zeeland" 'sitrep.>')" = $((first + 29999))
}
backlog 1
rss1=$(rss)
backlog 30001
rss2=$(rss)
echo "broker anonymous RSS: ${rss0} kB before, ${rss1} kB after 30,000 messages (~7 MB) missed by the stopped node, ${rss2} kB after 60,000"
if [ -n "${KNOOP_SANITIZED:-}" ]; then
    echo "skip - heap growth is not meaningful under ASan (its quarantine keeps freed memory)"
else
    check "broker heap bounded by its working set (< 32 MB growth)" test $((rss1 - rss0)) -lt 32000
    check "and it did not grow with the second backlog (< 6 MB more; that backlog alone is ~7 MB)" test $((rss2 - rss1)) -lt 6000
fi

kill -CONT "$(pid_of vr-twente)"
wait_for "vr-twente caught up" 60 same_digest "$T/kcr2-broker-1" "$T/vr-twente" 'sitrep.>' || true
check "the resumed subscriber caught up to the broker's digest" \
    same_digest "$T/kcr2-broker-1" "$T/vr-twente" 'sitrep.>'
