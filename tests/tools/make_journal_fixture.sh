#!/usr/bin/env bash
# Makes tests/fixtures/journal-NAME/: a subscriber's journal written by the
# build KNOOP_BIN belongs to, as an mdb_dump text, with the certificates that
# verify its messages and its digest. An upgrade test loads it into the
# build under test:
#   journal-schema3  by main at 2de54ab (stream rows without last_hlc and
#                    prio), for tests/cli_journal_upgrade4.sh
#   journal-schema4  by main at ae5cdf0 (BLAKE2b checks), for
#                    tests/cli_journal_schema4.sh
#   KNOOP_BIN=/path/to/that/build/nodes/knoop bash tests/tools/make_journal_fixture.sh NAME
NAME=${1:?usage: make_journal_fixture.sh NAME (e.g. schema4)}
source "$(dirname "$0")/../lib.sh"
OUT=$SRC_TOP/tests/fixtures/journal-$NAME

start_sitrep_scene
# Three epochs of vr-utrecht (a node draws one at every start), two topics'
# worth of priorities: routine, then a FLASH in the middle epoch.
pub_numbered vr-utrecht 10 a 'eerste-epoch-@'
stop vr-utrecht
start_node vr-utrecht --broker "$B"
pub_numbered vr-utrecht 10 b 'tweede-epoch-@'
"$KNOOP" pub --api "$(api vr-utrecht)" --topic sitrep.vr-utrecht --type knoop.crisis.v1.SitRep \
    --priority flash --json '{"incident_id":"b-flash","summary":"flash"}' >/dev/null
stop vr-utrecht
start_node vr-utrecht --broker "$B"
pub_numbered vr-utrecht 10 c 'derde-epoch-@'
wait_for "vr-zeeland holds all 31" 20 has_count "$T/vr-zeeland" 'sitrep.>' 31
stop vr-zeeland
stop vr-utrecht
mkdir -p "$OUT"
mdb_dump -a "$T/vr-zeeland" >"$OUT/vr-zeeland.dump"
cp "$T/trust/vr-utrecht.cert" "$T/trust/kcr2-broker-1.cert" "$OUT/"
digest_count "$T/vr-zeeland" >"$OUT/digest"
cat "$OUT/digest"
