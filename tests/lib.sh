# tests/lib.sh — helpers for the multi-process tests (sourced by tests/cli_*.sh).
#
# Everything runs for real: knoop-broker and knoop-node processes, CURVE on
# tcp://127.0.0.1 or ipc://, LMDB journals and keys in a temporary directory
# that is removed at exit (kept with KNOOP_KEEP_TMP=1). Every process started
# through these helpers is killed at exit, also when a check fails.

set -euo pipefail

: "${KNOOP_BIN:?KNOOP_BIN must point at the knoop CLI (ctest sets it)}"
BIN_DIR=$(cd "$(dirname "$KNOOP_BIN")/.." && pwd)
SRC_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KNOOP=$KNOOP_BIN
BROKER=$BIN_DIR/broker/knoop-broker
NODE=$BIN_DIR/nodes/knoop-node

T=$(mktemp -d "${TMPDIR:-/tmp}/knoop-$(basename "$0" .sh)-XXXXXX")
PIDS=()
PASS=0
FAIL=0
EXIT_HOOKS=()   # commands run at exit after the processes are gone (at_exit)

# at_exit CMD: run CMD (one string, eval'd) at exit, e.g. to unmount a volume
at_exit() { EXIT_HOOKS+=("$1"); }

# skip WHY: the test cannot run on this machine; ctest reports it skipped
skip() { echo "SKIP: $*"; exit 77; }

