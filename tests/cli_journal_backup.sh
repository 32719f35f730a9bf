#!/usr/bin/env bash
# What deploy/README.md promises operators and auditors (issue 8, item 4;
# catalogue F11, F12), and journals too damaged to open:
#   - `mdb_copy` of a live node journal, taken while messages arrive, verifies
#     with `knoop audit verify` (also on a read-only mount, when this machine
#     can make one);
#   - a truncated data.mdb and one whose meta pages are destroyed are refused
#     at open by the node and by audit, with what to do, and no crash
#     (a truncated file used to kill both with SIGBUS);
#   - moved aside as the message says, a fresh node takes everything back
#     from its broker.
source "$(dirname "$0")/lib.sh"
command -v mdb_copy >/dev/null || { echo "SKIP: mdb_copy (lmdb-utils) not installed"; exit 77; }

start_sitrep_scene

# Messages keep arriving at vr-zeeland while its journal is copied.
(
    for b in $(seq 1 20); do
        sitrep_lines "b$b" 1 20 "backup-$b-@" >"$T/batch-$b.jsonl"
        "$KNOOP" pub --api "$(api vr-utrecht)" --topic sitrep.vr-utrecht \
            --type knoop.crisis.v1.SitRep --file "$T/batch-$b.jsonl" >/dev/null 2>&1
        sleep 0.1
    done
) &
PUBPID=$!
PIDS+=($PUBPID)
# Copy once some have arrived (a fixed wait flaked under load), while the
# rest are still coming.
zeeland_has_some() { local n; n=$(count_msgs "$T/vr-zeeland" 'sitrep.>') && [ "$n" -gt 0 ]; }
wait_for "the first messages at vr-zeeland" 30 zeeland_has_some || bad "messages reached vr-zeeland"
mkdir -p "$T/backup"
mdb_copy "$T/vr-zeeland" "$T/backup"
check "mdb_copy of the live journal succeeds" test -s "$T/backup/data.mdb"
wait "$PUBPID" || true
"$KNOOP" audit verify --journal "$T/backup" --trust "$T/trust" --quiet >"$T/audit-backup.out" 2>&1 || true
cat "$T/audit-backup.out"
check "the copy taken while messages arrived verifies" grep -q "verify: OK" "$T/audit-backup.out"
check "... and holds some of them" \
    grep -Eq "verify: OK: 1 streams, [1-9][0-9]* messages" "$T/audit-backup.out"

# On read-only media, as an auditor gets it.
mkdir -p "$T/ro"
if mount --bind "$T/backup" "$T/ro" 2>/dev/null; then
    if mount -o remount,ro,bind "$T/ro" 2>/dev/null && ! touch "$T/ro/x" 2>/dev/null; then
        "$KNOOP" audit verify --journal "$T/ro" --trust "$T/trust" --quiet >"$T/audit-ro.out" 2>&1 || true
        check "knoop audit verify works on a read-only mount" grep -q "verify: OK" "$T/audit-ro.out"
    else
        echo "note: read-only remount not possible here: that part not run"
    fi
    umount "$T/ro" 2>/dev/null || true
else
    echo "note: cannot bind-mount (not root?): the read-only-media part not run"
fi

# Too damaged to open.
wait_for "vr-zeeland holds all 400" 20 has_count "$T/vr-zeeland" 'sitrep.>' 400
stop vr-zeeland
cp -r "$T/vr-zeeland" "$T/truncated"
cp -r "$T/vr-zeeland" "$T/nometa"
rm -f "$T/truncated/lock.mdb" "$T/nometa/lock.mdb" "$T"/truncated/*.sock "$T"/nometa/*.sock
sz=$(stat -c %s "$T/truncated/data.mdb")
truncate -s $((sz / 2)) "$T/truncated/data.mdb"
dd if=/dev/zero of="$T/nometa/data.mdb" bs=4096 count=2 conv=notrunc 2>/dev/null
for j in truncated nometa; do
    set +e
    "$NODE" --id vr-zeeland --data "$T/$j" --key "$T/keys/vr-zeeland.key" --trust "$T/trust" \
        --broker "$B" >"$T/node-$j.log" 2>&1
    nrc=$?
    "$KNOOP" audit verify --journal "$T/$j" --trust "$T/trust" >"$T/audit-$j.out" 2>&1
    arc=$?
    set -e
    cat "$T/node-$j.log" | tail -n 3
    check "$j: the node refuses it (exit $nrc, not a crash)" test "$nrc" -eq 1
    check "$j: ... saying what to do" grep -q "damaged beyond use. Keep it for analysis: move the directory aside" "$T/node-$j.log"
    check "$j: audit refuses it too (exit $arc, not a crash)" test "$arc" -eq 2
done
check "truncated: named as such" grep -q "data.mdb is truncated: $((sz / 2)) bytes, but its pages reach" "$T/node-truncated.log"

# Moved aside, as the message says: the node takes everything back.
mv "$T/vr-zeeland" "$T/vr-zeeland.damaged"
start_node vr-zeeland --broker "$B" --subscribe 'sitrep.>'
wait_for "fresh vr-zeeland holds all 400 again" 20 has_count "$T/vr-zeeland" 'sitrep.>' 400 || true
check "a fresh journal takes all 400 back from the broker" has_count "$T/vr-zeeland" 'sitrep.>' 400
