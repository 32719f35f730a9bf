#!/usr/bin/env bash
# Random packet loss (issue 8, item 6; catalogue F4): two meshed brokers and
# three nodes, each in a network namespace of its own, every one of them
# dropping a share of its packets at random in both directions (nftables
# numgen, tests/tools/netns.sh net_loss): 10 % on each, so a node's packets
# to its broker cross two lossy ends (about 19 % lost on the way, as many
# again on the way back). TCP retransmits; heartbeats may time out and links
# be made again. While the loss goes on, nodes on both brokers publish;
# with the loss still on, every broker and node must converge: nothing
# acknowledged lost, nothing twice, every stream in order, the same digest
# everywhere (the checker's line).
#   KNOOP_SOAK=1: 20 % on each member and five times the rounds.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tools/netns.sh"
net_require

LOSS=${KNOOP_SOAK:+20}; LOSS=${LOSS:-10}
ROUNDS=${KNOOP_SOAK:+15}; ROUNDS=${ROUNDS:-3}
make_partner kcr2-broker-a broker
make_partner kcr2-broker-b broker
for n in vr-utrecht vr-twente vr-zeeland; do make_partner $n region; done
sitrep_policy
net_member a 1; net_member b 2
net_member vr-utrecht 11; net_member vr-twente 12; net_member vr-zeeland 13
ep() { echo "kcr2-broker-$1@tcp://$(net_ip "$1"):7400"; }
in_ns a; start_broker kcr2-broker-a "tcp://$(net_ip a):7400" --peer "$(ep b)" --anti-entropy-ms 500
in_ns b; start_broker kcr2-broker-b "tcp://$(net_ip b):7400" --peer "$(ep a)" --anti-entropy-ms 500
# the nodes know both brokers: a link lost to the loss may come up on either
in_ns vr-utrecht; start_node vr-utrecht --broker "$(ep a)" --broker "$(ep b)" --subscribe 'sitrep.>'
in_ns vr-twente;  start_node vr-twente  --broker "$(ep b)" --broker "$(ep a)" --subscribe 'sitrep.>'
in_ns vr-zeeland; start_node vr-zeeland --broker "$(ep a)" --broker "$(ep b)" --subscribe 'sitrep.>'
BR="kcr2-broker-a kcr2-broker-b"
JOURNALS=("$T"/kcr2-broker-{a,b} "$T"/vr-{utrecht,twente,zeeland})
: >"$T/acked.ids"

publish() { publish_acked "$1" "$1" "$2" "$3" --timeout 10; }   # publish NODE FROM COUNT
publish vr-utrecht 1 20
wait_for "the mesh agrees before the loss" 30 mesh_agrees $BR || true
check "the mesh agrees before the loss" mesh_agrees $BR

for m in a b vr-utrecht vr-twente vr-zeeland; do net_loss "$m" "$LOSS"; done
echo "loss: every member drops $LOSS % of its packets at random, both directions"
for round in $(seq 1 "$ROUNDS"); do
    publish vr-utrecht $((round * 1000)) 100
    publish vr-twente  $((round * 1000)) 100
    publish vr-zeeland $((round * 1000)) 50
    sleep 0.5
done
total=$(wc -l <"$T/acked.ids")
check "publishing is acknowledged under loss (the node's journal: $total)" test "$total" -ge 500
dropped=$(ip netns exec "${NET_NS[a]}" nft list chain inet fault in 2>/dev/null | grep -c numgen || true)
check "the loss rules are in place while the mesh converges" test "$dropped" -ge 1
lossy=$(date +%s.%N)
# converge with the loss still on
conv=$(converge_secs 50 'sitrep.>' "${JOURNALS[@]}")
[ "$conv" = never ] || conv=$(echo "$(date +%s.%N) $lossy" | awk '{ printf "%.1f", $1 - $2 }')
echo "converged under $LOSS % loss after: $conv s"
check "every broker and node converged with the loss still on ($conv s)" test "$conv" != never
wait_for "the brokers agree under loss" 20 mesh_agrees $BR || true
check "the brokers agree under loss" mesh_agrees $BR
for n in vr-utrecht vr-twente vr-zeeland; do
    wait_for "$n's outbox drained" 20 status_has $n '"backlog": 0' || true
    check "$n's outbox drained under loss" status_has $n '"backlog": 0'
done
for j in kcr2-broker-a kcr2-broker-b vr-utrecht; do
    check "$j holds all $total acknowledged" has_count "$T/$j" 'sitrep.>' "$total"
    check "$j verifies" "$KNOOP" audit verify --journal "$T/$j" --trust "$T/trust" --quiet
done
relinks=$(cat "$T"/vr-*.log | grep -c "link to kcr2-broker-.* lost" || true)
echo "node links lost to the loss and made again: $relinks"
verdict "random packet loss (namespaces, nftables)" \
    "$LOSS % of packets dropped at random on every broker and node, both directions, while 3 nodes published on 2 brokers" \
    "$ROUNDS" "$T/acked.ids" "$conv" 'sitrep.>' "${JOURNALS[@]}"
