#!/usr/bin/env bash
# The settled summary of HELLO (issue 14; docs/protocol.md, "The settled
# summary"): a subscriber holding dozens of streams (a publisher restarted
# again and again: a new epoch each time) names in its HELLO only the few
# that may still change and summarises the others per bucket; the broker
# recomputes the buckets from its own journal, and:
#   - matched buckets are caught up from where they stood (nothing resent);
#   - a message dated before T that reached the broker late (its
#     publisher's link was cut) makes its bucket miss: that bucket is sent
#     whole, and the node drops what it held as duplicates;
#   - the durable application gets every message exactly once, and the
#     journals agree with the broker's (digest);
#   - a subscriber restored from an old copy of its journal still catches up
#     everything, and feeds every message to an application once.
source "$(dirname "$0")/lib.sh"
command -v mdb_copy >/dev/null || skip "mdb_copy (lmdb-utils) not installed"
command -v jq >/dev/null || skip "jq not installed"

EPOCHS=16
# restart_zeeland: vr-zeeland again, its log from this start in vr-zeeland.log
# (the one before kept), and BLOG the broker's log lines before it
restart_zeeland() {
    [ -f "$T/vr-zeeland.log" ] && mv "$T/vr-zeeland.log" "$T/vr-zeeland.$SECONDS.log"
    BLOG=$(wc -l <"$T/kcr2-broker-1.log")
    start_node vr-zeeland "${ZEELAND[@]}"
}
broker_since() { tail -n "+$((BLOG + 1))" "$T/kcr2-broker-1.log"; }
broker_status() { "$KNOOP" status --api "ipc://$T/kcr2-broker-1/api.sock" --json 2>/dev/null; }

make_partner vr-twente region
start_sitrep_scene
stop vr-zeeland
ZEELAND=(--broker "$B" --subscribe 'sitrep.>' --settled-margin-ms 1000)
restart_zeeland
"$KNOOP" sub --api "$(api vr-zeeland)" --pattern 'sitrep.>' --durable app --from-start \
    --timeout 120 >"$T/app.out" 2>"$T/app.err" &
APP=$!
PIDS+=($APP)

# Dozens of streams: a publisher restarted again and again.
publish_epochs vr-utrecht "$EPOCHS" --broker "$B"
total=$((EPOCHS * 2))
wait_for "vr-zeeland holds all $total" 30 has_count "$T/vr-zeeland" 'sitrep.>' "$total"

# A RED stream for another partner, older than T: vr-zeeland never gets it
# (the catch-up cuts it at seq 1), so the broker must leave it out of the
# buckets it compares with vr-zeeland's; counted, its bucket would miss at
# every HELLO. The counts and digests below look at vr-utrecht's topic only.
start_node vr-twente --broker "$B"
"$KNOOP" pub --api "$(api vr-twente)" --type knoop.crisis.v1.SitRep \
    --topic sitrep.vr-twente --tlp red --recipient vr-utrecht \
    --json '{"incident_id":"r-1","summary":"ROOD voor Utrecht"}' >/dev/null
wait_for "the broker holds the RED one" 10 has_count "$T/kcr2-broker-1" 'sitrep.vr-twente' 1
OPEN='sitrep.vr-utrecht'

# A late arrival on a stream vr-zeeland holds: vr-utrecht's link is cut
# while it publishes, and what it published reaches the broker only after
# vr-zeeland's complete_hlc has passed it.
stop vr-utrecht
UP=$(free_port)
start_proxy utrecht "$UP" "${EP##*:}"
start_node vr-utrecht --broker "kcr2-broker-1@tcp://127.0.0.1:$UP"
publish_acked vr-utrecht held 1 2
total=$((total + 2))
wait_for "vr-zeeland holds all $total" 20 has_count "$T/vr-zeeland" 'sitrep.>' "$total"
link_cut utrecht
link_lost() { [ "$("$KNOOP" status --api "$(api "$1")" --json | jq -r .link.state)" != up ]; }
wait_for "vr-utrecht sees its link lost" 10 link_lost vr-utrecht
publish_acked vr-utrecht late 1 3
sleep 4                               # complete_hlc (now - 2 s) passes them
stop vr-zeeland
link_heal utrecht
total=$((total + 3))
wait_for "the broker holds all $total" 20 has_count "$T/kcr2-broker-1" "$OPEN" "$total"
stop vr-utrecht
start_node vr-utrecht --broker "$B"
publish_acked vr-utrecht more 1 5     # and a new stream meanwhile
total=$((total + 5))
wait_for "the broker holds all $total" 20 has_count "$T/kcr2-broker-1" "$OPEN" "$total"

missed_before=$(broker_status | jq -r .settled_missed)
restart_zeeland
wait_for "vr-zeeland caught up" 20 grep -q "caught up from" "$T/vr-zeeland.log"
hello=$(grep "HELLO: .* streams named" "$T/vr-zeeland.log" | tail -1)
echo "node: $hello"
read -r named settled buckets < <(hello_counts "$hello")
check "the restarted node names only a few streams ($named)" test "${named:-99}" -le 2
check "... and summarises the others ($settled in $buckets buckets)" \
    test "${settled:-0}" -ge "$EPOCHS" -a "${buckets:-0}" -ge 8
