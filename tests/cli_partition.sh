#!/usr/bin/env bash
# Partition: broker C is cut from A and B (its peer links run through
# fault-injecting proxies) while nodes on both sides keep publishing. Each
# side keeps serving its own nodes. When the links return, all brokers and
# nodes converge; nothing acknowledged is missing; nobody holds a duplicate.
source "$(dirname "$0")/lib.sh"

for b in a b c; do make_partner kcr2-broker-$b broker; done
for n in vr-utrecht vr-twente vr-zeeland vr-drenthe; do make_partner $n region; done
sitrep_policy
# A and B reach C through proxy "toc"; C reaches A and B through "ca" and "cb".
start_cut_mesh
start_node vr-utrecht --broker "kcr2-broker-a@$EPA" --subscribe 'sitrep.>'
start_node vr-twente  --broker "kcr2-broker-b@$EPB" --subscribe 'sitrep.>'
start_node vr-zeeland --broker "kcr2-broker-c@$EPC" --subscribe 'sitrep.>'
start_node vr-drenthe --broker "kcr2-broker-c@$EPC" --subscribe 'sitrep.>'

publish() {   # publish NODE FROM COUNT
    awk -v n="$1" -v s="$2" -v c="$3" 'BEGIN { for (i = s; i < s + c; i++)
        printf "{\"incident_id\":\"%s-%d\",\"summary\":\"melding\"}\n", n, i }' >"$T/p.$1.$2"
    "$KNOOP" pub --api "$(api "$1")" --topic "sitrep.$1" --type knoop.crisis.v1.SitRep \
        --file "$T/p.$1.$2" >>"$T/acked.$1"
}
publish vr-utrecht 1 100
publish vr-zeeland 1 100
wait_for "mesh agrees before the partition" 20 mesh_agrees $BROKERS || true
check "mesh agrees before the partition" mesh_agrees $BROKERS

link_cut toc; link_cut ca; link_cut cb
echo "partition: kcr2-broker-c cut from a and b"
for round in 1 2 3; do
    publish vr-utrecht $((round * 1000)) 200
    publish vr-twente  $((round * 1000)) 200
    publish vr-zeeland $((round * 1000)) 200
    publish vr-drenthe $((round * 1000)) 200
    sleep 0.5
done
check "each side keeps serving its own nodes: vr-drenthe has vr-zeeland's" \
    test "$(count_msgs "$T/vr-drenthe" 'sitrep.vr-zeeland')" = 700
check "and vr-twente has vr-utrecht's" test "$(count_msgs "$T/vr-twente" 'sitrep.vr-utrecht')" = 700
check "the sides differ during the partition" mesh_differs $BROKERS

link_heal toc; link_heal ca; link_heal cb
echo "healed"
start=$SECONDS
wait_for "mesh agrees after healing" 60 mesh_agrees $BROKERS || true
echo "brokers converged $((SECONDS - start))s after healing"
check "all three brokers agree after healing" mesh_agrees $BROKERS
total=$(cat "$T"/acked.* | wc -l)
check "every acknowledged message is on every broker ($total)" \
    test "$(count_msgs "$T/kcr2-broker-c" 'sitrep.>')" = "$total"
for n in vr-utrecht vr-twente vr-zeeland vr-drenthe; do
    wait_for "$n converged" 30 same_digest "$T/kcr2-broker-a" "$T/$n" 'sitrep.>' || true
    check "$n holds what the brokers hold" same_digest "$T/kcr2-broker-a" "$T/$n" 'sitrep.>'
done
"$KNOOP" sub --api "$(api vr-zeeland)" --pattern 'sitrep.>' --from-start --timeout 3 >"$T/all" || true
check "vr-zeeland's application sees each of the $total once" \
    test "$(grep -o '"incident_id":"[^"]*"' "$T/all" | sort -u | wc -l)" = "$total"
check "and no line twice" test "$(wc -l <"$T/all")" = "$total"

# The checker's line: every acknowledged id against every journal and the
# application's view on vr-zeeland.
for n in vr-utrecht vr-twente vr-zeeland vr-drenthe; do
    for f in $(ls "$T"/p."$n".* | sort -t. -k3 -n); do cut -d'"' -f4 "$f"; done
done >"$T/acked.ids"
verdict "partition of one broker from the mesh" \
    "broker C cut from A and B (both directions) while 4 nodes publish on both sides, then healed" \
    3 "$T/acked.ids" "$((SECONDS - start))" 'sitrep.>' \
    "$T"/kcr2-broker-{a,b,c} "$T"/vr-{utrecht,twente,zeeland,drenthe} -- --holder "vr-zeeland-app=$T/all"
