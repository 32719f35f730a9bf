#!/usr/bin/env bash
# An auditor's tools on a journal whose LMDB pages are damaged (catalogue
# F11; noted in stops 20 and 21). LMDB trusts its pages: a damaged child
# page number, node offset or overflow length sent `knoop audit replay`
# and `verify` out of the map (SIGSEGV, SIGBUS) or into an assertion
# ("mdb.c:5921: Assertion 'IS_LEAF(mp)' failed"). Now the journal's pages
# are checked before LMDB reads them, and the tools name the page and fail:
#   - three kinds of damage made on purpose (a branch's child, a leaf's
#     free-space bounds, an overflow's page number): each named, replay
#     and verify exit 2 ("DAMAGED on disk"), as on a truncated journal
#     (cli_journal_backup), and nothing crashes;
#   - damage at random (seeded) in random pages: every run of replay and
#     verify ends with 0, 1 or 2 and no crash, no sanitizer report.
# The old code crashed in about one run in twenty of the random part.
# And the daemons: a broker whose last run did not close its journal (kill
# -9 here; a crash on a damaged page, a power cut) checks every page before
# it uses the journal, after a clean stop it does not; a node checks at
# every start. One with damaged pages is refused, naming the page, instead
# of being crashed on (or, as before, used after "journal check failed").
source "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 not installed"

start_sitrep_scene
pub_numbered vr-utrecht 2000 a 'melding-@-dijk'
big=$(head -c 6000 /dev/zero | tr '\0' 'x')
for i in 1 2 3; do   # values larger than a page: overflow pages
    "$KNOOP" pub --api "$(api vr-utrecht)" --topic sitrep.vr-utrecht --type knoop.crisis.v1.SitRep \
        --json "{\"incident_id\":\"groot-$i\",\"summary\":\"$big\"}" >/dev/null
done
wait_for "vr-zeeland holds all 2003" 30 has_count "$T/vr-zeeland" 'sitrep.>' 2003
stop vr-zeeland
J=$T/vr-zeeland
rm -f "$J/api.sock"

# run_tool NAME ARGS...: one audit command on a copy; its exit status in
# $T/NAME.rc, its output in $T/NAME.out/.err. Fails when it crashed.
run_tool() {
    local name=$1; shift
    set +e
    "$KNOOP" audit "$@" >"$T/$name.out" 2>"$T/$name.err"
    echo $? >"$T/$name.rc"
    set -e
    local rc; rc=$(cat "$T/$name.rc")
    if [ "$rc" -gt 2 ] || grep -Eq "Sanitizer|runtime error|Assertion" "$T/$name.err"; then
        echo "$name crashed (exit $rc): $(tail -c 300 "$T/$name.err")" >&2
        return 1
    fi
}

check "the clean journal replays whole" \
    bash -c "'$KNOOP' audit replay --journal '$J' --pattern 'sitrep.>' | wc -l | grep -qx 2003"
check "... and verifies" "$KNOOP" audit verify --journal "$J" --trust "$T/trust" --quiet

