#!/usr/bin/env bash
# Makes tests/fixtures/journal-schema3/: a subscriber's journal written by a
# schema-3 build (before the stream rows carried last_hlc and prio), as an
# mdb_dump text, with the certificates that verify its messages and its
# digest. Run with KNOOP_BIN pointing at the knoop CLI of a schema-3 build
# (main at 2de54ab); tests/cli_journal_upgrade4.sh loads it.
#   KNOOP_BIN=/path/to/schema3/build/nodes/knoop bash tests/tools/make_journal_schema3.sh
source "$(dirname "$0")/../lib.sh"
OUT=$SRC_TOP/tests/fixtures/journal-schema3

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
