#!/usr/bin/env bash
# Chaos and failover as the network fails (issue 8, items 6 and 2;
# catalogue F4, F5): three meshed brokers and three nodes, each in a network
# namespace of its own, every node knowing all three brokers. The faults are
# the network's, made with nftables inside those namespaces:
#  1. failover: vr-twente cut from every broker; while it tries them in turn
#     its status says it is not up, "since" a time after the cut (not the
#     time its old link came up, issue 8 finding 5); healed, it links again
#     and delivers what it published meanwhile;
#  2. a broker paused (SIGSTOP, longer than the timeout) and resumed: it does
#     not drop the sessions whose heartbeats wait unread in its own queues,
#     and nobody calls the session dropped during the pause a protocol error
#     (finding 5: "HELLO first");
#  3. seeded random faults (KNOOP_SEED replays; the seed is printed) for
#     KNOOP_CHAOS_SECONDS (20, KNOOP_SOAK=1 120) while two nodes publish:
#     one-way drops between brokers, a broker partitioned from everyone (its
#     nodes fail over), non-transitive cuts, a node cut from its broker
#     (both ways, or only hearing nothing), 20 % random loss on a broker.
# Healed: every broker and node converges, nothing acknowledged lost,
# nothing twice, streams in order (the checker's line).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tools/netns.sh"
net_require

SEED=${KNOOP_SEED:-$(( $(date +%s) % 100000 ))}
RANDOM=$SEED
DURATION=${KNOOP_CHAOS_SECONDS:-$([ -n "${KNOOP_SOAK:-}" ] && echo 120 || echo 20)}
echo "# seed $SEED (rerun with KNOOP_SEED=$SEED), $DURATION s of network faults"

BS="a b c"
NS="vr-utrecht vr-zeeland vr-twente"
for b in $BS; do make_partner kcr2-broker-$b broker; done
for n in $NS; do make_partner $n region; done
sitrep_policy
net_member a 1; net_member b 2; net_member c 3
net_member vr-utrecht 11; net_member vr-zeeland 12; net_member vr-twente 13
ep() { echo "kcr2-broker-$1@tcp://$(net_ip "$1"):7400"; }
for x in $BS; do
    peers=()
    for y in $BS; do [ $x = $y ] || peers+=(--peer "$(ep $y)"); done
    in_ns $x
    start_broker kcr2-broker-$x "tcp://$(net_ip $x):7400" "${peers[@]}" --anti-entropy-ms 500
done
declare -A HOME_B=([vr-utrecht]=a [vr-zeeland]=b [vr-twente]=c)
for n in $NS; do
    list=()
    for y in ${HOME_B[$n]} $(echo $BS | tr ' ' '\n' | grep -v "^${HOME_B[$n]}$"); do
        list+=(--broker "$(ep $y)")
    done
    in_ns $n; start_node $n "${list[@]}" --subscribe 'sitrep.>' --failback-ms 2000
done
BR="kcr2-broker-a kcr2-broker-b kcr2-broker-c"
JOURNALS=("$T"/kcr2-broker-{a,b,c} "$T"/vr-{utrecht,zeeland,twente})
heal_all() { local m; for m in $BS $NS; do net_clear "$m"; done; }
: >"$T/acked.ids"
publish() { publish_acked "$1" "$1-$2" 1 "$3" --timeout 3; }   # publish NODE TAG COUNT
link_json() { "$KNOOP" status --api "$(api "$1")" --json 2>/dev/null | jq -c '.link'; }
publish vr-utrecht warm 20
wait_for "the mesh agrees at the start" 30 mesh_agrees $BR || true
check "the mesh agrees at the start (brokers in their own namespaces)" mesh_agrees $BR

# --- 1. failover: vr-twente cut from every broker ---
wait_for "vr-twente is up" 15 bash -c "'$KNOOP' status --api '$(api vr-twente)' --json | jq -e '.link.state == \"up\"'" || true
up_since=$(link_json vr-twente | jq -r '.since_ms')
sleep 0.5
cut_ms=$(date +%s%3N)
for b in $BS; do net_drop vr-twente $b; net_block vr-twente $b; done
echo "vr-twente cut from every broker"
publish vr-twente cut 30
wait_for "vr-twente notices" 15 grep -q "link to kcr2-broker-.* lost" "$T/vr-twente.log" || true
sleep 1
link_json vr-twente >"$T/twente.link"
echo "vr-twente's link while cut: $(cat "$T/twente.link")"
check "vr-twente's status says its link is not up while cut" \
    test "$(jq -r '.state' "$T/twente.link")" != up
check "and 'since' a time after the cut ($(jq -r '.since_ms' "$T/twente.link") >= $cut_ms), not when its old link came up ($up_since)" \
    test "$(jq -r '.since_ms' "$T/twente.link")" -ge "$cut_ms"
