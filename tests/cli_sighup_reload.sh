#!/usr/bin/env bash
# SIGHUP reloads the node's policy (the partners it may speak for, from its
# configuration read again) through the daemons' one reload path
# (lib/daemon.c): a payload naming another partner refused before the change
# is published after it, and refused again once the entry is removed; a
# configuration that no longer reads, or an entry that is no partner id,
# leaves the list in force; the node runs on through all of it.
# The broker, on SIGHUP, reads its configuration again (a type registry
# named there is loaded) and checks its policy and its trust store at once:
# each change is logged, the policy and trust store reloads are counted in
# its status (and the trust store's in its metrics), and a partner whose
# certificate was added connects; a configuration that no longer reads is
# logged and the broker runs on.
source "$(dirname "$0")/lib.sh"

make_partner kcr2-broker-1 broker
make_partner vr-zeeland region
cat >"$T/policy" <<'P'
role:region publish grip.{id}
role:region publish grip.{id}.>
role:region subscribe >
vr-zeeland speak-for vr-zeeuws-vlaanderen
P
EP="ipc://$T/b.sock"
BM=$(free_port)
printf '[broker]\n' >"$T/broker.ini"
start_broker kcr2-broker-1 "$EP" --config "$T/broker.ini" --metrics "127.0.0.1:$BM"
printf '[node]\nsubscribe = grip.>\n' >"$T/node.ini"
start_node vr-zeeland --broker "kcr2-broker-1@$EP" --config "$T/node.ini"
wait_for "link up" 20 grep -q 'link up' "$T/vr-zeeland.log"

zvl() {  # zvl N: GRIP for vr-zeeuws-vlaanderen, published by vr-zeeland
    "$KNOOP" pub --api "$(api vr-zeeland)" --topic "grip.vr-zeeland.zvl$1" \
        --type knoop.crisis.v1.GripLevel --wait 10 \
        --json '{"region":"vr-zeeuws-vlaanderen","level":"GRIP_2"}' >/dev/null 2>"$T/pub.err"
}
reloads() { [ "$(grep -c 'speak-for list read again' "$T/vr-zeeland.log")" -ge "$1" ]; }
hup() { kill -HUP "$(pid_of vr-zeeland)"; }

if zvl 1; then bad "before: naming vr-zeeuws-vlaanderen is refused by the node"
else check "before: naming vr-zeeuws-vlaanderen is refused by the node, saying why" \
    grep -q "names vr-zeeuws-vlaanderen as its sender; vr-zeeland may only name itself" "$T/pub.err"; fi

printf '[node]\nsubscribe = grip.>\nspeak-for = vr-zeeuws-vlaanderen\n' >"$T/node.ini"
hup
wait_for "the node reads its speak-for list again" 15 reloads 1
check "the node logs the new list (1 entry)" \
    grep -q "node: speak-for list read again: 1 entry (were 0)" "$T/vr-zeeland.log"
check "after SIGHUP: naming vr-zeeuws-vlaanderen is published (the broker's policy allows it)" zvl 2
check "the broker holds it" has_count "$T/kcr2-broker-1" 'grip.>' 1

# A configuration that does not read: nothing of it changes, the node runs on.
printf '[node]\nsubscribe = grip.>\nspeak-for = vr-zeeuws-vlaanderen\nno-such-key = 1\n' >"$T/node.ini"
hup
wait_for "the node says the configuration did not read" 15 \
    grep -q "SIGHUP: configuration not read again" "$T/vr-zeeland.log"
check "... naming the cause" grep -q "no-such-key" "$T/vr-zeeland.log"
check "... and the list in force stays" zvl 3

# An entry that is no partner id: refused, the list in force stays.
printf '[node]\nsubscribe = grip.>\nspeak-for = Niet_Een_Id\n' >"$T/node.ini"
hup
wait_for "the node refuses the entry" 15 grep -q "speak-for 'Niet_Een_Id': not a partner id" \
    "$T/vr-zeeland.log"
check "... and the list in force stays" zvl 4

