#!/usr/bin/env bash
# The helpers of tests/lib.sh that compare or check do not pass on nothing:
# each fails on a missing argument, a journal that cannot be read or holds
# nothing on the pattern, a node or broker that does not answer; and each
# passes where it should, on a small real scene (broker kcr2-broker-1 with
# vr-utrecht publishing and vr-zeeland subscribed, plus a broker
# kcr2-broker-2 that is not in its mesh, with vr-twente publishing other
# messages to it), so that neither half is vacuous. A node or broker that
# does not answer is asked with ASK_SECS=1: the checks need no 5 s wait.
source "$(dirname "$0")/lib.sh"
unset KNOOP_SURVIVES_OUT            # the verdicts here are no scenario's row

# fails WHAT CMD...: CMD fails (a passed check); no CMD is no pass
fails() {
    local what=$1; shift
    [ $# -gt 0 ] || { bad "$what (no command)"; return 0; }
    if "$@" >/dev/null 2>&1; then bad "$what fails"; else ok "$what fails"; fi
}
# tally CMD...: "PASS FAIL" that CMD adds to the counts, in a subshell (the
# checks it makes do not count here)
tally() { ( PASS=0; FAIL=0; "$@" >/dev/null 2>&1; echo "$PASS $FAIL" ); }

start_sitrep_scene
make_partner kcr2-broker-2 broker
make_partner vr-twente region
EP2="tcp://127.0.0.1:$(free_port)"
start_broker kcr2-broker-2 "$EP2"
start_node vr-twente --broker "kcr2-broker-2@$EP2"
pub_numbered vr-twente 2 twente 'twente-@'
pub_numbered vr-utrecht 3 lib 'lib-@'
wait_for "vr-zeeland holds the 3" 20 has_count "$T/vr-zeeland" 'sitrep.>' 3 || true
wait_for "kcr2-broker-2 holds vr-twente's 2" 20 has_count "$T/kcr2-broker-2" 'sitrep.>' 2 || true
U=$T/vr-utrecht Z=$T/vr-zeeland NONE=$T/no-such-journal

# --- check, wait_for and exits themselves ---
check "check counts a failed check when it has no command" test "$(tally check "nothing")" = "0 1"
check "check counts a passed check for a command that succeeds" test "$(tally check "yes" true)" = "1 0"
check "check counts a failed check for a command that fails" test "$(tally check "no" false)" = "0 1"
fails "wait_for without a command" wait_for "nothing" 1
fails "wait_for on a command that never succeeds" wait_for "false" 1 false
check "wait_for on a command that succeeds" wait_for "true" 1 true
fails "exits without the status wanted" exits "$T/x.out" true
fails "exits without a command" exits 0 "$T/x.out"
fails "exits on another status" exits 1 "$T/x.out" true
check "exits on the status wanted" exits 3 "$T/x.out" bash -c 'echo said; exit 3'
check "... with what was said in OUT" grep -q said "$T/x.out"

# --- journals: digest, count_msgs, same_digest, has_count ---
fails "digest of no journal" digest ""
fails "digest of a missing journal" digest "$NONE"
check "digest of a missing journal prints nothing" test -z "$(digest "$NONE" 2>/dev/null)"
fails "count_msgs of a missing journal" count_msgs "$NONE"
check "count_msgs counts what a journal holds" test "$(count_msgs "$U" 'sitrep.>')" = 3
check "count_msgs of nothing on the pattern is 0, not a failure" test "$(count_msgs "$U" 'grip.>')" = 0
fails "same_digest of two missing journals" same_digest "$NONE" "$NONE" 'sitrep.>'
fails "same_digest of one journal and a missing one" same_digest "$U" "$NONE" 'sitrep.>'
fails "same_digest of journals that hold nothing on the pattern" same_digest "$U" "$Z" 'grip.>'
check "same_digest of two journals that hold the same" same_digest "$U" "$Z" 'sitrep.>'
fails "same_digest of journals that differ" same_digest "$U" "$T/kcr2-broker-2" '>'
fails "has_count without a count" has_count "$U" 'sitrep.>'
fails "has_count of a missing journal, even for 0" has_count "$NONE" 'sitrep.>' 0
fails "has_count with the wrong count" has_count "$U" 'sitrep.>' 2
check "has_count with the right count" has_count "$U" 'sitrep.>' 3
check "has_count 0 of a journal that holds nothing on the pattern" has_count "$U" 'grip.>' 0

# --- nodes: status_has, status_lacks, mode_is, sees_active ---
fails "status_has without a text" status_has vr-utrecht ""
ASK_SECS=1 fails "status_has of a node that does not answer" status_has nobody '"backlog"'
check "status_has of a text the status holds" status_has vr-utrecht '"backlog"'
fails "status_lacks without a text" status_lacks vr-utrecht ""
ASK_SECS=1 fails "status_lacks of a node that does not answer" status_lacks nobody 'no such text'
fails "status_lacks of a text the status holds" status_lacks vr-utrecht '"backlog"'
check "status_lacks of a text the status does not hold" status_lacks vr-utrecht 'no such text'
fails "mode_is without a mode" mode_is vr-utrecht ""
ASK_SECS=1 fails "mode_is of a node that does not answer" mode_is nobody active
fails "sees_active of a node in no pair" sees_active vr-utrecht

# --- brokers: mesh_agrees, mesh_differs ---
fails "mesh_agrees of one broker" mesh_agrees kcr2-broker-1
ASK_SECS=1 fails "mesh_agrees of brokers that do not answer" mesh_agrees nobody nobody-else
ASK_SECS=1 fails "mesh_differs of brokers that do not answer" mesh_differs nobody nobody-else
# both hold messages: the next case fails on their disagreeing, not on a
# broker that holds nothing
check "kcr2-broker-1 and kcr2-broker-2 both hold messages (3 and 2)" bash -c \
    "has_count '$T/kcr2-broker-1' 'sitrep.>' 3 && has_count '$T/kcr2-broker-2' 'sitrep.>' 2"
fails "mesh_agrees of brokers that hold messages and differ" mesh_agrees kcr2-broker-1 kcr2-broker-2
check "mesh_differs of brokers that differ" mesh_differs kcr2-broker-1 kcr2-broker-2
check "mesh_agrees of a broker with itself" mesh_agrees kcr2-broker-1 kcr2-broker-1
fails "mesh_differs of a broker with itself" mesh_differs kcr2-broker-1 kcr2-broker-1

# --- faults_over: no publishers is no pass ---
one_publisher() { sleep 0.2 & PUBLISHERS=($!); faults_over 10 "x" kcr2-broker-1 kcr2-broker-1; }
check "faults_over without publishers is a failed check (and does not hang)" \
    test "$(tally faults_over 10 x kcr2-broker-1 kcr2-broker-1)" = "0 1"
check "faults_over with a publisher and brokers that agree is a passed check" \
    test "$(tally one_publisher)" = "1 0"

# --- lacks ---
mkdir -p "$T/empty-dir" "$T/dir"
: >"$T/empty"
echo "lib-1" >"$T/dir/one"
fails "lacks without a file" lacks 'lib-9'
fails "lacks of a missing file" lacks 'lib-9' "$NONE"
fails "lacks of an empty file" lacks 'lib-9' "$T/empty"
fails "lacks of a directory with no file in it" lacks 'lib-9' "$T/empty-dir"
fails "lacks of a file that holds the pattern" lacks 'lib-2' "$T/sitreps.jsonl"
fails "lacks -i of a file that holds the pattern in other case" lacks -i 'LIB-2' "$T/sitreps.jsonl"
fails "lacks of one file without the pattern and one missing" lacks 'lib-9' "$T/sitreps.jsonl" "$NONE"
check "lacks of a file without the pattern" lacks 'lib-9' "$T/sitreps.jsonl"
check "lacks --empty-ok of an empty file" lacks --empty-ok 'lib-9' "$T/empty"
check "lacks of a directory whose files lack the pattern" lacks 'lib-9' "$T/dir"
fails "lacks of a directory whose file holds the pattern" lacks 'lib-1' "$T/dir"

# --- more_than ---
fails "more_than of a missing file" more_than 0 'lib' "$NONE"
fails "more_than without N" more_than "" 'lib' "$T/sitreps.jsonl"
fails "more_than of as many lines as N" more_than 3 'lib-' "$T/sitreps.jsonl"
check "more_than of more lines than N" more_than 2 'lib-' "$T/sitreps.jsonl"

# --- sitrep_lines ---
check "sitrep_lines numbers, pads and fills in @" test "$(sitrep_lines x 9 2 'n@' 2)" = \
    "$(printf '%s\n' '{"incident_id":"x-09","summary":"n09"}' '{"incident_id":"x-10","summary":"n10"}')"

# --- converge_secs ---
check "converge_secs of one journal: never" test "$(converge_secs 1 'sitrep.>' "$U" 2>/dev/null)" = never
check "converge_secs of missing journals: never" test "$(converge_secs 1 'sitrep.>' "$NONE" "$NONE")" = never
check "converge_secs of journals holding nothing on the pattern: never" \
    test "$(converge_secs 1 'grip.>' "$U" "$Z")" = never
check "converge_secs of journals that agree: a number of seconds" \
    grep -Eq '^[0-9]+\.[0-9]$' <(converge_secs 5 'sitrep.>' "$U" "$Z")

# --- metric_value ---
mkdir -p "$T/m"
printf '# TYPE knoop_x gauge\nknoop_x{what="map"} 1\n' >"$T/m/metrics"
MP=$(free_port)
python3 -m http.server "$MP" --bind 127.0.0.1 --directory "$T/m" >"$T/http.log" 2>&1 &
PIDS+=($!)
wait_for "the metrics file is served" 10 python3 -c \
    "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$MP/metrics')" || true
check "metric_value of a metric there" test "$(metric_value "$MP" 'knoop_x{what="map"}')" = 1
fails "metric_value of a metric not there" metric_value "$MP" 'knoop_x{what="disk"}'
check "metric_value of a metric not there prints nothing" \
    test -z "$(metric_value "$MP" 'knoop_x{what="disk"}' 2>/dev/null)"

# --- verdict, through the checker ---
: >"$T/none.ids"
check "verdict on nothing acknowledged is a failed check" \
    test "$(tally verdict lib "nothing" 1 "$T/none.ids" 0.1 'sitrep.>' "$U" "$Z")" = "0 1"
check "verdict on no journals is a failed check" \
    test "$(tally verdict lib "nothing" 1 "$T/none.ids" 0.1 'sitrep.>')" = "0 1"
for i in 1 2 3; do echo "lib-$i"; done >"$T/three.ids"
check "verdict on what both hold is a passed check" \
    test "$(tally verdict lib "nothing" 1 "$T/three.ids" 0.1 'sitrep.>' "$U" "$Z")" = "1 0"