check "its publishing stays acknowledged while cut (30)" test "$(grep -c '^vr-twente-cut-' "$T/acked.ids")" = 30
wait_for "vr-twente tried another broker" 15 bash -c "[ \"\$('$KNOOP' status --api '$(api vr-twente)' --json | jq -r '.link.failovers')\" -ge 1 ]" || true
check "vr-twente failed over to the next broker in its list" \
    test "$(link_json vr-twente | jq -r '.failovers')" -ge 1
heal_all
wait_for "vr-twente links again" 20 status_has vr-twente '"backlog": 0' || true
check "healed, vr-twente links again and its outbox drains" status_has vr-twente '"backlog": 0'

# --- 2. a broker paused longer than the timeout ---
kill -STOP "$(pid_of kcr2-broker-a)"
publish vr-zeeland pause 20
sleep 3
kill -CONT "$(pid_of kcr2-broker-a)"
wait_for "broker A saw its own stall" 10 grep -q "the loop did not run for" "$T/kcr2-broker-a.log" || true
check "broker A, resumed, knows it was the silent one (the loop did not run)" \
    grep -q "the loop did not run for" "$T/kcr2-broker-a.log"
wait_for "the mesh agrees after the pause" 30 mesh_agrees $BR || true
check "the mesh agrees after the pause" mesh_agrees $BR

# --- 3. seeded random network faults while two nodes publish ---
publisher() {   # publisher NODE: chunks until $T/stop exists
    local n=$1 c=0
    while [ ! -e "$T/stop" ]; do
        c=$((c + 1)); publish "$n" "c$c" 20; sleep 0.2
    done
}
publisher vr-utrecht & PUBLISHERS=($!)
publisher vr-zeeland & PUBLISHERS+=($!)
BA=($BS); NA=($NS)
# at least MIN_FAULTS, also when a loaded machine makes each nft call slow,
# but never past three times the duration
MIN_FAULTS=${KNOOP_SOAK:+30}; MIN_FAULTS=${MIN_FAULTS:-6}
end=$((SECONDS + DURATION)); hard_end=$((SECONDS + 3 * DURATION))
faults=0
while { [ $SECONDS -lt $end ] || [ $faults -lt $MIN_FAULTS ]; } && [ $SECONDS -lt $hard_end ]; do
    sleep "0.$((RANDOM % 9 + 1))"
    # drawn here, not in a subshell: a subshell's RANDOM does not advance ours
    bi=$((RANDOM % 3)); b=${BA[$bi]}; o=${BA[$(( (bi + 1 + RANDOM % 2) % 3 ))]}; n=${NA[$((RANDOM % 3))]}
    case $((RANDOM % 6)) in
    0) echo "chaos: broker $b hears nothing from $o (one-way)"; net_drop $b $o; touched="$b" ;;
    1) echo "chaos: broker $b partitioned from everyone"
       others=$(echo $BS $NS | tr ' ' '\n' | grep -v "^$b$")
       net_drop $b $others; net_block $b $others; touched="$b" ;;
    2) echo "chaos: $b and $o cut from each other (non-transitive)"; net_drop $b $o; net_drop $o $b
       touched="$b $o" ;;
    3) echo "chaos: $n cut from broker ${HOME_B[$n]}"
       net_drop $n ${HOME_B[$n]}; net_block $n ${HOME_B[$n]}; touched="$n" ;;
    4) echo "chaos: 20 % random loss on broker $b"; net_loss $b 20; touched="$b" ;;
    5) echo "chaos: $n hears nothing from broker ${HOME_B[$n]} (one-way)"; net_drop $n ${HOME_B[$n]}
       touched="$n" ;;
    esac
    sleep "$((RANDOM % 3 + 1)).$((RANDOM % 9))"
    for m in $touched; do net_clear $m; done
    faults=$((faults + 1))
done
faults_over 60 "all brokers agree after the network faults" $BR
echo "$faults network faults; $(wc -l <"$T/acked.ids") messages acknowledged to the publishers"
for n in $NS; do
    wait_for "$n converged" 30 same_digest "$T/kcr2-broker-a" "$T/$n" 'sitrep.>' || true
    check "$n holds what the brokers hold" same_digest "$T/kcr2-broker-a" "$T/$n" 'sitrep.>'
    wait_for "$n's outbox drained" 20 status_has $n '"backlog": 0' || true
    check "$n's outbox drained" status_has $n '"backlog": 0'
done
for j in $BR vr-twente; do
    check "$j verifies" "$KNOOP" audit verify --journal "$T/$j" --trust "$T/trust" --quiet
done
# finding 5: a session dropped after a silence is a matter of course, never
# a protocol error, on any side
check "no broker or node calls a session dropped after a silence a protocol error" \
    lacks 'PROTOCOL: no session\|HELLO first' "$T"/*.log
verdict "network chaos and failover (namespaces, nftables)" \
    "a node cut from every broker, a broker paused, then one-way drops, partitions, non-transitive cuts and 20 % loss at random for $DURATION s (seed $SEED)" \
    "$((faults + 2))" "$T/acked.ids" "$CONV" 'sitrep.>' "${JOURNALS[@]}"
