#!/usr/bin/env bash
# Schema 2 journals (before a check was stored with every message and
# log/vlog row, and before stream rows kept last_hlc and prio) are upgraded
# when a daemon opens them for writing, and keep every message; read-only
# tools refuse them with what to do. The schema-2 journal is made from a
# real one with mdb_dump/mdb_load (lmdb-utils), stripping the checks and the
# stream rows' schema-4 fields and setting the schema back to 2.
source "$(dirname "$0")/lib.sh"
command -v mdb_dump >/dev/null && command -v mdb_load >/dev/null \
    || { echo "SKIP: mdb_dump/mdb_load (lmdb-utils) not installed"; exit 77; }

start_sitrep_scene
pub_numbered vr-utrecht 30 u 'oude-melding-@'
wait_for "vr-zeeland holds all 30" 20 has_count "$T/vr-zeeland" 'sitrep.>' 30
stop vr-zeeland
before=$(digest "$T/vr-zeeland")

mdb_dump -a "$T/vr-zeeland" >"$T/dump3.txt"
python3 - "$T/dump3.txt" "$T/dump2.txt" <<'PY'
import sys
out, db, in_data, key = [], None, False, None
for ln in open(sys.argv[1]).read().split("\n"):
    if ln.startswith("database="):
        db = ln.split("=", 1)[1]
    if ln == "HEADER=END":
        in_data, key = True, None
    elif ln == "DATA=END":
        in_data = False
    elif in_data and ln.startswith(" "):
        if key is None:
            key = ln
        else:
            v = ln[1:]
            if db == "msg":
                v = v[32:]                     # no check before the envelope
            elif db in ("log", "vlog"):
                v = v[:32]                     # stream || seq only
            elif db == "stream":
                v = v[:140] + v[158:]          # no last_hlc, no prio (schema 4)
            elif db == "meta" and bytes.fromhex(key[1:]) == b"schema":
                v = "%016x" % 2
            ln, key = " " + v, None
    out.append(ln)
open(sys.argv[2], "w").write("\n".join(out))
PY
rm -rf "$T/old"
mkdir -p "$T/old"
mdb_load -f "$T/dump2.txt" "$T/old" 2>/dev/null
chmod 700 "$T/old"

check "a read-only tool refuses a schema-2 journal (exit 2) ..." \
    exits 2 "$T/audit-old.out" "$KNOOP" audit verify --journal "$T/old" --trust "$T/trust"
check "... and says what to do" grep -q "open it once with a knoop daemon of this version" "$T/audit-old.out"

rm -rf "$T/vr-zeeland"
mv "$T/old" "$T/vr-zeeland"
start_node vr-zeeland --broker "kcr2-broker-1@$EP" --subscribe 'sitrep.>'
check "the node upgrades it at start" \
    grep -q "upgraded to schema 3: a check stored with each of its 30 messages" "$T/vr-zeeland.log"
check "... and on to schema 4" \
    grep -q "upgraded to schema 4: the last hlc and the priority kept in each of its 1 stream rows" \
    "$T/vr-zeeland.log"
check "... and finds it intact" grep -q "journal checked: 30 messages and 60 log/vlog rows intact" \
    "$T/vr-zeeland.log"
"$KNOOP" sub --api "$(api vr-zeeland)" --pattern 'sitrep.>' --from-start --count 30 --timeout 10 \
    >"$T/received.jsonl" 2>/dev/null || true
check "every message is still delivered, once" \
    test "$(grep -o 'oude-melding-[0-9]*' "$T/received.jsonl" | sort -u | wc -l)" -eq 30
stop vr-zeeland
check "the journal holds the same information (digest)" test "$(digest "$T/vr-zeeland")" = "$before"
check "and verifies clean" bash -c "'$KNOOP' audit verify --journal '$T/vr-zeeland' --trust '$T/trust' --quiet | grep -q 'verify: OK'"
