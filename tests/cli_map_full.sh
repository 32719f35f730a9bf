#!/usr/bin/env bash
# F9: the journal's LMDB map at its limit (map-max). A publishing node whose
# config file says map-max = 2 (MiB) publishes 48 KiB messages until the map
# cannot grow. Then:
#   - the publisher gets a clear error naming the full journal and its limit,
#     never a false success and never "input/output error";
#   - an alarm: status (storage_alarm, journal.full = "map"), the metric
#     knoop_journal_full{what="map"} 1, and a log line;
#   - reads (knoop sub --from-start), status, and delivery of what was
#     acknowledged to the other partner go on;
#   - "space returns" for a map means the operator raises map-max (the map
#     never shrinks and nothing acknowledged expires): the config file says
#     so and SIGHUP tells the node, which writes again without a restart; the
#     alarm clears. A limit below the current map is refused with a reason.
source "$(dirname "$0")/lib.sh"

make_sitrep_partners
sitrep_policy
EP="tcp://127.0.0.1:$(free_port)"
B="kcr2-broker-1@$EP"
NM=$(free_port)
printf '[node]\nmap-max = 2\nmetrics = 127.0.0.1:%s\n' "$NM" >"$T/node.conf"
start_broker kcr2-broker-1 "$EP"
start_node vr-utrecht --broker "$B" --config "$T/node.conf"
start_node vr-zeeland --broker "$B" --subscribe 'sitrep.>'
PID0=$(pid_of vr-utrecht)
metric() { metric_value "$NM" "$1"; }   # on vr-utrecht's endpoint

: >"$T/acked.ids"
refused=0
for c in $(seq 1 100); do
    pub_chunk vr-utrecht m "$c" 2 || { refused=1; break; }
done
acked=$(wc -l <"$T/acked.ids")
echo "publisher, after $acked acknowledged: $(cat "$T/pub.err")"
check "the publisher was refused once the map was at its limit" test "$refused" = 1
check "the refusal names the full journal and its 2 MiB limit" \
    grep -q "journal .* full: its map is at the limit of 2 MiB" "$T/pub.err"
check "and says what to do (raise map-max, SIGHUP)" grep -q "raise map-max and send the daemon SIGHUP" "$T/pub.err"
check "and does not call it an input/output error" lacks -i 'input/output' "$T/pub.err"
check "messages were acknowledged before the map filled" test "$acked" -ge 4

"$KNOOP" status --api "$(api vr-utrecht)" >"$T/status.txt" 2>&1 || true
"$KNOOP" status --api "$(api vr-utrecht)" --json >"$T/status.json" 2>&1 || true
check "status answers and raises the alarm (storage_alarm)" \
    test "$(jq -r '.storage_alarm' "$T/status.json" | cut -c1-13)" = "JOURNAL FULL:"
check "status names the kind: journal.full = map" test "$(jq -r '.journal.full' "$T/status.json")" = map
check "status shows the limit: journal.map_max = 2 MiB" \
    test "$(jq -r '.journal.map_max' "$T/status.json")" = $((2 << 20))
check "knoop status prints the ALARM" grep -q "ALARM .*JOURNAL FULL" "$T/status.txt"
check "the metric knoop_journal_full{what=\"map\"} is 1" test "$(metric 'knoop_journal_full{what="map"}')" = 1
check "and knoop_journal_full{what=\"disk\"} 0 (a full map is not a full disk)" \
    test "$(metric 'knoop_journal_full{what="disk"}')" = 0
check "the node logged the full journal" grep -q "full: its map is at the limit of 2 MiB" "$T/vr-utrecht.log"

# reads and delivery to others go on
"$KNOOP" sub --api "$(api vr-utrecht)" --pattern 'sitrep.>' --from-start --timeout 2 >"$T/read.out" 2>/dev/null || true
check "reads go on: the node hands out all $acked acknowledged messages" \
    test "$(grep -c '"incident_id":"m-' "$T/read.out")" = "$acked"
wait_for "vr-zeeland has every acknowledged message" 30 has_count "$T/vr-zeeland" 'sitrep.>' "$acked" || true
check "delivery to the other partner goes on: vr-zeeland holds all $acked" \
    has_count "$T/vr-zeeland" 'sitrep.>' "$acked"

# a limit below the current map is refused with the reason
sed -i 's/^map-max = .*/map-max = 1/' "$T/node.conf"
kill -HUP "$(pid_of vr-utrecht)"
wait_for "the lower limit is refused" 10 grep -q "SIGHUP: map-max 1 MiB refused" "$T/vr-utrecht.log" || true
check "SIGHUP with a limit below the current map: refused, with the reason" \
    grep -q "SIGHUP: map-max 1 MiB refused: below the journal's current map" "$T/vr-utrecht.log"

# space returns: the operator raises the limit and sends SIGHUP
sed -i 's/^map-max = .*/map-max = 64/' "$T/node.conf"
kill -HUP "$(pid_of vr-utrecht)"
healed=$SECONDS
check "SIGHUP is not logged as stopping" lacks 'node vr-utrecht stopping' "$T/vr-utrecht.log"
wait_for "the node read its configuration again" 10 grep -q "SIGHUP: configuration read again; map limit 64 MiB" "$T/vr-utrecht.log" || true
check "SIGHUP: the node read map-max = 64 again" \
    grep -q "SIGHUP: configuration read again; map limit 64 MiB" "$T/vr-utrecht.log"
big=$(head -c 49152 /dev/zero | tr '\0' 'y')
for i in 1 2 3 4 5 6 7 8; do printf '{"incident_id":"m-after-%d","summary":"%s"}\n' "$i" "$big"; done >"$T/after"
check "publishing works again without a restart" \
    "$KNOOP" pub --api "$(api vr-utrecht)" --topic sitrep.vr-utrecht --type knoop.crisis.v1.SitRep --file "$T/after"
for i in 1 2 3 4 5 6 7 8; do echo "m-after-$i"; done >>"$T/acked.ids"
check "same process (no restart)" test "$(pid_of vr-utrecht)" = "$PID0" -a -d "/proc/$PID0"
"$KNOOP" status --api "$(api vr-utrecht)" --json >"$T/status2.json" 2>&1 || true
check "the alarm cleared" test "$(jq -r '.storage_alarm // "none"' "$T/status2.json")" = none
check "the metric knoop_journal_full{what=\"map\"} is 0 again" test "$(metric 'knoop_journal_full{what="map"}')" = 0
check "the map grew past the old limit" test "$(jq -r '.journal.map_size' "$T/status2.json")" -gt $((2 << 20))
conv=$(converge_secs 30 'sitrep.>' "$T/vr-utrecht" "$T/kcr2-broker-1" "$T/vr-zeeland")
[ "$conv" = never ] || conv=$((SECONDS - healed))
verdict "journal map full (map-max)" \
    "the publishing node's map-max of 2 MiB reached, then raised to 64 MiB with SIGHUP" \
    1 "$T/acked.ids" "$conv" 'sitrep.>' "$T/vr-utrecht" "$T/kcr2-broker-1" "$T/vr-zeeland"
stop vr-utrecht
check "the journal verifies" "$KNOOP" audit verify --journal "$T/vr-utrecht" --trust "$T/trust" --quiet
