# tests/tools/netns.sh — networks as they fail (issue 8, item 6), sourced by
# tests/cli_net_*.sh after tests/lib.sh.
#
# Every daemon gets a network namespace of its own, joined to a bridge in a
# hub namespace by a veth pair: member N is 10.77.0.N/24 on its eth0. Faults
# are nftables rules and tc qdiscs inside these namespaces only; nothing on
# the host's own network is touched. The namespaces (and with them every
# rule, qdisc and veth) are deleted at exit, also when a check fails.
#
#   net_require                 skip (77) unless root, ip netns, veth, nft work
#   net_member NAME N           namespace for NAME at 10.77.0.N
#   net_ip NAME                 its address
#   in_ns NAME                  sets BROKER and NODE so start_broker/start_node
#                               run the next daemon in NAME's namespace
#   net_drop NAME FROM...       NAME drops every packet from these members
#   net_block NAME TO...        NAME drops every packet it sends to these
#   net_loss NAME PERCENT       NAME drops PERCENT % of its packets at random
#                               (nft numgen), both directions
#   net_rate NAME KBIT          a tc tbf thin line of KBIT kbit/s, both directions
#   net_clear NAME              removes NAME's nftables rules

NET_TAG="kn$$"                       # unique per test run
NET_HUB="$NET_TAG-hub"
declare -A NET_NS NET_IP NET_HUBIF
NET_REAL_BROKER=$BROKER
NET_REAL_NODE=$NODE

net_require() {
    [ "$(id -u)" = 0 ] || skip "needs root for network namespaces (CI runs as root)"
    command -v ip >/dev/null || skip "ip (iproute2) is not installed"
    command -v nft >/dev/null || skip "nft (nftables) is not installed: deploy/install-deps.sh"
    ip netns add "$NET_HUB" 2>/dev/null || skip "cannot create a network namespace here (ip netns add)"
    at_exit net_teardown
    ip -n "$NET_HUB" link set lo up
    ip -n "$NET_HUB" link add br0 type bridge || skip "no bridge support in this kernel"
    ip -n "$NET_HUB" link set br0 up
    ip netns exec "$NET_HUB" nft list tables >/dev/null 2>&1 ||
        skip "nftables does not work in a namespace here"
}

net_teardown() {
    local ns
    for ns in "${NET_NS[@]:-}"; do
        [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
    done
    ip netns del "$NET_HUB" 2>/dev/null
    return 0
}

net_member() {   # net_member NAME N
    local name=$1 n=$2 ns="$NET_TAG-$2"
    ip netns add "$ns" || die "ip netns add $ns"
    NET_NS[$name]=$ns
    NET_IP[$name]=10.77.0.$n
    NET_HUBIF[$name]=v$n
    ip link add eth0 netns "$ns" type veth peer name "v$n" netns "$NET_HUB" ||
        die "cannot create the veth pair for $name"
    ip -n "$NET_HUB" link set "v$n" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "10.77.0.$n/24" dev eth0
    ip -n "$ns" link set eth0 up
    # one table per member for the faults
    ip netns exec "$ns" nft add table inet fault
    ip netns exec "$ns" nft add chain inet fault in '{ type filter hook input priority 0; }'
    ip netns exec "$ns" nft add chain inet fault out '{ type filter hook output priority 0; }'
    # wrappers: the daemon, exec'd in the namespace (same pid, so kill works)
    printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$ns" "$NET_REAL_BROKER" >"$T/broker-in-$name"
    printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$ns" "$NET_REAL_NODE" >"$T/node-in-$name"
    chmod +x "$T/broker-in-$name" "$T/node-in-$name"
}

net_ip() { echo "${NET_IP[$1]}"; }

in_ns() { BROKER=$T/broker-in-$1; NODE=$T/node-in-$1; }


net_drop() {     # net_drop NAME FROM... (one nft call: namespaces are slow on a loaded box)
    local name=$1 f rules=""; shift
    for f in "$@"; do rules+="add rule inet fault in ip saddr ${NET_IP[$f]} drop"$'\n'; done
    ip netns exec "${NET_NS[$name]}" nft -f - <<<"$rules"
}

net_block() {    # net_block NAME TO...
    local name=$1 f rules=""; shift
    for f in "$@"; do rules+="add rule inet fault out ip daddr ${NET_IP[$f]} drop"$'\n'; done
    ip netns exec "${NET_NS[$name]}" nft -f - <<<"$rules"
}

net_loss() {     # net_loss NAME PERCENT
    ip netns exec "${NET_NS[$1]}" nft add rule inet fault in meta iifname eth0 numgen random mod 100 lt "$2" drop
    ip netns exec "${NET_NS[$1]}" nft add rule inet fault out meta oifname eth0 numgen random mod 100 lt "$2" drop
}

net_clear() {
    ip netns exec "${NET_NS[$1]}" nft -f - <<<"flush chain inet fault in
flush chain inet fault out"
}

net_rate() {     # net_rate NAME KBIT: token bucket on both ends of NAME's veth
    local name=$1 kbit=$2
    ip netns exec "${NET_NS[$name]}" tc qdisc replace dev eth0 root tbf rate "${kbit}kbit" \
        burst 4kb latency 400ms || skip "tc tbf is not available in this kernel"
    ip netns exec "$NET_HUB" tc qdisc replace dev "${NET_HUBIF[$name]}" root tbf rate "${kbit}kbit" \
        burst 4kb latency 400ms || skip "tc tbf is not available in this kernel"
}
