#!/usr/bin/env bash
# A regional broker as the fall-back hub (issue 12, item 2). Three KCR2
# brokers in a mesh and one regional broker (role broker, issued by the
# KCR2 root like any other) peering with them both ways. Three neighbouring
# regions and a vital provider list their KCR2 broker first and the regional
# broker second; KCR2's own node sits on a KCR2 broker. The partners'
# certificates are published once at a KCR2 broker: the regional broker
# learns them over the mesh. Then a telecom outage: the regional broker and
# the region's nodes lose every link to KCR2. The nodes fail over to the
# regional broker, which says it is isolated, and the regions keep
# exchanging through it; the vital provider, not entitled to the regions'
# sitreps, gets none of them there, and an AMBER+STRICT sitrep reaches only
# the region it names. KCR2 publishes meanwhile. After the heal the nodes
# fail back to their KCR2 brokers, all four brokers and every node converge
# (same digests), and every journal verifies with only the root certificate.
source "$(dirname "$0")/lib.sh"

make_root 'regionale uitwijk'

KB="kcr2-broker-a kcr2-broker-b kcr2-broker-c"
RB=regio-broker-limburg
REGIONS="vr-zuid-limburg vr-limburg-noord vr-brabant-zuidoost"
for b in $KB $RB; do issue "$b" broker; cp "$T/issued/$b.cert" "$T/trust/"; done
cat >"$T/policy" <<'P'
role:region publish sitrep.{id}
role:region publish sitrep.{id}.>
role:region subscribe sitrep.>
role:vital publish vitaal.{id}.>
role:vital subscribe vitaal.>
kcr2 publish duiding.>
* subscribe duiding.>
kcr2 subscribe >
P

read -r -a FREE <<<"$(free_ports 13)"
declare -A PORT
i=0
for x in a b c r k2r r2a r2b r2c zl ln bz en spare; do PORT[$x]=${FREE[$i]}; i=$((i + 1)); done
ep() { echo "tcp://127.0.0.1:${PORT[$1]}"; }
# Every link between the region and KCR2 runs through a proxy we can cut:
# the KCR2 brokers reach the regional broker through k2r, it reaches each of
# them through r2X, and each regional node reaches its KCR2 broker through
# its own. The nodes reach the regional broker directly (the region's own
# network survives the outage).
start_proxy k2r "${PORT[k2r]}" "${PORT[r]}"
for x in a b c; do start_proxy r2$x "${PORT[r2$x]}" "${PORT[$x]}"; done
start_proxy zl "${PORT[zl]}" "${PORT[a]}"
start_proxy ln "${PORT[ln]}" "${PORT[b]}"
start_proxy bz "${PORT[bz]}" "${PORT[c]}"
start_proxy en "${PORT[en]}" "${PORT[c]}"
CUTS="k2r r2a r2b r2c zl ln bz en"

for x in a b c; do
    peers=(--peer "$RB@$(ep k2r)")
    for o in a b c; do [ $o = $x ] || peers+=(--peer "kcr2-broker-$o@$(ep $o)"); done
    start_broker kcr2-broker-$x "$(ep $x)" "${peers[@]}" --anti-entropy-ms 500
done
start_broker $RB "$(ep r)" --peer "kcr2-broker-a@$(ep r2a)" --peer "kcr2-broker-b@$(ep r2b)" \
    --peer "kcr2-broker-c@$(ep r2c)" --anti-entropy-ms 500
ALL="$KB $RB"
check "the brokers' trust directory holds only the root and the four brokers" \
    test "$(ls "$T/trust" | wc -l)" = 5

# The partners are issued after the brokers started, published at broker a.
for n in $REGIONS; do issue $n region --api "$(api kcr2-broker-a)"; done
issue vp-enexis vital --api "$(api kcr2-broker-a)"
issue kcr2 national --api "$(api kcr2-broker-a)"
PARTNERS="$REGIONS vp-enexis kcr2"
for n in $PARTNERS; do
    wait_for "$RB learns $n" 20 grep -q "learned certificate of $n" "$T/$RB.log" || true
