#!/usr/bin/env bash
# A node on a damaged journal (issue 8, finding 2; catalogue F11). Bytes
# flipped on disk, with the node stopped, in one message's payload and in
# the log and vlog rows of another. Before the fix the node started without
# a word, said "verified 100", delivered the altered message with
# "signed":true, and other damage silently cost messages. Now:
#   - `knoop audit verify` on a copy names the damaged message and the
#     damaged log/vlog rows, and fails;
#   - the node reports the damage loudly at start (log, status);
#   - it never hands out the altered bytes: the subscriber gets all 100
#     messages, each once, unaltered, under their head signature;
#   - it fetches the damaged message again from its broker and rebuilds the
#     rows in place; afterwards the journal verifies clean;
#   - on a copy, with the rebuild's commit refused (ENOSPC injected with
#     strace), the node still starts, says the rows were not rebuilt and why,
#     and rebuilds them a few seconds later without a restart (before, it
#     logged "journal check failed" and left them until a delivery met them).
source "$(dirname "$0")/lib.sh"

start_sitrep_scene

N=100
pub_numbered vr-utrecht $N dijk 'melding-@-kade-stabiel'
wait_for "vr-zeeland holds all $N" 20 has_count "$T/vr-zeeland" 'sitrep.>' $N
stop vr-zeeland

# The damage, in every copy of the page in the file (LMDB is copy-on-write).
J="$T/vr-zeeland/data.mdb"
python3 - "$J" <<'PY'
import re, sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
# 1. four bytes of message 42's payload
n1 = 0
for m in re.finditer(rb"melding-042-kade", bytes(data)):
    data[m.start() + 12:m.start() + 16] = b"KADE"
    n1 += 1
# 2. the log and vlog rows naming message 17: a leaf node with an 8-byte key
#    (the position) and a 24-byte value (stream, seq, check); seq 17 -> 19.
n2 = 0
pat = re.compile(rb"\x18\x00\x00\x00\x00\x00\x08\x00(.{8})(.{8})\x00{7}\x11", re.S)
for m in pat.finditer(bytes(data)):
    data[m.end() - 1] = 0x13
    n2 += 1
open(path, "wb").write(data)
print(f"flipped: payload of 42 in {n1} place(s), rows of 17 in {n2} place(s)")
if n1 == 0 or n2 < 2:
    sys.exit(1)
PY
check "the damage was made (payload of 42; log and vlog rows of 17)" test $? -eq 0

# An auditor's copy, on read-only media.
cp -r "$T/vr-zeeland" "$T/copy"
rm -f "$T/copy/lock.mdb" "$T/copy/writer.lock"
chmod -R a-w "$T/copy"
set +e
"$KNOOP" audit verify --journal "$T/copy" --trust "$T/trust" --quiet >"$T/audit.out" 2>&1
arc=$?
set -e
cat "$T/audit.out"
check "audit verify fails on the damaged copy (exit 1)" test $arc -eq 1
check "... naming the damaged message" grep -q "at seq 42: damaged on disk" "$T/audit.out"
check "... and the damaged log/vlog rows" grep -Eq "log/vlog: [2-9][0-9]* of [0-9]+ rows damaged" "$T/audit.out"
chmod -R u+w "$T/copy"

# A copy, whose node cannot store the rebuilt rows: the kernel refuses the
# first fdatasync of data.mdb (the rebuild's commit), and the node is
# linked to the broker (a link that comes up must not clear the error).
if command -v strace >/dev/null && strace -f -qq -o /dev/null -e trace=none true 2>/dev/null; then
    cp -r "$T/vr-zeeland" "$T/zeeland-full"
    rm -f "$T/zeeland-full/api.sock"
    REAL_NODE=$NODE
    cat >"$T/node-strace" <<EOF
