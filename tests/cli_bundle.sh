#!/usr/bin/env bash
# Journal bundles, with real nodes, brokers, keys and files: vr-zeeland's
# node, cut off from everything, publishes; its journal is exported to a
# bundle; the bundle verifies (inspect) and is imported at vr-utrecht's node,
# which never had a link to vr-zeeland and does not know its certificate
# (it comes with the bundle): a durable subscriber there gets every message
# once; importing again stores nothing and says so. A later bundle (--since)
# imported at broker a BEFORE the earlier one is held beyond the gap, then
# the earlier one fills it and vr-twente, a subscriber at broker b, gets
# everything through the mesh. A bundle cut short, one with one byte
# changed, one of a partner no root here issued, and one with messages
# dated after the partner's revocation are refused with the stream and seq
# named, and nothing of them is stored.
# Signed bundles (format version 2, export --key): inspect names the signer
# and says the signature verifies; import takes one whose signer is known;
# a signed bundle with one byte or one signature bit changed is refused by
# the command (the second also by the node, which counts it); one signed by
# a partner no root here issued or by a revoked key is refused by the
# daemon, which counts it (status bundles.refused);
# an unsigned bundle is imported with a warning, or refused with
# --require-signed (and counted).
source "$(dirname "$0")/lib.sh"

# make_root, issue and start_partner (each node with its own trust
# directory: the root, the brokers, itself; nobody else): tests/lib.sh
make_root
for b in kcr2-broker-a kcr2-broker-b; do issue $b broker; done
cp "$T/issued/kcr2-broker-"*.cert "$T/trust/"
for n in vr-zeeland vr-utrecht vr-twente vr-limburg; do issue $n region; done
publish() {   # publish ID FROM COUNT
    sitrep_lines "$1" "$2" "$3" 'melding @' >"$T/p.$1.$2"
    "$KNOOP" pub --api "$(api "$1")" --topic "sitrep.$1" --type knoop.crisis.v1.SitRep \
        --file "$T/p.$1.$2" --no-wait --timeout 10 >/dev/null
}
# next_second: wait until the wall clock is in a later second than now
next_second() { local s; s=$(date +%s); wait_for "the next second" 3 bash -c "[ \$(date +%s) -gt $s ]"; }
# flip_msg15 SRC DST: DST is the bundle SRC with one byte of message 15's payload changed
flip_msg15() {
    local off
    off=$(grep -m1 -obUa 'vr-zeeland-15' "$1" | cut -d: -f1)
    [ -n "$off" ] || { echo "flip_msg15: no message 15 in $1" >&2; return 1; }
    cp "$1" "$2"
    printf 'X' | dd of="$2" bs=1 seek=$((off + 3)) conv=notrunc 2>/dev/null
}
# export_refused ID API: ID's journal, exported with its own trust directory
# to $T/ID.bundle, is refused on import at API (exit 1); import's words are
# in $T/ID.out
export_refused() {
    "$KNOOP" bundle export --journal "$T/$1" --trust "$T/trust-$1" --out "$T/$1.bundle" >/dev/null 2>&1
    exits 1 "$T/$1.out" "$KNOOP" bundle import --api "$2" "$T/$1.bundle"
}
lines_of() { { grep -c "\"origin\":\"$2\"" "$1" 2>/dev/null || true; } | head -1; }
unique_of() { grep -o "\"origin\":\"$2\",\"topic\":\"[^\"]*\",\"epoch\":\"[0-9a-f]*\",\"seq\":\"[0-9]*\"" "$1" | sort -u | wc -l; }

