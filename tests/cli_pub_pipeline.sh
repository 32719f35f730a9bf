#!/usr/bin/env bash
# knoop pub --file keeps several requests in flight (issue 14, item 5) and
# still prints every committed message once, in file order; after a failure
# in the middle of the window it says exactly what was published, and the
# journal holds exactly what it printed. The node's publish path builds each
# message once and does not verify its own head signatures (its status
# counts them: sig_verified stays 0, reparsed stays 0).
source "$(dirname "$0")/lib.sh"

start_sitrep_scene "ipc://$T/broker.sock"
wait_for "both nodes linked" 20 bash -c "grep -q 'link up' '$T/vr-utrecht.log' && grep -q 'link up' '$T/vr-zeeland.log'"

N=12500         # 13 requests of up to 1,000: more than the window of 8
awk -v n=$N 'BEGIN { for (i = 1; i <= n; i++) printf "{\"incident_id\":\"i-%d\",\"summary\":\"s %d\"}\n", i, i }' >"$T/m.jsonl"
pub() { "$KNOOP" pub --api "$(api vr-utrecht)" --topic sitrep.vr-utrecht \
            --type knoop.crisis.v1.SitRep --no-wait "$@"; }

# 1. A whole file: one line per message, seqs 1..N in file order.
rc=0
pub --file "$T/m.jsonl" >"$T/out1" 2>"$T/err1" || rc=$?
check "pub --file of $N lines exits 0" test "$rc" = 0
check "it printed $N lines" test "$(wc -l <"$T/out1")" = "$N"
check "in file order: seq 1..$N, each once" \
    awk -v n=$N '$1 != "vr-utrecht" || $2 != "sitrep.vr-utrecht" || $3 != NR { bad = 1 } END { exit bad || NR != n }' "$T/out1"
check "the node's journal holds $N" has_count "$T/vr-utrecht" 'sitrep.>' "$N"
wait_for "the subscriber holds $N" 60 has_count "$T/vr-zeeland" 'sitrep.>' "$N" || true
check "the subscriber's journal matches the broker's" \
    same_digest "$T/kcr2-broker-1" "$T/vr-zeeland" 'sitrep.>'

# The node built each message once and verified none of its own heads.
st=$("$KNOOP" status --api "$(api vr-utrecht)" --json)
jn() { grep -o "\"$1\": *[0-9]*" <<<"$st" | head -1 | grep -o '[0-9]*$'; }
check "publisher: no own head signature verified (sig_verified 0)" test "$(jn sig_verified)" = 0
check "publisher: its heads counted as skipped (sig_skipped > 0)" test "$(jn sig_skipped)" -gt 0
check "publisher: nothing read back and parsed (reparsed 0)" test "$(jn reparsed)" = 0

# 2. A bad line in a pipe: what was sent before it is answered and printed,
# the batch holding the line is not sent, and exit status 2.
rc=0
awk -v n=6000 'BEGIN { for (i = 1; i <= n; i++) if (i == 5500) print "{not json"; else printf "{\"incident_id\":\"j-%d\"}\n", i }' \
    | pub --file - >"$T/out2" 2>"$T/err2" || rc=$?
check "a bad line in a pipe exits 2" test "$rc" = 2
check "the 5 batches before it (5000) are printed" test "$(wc -l <"$T/out2")" = 5000
check "and said: 5000 published before line 5001" grep -q "5000 messages published before line 5001" "$T/err2"
check "the journal holds them, not the batch with the bad line" \
    has_count "$T/vr-utrecht" 'sitrep.>' $((N + 5000))

# 3. The node refuses one message in the middle (its payload names another
# region as sender): the requests after it were in flight already. What pub
# printed is exactly what the journal got, and stderr says which lines.
awk -v n=$N 'BEGIN { for (i = 1; i <= n; i++) if (i == 2500) print "{\"reporting_region\":\"vr-zeeland\"}"; else printf "{\"incident_id\":\"k-%d\"}\n", i }' >"$T/m3.jsonl"
rc=0
pub --file "$T/m3.jsonl" >"$T/out3" 2>"$T/err3" || rc=$?
printed=$(wc -l <"$T/out3")
check "a refused message exits 1" test "$rc" = 1
check "the refusal names lines 2001..3000 and the sender" \
    grep -q "lines 2001..3000: node refused a message: .*vr-zeeland" "$T/err3"
check "2000 published before line 2001" grep -q "2000 messages published before line 2001" "$T/err3"
later=$(grep -c "were in flight and are published too" "$T/err3" || true)
check "printed = 2000 + 1000 per later batch said to be published ($printed, $later)" \
    test "$printed" = $((2000 + 1000 * later))
check "the journal holds exactly what was printed" \
    has_count "$T/vr-utrecht" 'sitrep.>' $((N + 5000 + printed))
check "the refused request took no seqs: printed seqs run on without a gap" \
    awk -v first=$((N + 5000 + 1)) '$3 != first + NR - 1 { bad = 1 } END { exit bad }' "$T/out3"