#!/bin/sh
exec strace -f -qq -o /dev/null -P "$T/zeeland-full/data.mdb" -e trace=fdatasync -e inject=fdatasync:error=ENOSPC:when=1 "$REAL_NODE" "\$@"
EOF
    chmod +x "$T/node-strace"
    NODE=$T/node-strace
    start_node_in zeeland-full vr-zeeland "$T/trust" --broker "$B"
    NODE=$REAL_NODE
    sp=$(pid_of zeeland-full)
    at_exit "pkill -9 -P $sp 2>/dev/null"
    check "a node whose rebuild cannot be stored still starts" \
        "$KNOOP" status --api "$(api zeeland-full)"
    check "... and says the rows were not rebuilt, and why" \
        grep -Eq "log/vlog rows, not rebuilt: (no space for the journal|disk full) on $T/zeeland-full" \
        "$T/zeeland-full.log"
    wait_for "zeeland-full linked" 10 bash -c \
        "'$KNOOP' status --api '$(api zeeland-full)' | grep -q '^link *up'" || true
    check "... in its status too, while its link is up" bash -c \
        "'$KNOOP' status --api '$(api zeeland-full)' | grep '^last error' | grep -q 'not rebuilt'"
    wait_for "rebuild retried" 15 grep -Eq "log/vlog rows damaged \([2-9][0-9]* rebuilt\)" \
        "$T/zeeland-full.log" || true
    check "... and rebuilds them within seconds, without a restart" \
        grep -Eq "log/vlog rows damaged \([2-9][0-9]* rebuilt\)" "$T/zeeland-full.log"
    check "... once written, the error is gone from its status" bash -c \
        "'$KNOOP' status --api '$(api zeeland-full)' | grep '^last error' | grep -vq 'not rebuilt'"
    pkill -TERM -P "$sp" || true
    wait "$sp" 2>/dev/null || true
else
    echo "strace cannot trace here: the part with a refused rebuild is left out"
fi

# The node starts on it.
start_node vr-zeeland --broker "$B" --subscribe 'sitrep.>'
wait_for "damage reported" 10 grep -q "journal DAMAGED on disk" "$T/vr-zeeland.log" || true
check "the node reports the damage at start" \
    grep -Eq "journal DAMAGED on disk: 1 of [0-9]+ messages, [2-9][0-9]* of [0-9]+ log/vlog rows \([2-9][0-9]* rebuilt\)" \
    "$T/vr-zeeland.log"
check "... names the damaged message" grep -q "DAMAGED on disk: stream [0-9a-f]* seq 42" "$T/vr-zeeland.log"
wait_for "repair" 15 grep -q "repaired stream .* seq 42 with a good copy" "$T/vr-zeeland.log" || true
check "it fetches the damaged message again from the broker and repairs it" \
    grep -q "repaired stream .* seq 42 with a good copy" "$T/vr-zeeland.log"
"$KNOOP" status --api "$(api vr-zeeland)" --json >"$T/status.json"
sj() { python3 -c "import json; print(json.load(open('$T/status.json'))['damage']['$1'])"; }
check "status counts the damage found and the repair" \
    test "$(sj damaged_found)" -eq 1 -a "$(sj repaired)" -eq 1 -a "$(sj damaged_now)" -eq 0

"$KNOOP" sub --api "$(api vr-zeeland)" --pattern 'sitrep.>' --from-start --count $N --timeout 10 \
    >"$T/received.jsonl" 2>"$T/sub.err" || true
check "the subscriber gets all $N messages" test "$(wc -l <"$T/received.jsonl")" -eq $N
check "... each once" test "$(grep -o 'melding-[0-9]*' "$T/received.jsonl" | sort -u | wc -l)" -eq $N
check "... never the altered bytes" lacks 'melding-042-KADE' "$T/received.jsonl"
check "... message 42 as it was published" grep -q 'melding-042-kade-stabiel' "$T/received.jsonl"
check "... under the head signature that covers it (on seq $N, the batch's last)" \
    bash -c "grep 'melding-$N-kade-stabiel' '$T/received.jsonl' | grep -q '\"signed\":true'"
check "... and 17 once, in its place" \
    bash -c "test \$(grep -c 'melding-017-' '$T/received.jsonl') -eq 1"
check "in publication order" bash -c \
    "grep -o 'melding-[0-9]*' '$T/received.jsonl' | sort -c"

stop vr-zeeland
"$KNOOP" audit verify --journal "$T/vr-zeeland" --trust "$T/trust" --quiet >"$T/audit2.out" 2>&1 || true
cat "$T/audit2.out"
check "after the repair the node's journal verifies clean" \
    grep -Eq "verify: OK: .* 0 damaged on disk, [0-9]+ log/vlog rows \(0 damaged\)" "$T/audit2.out"
