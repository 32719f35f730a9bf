#!/usr/bin/env bash
# Schema 3 journals (stream rows without last_hlc and prio) are upgraded when
# a daemon opens them for writing: every message kept, the digest unchanged,
# each row's last_hlc the hlc of its message at hwm and its priority the
# highest it holds. Read-only tools refuse them with what to do. The journal
# is a fixture written by a schema-3 build (main at 2de54ab;
# tests/tools/make_journal_fixture.sh schema3): three epochs of vr-utrecht, 31
# messages, one FLASH, as vr-zeeland holds them.
source "$(dirname "$0")/lib.sh"
command -v mdb_load >/dev/null || skip "mdb_load (lmdb-utils) not installed"
FX=$SRC_TOP/tests/fixtures/journal-schema3

make_sitrep_partners
# The fixture's messages were signed by the vr-utrecht of its own scene.
cp "$FX/vr-utrecht.cert" "$FX/kcr2-broker-1.cert" "$T/trust/"
mkdir -p "$T/vr-zeeland"
chmod 700 "$T/vr-zeeland"
mdb_load -f "$FX/vr-zeeland.dump" "$T/vr-zeeland"
read -r want_digest want_n <"$FX/digest"

check "a read-only tool refuses a schema-3 journal (exit 2) ..." \
    exits 2 "$T/audit-old.out" "$KNOOP" audit verify --journal "$T/vr-zeeland" --trust "$T/trust"
check "... and says what to do" grep -q "schema version 3 (before stream rows kept their last hlc.*open it once with a knoop daemon of this version" "$T/audit-old.out"

start_node vr-zeeland
check "the node upgrades it at start" \
    grep -q "upgraded to schema 4: the last hlc and the priority kept in each of its 3 stream rows" \
    "$T/vr-zeeland.log"
check "... and finds it intact" grep -q "journal checked: 31 messages" "$T/vr-zeeland.log"
stop vr-zeeland
check "every message kept ($want_n)" has_count "$T/vr-zeeland" '>' "$want_n"
check "the digest is unchanged" test "$(digest "$T/vr-zeeland")" = "$want_digest"
check "and verifies clean" bash -c "'$KNOOP' audit verify --journal '$T/vr-zeeland' --trust '$T/trust' --quiet | grep -q 'verify: OK'"

# last_hlc and priority of each row against the messages themselves.
"$KNOOP" audit digest --journal "$T/vr-zeeland" --streams --json >"$T/rows.json"
"$KNOOP" audit replay --journal "$T/vr-zeeland" >"$T/replay.jsonl"
check "each row's last_hlc is the hlc of its message at hwm, its priority the highest held" \
    python3 - "$T/rows.json" "$T/replay.jsonl" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
msgs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
rank = {"routine": 0, "immediate": 1, "flash": 2}
assert len(rows) == 3, rows
flash = 0
for r in rows:
    mine = [m for m in msgs if m["epoch"] == r["epoch"] and m["origin"] == r["origin"]]
    at = [m for m in mine if int(m["seq"]) == r["hwm"]]
    assert len(at) == 1 and int(r["last_hlc"]) == int(at[0]["hlc"]) != 0, (r, at)
    top = max(mine, key=lambda m: rank[m["priority"]])["priority"]
    assert r["priority"] == top, (r, top)
    flash += top == "flash"
assert flash == 1, rows
PY