done
check "the regional broker learned every partner's certificate over the mesh" bash -c \
    "for n in $PARTNERS; do grep -q \"learned certificate of \$n\" '$T/$RB.log' || exit 1; done"

# start_partner (tests/lib.sh): each partner with its own trust dir (root, brokers, itself)
start_partner vr-zuid-limburg     --failback-ms 1000 --broker "kcr2-broker-a@$(ep zl)" --broker "$RB@$(ep r)" \
    --subscribe 'sitrep.>' --subscribe 'duiding.>'
start_partner vr-limburg-noord    --failback-ms 1000 --broker "kcr2-broker-b@$(ep ln)" --broker "$RB@$(ep r)" \
    --subscribe 'sitrep.>' --subscribe 'duiding.>'
start_partner vr-brabant-zuidoost --failback-ms 1000 --broker "kcr2-broker-c@$(ep bz)" --broker "$RB@$(ep r)" \
    --subscribe 'sitrep.>' --subscribe 'duiding.>'
start_partner vp-enexis           --failback-ms 1000 --broker "kcr2-broker-c@$(ep en)" --broker "$RB@$(ep r)" \
    --subscribe 'vitaal.>' --subscribe 'sitrep.>' --subscribe 'duiding.>'
start_partner kcr2 --failback-ms 1000 --broker "kcr2-broker-a@$(ep a)" --subscribe '>'

link_json() { "$KNOOP" status --api "$(api "$1")" --json 2>/dev/null | tr -d ' \n'; }
on_broker() {   # on_broker NODE BROKER RANK: its link is up to BROKER, RANK in its list
    link_json "$1" | grep -q "\"link\":{\"state\":\"up\",\"broker\":\"$2\",\"endpoint\":\"[^\"]*\",\"rank\":$3,"
}
on_first() { on_broker "$1" '[^"]*' 1; }   # on_first NODE: up to the first of its list
# expect WHAT SECS CMD...: wait up to SECS for CMD, then count it passed or failed
expect() {
    local what=$1 secs=$2; shift 2
    if wait_for "$what" "$secs" "$@"; then ok "$what"; else bad "$what"; fi
}
for n in $PARTNERS; do
    wait_for "$n link up" 20 grep -q "link up" "$T/$n.log" || true
done

sitreps() {   # sitreps NODE FROM COUNT [pub args]: publish COUNT sitreps, log the acked ids
    local n=$1 from=$2 count=$3; shift 3
    awk -v n="$n" -v s="$from" -v c="$count" 'BEGIN { for (i = s; i < s + c; i++)
        printf "{\"incident_id\":\"%s-%d\",\"summary\":\"melding %d\"}\n", n, i, i }' >"$T/p.$n.$from"
    "$KNOOP" pub --api "$(api "$n")" --topic "sitrep.$n" --type knoop.crisis.v1.SitRep \
        --file "$T/p.$n.$from" "$@" >>"$T/acked.$n"
}
vital() {     # vital FROM COUNT
    awk -v s="$1" -v c="$2" 'BEGIN { for (i = s; i < s + c; i++)
        printf "{\"provider\":\"vp-enexis\",\"description\":\"storing %d\",\"customers_affected\":%d}\n", i, i * 100 }' \
        >"$T/v.$1"
    "$KNOOP" pub --api "$(api vp-enexis)" --topic vitaal.vp-enexis.stroom \
        --type knoop.crisis.v1.VitalOutage --file "$T/v.$1" >>"$T/acked.vp-enexis"
}
duiding() {   # duiding NUMBER
    "$KNOOP" pub --api "$(api kcr2)" --topic duiding.nl --type knoop.crisis.v1.Duiding \
        --json "{\"report_number\": $1, \"title\": \"duiding $1\", \"assessment\": \"landelijk beeld $1\"}" \
        >>"$T/acked.kcr2"
}

