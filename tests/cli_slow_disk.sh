#!/usr/bin/env bash
# Slow disk (issue 8, item 6; catalogue F13): strace, attached to the running
# daemons, delays their fdatasync — the publishing node's by 0.3 s each, and
# every third of its broker's by 3 s, longer than the node's link timeout
# (2 s), so the node gives the broker up mid-commit, reconnects and sends its
# outbox again. Latency rises; a timeout must never turn into a lost or a
# duplicated message: the checker's line over every journal and the
# subscribing application.
source "$(dirname "$0")/lib.sh"
command -v strace >/dev/null || skip "strace is not installed (deploy/install-deps.sh)"
strace -qq -o /dev/null -e trace=fdatasync -e inject=fdatasync:delay_enter=1000 true 2>/dev/null ||
    skip "strace cannot trace or inject here (ptrace not permitted?)"

start_sitrep_scene
# From the start: the application must see every acknowledged message, also
# the first ones published before it is attached (a sanitized build starts it
# later than the first 20 are acknowledged: it lost exactly those 20).
"$KNOOP" sub --api "$(api vr-zeeland)" --pattern 'sitrep.>' --from-start --timeout 60 \
    >"$T/app.out" 2>"$T/app.err" &
PIDS+=($!)

n=0
publish() {   # publish COUNT: DT = the seconds it took; acked ids to acked.ids
    awk -v s="$n" -v c="$1" 'BEGIN { for (i = s; i < s + c; i++)
        printf "{\"incident_id\":\"u-%d\",\"summary\":\"melding\"}\n", i }' >"$T/chunk"
    local got t0; t0=$(date +%s.%N)
    got=$("$KNOOP" pub --api "$(api vr-utrecht)" --topic sitrep.vr-utrecht \
          --type knoop.crisis.v1.SitRep --file "$T/chunk" --timeout 30 2>>"$T/pub.err" | wc -l) || true
    head -n "$got" "$T/chunk" | grep -o 'u-[0-9]*' >>"$T/acked.ids"
    n=$((n + $1))
    DT=$(echo "$(date +%s.%N) $t0" | awk '{ printf "%.2f\n", $1 - $2 }')
}
publish 20; base=$DT
echo "20 messages, one at a time from the file, on a healthy disk: $base s"

# attach: the tracer is killed at exit like the daemons (it detaches them)
strace -qq -f -p "$(pid_of vr-utrecht)" -o /dev/null -e trace=fdatasync \
    -e inject=fdatasync:delay_enter=300000 2>>"$T/strace.err" &
PIDS+=($!); S1=$!
strace -qq -f -p "$(pid_of kcr2-broker-1)" -o /dev/null -e trace=fdatasync \
    -e inject=fdatasync:delay_enter=3000000:when=2+3 2>>"$T/strace.err" &
PIDS+=($!); S2=$!
sleep 0.5
slow=0
for round in 1 2 3 4 5 6; do
    publish 25; s=$DT
    echo "round $round: 25 messages in $s s on a slow disk"
    slow=$(echo "$slow $s" | awk '{ print ($2 > $1) ? $2 : $1 }')
    sleep 0.3
done
check "latency rises with the slow disk (slowest round ${slow} s, healthy ${base} s)" \
    awk -v a="$slow" -v b="$base" 'BEGIN { exit !(a > b) }'
check "the broker's stalled commits made vr-utrecht give up its link and send again" \
    grep -q "link to kcr2-broker-1 lost\|sending the outbox again" "$T/vr-utrecht.log"
kill "$S1" "$S2" 2>/dev/null || true   # the disk is fast again: detach
wait "$S1" "$S2" 2>/dev/null || true
healed=$(date +%s.%N)
publish 10
total=$(wc -l <"$T/acked.ids")
wait_for "vr-zeeland holds all $total" 30 has_count "$T/vr-zeeland" 'sitrep.>' "$total" || true
conv=$(echo "$(date +%s.%N) $healed" | awk '{ printf "%.1f", $1 - $2 }')
has_count "$T/vr-zeeland" 'sitrep.>' "$total" || conv=never
wait_for "the application got all" 20 bash -c "[ \$(grep -c incident_id '$T/app.out') -ge $total ]" || true
check "the broker is still running" kill -0 "$(pid_of kcr2-broker-1)"
for j in kcr2-broker-1 vr-utrecht vr-zeeland; do
    check "$j verifies" "$KNOOP" audit verify --journal "$T/$j" --trust "$T/trust" --quiet
done
verdict "slow disk (strace delay on fdatasync)" \
    "fdatasync delayed 0.3 s on the publishing node and 3 s on every 3rd of its broker's (beyond the 2 s link timeout)" \
    6 "$T/acked.ids" "$conv" 'sitrep.>' "$T/kcr2-broker-1" "$T/vr-utrecht" "$T/vr-zeeland" \
    -- --holder "vr-zeeland-app=$T/app.out"