sitrep_policy
EPA="tcp://127.0.0.1:$(free_port)"; EPB="tcp://127.0.0.1:$(free_port)"
start_broker kcr2-broker-a "$EPA" --peer "kcr2-broker-b@$EPB" --anti-entropy-ms 500
start_broker kcr2-broker-b "$EPB" --peer "kcr2-broker-a@$EPA" --anti-entropy-ms 500
# vr-twente joins as partners do: its issued certificate published once
"$KNOOP" keys publish "$T/issued/vr-twente.cert" --api "$(api kcr2-broker-b)" >/dev/null
wait_for "broker a learned vr-twente over the mesh" 10 grep -q "learned certificate of vr-twente" "$T/kcr2-broker-a.log"
start_partner vr-twente --broker "kcr2-broker-b@$EPB" --subscribe 'sitrep.>'
start_partner vr-zeeland                      # no broker: the network is down
start_partner vr-utrecht                      # never linked to vr-zeeland

# --- export at vr-zeeland ---
publish vr-zeeland 1 20
check "--help on export, inspect, import" bash -c "'$KNOOP' bundle export --help | grep -q SYNOPSIS \
    && '$KNOOP' bundle inspect --help | grep -q SYNOPSIS && '$KNOOP' bundle import --help | grep -q SYNOPSIS"
"$KNOOP" bundle export --journal "$T/vr-zeeland" --trust "$T/trust-vr-zeeland" \
    --pattern 'sitrep.>' --out "$T/b1.bundle" >"$T/export1.out" 2>&1
check "export writes 20 messages of 1 stream" grep -q "exported 20 messages of 1 streams" "$T/export1.out"
# A hidden .NAME.cert in the trust directory (an editor's leftover: here an
# older key of vr-zeeland) is not a certificate, for export as for the
# trust store: the same certificates go out as without it.
mkdir -p "$T/stale" "$T/trust-hidden"
"$KNOOP" keys new --id vr-zeeland --role region --out "$T/stale" >/dev/null
cp "$T/trust-vr-zeeland/"*.cert "$T/trust-hidden/"
cp "$T/stale/vr-zeeland.cert" "$T/trust-hidden/.vr-zeeland.cert"
"$KNOOP" bundle export --journal "$T/vr-zeeland" --trust "$T/trust-hidden" \
    --pattern 'sitrep.>' --out "$T/b1h.bundle" >"$T/export1h.out" 2>&1
check "export passes over a hidden .cert file in the trust directory" bash -c \
    "grep -o '[0-9]* certificates' '$T/export1.out' >'$T/c1' && grep -o '[0-9]* certificates' '$T/export1h.out' >'$T/c1h' && [ -s '$T/c1' ] && cmp -s '$T/c1' '$T/c1h'"
check "export never overwrites a bundle" bash -c "! '$KNOOP' bundle export --journal '$T/vr-zeeland' \
    --out '$T/b1.bundle' 2>'$T/ow.err' && grep -q 'never overwritten' '$T/ow.err'"
"$KNOOP" bundle inspect "$T/b1.bundle" --trust "$T/trust-vr-utrecht" >"$T/inspect1.out" 2>&1 \
    && ok "inspect: the bundle verifies against vr-utrecht's roots" \
    || bad "inspect: the bundle verifies against vr-utrecht's roots"
check "inspect names stream, seq range and signer" \
    grep -q "^ok .*vr-zeeland sitrep.vr-zeeland epoch [0-9a-f]* seq 1..20 (20 messages).*signed by vr-zeeland" "$T/inspect1.out"
check "inspect lists vr-zeeland's certificate and its root" bash -c \
    "grep -q '^cert .*vr-zeeland role region' '$T/inspect1.out' && grep -q '^cert .*kcr2-root role root' '$T/inspect1.out'"
check "inspect says an export without --key is unsigned" grep -q "^signer: *none: an unsigned (version 1) bundle" "$T/inspect1.out"
"$KNOOP" bundle export --journal "$T/vr-zeeland" --trust "$T/trust-vr-zeeland" --key "$T/keys/vr-zeeland.key" \
    --pattern 'sitrep.>' --out "$T/b1s.bundle" >"$T/export1s.out" 2>&1
