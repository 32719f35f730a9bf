#!/usr/bin/env bash
# F10 (catalogue): a stale LMDB reader slot. A reader of a live broker
# journal (here a backup with mdb_copy, the way the README backs up a live
# journal) is killed with -9 in the middle of its read: its slot in
# lock.mdb stays, and with it the snapshot it pinned, so LMDB could never
# reuse a page freed after it and the file would only grow. The broker
# clears dead readers' slots itself (mdb_reader_check, at most every 10 s
# while it writes):
#   - the slot of the killed reader is there after the kill (mdb_stat -r);
#   - under a write load it is gone within about 10 s, and the broker says
#     so in its log, without a restart;
#   - every message published meanwhile is stored once and delivered, and
#     the journal verifies.
source "$(dirname "$0")/lib.sh"

command -v mdb_stat >/dev/null || skip "mdb_stat missing (deploy/install-deps.sh installs lmdb-utils)"

start_sitrep_scene
BJ="$T/kcr2-broker-1"

N=3000
pub_numbered vr-utrecht $N stand 'melding-@-reader-slot'
wait_for "broker holds all $N" 30 has_count "$BJ" 'sitrep.>' $N

# holds_snapshot PID: the reader table (mdb_stat -r) has a row of process
# PID with a snapshot (a txnid, not '-'); no_snapshot PID: it could be read
# and has none (a reader table that cannot be read proves nothing)
reader_rows() {
    local out
    out=$(mdb_stat -r "$BJ" 2>&1) || true     # mdb_stat -r exits 1 even when it listed
    grep -q "Reader Table Status" <<<"$out" || return 2
    awk -v p="$1" '$1 == p && $3 != "-"' <<<"$out"
}
holds_snapshot() { local r; r=$(reader_rows "$1") && [ -n "$r" ]; }
no_snapshot() { local r; r=$(reader_rows "$1") && [ -z "$r" ]; }

# The reader: mdb_copy writes the journal to its stdout, a pipe nobody
# reads; once the pipe is full it blocks in the middle of the copy, holding
# its read transaction. Then kill -9.
mkfifo "$T/stuck"
mdb_copy "$BJ" >"$T/stuck" 2>"$T/copy.err" &
READER=$!
exec 7<"$T/stuck"          # opened, never read: the copy fills it and blocks
wait_for "reader holds a snapshot" 20 holds_snapshot $READER || true
check "a backup of the live journal holds a snapshot while it copies" holds_snapshot $READER
kill -9 $READER
wait $READER 2>/dev/null || true
exec 7<&-
check "after kill -9 its reader slot is still in lock.mdb (stale)" holds_snapshot $READER

# A write load for longer than the broker's reader check interval (10 s).
end=$((SECONDS + 14))
i=0
while [ $SECONDS -lt $end ]; do
    i=$((i + 1))
    sitrep_lines "load$i" 1 200 "lading-$i" 3 >"$T/load.jsonl"
    "$KNOOP" pub --api "$(api vr-utrecht)" --topic sitrep.vr-utrecht --type knoop.crisis.v1.SitRep \
        --file "$T/load.jsonl" >/dev/null
    no_snapshot $READER && grep -q "cleared [0-9]* stale reader slot" "$T/kcr2-broker-1.log" &&
        break
    sleep 0.5
done
check "the broker cleared the dead reader's slot under load, without a restart" \
    no_snapshot $READER
check "... and said so in its log" grep -q "journal $BJ: cleared [1-9][0-9]* stale reader slot" \
    "$T/kcr2-broker-1.log"
check "the broker ran on throughout" kill -0 "$(pid_of kcr2-broker-1)"
total=$((N + i * 200))
wait_for "broker holds all $total" 30 has_count "$BJ" 'sitrep.>' $total || true
check "every message published meanwhile is stored at the broker, once ($total)" \
    has_count "$BJ" 'sitrep.>' $total
wait_for "vr-zeeland holds all $total" 30 has_count "$T/vr-zeeland" 'sitrep.>' $total || true
check "... and delivered to the subscribing node" has_count "$T/vr-zeeland" 'sitrep.>' $total
check "a new auditor verifies the live journal" \
    "$KNOOP" audit verify --journal "$BJ" --trust "$T/trust" --quiet
