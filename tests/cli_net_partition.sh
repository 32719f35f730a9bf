#!/usr/bin/env bash
# Networks as they fail (issue 8, item 6; catalogue F4, F5): three brokers and
# three nodes, each in a network namespace of its own on one bridge, with
# nftables rules inside those namespaces.
#  1. Non-transitive partition: A and B cannot reach each other, both reach
#     C. Nodes on A and on B publish; the mesh converges through C while the
#     cut is still there, and after it.
#  2. One-way partitions: vr-utrecht hears nothing from its broker A (its own
#     packets still arrive at A, so A may store what the node never sees
#     acknowledged) and C hears nothing from A. Publishing goes on; after the
#     heal the backlog is forwarded, resent frames are deduplicated.
# Then: every acknowledged message on every broker and node, none twice,
# each stream in order (the checker's line).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tools/netns.sh"
net_require

for b in a b c; do make_partner kcr2-broker-$b broker; done
for n in vr-utrecht vr-twente vr-zeeland; do make_partner $n region; done
sitrep_policy
net_member a 1; net_member b 2; net_member c 3
net_member vr-utrecht 11; net_member vr-twente 12; net_member vr-zeeland 13
ep() { echo "kcr2-broker-$1@tcp://$(net_ip "$1"):7400"; }
for x in a b c; do
    peers=()
    for y in a b c; do [ $x = $y ] || peers+=(--peer "$(ep $y)"); done
    in_ns $x
    start_broker kcr2-broker-$x "tcp://$(net_ip $x):7400" "${peers[@]}" --anti-entropy-ms 500
done
in_ns vr-utrecht; start_node vr-utrecht --broker "$(ep a)" --subscribe 'sitrep.>'
in_ns vr-twente;  start_node vr-twente  --broker "$(ep b)" --subscribe 'sitrep.>'
in_ns vr-zeeland; start_node vr-zeeland --broker "$(ep c)" --subscribe 'sitrep.>'
BR="kcr2-broker-a kcr2-broker-b kcr2-broker-c"
JOURNALS=("$T"/kcr2-broker-{a,b,c} "$T"/vr-{utrecht,twente,zeeland})

publish() { publish_acked "$1" "$1" "$2" "$3" --timeout 10; }   # publish NODE FROM COUNT
# rounds "R..." SECS NODE...: in each round R, 100 from every NODE (ids
# NODE-R*1000..), then a pause of SECS
rounds() {
    local round node
    for round in $1; do
        for node in "${@:3}"; do publish "$node" $((round * 1000)) 100; done
        sleep "$2"
    done
}
publish vr-utrecht 1 50
publish vr-zeeland 1 50
wait_for "the mesh agrees before the faults" 30 mesh_agrees $BR || true
check "the mesh agrees before the faults (brokers in their own namespaces)" mesh_agrees $BR

# --- 1. non-transitive: A-B cut, A-C and B-C up ---
net_drop a b; net_drop b a
echo "partition: A and B cut from each other; both reach C"
rounds "1 2 3" 0.3 vr-utrecht vr-twente
t0=$SECONDS
wait_for "A and B converge through C while cut" 30 mesh_agrees $BR || true
check "A and B converge through C while they cannot reach each other ($((SECONDS - t0)) s)" \
    mesh_agrees $BR
wait_for "vr-twente has vr-utrecht's" 20 has_count "$T/vr-twente" 'sitrep.vr-utrecht' \
    "$(grep -c '^vr-utrecht-' "$T/acked.ids")" || true
check "vr-twente (on B) holds vr-utrecht's messages (published on A) during the cut" \
    has_count "$T/vr-twente" 'sitrep.vr-utrecht' "$(grep -c '^vr-utrecht-' "$T/acked.ids")"
net_clear a; net_clear b

# --- 2. one-way: the node does not hear its broker; C does not hear A ---
net_drop vr-utrecht a
net_drop c a
echo "one-way: vr-utrecht hears nothing from A, C hears nothing from A"
rounds "4 5 6" 1 vr-utrecht vr-zeeland
# the node notices (its link times out) while its publishing stays acknowledged
wait_for "vr-utrecht notices its link is down" 15 status_lacks vr-utrecht '"backlog": 0' || true
check "vr-utrecht's publishing stays acknowledged while it cannot hear its broker" \
    test "$(grep -cE '^vr-utrecht-[456][0-9]{3}$' "$T/acked.ids")" = 300
check "vr-utrecht's acknowledged messages wait in its outbox" status_lacks vr-utrecht '"backlog": 0'
net_clear vr-utrecht; net_clear c
echo "healed"
healed=$(date +%s.%N)
wait_for "the mesh agrees after the heal" 60 mesh_agrees $BR || true
for n in vr-utrecht vr-twente vr-zeeland; do
    wait_for "$n converged" 30 same_digest "$T/kcr2-broker-a" "$T/$n" 'sitrep.>' || true
done
conv=$(converge_secs 5 'sitrep.>' "${JOURNALS[@]}")
[ "$conv" = never ] || conv=$(echo "$(date +%s.%N) $healed" | awk '{ printf "%.1f", $1 - $2 }')
check "all brokers agree after the heal" mesh_agrees $BR
wait_for "vr-utrecht's outbox drained" 20 status_has vr-utrecht '"backlog": 0' || true
check "vr-utrecht's outbox drained after the heal" status_has vr-utrecht '"backlog": 0'
total=$(wc -l <"$T/acked.ids")
for j in kcr2-broker-a kcr2-broker-b kcr2-broker-c vr-zeeland; do
    check "$j holds all $total acknowledged" has_count "$T/$j" 'sitrep.>' "$total"
    check "$j verifies" "$KNOOP" audit verify --journal "$T/$j" --trust "$T/trust" --quiet
done
verdict "network partitions (namespaces, nftables)" \
    "A-B cut with A-C and B-C up (non-transitive), then one-way: node hears nothing from its broker, C nothing from A" \
    2 "$T/acked.ids" "$conv" 'sitrep.>' "${JOURNALS[@]}"