check "export --key signs (format version 2)" grep -q "^signed by vr-zeeland (bundle format version 2)" "$T/export1s.out"
"$KNOOP" bundle inspect "$T/b1s.bundle" --trust "$T/trust-vr-utrecht" >"$T/inspect1s.out" 2>&1 \
    && ok "inspect: the signed bundle verifies against vr-utrecht's roots" \
    || bad "inspect: the signed bundle verifies against vr-utrecht's roots"
check "inspect shows the signer and that its signature verifies" \
    grep -q "^signer: *vr-zeeland key [0-9a-f]*: signature verifies, signer known and not revoked" "$T/inspect1s.out"

# --- import at vr-utrecht: a durable subscriber gets each message once ---
"$KNOOP" sub --api "$(api vr-utrecht)" --pattern 'sitrep.>' --durable d1 --from-start \
    >"$T/sub-utrecht.out" 2>"$T/sub-utrecht.err" &
PIDS+=($!)
"$KNOOP" bundle import --api "$(api vr-utrecht)" "$T/b1.bundle" >"$T/import1.out" 2>&1 \
    && ok "import at vr-utrecht succeeds" || bad "import at vr-utrecht succeeds"
check "import says 20 stored" grep -q "20 messages, 20 stored, 0 held already" "$T/import1.out"
check "import warns that the bundle is unsigned" grep -q "warning: .*b1.bundle is unsigned (bundle format version 1)" "$T/import1.out"
check "vr-utrecht learned vr-zeeland's certificate from the bundle" grep -q "learned certificate of vr-zeeland" "$T/vr-utrecht.log"
check "vr-utrecht's journal holds the 20" has_count "$T/vr-utrecht" 'sitrep.vr-zeeland' 20
check "vr-utrecht's journal equals vr-zeeland's on the stream" same_digest "$T/vr-zeeland" "$T/vr-utrecht" 'sitrep.vr-zeeland'
wait_for "the subscriber at vr-utrecht has 20" 20 test "$(lines_of "$T/sub-utrecht.out" vr-zeeland)" -ge 20 || true
"$KNOOP" bundle import --api "$(api vr-utrecht)" "$T/b1.bundle" >"$T/import2.out" 2>&1 \
    && ok "importing twice succeeds" || bad "importing twice succeeds"
check "importing twice stores nothing and says so" grep -q "nothing new" "$T/import2.out"
check "still 20 in vr-utrecht's journal" has_count "$T/vr-utrecht" 'sitrep.vr-zeeland' 20
"$KNOOP" bundle import --api "$(api vr-utrecht)" "$T/b1s.bundle" >"$T/import2s.out" 2>&1 \
    && ok "the signed bundle is taken (its signer is known)" || bad "the signed bundle is taken (its signer is known)"
check "... with no warning, and nothing new" bash -c "grep -q 'nothing new' '$T/import2s.out' && lacks warning '$T/import2s.out'"
sleep 1     # give a wrong second delivery the chance to show
check "the subscriber got each of the 20 exactly once" bash -c \
    "[ \"\$(grep -c '\"origin\":\"vr-zeeland\"' '$T/sub-utrecht.out')\" = 20 ] && [ \"$(unique_of "$T/sub-utrecht.out" vr-zeeland)\" = 20 ]"

# --- out of order, at a broker; a subscriber elsewhere gets it ---
next_second
SINCE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
publish vr-zeeland 21 10
# through the running node's API this time: it says where its journal and trust are
"$KNOOP" bundle export --api "$(api vr-zeeland)" --pattern 'sitrep.>' --since "$SINCE" \
    --out "$T/b2.bundle" >"$T/export2.out" 2>&1
check "export --api --since takes only the 10 new messages" grep -q "exported 10 messages of 1 streams from 1 origins, 2 certificates" "$T/export2.out"
"$KNOOP" bundle inspect "$T/b2.bundle" >"$T/inspect2.out" 2>&1 \
    && ok "inspect against the bundle's own root" || bad "inspect against the bundle's own root"