cleanup() {
    local rc=$?
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    for h in "${EXIT_HOOKS[@]:-}"; do
        [ -n "$h" ] && eval "$h" || true
    done
    if [ $rc -eq 77 ]; then
        [ -z "${KNOOP_KEEP_TMP:-}" ] && rm -rf "$T"
        exit 77
    fi
    if [ $rc -ne 0 ] || [ "$FAIL" -ne 0 ]; then
        echo "--- logs in $T (last lines) ---"
        for f in "$T"/*.log; do
            [ -f "$f" ] || continue
            echo "== $f"; tail -n 15 "$f"
        done
    fi
    if [ -z "${KNOOP_KEEP_TMP:-}" ]; then rm -rf "$T"; else echo "kept $T"; fi
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ] && exit $rc || exit 1
}
trap cleanup EXIT

ok()   { PASS=$((PASS + 1)); echo "ok   - $*"; }
bad()  { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }
# check WHAT CMD...: a passed check when CMD succeeds, else a failed one (and
# a failed one when no CMD is given: nothing checked is no pass)
check() {
    local what=$1; shift
    [ $# -gt 0 ] || { bad "$what (no command to check with)"; return 0; }
    if "$@"; then ok "$what"; else bad "$what"; fi
}
die()  { echo "FATAL: $*"; exit 1; }

# A free TCP port on 127.0.0.1, reserved for this test against every other
# test and demo picking at the same time (see deploy/free-port for why).
# Called as $(free_port): the ports go to stdout, every diagnostic to stderr,
# so that a message can never be read as a port.
free_port() { "$SRC_TOP/deploy/free-port" $$ || die "no free port on 127.0.0.1" >&2; }
# free_ports N: N such ports on one line (one interpreter start on a busy CI).
free_ports() { "$SRC_TOP/deploy/free-port" $$ "$1" || die "no $1 free ports on 127.0.0.1" >&2; }

# make_partner ID ROLE [extra keys new args]: keys in $T/keys, cert in $T/trust
make_partner() {
    local id=$1 role=$2; shift 2
    "$KNOOP" keys new --id "$id" --role "$role" --out "$T/keys" "$@" >/dev/null
    mkdir -p "$T/trust"
    cp "$T/keys/$id.cert" "$T/trust/"
}

# start_broker ID ENDPOINT [extra args]: data in $T/ID; log in $T/ID.log
start_broker() {
    local id=$1 ep=$2; shift 2
    "$BROKER" --id "$id" --listen "$ep" --data "$T/$id" --key "$T/keys/$id.key" \
        --trust "$T/trust" --policy "$T/policy" --heartbeat-ms 200 --timeout-ms 2000 \
        --log-level "${KNOOP_TEST_LOG:-info}" "$@" >>"$T/$id.log" 2>&1 &
    PIDS+=($!)
    eval "PID_$(echo "$id" | tr -- '-' '_')=$!"
    wait_for "broker $id listening" 10 grep -q "listening on" "$T/$id.log"
}

# start_node ID [extra args, e.g. --broker B@EP --subscribe P]
start_node() { start_node_in "$1" "$1" "$T/trust" "${@:2}"; }

# start_node_in NAME ID TRUST [extra args]: a node of partner ID (key
# $T/keys/ID.key) trusting the directory TRUST; journal $T/NAME, log
# $T/NAME.log, pid_of NAME. Returns once its API listens (NODE_WAIT seconds
# at the most, default 10), else fails.
start_node_in() {
    local name=$1 id=$2 trust=$3; shift 3
    "$NODE" --id "$id" --data "$T/$name" --key "$T/keys/$id.key" --trust "$trust" \
        --heartbeat-ms 200 --timeout-ms 2000 --log-level "${KNOOP_TEST_LOG:-info}" \
        "$@" >>"$T/$name.log" 2>&1 &
    PIDS+=($!)
    eval "PID_$(echo "$name" | tr -- '-' '_')=$!"
    wait_for "node $name API" "${NODE_WAIT:-10}" test -S "$T/$name/api.sock"
}

# node_trust ID: the partner's own trust directory $T/trust-ID, for a world
# under a root (make_root, issue): what $T/trust holds (the root, the
# brokers) and its own issued certificate, nobody else's
node_trust() {
    mkdir -p "$T/trust-$1"
    cp "$T/trust/"*.cert "$T/issued/$1.cert" "$T/trust-$1/"
}

# start_partner ID [extra args]: node_trust ID, then its node (start_node_in
# ID ID $T/trust-ID): it knows the others only from what it learns
start_partner() { node_trust "$1"; start_node_in "$1" "$1" "$T/trust-$1" "${@:2}"; }

# make_sitrep_partners: the partners most scenarios have (make_partner):
# broker kcr2-broker-1 and the regions vr-utrecht and vr-zeeland
make_sitrep_partners() {
    make_partner kcr2-broker-1 broker
    make_partner vr-utrecht region
    make_partner vr-zeeland region
}

# sitrep_policy [RULE...]: the policy most scenarios use, in $T/policy: every
# region publishes on sitrep.{id} (its own id) and subscribes to sitrep.>;
# then the rules RULE, one a line
sitrep_policy() {
    printf '%s\n' 'role:region publish sitrep.{id}' 'role:region subscribe sitrep.>' "$@" \
        >"$T/policy"
}

# grip_policy [RULE...]: the policy of the payload-rule scenarios, in
# $T/policy: every region publishes on grip.{id} (and below it) and on
# sitrep.{id}, and reads everything; then the rules RULE, one a line
grip_policy() {
    printf '%s\n' 'role:region publish grip.{id}' 'role:region publish grip.{id}.>' \
        'role:region publish sitrep.{id}' 'role:region subscribe >' "$@" >"$T/policy"
}

# start_broker_pair: brokers kcr2-broker-1 and kcr2-broker-2 on free ports,
# each the other's mesh peer (--anti-entropy-ms 500). Sets EP1 and EP2, their
# endpoints, and B1 and B2, how nodes and peers name them (ID@ENDPOINT).
# Their certificates must be in $T/trust (make_partner).
start_broker_pair() {
    local p1 p2
    read -r p1 p2 <<<"$(free_ports 2)"
    EP1="tcp://127.0.0.1:$p1"; EP2="tcp://127.0.0.1:$p2"
    B1="kcr2-broker-1@$EP1"; B2="kcr2-broker-2@$EP2"
    start_broker kcr2-broker-1 "$EP1" --peer "$B2" --anti-entropy-ms 500
    start_broker kcr2-broker-2 "$EP2" --peer "$B1" --anti-entropy-ms 500
}

# make_root [PASSPHRASE]: the KCR2 root kcr2-root, sealed under PASSPHRASE
# (default: a fixed test one) in the 0600 file PASSF; ROOT is its key; its
# certificate is in $T/trust, and $T/issued is where issue puts certificates
make_root() {
    PASSF=$T/pass
    printf '%s\n' "${1:-correct horse battery staple}" >"$PASSF"
    chmod 600 "$PASSF"
    ROOT=$T/root/kcr2-root.key
    "$KNOOP" keys root --id kcr2-root --out "$T/root" --passphrase-file "$PASSF" \
        --kdf-cost interactive >/dev/null
    mkdir -p "$T/trust" "$T/issued"
    cp "$T/root/kcr2-root.cert" "$T/trust/"
}

# issue ID ROLE [keys issue args]: the partner makes its key in $T/keys, the
# root (make_root) signs the request into $T/issued/ID.cert; what keys issue
# said is in $T/issue-ID.out, and on stderr when it fails
issue() {
    local id=$1 role=$2; shift 2
    "$KNOOP" keys new --id "$id" --role "$role" --out "$T/keys" >/dev/null
    "$KNOOP" keys issue --root "$ROOT" --cert "$T/keys/$id.cert" --out "$T/issued" \
        --passphrase-file "$PASSF" "$@" >"$T/issue-$id.out" 2>&1 ||
        { cat "$T/issue-$id.out" >&2; return 1; }
}

# start_sitrep_scene [EP]: the scene most scenarios start from. Broker
# kcr2-broker-1 listening on EP (default: a free TCP port on 127.0.0.1), the
# policy "regions publish sitrep.{id} and subscribe to sitrep.>", node
# vr-utrecht (the publisher) and node vr-zeeland subscribed to sitrep.>.
# Sets EP and B (the broker address the nodes were given). Partners made with
# make_partner before the call are in the trust store the broker starts with.
start_sitrep_scene() {
    if [ -n "${1:-}" ]; then EP=$1; else EP="tcp://127.0.0.1:$(free_port)"; fi
    B="kcr2-broker-1@$EP"
    make_sitrep_partners
    sitrep_policy
    start_broker kcr2-broker-1 "$EP"
    start_node vr-utrecht --broker "$B"
    start_node vr-zeeland --broker "$B" --subscribe 'sitrep.>'
}

# Syncs held or failed under a running daemon (cli_deliver_early,
# cli_send_early). held_sync_scene skips where strace cannot inject, then
# starts the sitrep scene with link timeouts beyond a held sync (a daemon's
# loop stands still in it) and an application subscribed at vr-zeeland whose
# receipts go to $T/app.out, and has five messages published there first
# (incidents e-0 to e-4), checked as received.
held_sync_scene() {
    command -v strace >/dev/null || skip "strace is not installed (deploy/install-deps.sh)"
    strace -qq -o /dev/null -e trace=fdatasync -e inject=fdatasync:delay_enter=1000 true \
        2>/dev/null || skip "strace cannot trace or inject here (ptrace not permitted?)"
    EP="tcp://127.0.0.1:$(free_port)"
    B="kcr2-broker-1@$EP"
    make_sitrep_partners
    sitrep_policy
    start_broker kcr2-broker-1 "$EP" --timeout-ms 10000
    start_node vr-utrecht --broker "$B" --timeout-ms 10000
    start_node vr-zeeland --broker "$B" --subscribe 'sitrep.>' --timeout-ms 10000
    "$KNOOP" sub --api "$(api vr-zeeland)" --pattern 'sitrep.>' --from-start --timeout 120 \
        >"$T/app.out" 2>"$T/app.err" &
    PIDS+=($!)
    export T
    export -f app_seen
    held_pub e-0 e-1 e-2 e-3 e-4
    wait_for "the application has the first 5" 30 \
        bash -c '[ "$(grep -c incident_id "$T/app.out")" -ge 5 ]' || true
    check "the application has the first 5" test "$(grep -c incident_id "$T/app.out")" -eq 5
}

# app_seen ID: how many times the application of held_sync_scene saw
# incident ID
app_seen() { grep -c "\"incident_id\":\"$1\"" "$T/app.out"; }

# held_pub ID...: one SitRep per ID published at vr-utrecht in one request;
# its output in $T/pub-ID.out and $T/pub-ID.err (ID: the first). Fails when
# the publish does.
held_pub() {
    local id
    for id in "$@"; do
        printf '{"incident_id":"%s","summary":"melding"}\n' "$id"
    done >"$T/chunk-$1"
    "$KNOOP" pub --api "$(api vr-utrecht)" --topic sitrep.vr-utrecht \
        --type knoop.crisis.v1.SitRep --file "$T/chunk-$1" --timeout 30 \
        >"$T/pub-$1.out" 2>"$T/pub-$1.err"
}

# hold_syncs NAME INJECT: strace on daemon NAME's fdatasync, with
# -e inject=fdatasync:INJECT (e.g. delay_enter=3000000, or
# error=ENOSPC:when=1); STRACE is its pid. unhold ends it.
hold_syncs() {
    strace -qq -f -p "$(pid_of "$1")" -o /dev/null -e trace=fdatasync \
        -e inject="fdatasync:$2" 2>>"$T/strace.err" &
    PIDS+=($!)
    STRACE=$!
    sleep 0.5
}
unhold() { kill "$STRACE" 2>/dev/null || true; wait "$STRACE" 2>/dev/null || true; }

# pair_node NAME ROLE BROKER [extra args]: one instance of vr-utrecht in an
# active/standby pair (ROLE primary or standby, --takeover-ms 1000),
# subscribed to sitrep.>, journal $T/NAME, log $T/NAME.log, pid_of NAME
pair_node() {
    local name=$1 role=$2 broker=$3; shift 3
    NODE_WAIT=30 start_node_in "$name" vr-utrecht "$T/trust" --broker "$broker" \
        --subscribe 'sitrep.>' --pair "$role" --takeover-ms 1000 "$@"
}

# mode_is NODE MODE: the node's status says its instance is in MODE
# (active, standby); fails when the status cannot be read
mode_is() {
    [ -n "${2:-}" ] || { echo "mode_is: no mode to compare with" >&2; return 1; }
    "$KNOOP" status --api "$(api "$1")" --json --timeout "${ASK_SECS:-10}" 2>/dev/null |
        python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(s["instance"]["mode"] != sys.argv[1])' "$2"
}

# sees_active NODE: the node knows its siblings and one of them is active
sees_active() {
    "$KNOOP" status --api "$(api "$1")" --json --timeout "${ASK_SECS:-10}" 2>/dev/null |
        python3 -c 'import json,sys; s=json.load(sys.stdin)["instance"]
sys.exit(not s["siblings_known"] or not any(o["mode"] == "active" for o in s["others"]))'
}

# relay20 FROM TO TAG: 20 SitReps (incident ids TAG-1..TAG-20) published at
# node FROM on sitrep.FROM, then read at node TO from the start (at most 20 s).
# Sets RELAY_GOT (how many of the 20 arrived) and RELAY_SECS (publish to the
# last delivery); files $T/TAG.jsonl, $T/TAG-received.jsonl, $T/TAG-sub.err
relay20() {
    local from=$1 to=$2 tag=$3 i t0 t1
    sitrep_lines "$tag" 1 20 "$tag @" >"$T/$tag.jsonl"
    t0=$(date +%s.%N)
    "$KNOOP" pub --api "$(api "$from")" --topic "sitrep.$from" --type knoop.crisis.v1.SitRep \
        --file "$T/$tag.jsonl" >/dev/null
    "$KNOOP" sub --api "$(api "$to")" --pattern "sitrep.$from" --from-start --count 20 \
        --timeout 20 >"$T/$tag-received.jsonl" 2>"$T/$tag-sub.err" || true
    t1=$(date +%s.%N)
    RELAY_GOT=$(grep -c -- "$tag-[0-9]" "$T/$tag-received.jsonl" || true)
    RELAY_SECS=$(echo "$t1 - $t0" | bc)
}

# sitrep_lines ID FIRST COUNT SUMMARY [WIDTH]: COUNT SitReps as JSON lines,
# one a line, with the incident ids ID-FIRST .. ID-(FIRST+COUNT-1), each
# number zero-padded to WIDTH digits (default: not padded), and the summary
# SUMMARY with each @ made that number
sitrep_lines() {
    awk -v id="$1" -v first="$2" -v count="$3" -v sum="$4" -v w="${5:-1}" 'BEGIN {
        for (i = first; i < first + count; i++) {
            n = sprintf("%0" w "d", i); s = sum; gsub(/@/, n, s)
            printf "{\"incident_id\":\"%s-%s\",\"summary\":\"%s\"}\n", id, n, s
        } }'
}

# pub_ids NODE FILE ID [pub args]: the SitReps of FILE (sitrep_lines ID ...)
# published at NODE on sitrep.NODE. The incident ids pub acknowledged (one
# output line each, also when it fails part way) are appended to
# $T/acked.ids, what it said on stderr to $T/pub.err. Returns pub's status.
pub_ids() {
    local node=$1 f=$2 id=$3 rc=0; shift 3
    "$KNOOP" pub --api "$(api "$node")" --topic "sitrep.$node" --type knoop.crisis.v1.SitRep \
        --file "$f" "$@" >"$f.acked" 2>>"$T/pub.err" || rc=$?
    head -n "$(wc -l <"$f.acked")" "$f" | { grep -o "\"incident_id\":\"$id-[0-9]*\"" || true; } \
        | cut -d'"' -f4 >>"$T/acked.ids"
    return $rc
}

# pub_chunk NODE PREFIX C PER [pub args]: publish chunk C, PER SitReps of
# 48 KiB with incident ids PREFIX-C-1..PREFIX-C-PER, at NODE on sitrep.NODE.
# The ids pub acknowledged are appended to $T/acked.ids (pub_ids); what pub
# said on stderr for this chunk is in $T/pub.err. Fails when pub did.
pub_chunk() {
    local node=$1 prefix=$2 c=$3 per=$4; shift 4
    sitrep_lines "$prefix-$c" 1 "$per" "$(head -c 49152 /dev/zero | tr '\0' 'x')" >"$T/chunk"
    : >"$T/pub.err"
    pub_ids "$node" "$T/chunk" "$prefix-$c" "$@"
}

# pub_numbered NODE N ID SUMMARY: N SitReps published at NODE on sitrep.NODE
# in one pub (the file $T/sitreps.jsonl); message I, zero-padded to the width
# of N, has incident id ID-I and the summary SUMMARY with each @ made I (a
# text to find in a journal file). Fails when pub does.
pub_numbered() {
    local node=$1 n=$2 id=$3 summary=$4
    sitrep_lines "$id" 1 "$n" "$summary" "${#n}" >"$T/sitreps.jsonl"
    "$KNOOP" pub --api "$(api "$node")" --topic "sitrep.$node" --type knoop.crisis.v1.SitRep \
        --file "$T/sitreps.jsonl" >/dev/null
}

# publish_acked NODE PREFIX FIRST COUNT [pub args]: COUNT SitReps with the
# incident ids PREFIX-FIRST, PREFIX-(FIRST+1), ... published at NODE on
# sitrep.NODE; the ids pub acknowledged are appended to $T/acked.ids, its
# stderr to $T/pub.err (pub_ids). Never fails: what was not acknowledged is
# simply not listed.
publish_acked() {
    local node=$1 prefix=$2 first=$3 count=$4 f; shift 4
    f="$T/p.$node.$prefix"
    sitrep_lines "$prefix" "$first" "$count" melding >"$f"
    pub_ids "$node" "$f" "$prefix" "$@" || true
}

# publish_epochs NODE N [start_node args]: N epochs of NODE's stream
# sitrep.NODE (a node draws a new epoch at every start): in each, two
# SitReps eE-1 and eE-2 (publish_acked: acknowledged ids in $T/acked.ids),
# then NODE restarted with the args
publish_epochs() {
    local node=$1 n=$2 e; shift 2
    for e in $(seq 1 "$n"); do
        publish_acked "$node" "e$e" 1 2
        stop "$node"
        start_node "$node" "$@"
    done
}

# hello_counts LINE: "K S B" from a log line "HELLO: K streams named, S
# settled in B buckets" (the settled summary of a HELLO; nothing otherwise)
hello_counts() {
    sed -nE 's/.*HELLO: ([0-9]+) streams named, ([0-9]+) settled in ([0-9]+) buckets.*/\1 \2 \3/p' <<<"$1"
}

