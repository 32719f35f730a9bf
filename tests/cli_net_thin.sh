#!/usr/bin/env bash
# A thin regional line (issue 8, item 6; catalogue F6): vr-zeeland sits
# behind a 256 kbit/s token bucket (tc tbf, both directions of its veth) in a
# namespace of its own, and is cut off (nftables) while the others publish a
# ROUTINE backlog and, last, a few FLASH messages. After the heal the backlog
# comes down the thin line: the FLASH messages reach vr-zeeland's
# application first (the broker's catch-up plans FLASH streams first,
# docs/protocol.md), and everything converges.
#   KNOOP_SOAK=1: a backlog ten times larger.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tools/netns.sh"
net_require
command -v tc >/dev/null || skip "tc (iproute2) is not installed"

make_partner kcr2-broker-a broker
for n in vr-utrecht vr-twente vr-zeeland; do make_partner $n region; done
cat >"$T/policy" <<'P'
role:region publish sitrep.{id}
role:region publish sitrep.{id}.>
role:region subscribe sitrep.>
P
net_member a 1; net_member vr-utrecht 11; net_member vr-twente 12; net_member vr-zeeland 13
EP="kcr2-broker-a@tcp://$(net_ip a):7400"
in_ns a; start_broker kcr2-broker-a "tcp://$(net_ip a):7400"
in_ns vr-utrecht; start_node vr-utrecht --broker "$EP"
in_ns vr-twente;  start_node vr-twente  --broker "$EP"
in_ns vr-zeeland; start_node vr-zeeland --broker "$EP" --subscribe 'sitrep.>' --timeout-ms 5000
net_rate vr-zeeland 256
# vr-zeeland's application, for the order of arrival
"$KNOOP" sub --api "$(api vr-zeeland)" --pattern '>' --from-start --timeout 120 >"$T/app.out" 2>"$T/app.err" &
PIDS+=($!)

N=${KNOOP_SOAK:+3000}; N=${N:-300}
publish() {   # publish NODE TOPIC PRIORITY FROM COUNT (the topic ends in NODE)
    awk -v n="$1" -v s="$4" -v c="$5" 'BEGIN { for (i = s; i < s + c; i++)
        printf "{\"incident_id\":\"%s-%d\",\"summary\":\"situatierapport met wat tekst, zoals een regio dat stuurt: wegen, water, stroom, zorg en opvang\"}\n", n, i }' >"$T/p.$1"
    local got
    got=$("$KNOOP" pub --api "$(api "$1")" --topic "$2" --type knoop.crisis.v1.SitRep \
          --priority "$3" --file "$T/p.$1" --timeout 10 2>>"$T/pub.err" | wc -l) || true
    head -n "$got" "$T/p.$1" | grep -o "$1-[0-9]*" >>"$T/acked.ids" || true
}
publish vr-utrecht sitrep.vr-utrecht routine 1 5
wait_for "vr-zeeland receives over the thin line" 20 has_count "$T/vr-zeeland" 'sitrep.>' 5 || true
check "vr-zeeland receives over the thin line" has_count "$T/vr-zeeland" 'sitrep.>' 5

net_drop vr-zeeland a; net_block vr-zeeland a
wait_for "vr-zeeland's link times out" 15 grep -q "link to kcr2-broker-a lost" "$T/vr-zeeland.log" || true
publish vr-utrecht sitrep.vr-utrecht routine 1000 "$N"
publish vr-twente  sitrep.vr-twente  routine 1000 "$N"
publish vr-utrecht sitrep.vr-utrecht.flash flash 5000 10
publish vr-twente  sitrep.vr-twente.flash  flash 5000 10
total=$(wc -l <"$T/acked.ids")
bytes=$(du -sk "$T/kcr2-broker-a" | cut -f1)
echo "backlog of $((total - 5)) messages while vr-zeeland was cut off (broker journal ${bytes} KiB)"
net_clear vr-zeeland
healed=$(date +%s.%N)
echo "healed: the backlog comes down 256 kbit/s"
secs=$((60 + ${KNOOP_SOAK:+240}0 / 10))
wait_for "vr-zeeland converged" "$secs" same_digest "$T/kcr2-broker-a" "$T/vr-zeeland" '>' || true
conv=$(echo "$(date +%s.%N) $healed" | awk '{ printf "%.1f", $1 - $2 }')
same_digest "$T/kcr2-broker-a" "$T/vr-zeeland" '>' || conv=never
check "vr-zeeland converged over 256 kbit/s (${conv} s)" same_digest "$T/kcr2-broker-a" "$T/vr-zeeland" '>'
wait_for "the application got all" 20 bash -c "[ \$(grep -c incident_id '$T/app.out') -ge $total ]" || true
# order of arrival at the application after the heal: FLASH first
grep -o '"incident_id":"[^"]*"' "$T/app.out" | cut -d'"' -f4 | tail -n +6 >"$T/order"
# (awk, not grep | head: head leaving early can kill grep with SIGPIPE, which
# pipefail turns into the script's failure)
first_routine=$(awk '/-[0-9][0-9][0-9][0-9]$/ && !/-5[0-9][0-9][0-9]$/ { print NR; exit }' "$T/order")
last_flash=$(awk '/-5[0-9][0-9][0-9]$/ { n = NR } END { if (n) print n }' "$T/order")
echo "after the heal: last FLASH arrived as #${last_flash:-none}, first ROUTINE as #${first_routine:-none}"
check "all 20 FLASH messages reached the application" test "$(grep -c -- '-5[0-9]\{3\}$' "$T/order")" = 20
check "the FLASH messages came before any of the ROUTINE backlog" \
    test -n "$last_flash" -a -n "$first_routine" -a "${last_flash:-0}" -lt "${first_routine:-0}"
grep -o '"incident_id":"[^"]*"' "$T/app.out" | cut -d'"' -f4 >"$T/app.ids"
verdict "thin line (tc tbf 256 kbit/s)" \
    "a region behind 256 kbit/s cut off while $((total - 25)) ROUTINE and 20 FLASH messages were published, then healed" \
    1 "$T/acked.ids" "$conv" '>' "$T/kcr2-broker-a" "$T/vr-zeeland" -- --holder "vr-zeeland-app=$T/app.out"