check "... says so, names seq 21..30 and that it starts after a gap" bash -c \
    "grep -q 'the roots the bundle carries' '$T/inspect2.out' && grep -q 'seq 21..30 (10 messages).*earlier part arrives' '$T/inspect2.out'"
"$KNOOP" bundle import --api "$(api kcr2-broker-a)" "$T/b2.bundle" >"$T/import3.out" 2>&1 \
    && ok "the later bundle first: broker a takes it" || bad "the later bundle first: broker a takes it"
check "broker a's status counts the 10 imported" bash -c \
    "'$KNOOP' status --api '$(api kcr2-broker-a)' --json | tr -d ' \n' | grep -q '\"bundles\":{\"imported\":10'"
check "vr-twente has nothing of vr-zeeland yet" has_count "$T/vr-twente" 'sitrep.vr-zeeland' 0
"$KNOOP" bundle import --api "$(api kcr2-broker-a)" "$T/b1.bundle" >"$T/import4.out" 2>&1 \
    && ok "then the earlier bundle fills the gap" || bad "then the earlier bundle fills the gap"
wait_for "vr-twente (at broker b) gets all 30 through the mesh" 30 has_count "$T/vr-twente" 'sitrep.vr-zeeland' 30 || true
check "vr-twente holds vr-zeeland's 30, as vr-zeeland does" same_digest "$T/vr-zeeland" "$T/vr-twente" 'sitrep.vr-zeeland'
check "broker b holds them too" has_count "$T/kcr2-broker-b" 'sitrep.vr-zeeland' 30

# --- damaged bundles: refused, stream and seq named, nothing stored ---
"$KNOOP" bundle export --journal "$T/vr-zeeland" --pattern 'sitrep.>' --trust "$T/trust-vr-zeeland" \
    --out "$T/b3.bundle" >/dev/null 2>&1
size=$(stat -c %s "$T/b3.bundle")
head -c $((size * 2 / 3)) "$T/b3.bundle" >"$T/cut.bundle"
check "a bundle cut short is refused (exit 1)" \
    exits 1 "$T/cut.out" "$KNOOP" bundle import --api "$(api vr-utrecht)" "$T/cut.bundle"
check "... naming the truncation and the last complete stream and seq" \
    grep -q "truncated: .*vr-zeeland/sitrep.vr-zeeland seq [0-9]" "$T/cut.out"
check "... and vr-utrecht still holds 20" has_count "$T/vr-utrecht" 'sitrep.vr-zeeland' 20
check "inspect says the cut bundle is damaged (exit 1)" bash -c "exits 1 '$T/cut-inspect.out' \
    '$KNOOP' bundle inspect '$T/cut.bundle' && grep -q 'DAMAGED: truncated' '$T/cut-inspect.out'"
# one byte of message 15's payload changed
flip_msg15 "$T/b3.bundle" "$T/flip.bundle"
check "a bundle with one byte changed is refused (exit 1)" \
    exits 1 "$T/flip.out" "$KNOOP" bundle import --api "$(api vr-utrecht)" "$T/flip.bundle"
check "... because its hash does not match" grep -q "hash does not match" "$T/flip.out"
check "... naming stream and seq" grep -q "stream vr-zeeland/sitrep.vr-zeeland (epoch [0-9a-f]*) seq 16: does not link to seq 15" "$T/flip.out"
check "... and vr-utrecht still holds 20" has_count "$T/vr-utrecht" 'sitrep.vr-zeeland' 20

# --- a partner no root here issued ---
"$KNOOP" keys root --id other-root --out "$T/root2" --passphrase-file "$PASSF" --kdf-cost interactive >/dev/null
"$KNOOP" keys new --id vr-rogue --role region --out "$T/keys" >/dev/null
"$KNOOP" keys issue --root "$T/root2/other-root.key" --cert "$T/keys/vr-rogue.cert" --out "$T/issued2" \
    --passphrase-file "$PASSF" >/dev/null