# --- before the outage: everything through KCR2 ---
for n in $REGIONS; do sitreps $n 1 20; done
vital 1 5
duiding 1
wait_for "the four brokers agree before the outage" 30 mesh_agrees $ALL || true
check "the four brokers agree before the outage" mesh_agrees $ALL
for n in $REGIONS vp-enexis; do
    expect "$n is on its KCR2 broker (first in its list)" 10 on_first $n
done

# --- the outage: the region loses every link to KCR2 ---
for x in $CUTS; do link_cut $x; done
echo "outage: $RB and the region's nodes cut from KCR2"
for n in $REGIONS vp-enexis; do
    expect "$n fails over to the regional broker (second in its list)" 20 on_broker $n $RB 2
done
check "knoop status says the node is on a fall-back broker" bash -c \
    "'$KNOOP' status --api '$(api vr-zuid-limburg)' | grep -q 'broker $RB.*fall-back: 2 of 2 in the list'"
status_says() { "$KNOOP" status --api "$(api "$1")" | grep -q "$2"; }   # status_says NODE REGEX
expect "  and that its broker has no link to the mesh (the verdict in the broker's heartbeats)" 10 \
    status_says vr-zuid-limburg "^mesh .*$RB: 0 of 3 peers up, not in agreement  ISOLATED"
rb_isolated() {
    "$KNOOP" status --api "$(api $RB)" --json | tr -d ' \n' | grep -q '"mesh":{"peers":3,"up":0,"isolated":true}'
}
expect "the regional broker's status says it is cut from the mesh" 10 rb_isolated
"$KNOOP" mesh check --broker "$(api kcr2-broker-a)" --broker "$(api $RB)" >"$T/mesh-cut.out" 2>&1 || true
check "knoop mesh check marks the regional broker ISOLATED" \
    grep -q "^$RB .*ISOLATED" "$T/mesh-cut.out"

for round in 1 2 3; do
    for n in $REGIONS; do sitreps $n $((round * 1000)) 30; done
    vital $((round * 100)) 5
    duiding $((round + 1))
done
"$KNOOP" pub --api "$(api vr-zuid-limburg)" --topic sitrep.vr-zuid-limburg.bijstand \
    --type knoop.crisis.v1.SitRep --tlp amber+strict --recipient vr-limburg-noord \
    --json '{"incident_id":"zl-strikt","summary":"alleen voor Limburg-Noord"}' >>"$T/acked.vr-zuid-limburg"
# the open sitrep after it marks that the restricted one went by
sitreps vr-zuid-limburg 9000 1
DURING=$((20 + 90 + 1))    # each region's sitreps on sitrep.ID by now (zuid-limburg: +1 strict)
for n in vr-limburg-noord vr-brabant-zuidoost; do
    expect "during the outage $n holds vr-zuid-limburg's $DURING sitreps (through $RB)" 20 \
        has_count "$T/$n" sitrep.vr-zuid-limburg $DURING
done
expect "  and vr-zuid-limburg holds vr-limburg-noord's 110" 20 has_count "$T/vr-zuid-limburg" sitrep.vr-limburg-noord 110
expect "  and vr-limburg-noord holds vr-brabant-zuidoost's 110" 20 has_count "$T/vr-limburg-noord" sitrep.vr-brabant-zuidoost 110
check "KCR2 does not hold them yet (they went through the regional broker only)" \
    has_count "$T/kcr2-broker-a" sitrep.vr-zuid-limburg 20
check "the AMBER+STRICT sitrep reached vr-limburg-noord, the region it names" \
    has_count "$T/vr-limburg-noord" sitrep.vr-zuid-limburg.bijstand 1
check "  and not vr-brabant-zuidoost (entitled to sitrep.>, not named)" \
    has_count "$T/vr-brabant-zuidoost" sitrep.vr-zuid-limburg.bijstand 0