# The reverse: the entry removed, the node refuses again.
printf '[node]\nsubscribe = grip.>\n' >"$T/node.ini"
hup
wait_for "the node reads its speak-for list again" 15 reloads 2
if zvl 5; then bad "after removal: naming vr-zeeuws-vlaanderen is refused again"
else check "after removal: naming vr-zeeuws-vlaanderen is refused again" \
    grep -q "vr-zeeland may only name itself" "$T/pub.err"; fi
check "the broker holds exactly the three published" has_count "$T/kcr2-broker-1" 'grip.>' 3
check "the node still runs, and said nothing of stopping" \
    bash -c "kill -0 $(pid_of vr-zeeland) && lacks 'node vr-zeeland stopping' '$T/vr-zeeland.log'"

# ---- the broker ----
bhup() { kill -HUP "$(pid_of kcr2-broker-1)"; }
policy_reloads() {
    "$KNOOP" status --api "$(api kcr2-broker-1)" --json --timeout 10 |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["policy"]["reloads"])'
}
# The trust store's reloads: the status's count, the metric, and the log
# lines that say each one (the housekeeping may see a new certificate file
# before the SIGHUP does, even half-written: counted as often as logged).
trust_reloads() {
    "$KNOOP" status --api "$(api kcr2-broker-1)" --json --timeout 10 |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["trust_reloads"])'
}
trust_metric() {
    curl -s --max-time 5 "http://127.0.0.1:$BM/metrics" |
        sed -n 's/^knoop_trust_reloads_total \([0-9]*\)$/\1/p'
}
trust_logged() { grep -c "broker: trust store reloaded" "$T/kcr2-broker-1.log" || true; }
r0=$(policy_reloads)
t0=$(trust_reloads)
l0=$(trust_logged)
check "the broker's status and metrics count the trust store's reloads alike ($t0)" \
    test "$(trust_metric)" = "$t0"
printf 'grip.> knoop.crisis.v1.GripLevel\n' >"$T/types"
printf '[broker]\ntypes = %s\n' "$T/types" >"$T/broker.ini"
echo 'role:region publish sitrep.{id}' >>"$T/policy"
make_partner vr-twente region
bhup
wait_for "the broker reads its configuration again" 15 \
    grep -q "SIGHUP: configuration read again" "$T/kcr2-broker-1.log"
check "broker, SIGHUP: the type registry named in the configuration is read" \
    grep -q "broker: type registry $T/types read again (1 families)" "$T/kcr2-broker-1.log"
check "... the changed policy is reloaded, logged with its rules" \
    wait_for "policy reloaded" 10 grep -q "broker: policy $T/policy reloaded (5 rules)" "$T/kcr2-broker-1.log"
check "... and counted in the status (policy.reloads $r0 -> $((r0 + 1)))" \
    test "$(policy_reloads)" = $((r0 + 1))
check "... the trust store is reloaded, logged with its size (3 certificates)" \
    wait_for "trust reloaded" 10 grep -q "broker: trust store reloaded (3 certificates)" "$T/kcr2-broker-1.log"
t1=$(trust_reloads)
check "... counted in the status as often as logged (trust_reloads $t0 -> $t1)" \
    test $((t1 - t0)) = $(($(trust_logged) - l0)) -a "$t1" -gt "$t0"
check "... and in the metric knoop_trust_reloads_total ($t1)" test "$(trust_metric)" = "$t1"
start_node vr-twente --broker "kcr2-broker-1@$EP"
check "... and the partner added to it connects" \
    wait_for "vr-twente link up" 20 grep -q 'link up' "$T/vr-twente.log"

printf '[broker]\nno-such-key = 1\n' >"$T/broker.ini"
bhup
check "broker: a configuration that does not read is logged, naming the cause" \
    wait_for "broker refuses the configuration" 15 \
    grep -q "SIGHUP: configuration not read again.*no-such-key" "$T/kcr2-broker-1.log"
check "... and the broker runs on, listening" \
    bash -c "kill -0 $(pid_of kcr2-broker-1) && lacks 'broker kcr2-broker-1 stopping' '$T/kcr2-broker-1.log'"
check "... and serves its status" test "$(policy_reloads)" = $((r0 + 1))
