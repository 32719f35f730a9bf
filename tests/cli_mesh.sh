#!/usr/bin/env bash
# Three brokers in a full mesh, six nodes spread over them, publishing on
# shared topics: within seconds of the last publish every node's digest for
# its pattern equals every other subscriber's, and the three brokers agree.
source "$(dirname "$0")/lib.sh"

for b in 1 2 3; do make_partner kcr2-broker-$b broker; done
NODES="vr-utrecht vr-zeeland vr-twente vr-haaglanden vr-drenthe vr-flevoland"
for n in $NODES; do make_partner $n region; done
sitrep_policy
for b in 1 2 3; do EP[$b]="tcp://127.0.0.1:$(free_port)"; done
for b in 1 2 3; do
    peers=()
    for o in 1 2 3; do [ $o = $b ] || peers+=(--peer "kcr2-broker-$o@${EP[$o]}"); done
    start_broker kcr2-broker-$b "${EP[$b]}" "${peers[@]}" --anti-entropy-ms 500
done
i=0
for n in $NODES; do
    b=$((i % 3 + 1)); i=$((i + 1))
    start_node $n --broker "kcr2-broker-$b@${EP[$b]}" --subscribe 'sitrep.>'
done

for n in $NODES; do
    awk -v n="$n" 'BEGIN { for (i = 1; i <= 300; i++)
        printf "{\"incident_id\":\"%s-%d\",\"summary\":\"melding %d\"}\n", n, i, i }' >"$T/$n.jsonl"
    "$KNOOP" pub --api "$(api $n)" --topic "sitrep.$n" --type knoop.crisis.v1.SitRep \
        --file "$T/$n.jsonl" >/dev/null &
done
wait_jobs() { for j in $(jobs -p); do case " ${PIDS[*]} " in *" $j "*) ;; *) wait "$j";; esac; done; }
wait_jobs
start=$SECONDS
for n in $NODES; do
    wait_for "$n holds all 1,800" 60 has_count "$T/$n" 'sitrep.>' 1800 || true
done
echo "all nodes complete $((SECONDS - start))s after the last publish"
for b in 2 3; do
    check "broker $b agrees with broker 1" same_digest "$T/kcr2-broker-1" "$T/kcr2-broker-$b" 'sitrep.>'
done
for n in $NODES; do
    check "$n holds what the brokers hold" same_digest "$T/kcr2-broker-1" "$T/$n" 'sitrep.>'
done
check "the mesh says so" "$KNOOP" mesh check --broker "ipc://$T/kcr2-broker-1/api.sock" \
    --broker "ipc://$T/kcr2-broker-2/api.sock" --broker "ipc://$T/kcr2-broker-3/api.sock"