mkdir -p "$T/trust-vr-rogue"; cp "$T/root2/other-root.cert" "$T/issued2/vr-rogue.cert" "$T/trust-vr-rogue/"
start_node_in vr-rogue vr-rogue "$T/trust-vr-rogue"
publish vr-rogue 1 3
check "a stream of a partner no root here issued is refused (exit 1)" \
    export_refused vr-rogue "$(api vr-utrecht)"
check "... naming stream, seq and the unknown partner" \
    grep -q "stream vr-rogue/sitrep.vr-rogue (epoch [0-9a-f]*) seq 1: unknown partner vr-rogue" "$T/vr-rogue.out"
check "... and nothing of it is stored" has_count "$T/vr-utrecht" 'sitrep.vr-rogue' 0
check "vr-utrecht did not learn the other root's certificate" bash -c "! ls '$T/vr-utrecht/trust/' | grep -q vr-rogue"

# --- a revoked partner: what it signed after its revocation is refused ---
start_partner vr-limburg
publish vr-limburg 1 5
next_second
AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
publish vr-limburg 6 5
"$KNOOP" keys revoke --root "$ROOT" --id vr-limburg --at "$AT" --reason "key lost" \
    --passphrase-file "$PASSF" --api "$(api kcr2-broker-a)" >"$T/revoke.out" 2>&1
wait_for "broker a applied the revocation" 10 grep -q "applied revocation list 1" "$T/kcr2-broker-a.log" || true
check "a stream with messages after the partner's revocation is refused (exit 1)" \
    export_refused vr-limburg "$(api kcr2-broker-a)"
check "... naming stream and the first seq after the revocation" \
    grep -q "stream vr-limburg/sitrep.vr-limburg (epoch [0-9a-f]*) seq 6: dated after the key of vr-limburg was revoked" "$T/vr-limburg.out"
check "... and broker a stores none of it" has_count "$T/kcr2-broker-a" 'sitrep.vr-limburg' 0

check "every journal verifies" bash -c "'$KNOOP' audit verify --journal '$T/vr-utrecht' --trust '$T/trust' --quiet >/dev/null \
    && '$KNOOP' audit verify --journal '$T/kcr2-broker-a' --trust '$T/trust' --quiet >/dev/null"

# --- signed bundles refused ---
# refused_at API: the daemon's count of refused imports
refused_at() { "$KNOOP" status --api "$1" --json | jq -r '.bundles.refused'; }
head -c 20 "$T/b1s.bundle" >"$T/stub.bundle"
check "inspect of a bundle cut inside its header: exit 1, no signer read" \
    bash -c "exits 1 '$T/stub.out' '$KNOOP' bundle inspect '$T/stub.bundle' \
        && grep -q '^signer: *unknown: no header could be read' '$T/stub.out'"
# one byte of a message changed in a signed bundle: refused before the daemon is asked
flip_msg15 "$T/b1s.bundle" "$T/flips.bundle"
check "a signed bundle with one byte changed is refused (exit 1), its hash named" \
    bash -c "exits 1 '$T/flips.out' '$KNOOP' bundle import --api '$(api vr-utrecht)' '$T/flips.bundle' \
        && grep -q 'refused, nothing imported: .*hash does not match' '$T/flips.out'"
