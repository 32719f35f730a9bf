#!/usr/bin/env bash
# A pair member restarted where no broker answers (issue 12):
# - the standby, restarted without a link, stays standby (longer than the
#   takeover time plus the link timeout) and refuses to publish;
# - the primary, active before its restart and restarted without a link,
#   resumes publishing offline; its messages are committed locally; when
#   the link returns and the other instance took over meanwhile, it yields
#   (the other has the higher term) and what it published offline reaches
#   the broker once, without a fork.
source "$(dirname "$0")/lib.sh"

make_partner kcr2-broker-1 broker
make_partner vr-utrecht region
sitrep_policy
read -r PB PP PS < <(free_ports 3)
EP="tcp://127.0.0.1:$PB"
start_broker kcr2-broker-1 "$EP"
start_proxy primary "$PP" "$PB"
start_proxy standby "$PS" "$PB"

# pair_port NAME ROLE PORT: pair_node (tests/lib.sh) through its own cuttable link
pair_port() { pair_node "$1" "$2" "kcr2-broker-1@tcp://127.0.0.1:$3"; }
link_is_up() { "$KNOOP" status --api "$(api "$1")" --json --timeout 10 2>/dev/null |
            python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)["link"]["state"] != "up")'; }
export -f link_is_up
pub() {   # pub NAME ID
    "$KNOOP" pub --api "$(api "$1")" --topic sitrep.vr-utrecht --type knoop.crisis.v1.SitRep \
        --json "{\"incident_id\":\"$2\",\"summary\":\"x\"}" --no-wait --timeout 10
}
export -f pub
export T

pair_port primary primary "$PP"
pair_port standby standby "$PS"
check "the primary is active" wait_for "primary active" 30 mode_is primary active
check "the standby is standby" wait_for "standby linked" 30 link_is_up standby
check "... and stays so" mode_is standby standby

# ---- the standby, restarted without a link, stays standby
stop standby
link_cut standby
pair_port standby standby "$PS"
sleep 4.5           # > --takeover-ms + --timeout-ms: the wait of an active one
check "the standby restarted without a link stays standby" mode_is standby standby
check "... and refuses to publish" bash -c "! pub standby no-1 2>'$T/refused.err'"
check "... saying it is the standby" grep -q "standby of vr-utrecht" "$T/refused.err"
link_heal standby
check "the standby's link is back" wait_for "standby link back" 30 link_is_up standby
check "... and it is still standby (the primary is active)" mode_is standby standby

# ---- the primary, restarted without a link, resumes offline
stop primary
link_cut primary
check "the standby takes over from the stopped primary" \
    wait_for "standby takes over" 30 mode_is standby active
pair_port primary primary "$PP"
check "the primary restarted without a link resumes publishing offline" \
    wait_for "primary resumes offline" 30 mode_is primary active
check "... saying why" grep -q "restarted without a link" "$T/primary.log"
check "... and publishes offline" pub primary off-1
check "... not at the broker yet" \
    bash -c "! '$KNOOP' audit replay --journal '$T/kcr2-broker-1' --pattern 'sitrep.>' | grep -q off-1"

# ---- the link returns: the primary yields to the higher term, its message goes out
link_heal primary
check "the primary yields to the instance that took over" \
    wait_for "primary yields" 30 mode_is primary standby
check "... which stays active" mode_is standby active
check "what the primary published offline reaches the broker" \
    wait_for "off-1 at the broker" 30 bash -c "'$KNOOP' audit replay --journal '$T/kcr2-broker-1' \
        --pattern 'sitrep.>' | grep -q off-1"
check "... once" test "$("$KNOOP" audit replay --journal "$T/kcr2-broker-1" --pattern 'sitrep.>' |
    grep -c off-1)" = 1
check "... and the other instance holds it live" \
    wait_for "off-1 at the standby" 30 bash -c "'$KNOOP' audit replay --journal '$T/standby' \
        --pattern 'sitrep.>' | grep -q off-1"
for j in kcr2-broker-1 primary standby; do
    check "audit verify: $j has no fork" \
        "$KNOOP" audit verify --journal "$T/$j" --trust "$T/trust" --quiet
done