# damage KIND COPY: the damage of KIND in every page of that kind in COPY's
# data.mdb (old copies of a page are in the file too: LMDB copies on write;
# whichever is live is met first). Prints how many pages it changed.
damage() {
    python3 - "$1" "$2/data.mdb" <<'PY'
import struct, sys
kind, path = sys.argv[1], sys.argv[2]
data = bytearray(open(path, "rb").read())
ps = struct.unpack_from("<I", data, 16 + 24)[0]          # meta: the page size
n = 0
for pg in range(2, len(data) // ps):
    off = pg * ps
    pgno, _, flags, lower, upper = struct.unpack_from("<QHHHH", data, off)
    if pgno != pg:
        continue
    if kind == "child" and flags & 0x01:                 # a branch's first child
        node = off + struct.unpack_from("<H", data, off + 16)[0]
        struct.pack_into("<HHH", data, node, 0xffff, 0x00ff, 0)
        n += 1
    elif kind == "bounds" and flags & 0x02 and lower > 16:   # a leaf's free space
        struct.pack_into("<HH", data, off + 12, upper, lower)
        n += 1
    elif kind == "overflow" and flags & 0x02:            # a big value's first page
        for i in range((lower - 16) // 2):
            node = off + struct.unpack_from("<H", data, off + 16 + 2 * i)[0]
            nflags, ksize = struct.unpack_from("<HH", data, node + 4)
            if nflags & 0x01:
                struct.pack_into("<Q", data, node + 8 + ksize, 2)
                n += 1
open(path, "wb").write(data)
print(n)
PY
}

for kind in child bounds overflow; do
    rm -rf "$T/copy"
    cp -r "$J" "$T/copy"
    made=$(damage $kind "$T/copy")
    check "$kind: the damage was made ($made pages)" test "$made" -gt 0
    check "$kind: replay does not crash" \
        run_tool replay replay --journal "$T/copy" --pattern 'sitrep.>'
    check "... it fails (exit 2)" grep -qx 2 "$T/replay.rc"
    check "... naming the damaged page" \
        grep -Eq "data.mdb DAMAGED on disk: page [0-9]+ \(tree '[a-z]+'\): " "$T/replay.err"
    check "... and says the journal is damaged" grep -q "is DAMAGED on disk" "$T/replay.err"
    check "$kind: verify does not crash" \
        run_tool verify verify --journal "$T/copy" --trust "$T/trust" --quiet
    check "... it fails as on a journal it cannot open (exit 2)" grep -qx 2 "$T/verify.rc"
    check "... saying the journal is damaged" grep -q "is DAMAGED on disk" "$T/verify.err"
    check "$kind: digest does not crash" run_tool digest digest --journal "$T/copy"
done
check "overflow: the leaf is named, and what is wrong with its overflow page" \
    grep -Eq "data.mdb DAMAGED on disk: page [0-9]+ \(tree 'msg'\): (refers to page [0-9]+, reached already|not the overflow page)" \
    "$T/replay.err"

# Damage at random: a few bytes of a page header, a run of 64 random bytes,
# or one bit, in one random page, each in a fresh copy.
TRIALS=${KNOOP_PAGES_TRIALS:-60}
[ -z "${KNOOP_SOAK:-}" ] || TRIALS=600
crashed=0 refused=0
for t in $(seq 1 "$TRIALS"); do
    rm -rf "$T/copy"
    cp -r "$J" "$T/copy"
    python3 - "$T/copy/data.mdb" "$t" <<'PY'
import random, struct, sys
path, seed = sys.argv[1], int(sys.argv[2])
rnd = random.Random(seed)
data = bytearray(open(path, "rb").read())
ps = struct.unpack_from("<I", data, 16 + 24)[0]
off = rnd.randrange(2, len(data) // ps) * ps
mode = rnd.choice(["header", "run", "bit"])
if mode == "header":
    for _ in range(rnd.randint(1, 4)):
        data[off + rnd.randrange(16)] = rnd.randrange(256)
elif mode == "run":
    s = off + rnd.randrange(ps - 64)
    data[s:s + 64] = bytes(rnd.randrange(256) for _ in range(64))
else:
    data[off + rnd.randrange(ps)] ^= 1 << rnd.randrange(8)
open(path, "wb").write(data)
PY
    run_tool replay replay --journal "$T/copy" --pattern 'sitrep.>' || crashed=$((crashed + 1))
    grep -q "is DAMAGED on disk" "$T/replay.err" && refused=$((refused + 1))
    run_tool verify verify --journal "$T/copy" --chains-only --quiet || crashed=$((crashed + 1))
done
echo "random damage: $TRIALS copies, $refused refused for their pages, $crashed crashes"
check "random damage in $TRIALS copies: no crash" test $crashed -eq 0
check "... and some of it was in the pages' structure" test $refused -gt 0


# ---- The daemons on their own journals ----
# marked_clean FILE: writer.lock as a clean close leaves it, with data.mdb's
# inode, size and ctime
marked_clean() { grep -Eqx "clean [0-9]+ [0-9]+ [0-9]+\.[0-9]{9}" "$1"; }
# A broker walks the pages when the last writer did not close the journal
# (a crash, perhaps on a damaged page, would otherwise repeat at every
# start); a node at every start, as it reads its whole journal then anyway.
stop kcr2-broker-1
BL=$T/kcr2-broker-1/writer.lock
check "a clean stop marks the broker's writer.lock clean" \
    marked_clean "$BL"
: >"$T/kcr2-broker-1.log"
start_broker kcr2-broker-1 "$EP"
check "the broker's start after a clean stop does not walk its pages" \
    lacks "checking every page" "$T/kcr2-broker-1.log"
stop kcr2-broker-1 KILL
check "kill -9 leaves writer.lock saying open" grep -qx open "$T/kcr2-broker-1/writer.lock"
: >"$T/kcr2-broker-1.log"
start_broker kcr2-broker-1 "$EP"
check "the broker's next start walks every page" \
    grep -q "did not close it (a crash, kill -9 or a power cut): checking every page" \
    "$T/kcr2-broker-1.log"
check "... finds no damage" grep -Eq "pages checked in [0-9.]+ s: no damage" \
    "$T/kcr2-broker-1.log"

NODE_ARGS=(--id vr-zeeland --data "$J" --key "$T/keys/vr-zeeland.key" --trust "$T/trust"
           --broker "$B" --subscribe 'sitrep.>')
check "a clean stop left the node's writer.lock marked clean" \
    marked_clean "$J/writer.lock"
start_node vr-zeeland --broker "$B" --subscribe 'sitrep.>'
check "the node walks its pages at every start" \
    grep -Eq "pages checked in [0-9.]+ s: no damage" "$T/vr-zeeland.log"
check "... not as after a crash" lacks "did not close it" "$T/vr-zeeland.log"
check "... and holds all 2003" has_count "$J" 'sitrep.>' 2003
check "a second node on the same journal is refused" \
    exits 1 "$T/second.log" timeout -s KILL 30 "$NODE" "${NODE_ARGS[@]}"
check "... and leaves the running node's mark" grep -qx open "$J/writer.lock"
stop vr-zeeland
check "a node of another partner is refused the journal" \
    exits 1 "$T/other.log" timeout -s KILL 30 "$NODE" --id vr-utrecht --data "$J" \
    --key "$T/keys/vr-utrecht.key" --trust "$T/trust" --broker "$B"
check "... and puts back the clean mark it found (no walk as after a crash next time)" \
    marked_clean "$J/writer.lock"
made=$(damage child "$J")
check "a branch page of the node's journal damaged after a clean stop ($made pages)" \
    test "$made" -gt 0
for try in 1 2; do
    set +e
    timeout -s KILL 30 "$NODE" "${NODE_ARGS[@]}" >"$T/damaged-$try.log" 2>&1
    echo $? >"$T/damaged-$try.rc"
    set -e
    check "start $try on the damaged journal: the node does not start (exit 1), no crash" \
        grep -qx 1 "$T/damaged-$try.rc"
    check "... naming the damaged page" \
        grep -Eq "data.mdb DAMAGED on disk: page [0-9]+ \(tree '[a-z]+'\): " "$T/damaged-$try.log"
    check "... and what to do" grep -q "is damaged beyond use. Keep it for analysis" \
        "$T/damaged-$try.log"
    check "... no sanitizer report" lacks -E "Sanitizer|runtime error|Assertion" "$T/damaged-$try.log"
done
check "the refused start left writer.lock saying open" grep -qx open "$J/writer.lock"

# ---- A broker's journal changed or restored while it was stopped ----
# A clean close writes data.mdb's identity (inode, size, ctime) into
# writer.lock; a start that finds another file, or none closed here, walks
# the pages first, as after a crash (before, it walked nothing and could
# crash on the damage once).
stop kcr2-broker-1
BJ=$T/kcr2-broker-1
check "a clean stop marks the broker's writer.lock clean, with data.mdb's identity" \
    marked_clean "$BJ/writer.lock"
BARGS=(--id kcr2-broker-1 --listen "$EP" --key "$T/keys/kcr2-broker-1.key" --trust "$T/trust"
       --policy "$T/policy")
mkdir -p "$T/restored"
mdb_copy "$BJ" "$T/restored"            # a backup put back in place: no writer.lock
: >"$T/kcr2-broker-1.log"
start_broker kcr2-broker-1 "$EP"
check "a backup (mdb_copy) of the stopped journal changes nothing: no walk at the next start" \
    lacks "checking every page" "$T/kcr2-broker-1.log"
stop kcr2-broker-1
"$BROKER" "${BARGS[@]}" --data "$T/restored" >"$T/restored.log" 2>&1 &
RP=$!
wait_for "restored broker walked" 20 grep -q "pages checked" "$T/restored.log" || true
kill -TERM $RP 2>/dev/null || true
wait $RP 2>/dev/null || true
check "a broker on a restored journal walks its pages first" \
    grep -q "data.mdb was not closed here (no writer.lock: restored or copied into place?): checking every page" \
    "$T/restored.log"
check "... and finds no damage" grep -Eq "pages checked in [0-9.]+ s: no damage" "$T/restored.log"
made=$(damage child "$BJ")
check "a branch page of the stopped broker's journal damaged ($made pages)" test "$made" -gt 0
set +e
timeout -s KILL 30 "$BROKER" "${BARGS[@]}" --data "$BJ" >"$T/bdamaged.log" 2>&1
echo $? >"$T/bdamaged.rc"
set -e
check "the broker's start notices data.mdb changed since its clean close" \
    grep -q "data.mdb changed since the journal was closed cleanly (replaced, copied over or edited): checking every page" \
    "$T/bdamaged.log"
check "... does not start (exit 1), and does not crash" grep -qx 1 "$T/bdamaged.rc"
check "... naming the damaged page" \
    grep -Eq "data.mdb DAMAGED on disk: page [0-9]+ \(tree '[a-z]+'\): " "$T/bdamaged.log"
check "... no sanitizer report" lacks -E "Sanitizer|runtime error|Assertion" "$T/bdamaged.log"
