#!/usr/bin/env bash
# Schema 5 changed the check stored with every message from BLAKE2b to
# SipHash-128 (docs/design-notes.md, "The journal check"). A journal made
# before it is not rewritten: it stays schema 4 and keeps its BLAKE2b
# checks, read and written as they are. The journal is a fixture written by
# main at ae5cdf0 (tests/tools/make_journal_fixture.sh schema4): three epochs
# of vr-utrecht, 31 messages, as vr-zeeland holds them. This shows that
#   - read-only tools read it, and it verifies with the digest it had;
#   - a node runs on it: its start check passes, it stores new messages
#     (checked the old way) and its status says schema 4;
#   - damage is still found under the old check;
#   - a journal the node makes is schema 5.
source "$(dirname "$0")/lib.sh"
command -v mdb_load >/dev/null || skip "mdb_load (lmdb-utils) not installed"
FX=$SRC_TOP/tests/fixtures/journal-schema4

# The fixture's messages were signed by the vr-utrecht of its own scene:
# its certificate comes with the fixture (its key does not: nothing secret
# in the repo). New messages come from vr-twente, through kcr2-broker-2,
# both made here.
make_partner kcr2-broker-2 broker
make_partner vr-zeeland region
make_partner vr-twente region
cp "$FX/vr-utrecht.cert" "$T/trust/"
sitrep_policy
EP="tcp://127.0.0.1:$(free_port)"
B="kcr2-broker-2@$EP"
start_broker kcr2-broker-2 "$EP"
mkdir -p "$T/vr-zeeland"
chmod 700 "$T/vr-zeeland"
mdb_load -f "$FX/vr-zeeland.dump" "$T/vr-zeeland"
read -r want_digest want_n <"$FX/digest"

check "a read-only tool reads the schema-4 journal ..." \
    bash -c "'$KNOOP' audit verify --journal '$T/vr-zeeland' --trust '$T/trust' --quiet | grep -q 'verify: OK'"
check "... every message ($want_n) with the digest it had" \
    test "$(digest "$T/vr-zeeland")" = "$want_digest"
check "... and it is still schema 4 (nothing was rewritten)" \
    bash -c "mdb_dump -s meta '$T/vr-zeeland' | grep -A1 '^ 736368656d61\$' | tail -1 | grep -q '^ 0000000000000004\$'"

# The node subscribes to sitrep.> and gets vr-twente's messages from the
# broker: they are stored under the old check.
start_node vr-zeeland --broker "$B" --subscribe 'sitrep.>'
check "the node runs on it: its start check passes" \
    grep -q "journal checked: $want_n messages" "$T/vr-zeeland.log"
check "... and its status says schema 4" \
    bash -c "'$KNOOP' status --api '$(api vr-zeeland)' --json | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"journal\"][\"schema\"] == 4'"
start_node vr-twente --broker "$B"
check "a journal made now is schema 5" \
    bash -c "'$KNOOP' status --api '$(api vr-twente)' --json | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"journal\"][\"schema\"] == 5'"
pub_numbered vr-twente 5 d 'twentse-melding-@'
more=$((want_n + 5))
wait_for "vr-zeeland holds the 5 new ones too ($more)" 20 has_count "$T/vr-zeeland" '>' "$more"
stop vr-zeeland
stop vr-twente
check "the schema-4 journal verifies clean with them" \
    bash -c "'$KNOOP' audit verify --journal '$T/vr-zeeland' --trust '$T/trust' --quiet | grep -q 'verify: OK'"
check "... and stays schema 4" \
    bash -c "mdb_dump -s meta '$T/vr-zeeland' | grep -A1 '^ 736368656d61\$' | tail -1 | grep -q '^ 0000000000000004\$'"

# Damage under the old check: six bytes of one new message's payload, in
# every copy of its page, on a copy of the journal.
cp -r "$T/vr-zeeland" "$T/copy"
rm -f "$T/copy/lock.mdb"
damage_made=0
python3 - "$T/copy/data.mdb" <<'PY' && damage_made=1
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
n = 0
at = data.find(b"twentse-melding-3")
while at >= 0:
    data[at:at + 6] = b"TWENTS"
    n += 1
    at = data.find(b"twentse-melding-3", at + 1)
open(path, "wb").write(data)
sys.exit(0 if n else 1)
PY
check "the damage was made" test "$damage_made" = 1
set +e
"$KNOOP" audit verify --journal "$T/copy" --trust "$T/trust" --quiet >"$T/audit.out" 2>&1
arc=$?
set -e
check "audit verify fails on it (exit 1) ..." test $arc -eq 1
check "... naming the damaged message" grep -q "damaged on disk" "$T/audit.out"

# A journal of a schema this build does not know is refused, and named.
mkdir -p "$T/newer"
chmod 700 "$T/newer"
mdb_dump -a "$T/vr-zeeland" | python3 -c '
import sys
lines = sys.stdin.read().split("\n")
for i, l in enumerate(lines):
    if l == " 736368656d61" and lines[i + 1].startswith(" 00000000000000"):
        lines[i + 1] = " 0000000000000006"
print("\n".join(lines), end="")' | mdb_load "$T/newer"
check "a journal of schema 6 is refused (exit 2) ..." \
    exits 2 "$T/newer.out" "$KNOOP" audit verify --journal "$T/newer" --trust "$T/trust"
check "... as written by a newer knoop" grep -q "schema version 6, this build reads 2 to 5 (it was written by a newer knoop)" "$T/newer.out"