# holds_ids WANT GOT: every id (line) of the sorted file WANT is in the file
# GOT (any order, repeats allowed); an empty or missing WANT fails, so a
# check of nothing against nothing passes nothing
holds_ids() {
    [ -s "$1" ] || { echo "holds_ids: no ids in ${1:-(none given)}" >&2; return 1; }
    [ -f "${2:-}" ] || { echo "holds_ids: there is no file ${2:-}" >&2; return 1; }
    local missing
    missing=$(comm -23 "$1" <(sort -u "$2"))
    [ -z "$missing" ] || { echo "holds_ids: $(wc -l <<<"$missing") of $1 not in $2" >&2; return 1; }
}

# no_repeats FILE: no line of the sorted FILE stands twice (a missing FILE fails)
no_repeats() {
    [ -f "${1:-}" ] || { echo "no_repeats: there is no file ${1:-}" >&2; return 1; }
    [ -z "$(uniq -d "$1")" ]
}

# incident_ids PREFIX: the incident ids PREFIX-C-I of the JSON lines on stdin,
# one a line, in their order (nothing when there are none)
incident_ids() { { grep -o "\"incident_id\":\"$1-[0-9]*-[0-9]*\"" || true; } | cut -d'"' -f4; }

# metric_value PORT NAME_AND_LABELS: the value of one metric on the endpoint
# 127.0.0.1:PORT; prints nothing and fails when it is not there
metric_value() {
    python3 - "$1" "$2" <<'PY'
import sys, urllib.request
body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode()
for line in body.splitlines():
    if line.startswith(sys.argv[2] + " "):
        print(line.split()[-1]); sys.exit(0)
sys.exit(1)
PY
}