line=$(broker_since | grep "node vr-zeeland .*settled: " | tail -1)
echo "broker: $line"
read -r matched missed < <(sed -E 's/.*settled: ([0-9]+) buckets matched, ([0-9]+) missed.*/\1 \2/' <<<"$line")
check "the broker matched the summary's buckets ($matched) ..." test "${matched:-0}" -ge $((buckets - 1))
check "... but the late arrival's bucket ($missed missed)" test "${missed:-0}" -eq 1
check "vr-zeeland never got the RED one" has_count "$T/vr-zeeland" 'sitrep.vr-twente' 0
# The held stream from seq 1 (5), the new one (5) and the RED one (1, cut at
# seq 1); stream ids are random, so an epoch's stream (2 messages) may share
# the missed bucket and come whole too.
read -r cs cm < <(sed -E 's/.*catch-up: ([0-9]+) streams, ([0-9]+) messages.*/\1 \2/' <<<"$line")
check "which it sends whole: the held stream from seq 1, and the new one ($cs streams, $cm messages)" \
    test "${cs:-0}" -ge 3 -a "${cm:-0}" -eq $((11 + 2 * (${cs:-0} - 3)))
wait_for "vr-zeeland holds all $total" 20 has_count "$T/vr-zeeland" 'sitrep.>' "$total"
check "vr-zeeland dropped the 2 messages it held as duplicates" \
    test "$("$KNOOP" status --api "$(api vr-zeeland)" --json | jq -r .journal.duplicates)" -ge 2
check "the broker counts the miss in its status" \
    test "$(broker_status | jq -r .settled_missed)" = "$((missed_before + missed))"
check "... and the node shows the WELCOME's count in its status" \
    test "$("$KNOOP" status --api "$(api vr-zeeland)" --json | jq -r .catchup.settled_missed)" = 1
check "vr-zeeland agrees with the broker (digest)" \
    same_digest "$T/kcr2-broker-1" "$T/vr-zeeland" "$OPEN"

ids() { { grep -o '"incident_id":"[a-z0-9]*-[0-9]*"' || true; } | cut -d'"' -f4 | sort; }
sort "$T/acked.ids" >"$T/want.ids"
check "every message was acknowledged to the publisher ($total)" test "$(wc -l <"$T/want.ids")" -eq "$total"
wait_for "the application got all $total" 20 \
    bash -c "[ \"\$(grep -c incident_id '$T/app.out')\" -ge $total ]" || true
ids <"$T/app.out" >"$T/app.ids"
check "the durable application got every message ..." holds_ids "$T/want.ids" "$T/app.ids"
check "... and none twice" no_repeats "$T/app.ids"
kill "$APP" 2>/dev/null || true

# Restored from an old copy: the copy's summary still catches up everything.
mkdir -p "$T/backup"
mdb_copy "$T/vr-zeeland" "$T/backup"
chmod 700 "$T/backup"
publish_acked vr-utrecht after 1 6
stop vr-utrecht
start_node vr-utrecht --broker "$B"
publish_acked vr-utrecht newer 1 4
total=$((total + 10))
wait_for "vr-zeeland holds all $total" 20 has_count "$T/vr-zeeland" 'sitrep.>' "$total"
stop vr-zeeland
rm -rf "$T/vr-zeeland"
mv "$T/backup" "$T/vr-zeeland"
check "the restored copy lacks the last $((10)) messages" \
    has_count "$T/vr-zeeland" 'sitrep.>' $((total - 10))
restart_zeeland
wait_for "the restored vr-zeeland caught up" 20 grep -q "caught up from" "$T/vr-zeeland.log"
grep "HELLO: " "$T/vr-zeeland.log" | tail -1
broker_since | grep "node vr-zeeland .*catch-up" | tail -1
check "the restored node sent a summary" grep -q "HELLO: .* settled in [1-9][0-9]* buckets" "$T/vr-zeeland.log"
wait_for "the restored vr-zeeland holds all $total" 20 has_count "$T/vr-zeeland" 'sitrep.>' "$total"
check "and agrees with the broker (digest)" same_digest "$T/kcr2-broker-1" "$T/vr-zeeland" "$OPEN"
"$KNOOP" sub --api "$(api vr-zeeland)" --pattern 'sitrep.>' --durable after-restore --from-start \
    --count "$total" --timeout 10 >"$T/restored.out" 2>/dev/null || true
ids <"$T/restored.out" >"$T/restored.ids"
sort "$T/acked.ids" >"$T/want.ids"
check "a durable application of the restored node gets every message ..." \
    holds_ids "$T/want.ids" "$T/restored.ids"
check "... and none twice" no_repeats "$T/restored.ids"