expect "the regional broker holds vp-enexis's 20 vital messages" 20 has_count "$T/$RB" 'vitaal.>' 20
check "the vital provider, not entitled to sitrep.>, holds none of the regions' sitreps" \
    has_count "$T/vp-enexis" 'sitrep.>' 0
check "  its subscription to sitrep.> was refused by the regional broker too" \
    grep -q "refused subscription of vp-enexis: policy: vp-enexis may not subscribe to 'sitrep.>'" "$T/$RB.log"
check "the regions do not have KCR2's duidingen of the outage yet" has_count "$T/vr-zuid-limburg" 'duiding.>' 1

# --- the links return ---
for x in $CUTS; do link_heal $x; done
echo "healed"
start=$SECONDS
for n in $REGIONS vp-enexis; do
    expect "$n fails back to its KCR2 broker" 30 on_first $n
done
expect "back on KCR2, vr-zuid-limburg's status shows the mesh in agreement" 30 \
    status_says vr-zuid-limburg '^mesh .*kcr2-broker-a: 3 of 3 peers up, digests agree$'
wait_for "the four brokers agree after the heal" 60 mesh_agrees $ALL || true
echo "the brokers agree $((SECONDS - start))s after the heal"
check "all four brokers agree after the heal (knoop mesh check)" mesh_agrees $ALL
check "and the regional broker is no longer isolated" bash -c \
    "'$KNOOP' status --api '$(api $RB)' --json | tr -d ' \n' | grep -q '\"isolated\":false'"
total=$(cat "$T"/acked.vr-* | wc -l)
check "every acknowledged regional sitrep is on KCR2's broker a ($total)" \
    has_count "$T/kcr2-broker-a" 'sitrep.>' "$total"
converged() {   # converged NODE: its digest equals broker a's on every pattern it reads
    local p
    for p in $(pat_of "$1"); do same_digest "$T/kcr2-broker-a" "$T/$1" "$p" || return 1; done
}
pat_of() {
    case $1 in
    kcr2) echo 'sitrep.vr-zuid-limburg sitrep.vr-limburg-noord sitrep.vr-brabant-zuidoost vitaal.> duiding.>' ;;
    vp-enexis) echo 'vitaal.> duiding.>' ;;
    *) echo 'sitrep.vr-zuid-limburg sitrep.vr-limburg-noord sitrep.vr-brabant-zuidoost duiding.>' ;;
    esac
}
for n in $PARTNERS; do
    expect "$n holds what the brokers hold on what it reads" 30 converged $n
done
check "KCR2's node holds the sitreps exchanged during the outage" has_count "$T/kcr2" sitrep.vr-zuid-limburg $DURING
check "the regions hold KCR2's four duidingen" has_count "$T/vr-brabant-zuidoost" 'duiding.>' 4
check "still no sitrep at the vital provider" has_count "$T/vp-enexis" 'sitrep.>' 0
check "still no AMBER+STRICT sitrep at vr-brabant-zuidoost" \
    has_count "$T/vr-brabant-zuidoost" sitrep.vr-zuid-limburg.bijstand 0
"$KNOOP" sub --api "$(api vr-limburg-noord)" --pattern 'sitrep.vr-zuid-limburg' --from-start --timeout 3 >"$T/ln.sub" || true
check "vr-limburg-noord's application sees each of zuid-limburg's $DURING sitreps once" \
    test "$(grep -o '"incident_id":"[^"]*"' "$T/ln.sub" | sort -u | wc -l)-$(wc -l <"$T/ln.sub")" = "$DURING-$DURING"

mkdir -p "$T/auditor"
cp "$T/root/kcr2-root.cert" "$T/auditor/"
for j in $ALL $PARTNERS; do
    check "audit verify of $j with only the root certificate" \
        "$KNOOP" audit verify --journal "$T/$j" --trust "$T/auditor" --quiet
done