pid_of() { eval "echo \${PID_$(echo "$1" | tr -- '-' '_')}"; }

stop() {    # stop ID [SIGNAL]
    local p; p=$(pid_of "$1")
    kill "-${2:-TERM}" "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}

api() { echo "ipc://$T/$1/api.sock"; }
# ASK_SECS: how long mode_is, sees_active, status_has, status_lacks and
# mesh_json wait for an answer (knoop --timeout; default 10 for the first
# two, 5 for the others). Set it short for a check that no one answers.

# wait_for WHAT SECONDS CMD...: poll CMD until it succeeds
wait_for() {
    [ $# -ge 3 ] || { echo "wait_for: give WHAT SECONDS CMD..." >&2; return 1; }
    local what=$1 secs=$2; shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then
            echo "timeout after ${secs}s waiting for: $what"
            return 1
        fi
        sleep 0.1
    done
}

# digest_count DIR [PATTERN]: "DIGEST COUNT", the convergence digest of a
# journal on PATTERN (default >) and how many messages it covers. Prints
# nothing and fails when no journal is named or it cannot be read, or what
# audit digest said is not a digest and a count.
digest_count() {
    [ -n "${1:-}" ] || { echo "digest_count: no journal" >&2; return 1; }
    local out d n
    out=$("$KNOOP" audit digest --journal "$1" --pattern "${2:->}") || return 1
    read -r d n < <(awk '$1 == "digest" {print $2, $NF}' <<<"$out")
    [[ "${d:-}" =~ ^[0-9a-f]{64}$ && "${n:-}" =~ ^[0-9]+$ ]] || return 1
    echo "$d $n"
}

# digest DIR [PATTERN]: the convergence digest of a journal; prints nothing and
# fails as digest_count does
digest() { local dn; dn=$(digest_count "$@") || return 1; echo "${dn% *}"; }

# count_msgs DIR [PATTERN]: how many messages the journal holds on PATTERN;
# prints nothing and fails as digest_count does
count_msgs() { local dn; dn=$(digest_count "$@") || return 1; echo "${dn#* }"; }

# same_digest DIR1 DIR2 PATTERN: both journals are readable, hold at least one
# message on PATTERN, and have the same digest. Two journals that cannot be
# read, or that hold nothing, do not "agree": that would pass on nothing.
same_digest() {
    local a b
    a=$(digest "$1" "$3") || { echo "same_digest: cannot read the digest of $1" >&2; return 1; }
    b=$(digest "$2" "$3") || { echo "same_digest: cannot read the digest of $2" >&2; return 1; }
    [ "$(count_msgs "$1" "$3")" != 0 ] || { echo "same_digest: $1 holds nothing on $3" >&2; return 1; }
    [ "$a" = "$b" ]
}

# has_count DIR PATTERN N: the journal holds exactly N messages on PATTERN
# (N must be given; an unreadable journal never has a count).
has_count() {
    local n
    [ -n "${3:-}" ] || { echo "has_count: no expected count" >&2; return 1; }
    n=$(count_msgs "$1" "$2") || return 1
    [ "$n" = "$3" ]
}

# status_has NODE TEXT: the node's status JSON contains TEXT (an empty TEXT
# would match any status, even none: refused)
status_has() {
    [ -n "${2:-}" ] || { echo "status_has: no text to look for" >&2; return 1; }
    local st
    st=$("$KNOOP" status --api "$(api "$1")" --json --timeout "${ASK_SECS:-5}") || return 1
    grep -q -- "$2" <<<"$st"
}

# status_lacks NODE TEXT: the node answers with its status, and that does not
# contain TEXT (where "! status_has" would pass on a node that does not answer)
status_lacks() {
    [ -n "${2:-}" ] || { echo "status_lacks: no text to look for" >&2; return 1; }
    local st
    st=$("$KNOOP" status --api "$(api "$1")" --json --timeout "${ASK_SECS:-5}") || return 1
    [ -n "$st" ] && ! grep -q -- "$2" <<<"$st"
}

# lacks [GREP_OPTION...] PATTERN FILE...: no FILE holds PATTERN (grep's
# options, e.g. -i -E -F), and every FILE is there and holds something: a
# missing or empty file lacks everything, so "! grep" on it would pass on
# nothing. A directory is searched through and must hold a non-empty file.
# --empty-ok (first) lets an empty FILE or directory pass, for what may
# rightly be empty (a command's stderr). An unreadable FILE fails.
lacks() {
    local opts=() empty_ok=0 pat f rc=0
    while [ $# -gt 0 ] && [ "${1:0:1}" = - ]; do
        if [ "$1" = --empty-ok ]; then empty_ok=1; else opts+=("$1"); fi
        shift
    done
    [ $# -ge 2 ] || { echo "lacks: give a pattern and at least one file" >&2; return 1; }
    pat=$1; shift
    for f in "$@"; do
        if [ -d "$f" ]; then
            [ $empty_ok = 1 ] || [ -n "$(find "$f" -type f -size +0 -print -quit)" ] ||
                { echo "lacks: $f holds no file with anything in it" >&2; return 1; }
        elif [ ! -f "$f" ]; then
            echo "lacks: there is no file $f" >&2; return 1
        elif [ ! -s "$f" ] && [ $empty_ok = 0 ]; then
            echo "lacks: $f is empty" >&2; return 1
        fi
    done
    grep -rq "${opts[@]}" -e "$pat" -- "$@" || rc=$?
    [ $rc = 1 ] || { [ $rc = 0 ] && echo "lacks: '$pat' is in $*" >&2; return 1; }
}

# more_than N PATTERN FILE: more than N lines of FILE match PATTERN (a
# missing FILE, or no N, fails)
more_than() {
    [[ "${1:-}" =~ ^[0-9]+$ ]] && [ -f "${3:-}" ] ||
        { echo "more_than: give N PATTERN FILE (an existing file)" >&2; return 1; }
    [ "$(grep -c -- "$2" "$3")" -gt "$1" ]
}

# exits WANT OUT CMD...: CMD exits with status WANT (given: a missing one
# would pass on anything); what it printed, stdout and stderr, is in OUT
exits() {
    [ $# -ge 3 ] && [[ "$1" =~ ^[0-9]+$ ]] || { echo "exits: give WANT OUT CMD..." >&2; return 1; }
    local want=$1 out=$2 rc=0; shift 2
    "$@" >"$out" 2>&1 || rc=$?
    [ "$rc" = "$want" ] || { echo "exits: $1 exited $rc, not $want (see $out)" >&2; return 1; }
}

export KNOOP
export -f exits lacks more_than digest_count digest count_msgs same_digest has_count api \
    status_has status_lacks mode_is sees_active

PROXY=$BIN_DIR/tests/knoop-test-proxy
# start_proxy NAME LISTEN_PORT TARGET_PORT: a cuttable TCP link (link_cut/link_heal NAME)
start_proxy() {
    "$PROXY" "$2" "$3" >>"$T/proxy-$1.log" 2>&1 &
    PIDS+=($!)
    eval "PROXY_$(echo "$1" | tr -- '-' '_')=$!"
}
link_cut()  { kill -USR1 "$(eval "echo \${PROXY_$(echo "$1" | tr -- '-' '_')}")"; }
link_heal() { kill -USR2 "$(eval "echo \${PROXY_$(echo "$1" | tr -- '-' '_')}")"; }

# start_cut_mesh: brokers kcr2-broker-a, -b and -c in one mesh
# (--anti-entropy-ms 500) in which broker c can be cut off: A and B reach C
# through the proxy "toc", C reaches A and B through "ca" and "cb"
# (link_cut/link_heal NAME). Sets EPA, EPB, EPC (the brokers' own endpoints)
# and BROKERS (their ids). Their certificates must be in $T/trust.
start_cut_mesh() {
    local a b c tc ca cb
    read -r a b c tc ca cb <<<"$(free_ports 6)"
    EPA="tcp://127.0.0.1:$a"; EPB="tcp://127.0.0.1:$b"; EPC="tcp://127.0.0.1:$c"
    start_proxy toc "$tc" "$c"
    start_proxy ca "$ca" "$a"
    start_proxy cb "$cb" "$b"
    local toc="tcp://127.0.0.1:$tc"
    start_broker kcr2-broker-a "$EPA" --peer "kcr2-broker-b@$EPB" --peer "kcr2-broker-c@$toc" \
        --anti-entropy-ms 500
    start_broker kcr2-broker-b "$EPB" --peer "kcr2-broker-a@$EPA" --peer "kcr2-broker-c@$toc" \
        --anti-entropy-ms 500
    start_broker kcr2-broker-c "$EPC" --peer "kcr2-broker-a@tcp://127.0.0.1:$ca" \
        --peer "kcr2-broker-b@tcp://127.0.0.1:$cb" --anti-entropy-ms 500
    BROKERS="kcr2-broker-a kcr2-broker-b kcr2-broker-c"
}

# mesh_json B...: knoop mesh check --json over the brokers B (at least two);
# prints its JSON and returns its exit status (0 agree, 1 differ, 2 no answer)
mesh_json() {
    [ $# -ge 2 ] || { echo "mesh check: give at least two brokers" >&2; return 2; }
    local args=() b
    for b in "$@"; do args+=(--broker "ipc://$T/$b/api.sock"); done
    "$KNOOP" mesh check --json --timeout "${ASK_SECS:-5}" "${args[@]}" 2>/dev/null
}

# mesh_agrees B...: knoop mesh check says the brokers B (at least two) agree,
# every one of them answered and holds messages: brokers that hold nothing, or
# one that does not answer, do not "agree"
mesh_agrees() {
    local out
    out=$(mesh_json "$@") || return 1
    jq -e '.agree and (.forks | not) and (.brokers | length >= 2)
           and all(.brokers[]; (.messages // 0) >= 1)' <<<"$out" >/dev/null
}

# mesh_differs B...: every broker B answered and knoop mesh check says they
# differ (where "! mesh_agrees" would pass on brokers that do not answer)
mesh_differs() {
    local out rc=0
    out=$(mesh_json "$@") || rc=$?
    [ "$rc" = 1 ] && jq -e '.agree | not' <<<"$out" >/dev/null
}
export -f mesh_json mesh_agrees mesh_differs

# faults_over SECS WHAT B...: a fault loop is over: the publishers in the
# background (pids in PUBLISHERS) are told to stop ($T/stop) and waited for,
# then the brokers B must agree within SECS: a check named WHAT, with the
# seconds it took. Sets CONV to those seconds (one decimal), or never. No
# publishers is a failed check (and returns 1): the loop published nothing.
faults_over() {
    local secs=$1 what=$2 healed; shift 2
    touch "$T/stop"
    # a bare wait (no pids) would wait on the daemons, forever
    if [ -z "${PUBLISHERS[*]:-}" ]; then
        CONV=never
        bad "$what (no publishers to stop: PUBLISHERS is empty)"
        return 1
    fi
    wait "${PUBLISHERS[@]}" || true
    healed=$(date +%s.%N)
    if wait_for "$what" "$secs" mesh_agrees "$@"; then
        CONV=$(echo "$(date +%s.%N) $healed" | awk '{ printf "%.1f", $1 - $2 }')
        ok "$what (${CONV} s after the last fault)"
    else
        CONV=never
        bad "$what"
    fi
}

# demo_run LINES [demo.sh args]: deploy/demo.sh --short (no install, no
# build: the binaries of this build) in $T/demo, its output in $T/demo.out,
# of which the last LINES are shown (without the progress lines); then the
# checks every demo run ends with: exit status 0, the proof line, all seven
# partners converged
demo_run() {
    local lines=$1 rc=0; shift
    KNOOP_BUILD=$BIN_DIR "$SRC_TOP/deploy/demo.sh" --short --no-install --no-build \
        --run-dir "$T/demo" "$@" >"$T/demo.out" 2>&1 || rc=$?
    sed 's/^/   | /' "$T/demo.out" | grep -vE '^\s+\|\s+\[' | tail -"$lines"
    check "the demo ends with exit status 0" test "$rc" = 0
    check "it prints the proof" \
        grep -q "OK: all partners converged, all journals verify" "$T/demo.out"
    check "all seven partners converged" \
        grep -q "7 of 7 partners hold exactly what the brokers hold" "$T/demo.out"
}

# ---- the one checker every fault scenario ends with (tests/tools/checker.py) ----
CHECKER=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/tools/checker.py

# converge_secs SECS PATTERN DIR...: seconds (one decimal) until every
# journal's digest on PATTERN is the same, or "never" within SECS
converge_secs() {
    local secs=$1 pat=$2; shift 2
    # one journal, or none, agrees with itself: that would pass on nothing
    [ $# -ge 2 ] || { echo "converge_secs: give at least two journals" >&2; echo never; return 0; }
    local t0; t0=$(date +%s.%N)
    local deadline=$((SECONDS + secs))
    while :; do
        # the same digest over journals that hold nothing on PAT is no convergence
        local first="" same=1 dn
        for j in "$@"; do
            dn=$(digest_count "$j" "$pat" 2>/dev/null || true)
            [ -n "$dn" ] && [ "${dn#* }" -gt 0 ] || { same=0; break; }
            if [ -z "$first" ]; then first=${dn% *}; elif [ "${dn% *}" != "$first" ]; then same=0; break; fi
        done
        if [ $same = 1 ]; then
            echo "$(date +%s.%N) $t0" | awk '{ printf "%.1f\n", $1 - $2 }'
            return 0
        fi
        [ $SECONDS -ge $deadline ] && { echo never; return 0; }
        sleep 0.1
    done
}

# verdict SCENARIO INJECTED CYCLES ACKED_IDS CONVERGED PATTERN DIR... [-- EXTRA checker args]:
# the checker's one line over the journals DIR (each replayed on PATTERN and
# compared by digest); counts as a passed or failed check
verdict() {
    local scen=$1 inj=$2 cycles=$3 acked=$4 conv=$5 pat=$6; shift 6
    local args=() extra=()
    while [ $# -gt 0 ]; do
        if [ "$1" = "--" ]; then shift; extra=("$@"); break; fi
        local name; name=$(basename "$1")
        "$KNOOP" audit replay --journal "$1" --pattern "$pat" >"$T/held-$name.jsonl"
        args+=(--holder "$name=$T/held-$name.jsonl" --digest "$name=$(digest "$1" "$pat")")
        shift
    done
    if python3 "$CHECKER" --scenario "$scen" --injected "$inj" --cycles "$cycles" \
            --acked "$acked" --converged "$conv" "${args[@]}" "${extra[@]}"; then
        ok "checker: $scen"
    else
        bad "checker: $scen"
    fi
}