# one bit of the signature (the last bytes of the file) changed
size=$(stat -c %s "$T/b1s.bundle")
cp "$T/b1s.bundle" "$T/sigflip.bundle"
last=$(tail -c 1 "$T/b1s.bundle" | od -An -tu1 | tr -d ' ')
printf "\\$(printf '%03o' $(( last ^ 1 )))" | dd of="$T/sigflip.bundle" bs=1 seek=$((size - 1)) conv=notrunc 2>/dev/null
check "... the copy with one signature bit changed differs from it" bash -c "! cmp -s '$T/b1s.bundle' '$T/sigflip.bundle'"
R0=$(refused_at "$(api vr-utrecht)")
check "a bundle whose signature does not verify is refused (exit 1), signer named" \
    bash -c "exits 1 '$T/sigflip.out' '$KNOOP' bundle import --api '$(api vr-utrecht)' '$T/sigflip.bundle' \
        && grep -q 'forged or changed: the bundle.s signature does not verify with the key its header names (signer vr-zeeland key' '$T/sigflip.out'"
check "... by the node too" \
    grep -q "refused it too (counted there): .*bundle signature of vr-zeeland (key [0-9a-f]*) does not verify" "$T/sigflip.out"
check "... which counts it" test "$(refused_at "$(api vr-utrecht)")" = $((R0 + 1))
check "inspect says the signature is not verified (exit 1)" \
    bash -c "exits 1 '$T/sigflip-inspect.out' '$KNOOP' bundle inspect '$T/sigflip.bundle' \
        --trust '$T/trust-vr-utrecht' && grep -q '^signer: *vr-zeeland: signature NOT verified' '$T/sigflip-inspect.out'"
# vr-zeeland's messages, signed by vr-rogue (a root vr-utrecht does not trust)
R0=$(refused_at "$(api vr-utrecht)")
"$KNOOP" bundle export --journal "$T/vr-zeeland" --trust "$T/trust-vr-zeeland" --trust "$T/trust-vr-rogue" \
    --key "$T/keys/vr-rogue.key" --pattern 'sitrep.>' --out "$T/rogue-signed.bundle" >/dev/null 2>&1
check "a bundle signed by a partner unknown here is refused (exit 1)" \
    exits 1 "$T/rogue-signed.out" "$KNOOP" bundle import --api "$(api vr-utrecht)" "$T/rogue-signed.bundle"
check "... naming the unknown signer" grep -q "refused by .*bundle signer vr-rogue is unknown here" "$T/rogue-signed.out"
check "... and vr-utrecht counts the refusal" test "$(refused_at "$(api vr-utrecht)")" = $((R0 + 1))
# signed by vr-limburg, whose key broker a knows revoked
R0=$(refused_at "$(api kcr2-broker-a)")
"$KNOOP" bundle export --journal "$T/vr-zeeland" --trust "$T/trust-vr-zeeland" --trust "$T/trust-vr-limburg" \
    --key "$T/keys/vr-limburg.key" --pattern 'sitrep.>' --out "$T/revoked-signed.bundle" >/dev/null 2>&1
check "a bundle signed by a revoked key is refused (exit 1)" exits 1 "$T/revoked-signed.out" \
    "$KNOOP" bundle import --api "$(api kcr2-broker-a)" "$T/revoked-signed.bundle"
check "... naming the revoked signer" grep -q "refused by .*bundle signer vr-limburg: its key [0-9a-f]* was revoked" "$T/revoked-signed.out"
check "... and broker a counts the refusal" test "$(refused_at "$(api kcr2-broker-a)")" = $((R0 + 1))
# an unsigned bundle with --require-signed
R0=$(refused_at "$(api vr-utrecht)")
check "--require-signed refuses an unsigned bundle (exit 1)" exits 1 "$T/require.out" \
    "$KNOOP" bundle import --api "$(api vr-utrecht)" --require-signed "$T/b1.bundle"
check "... saying why" grep -q "unsigned bundle (format version 1) refused: --require-signed" "$T/require.out"
check "... and vr-utrecht counts the refusal" test "$(refused_at "$(api vr-utrecht)")" = $((R0 + 1))
"$KNOOP" bundle import --api "$(api vr-utrecht)" --require-signed "$T/b1s.bundle" >"$T/require2.out" 2>&1 \
    && ok "--require-signed takes a signed bundle" || bad "--require-signed takes a signed bundle"
