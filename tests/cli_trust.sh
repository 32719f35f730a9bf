#!/usr/bin/env bash
# Trust that scales, with real brokers and nodes: a KCR2 root issues every
# certificate; the brokers' trust directory holds only the root and the
# broker certificates. A partner issued after the brokers started joins
# with nothing copied to them (its certificate travels on trust.certs);
# certificates from another root, with a bad signature, of role root, or
# expired are refused with the reason in the log; a revocation published
# at one broker cuts the partner's live sessions on all three within 5 s,
# also on a broker that was partitioned when it was issued (after it
# heals); what the partner signed before still verifies in audit, later
# messages are refused; an auditor holding only the root cert verifies.
source "$(dirname "$0")/lib.sh"

make_root

# make_root, issue ID ROLE [args] and node_trust ID: tests/lib.sh
# start_inst NAME ID ARGS...: one more node process for partner ID (own data dir).
start_inst() { start_node_in "$1" "$2" "$T/trust-$2" "${@:3}"; }
publish() {   # publish NAME ID FROM COUNT
    awk -v n="$2" -v s="$3" -v c="$4" 'BEGIN { for (i = s; i < s + c; i++)
        printf "{\"incident_id\":\"%s-%d\",\"summary\":\"melding\"}\n", n, i }' >"$T/p.$1.$3"
    "$KNOOP" pub --api "ipc://$T/$1/api.sock" --topic "sitrep.$2" --type knoop.crisis.v1.SitRep \
        --file "$T/p.$1.$3" --timeout 5
}
sessions_of() {  # sessions_of BROKER PARTNER: number of its sessions there
    "$KNOOP" status --api "$(api "$1")" --json 2>/dev/null | tr -d ' \n' \
        | { grep -o "\"partner\":\"$2\"" || true; } | wc -l
}
has_sessions() { [ "$(sessions_of "$1" "$2")" = "$3" ]; }

# Broker c's certificate expires in 20 days: brokers and nodes warn.
issue kcr2-broker-a broker; issue kcr2-broker-b broker; issue kcr2-broker-c broker --days 20
cp "$T/issued/kcr2-broker-"*.cert "$T/trust/"
sitrep_policy
start_cut_mesh                  # broker c can be cut off (link_cut toc/ca/cb)
check "the brokers' trust directory holds only the root and the brokers" \
    test "$(ls "$T/trust" | sort | tr '\n' ' ')" = \
         "kcr2-broker-a.cert kcr2-broker-b.cert kcr2-broker-c.cert kcr2-root.cert "
check "root key file is mode 600" test "$(stat -c %a "$ROOT")" = 600
check "root key file holds no plain seed" lacks '^seed' "$ROOT"

check "broker c warns in its log that its certificate expires within 30 days" \
    grep -q "certificate of kcr2-broker-c (broker) expires in 19 days" "$T/kcr2-broker-c.log"
check "broker a warns too (it holds c's certificate)" \
    grep -q "certificate of kcr2-broker-c (broker) expires in" "$T/kcr2-broker-a.log"
check "and shows it in its status" bash -c \
    "'$KNOOP' status --api '$(api kcr2-broker-a)' --json | tr -d ' \n' | grep -q '\"certificates_expiring\":\[{\"id\":\"kcr2-broker-c\"'"

# --- a partner issued after the brokers started joins: nothing copied ---
issue vr-utrecht region --api "$(api kcr2-broker-a)"
check "issue --api publishes at broker a" grep -q "published: *kcr2-broker-a trust.certs" "$T/issue-vr-utrecht.out"
issue vr-zeeland region --api "$(api kcr2-broker-b)"
node_trust vr-utrecht; node_trust vr-zeeland
for b in $BROKERS; do
    wait_for "$b learns vr-utrecht" 10 grep -q "learned certificate of vr-utrecht" "$T/$b.log" || true
    check "$b learned vr-utrecht's certificate over the mesh" grep -q "learned certificate of vr-utrecht" "$T/$b.log"
done
check "no partner certificate was copied to the brokers" test ! -e "$T/trust/vr-utrecht.cert"
start_inst ut-a vr-utrecht --broker "kcr2-broker-a@$EPA"
start_inst ut-b vr-utrecht --broker "kcr2-broker-b@$EPB"
start_inst ut-c vr-utrecht --broker "kcr2-broker-c@$EPC"
start_inst zl vr-zeeland --broker "kcr2-broker-b@$EPB" --subscribe 'sitrep.>'
for b in a b c; do
    wait_for "vr-utrecht connected to broker $b" 10 has_sessions kcr2-broker-$b vr-utrecht 1 || true
    check "vr-utrecht has a session on broker $b" has_sessions kcr2-broker-$b vr-utrecht 1
done
check "a node shows the expiring broker certificate in its status" bash -c \
    "'$KNOOP' status --api 'ipc://$T/zl/api.sock' --json | tr -d ' \n' | grep -q '\"certificates_expiring\":\[{\"id\":\"kcr2-broker-c\"'"
check "  and says so in plain status" bash -c \
    "'$KNOOP' status --api 'ipc://$T/zl/api.sock' | grep -q '^CERTIFICATE kcr2-broker-c expires'"
publish ut-a vr-utrecht 1 50 >/dev/null
wait_for "vr-zeeland receives vr-utrecht's 50" 15 has_count "$T/zl" 'sitrep.vr-utrecht' 50 || true
check "another node verifies the new partner's messages (it learned the cert too)" \
    has_count "$T/zl" 'sitrep.vr-utrecht' 50

# --- certificates that must be refused, with the reason in the log ---
"$KNOOP" keys root --id other-root --out "$T/other" --passphrase-file "$PASSF" --kdf-cost interactive >/dev/null
"$KNOOP" keys new --id vr-evil --role region --out "$T/evil" >/dev/null
"$KNOOP" keys issue --root "$T/other/other-root.key" --cert "$T/evil/vr-evil.cert" \
    --out "$T/evil/issued" --passphrase-file "$PASSF" >/dev/null
# refused FILE: the broker refuses to publish it (keys publish exits non-zero).
refused() { ! "$KNOOP" keys publish "$1" --api "$(api kcr2-broker-a)" >"$T/pubout" 2>&1; }
check "a certificate of another root is refused" refused "$T/evil/issued/vr-evil.cert"
check "  with the reason in the log" grep -q "issued by 'other-root', which is not a trusted root" "$T/kcr2-broker-a.log"
sed 's/^role = region/role = national/' "$T/issued/vr-zeeland.cert" >"$T/forged.cert"
check "a certificate with a bad signature is refused" refused "$T/forged.cert"
check "  with the reason in the log" grep -q "signature of root 'kcr2-root' does not verify" "$T/kcr2-broker-a.log"
"$KNOOP" keys new --id vr-late --role region --out "$T/late" >/dev/null
"$KNOOP" keys issue --root "$ROOT" --cert "$T/late/vr-late.cert" --out "$T/late/issued" \
    --valid-from 2020-01-01T00:00:00Z --days 30 --passphrase-file "$PASSF" >/dev/null
check "an expired certificate is refused" refused "$T/late/issued/vr-late.cert"
check "  with the reason in the log" grep -q "certificate of vr-late .* is expired" "$T/kcr2-broker-a.log"
"$KNOOP" keys new --id vr-rootish --role root --out "$T/rootish" >/dev/null 2>&1 || true
if [ -f "$T/rootish/vr-rootish.cert" ]; then
    check "issue refuses to sign a certificate of role root" bash -c \
        "! '$KNOOP' keys issue --root '$ROOT' --cert '$T/rootish/vr-rootish.cert' --out '$T/rootish/i' --passphrase-file '$PASSF' 2>/dev/null"
fi
check "the wrong passphrase does not open the root key" bash -c \
    "printf 'not it\n' >'$T/wrong'; chmod 600 '$T/wrong'; ! '$KNOOP' keys issue --root '$ROOT' --cert '$T/keys/vr-zeeland.cert' --out '$T/x' --passphrase-file '$T/wrong' 2>'$T/wrong.err' && grep -q 'wrong passphrase' '$T/wrong.err'"
chmod 644 "$ROOT"
check "a root key readable by others is refused" bash -c \
    "! '$KNOOP' keys issue --root '$ROOT' --cert '$T/keys/vr-zeeland.cert' --out '$T/x' --passphrase-file '$PASSF' 2>/dev/null"
chmod 600 "$ROOT"

# --- revocation over the mesh, broker c partitioned ---
wait_for "mesh agrees before the partition" 20 mesh_agrees $BROKERS || true
link_cut toc; link_cut ca; link_cut cb
echo "partition: kcr2-broker-c cut from a and b"
sleep 1
"$KNOOP" keys revoke --root "$ROOT" --id vr-utrecht --reason "key lost" --passphrase-file "$PASSF" \
    --api "$(api kcr2-broker-a)" >"$T/revoke.out" 2>&1
check "keys revoke publishes list 1" grep -q "number 1" "$T/revoke.out"
# ms_between FILE1 PATTERN1 FILE2 PATTERN2: from the first line matching
# PATTERN1 in FILE1 to the first matching PATTERN2 in FILE2, by log time.
ms_between() {
    python3 - "$@" <<'PY'
import sys, re, datetime
def first(f, pat):
    for line in open(f, errors="replace"):
        if re.search(pat, line):
            return datetime.datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S.%f")
    sys.exit(1)
a = first(sys.argv[1], sys.argv[2]); b = first(sys.argv[3], sys.argv[4])
print(int((b - a).total_seconds() * 1000))
PY
}
T0="journaled trust.revocations seq 1"
for b in a b; do
    wait_for "broker $b cuts vr-utrecht" 5 has_sessions kcr2-broker-$b vr-utrecht 0 || true
    check "broker $b has no session of vr-utrecht left" has_sessions kcr2-broker-$b vr-utrecht 0
    ms=$(ms_between "$T/kcr2-broker-a.log" "$T0" "$T/kcr2-broker-$b.log" "session vr-utrecht closed: key revoked" || echo 99999)
    echo "broker $b cut vr-utrecht ${ms} ms after the revocation was journaled"
    check "broker $b cut vr-utrecht's live session within 5 s" test "$ms" -le 5000
done
check "the partitioned broker c does not know yet" has_sessions kcr2-broker-c vr-utrecht 1
# What vr-utrecht publishes at c during the partition is dated after the revocation.
publish ut-c vr-utrecht 1000 10 >/dev/null || true
echo "heal $(date -u +%Y-%m-%dT%H:%M:%S.%3N)" >"$T/heal.log"
link_heal toc; link_heal ca; link_heal cb
echo "healed"
wait_for "broker c cuts vr-utrecht after healing" 10 has_sessions kcr2-broker-c vr-utrecht 0 || true
check "broker c cut vr-utrecht after it healed" has_sessions kcr2-broker-c vr-utrecht 0
sed -i 's/^heal //' "$T/heal.log"; sed -i 's/$/ heal/' "$T/heal.log"
ms=$(ms_between "$T/heal.log" "heal" "$T/kcr2-broker-c.log" "session vr-utrecht closed: key revoked" || echo 99999)
echo "broker c cut vr-utrecht ${ms} ms after the links healed"
check "broker c cut vr-utrecht within 5 s of healing" test "$ms" -le 5000
check "broker c logs the revocation it learned on catch-up" grep -q "applied revocation list 1" "$T/kcr2-broker-c.log"
sleep 1
for b in a b c; do
    check "broker $b refuses vr-utrecht's new handshakes" grep -q "refused vr-utrecht .*key revoked" "$T/kcr2-broker-$b.log"
done
check "messages vr-utrecht dated after the revocation are refused by a and b" \
    grep -q "from 'vr-utrecht' .* dated after its key was revoked" "$T/kcr2-broker-a.log"

# --- rotation of vr-zeeland's key while it keeps publishing ---
issue vr-twente region --api "$(api kcr2-broker-a)"
node_trust vr-twente
start_inst tw vr-twente --broker "kcr2-broker-a@$EPA" --subscribe 'sitrep.>'
ROUNDS=12 PER=25
(
    for r in $(seq 1 $ROUNDS); do
        while [ -e "$T/pause" ]; do touch "$T/idle"; sleep 0.1; done
        rm -f "$T/idle"
        until publish zl vr-zeeland $((r * 100)) $PER >>"$T/acked.zl" 2>>"$T/pub-zl.err"; do sleep 0.2; done
        echo "$r" >"$T/round"
    done
) &
LOOP=$!
wait_for "a few rounds published under the old key" 30 bash -c "[ \"\$(cat '$T/round' 2>/dev/null)\" -ge 4 ]" || true
touch "$T/pause"
wait_for "the publisher pauses between two rounds" 30 test -e "$T/idle" || true
stop zl
"$KNOOP" keys rotate --key "$T/keys/vr-zeeland.key" --out "$T/keys2" >"$T/rotate.out"
check "keys rotate makes a new key for the same id" test -f "$T/keys2/vr-zeeland.key"
OLDFP=$(sed -n 's/.*old key: *fingerprint \([0-9a-f]*\).*/\1/p' "$T/rotate.out")
"$KNOOP" keys issue --root "$ROOT" --cert "$T/keys2/vr-zeeland.cert" --out "$T/issued2" \
    --passphrase-file "$PASSF" --api "$(api kcr2-broker-b)" >/dev/null
mkdir -p "$T/trust-vr-zeeland2"
cp "$T/trust/"*.cert "$T/issued2/vr-zeeland.cert" "$T/trust-vr-zeeland2/"
"$NODE" --id vr-zeeland --data "$T/zl" --key "$T/keys2/vr-zeeland.key" --trust "$T/trust-vr-zeeland2" \
    --heartbeat-ms 200 --timeout-ms 2000 --broker "kcr2-broker-b@$EPB" --subscribe 'sitrep.>' \
    >>"$T/zl.log" 2>&1 &
PIDS+=($!)
PID_zl=$!
wait_for "vr-zeeland back on its new key" 10 test -S "$T/zl/api.sock" || true
rm -f "$T/pause"
wait "$LOOP"
TOTAL=$((ROUNDS * PER))
wait_for "vr-twente holds all $TOTAL of vr-zeeland" 30 has_count "$T/tw" 'sitrep.vr-zeeland' $TOTAL || true
check "rotation: a subscriber got every one of vr-zeeland's $TOTAL messages, none twice" \
    has_count "$T/tw" 'sitrep.vr-zeeland' $TOTAL
for b in a b; do
    check "rotation: broker $b holds exactly $TOTAL" has_count "$T/kcr2-broker-$b" 'sitrep.vr-zeeland' $TOTAL
done
# Revocation times are whole seconds and refuse what is dated at or after
# them: let the second of the last message pass before revoking, so that
# nothing published before the revocation shares its second.
sleep 1.2
"$KNOOP" keys revoke --root "$ROOT" --fingerprint "$OLDFP" --reason "rotated" \
    --passphrase-file "$PASSF" --api "$(api kcr2-broker-a)" >/dev/null
sleep 1
check "revoking the old key by fingerprint leaves the node on its new key connected" \
    has_sessions kcr2-broker-b vr-zeeland 1

# --- audit: with only the root certificate ---
mkdir -p "$T/auditor"
cp "$T/root/kcr2-root.cert" "$T/auditor/"
"$KNOOP" audit verify --journal "$T/kcr2-broker-a" --trust "$T/auditor" --pattern 'sitrep.>' >"$T/audit-a.out" 2>&1 || true
check "an auditor with only the root cert verifies broker a's journal" grep -q "^verify: OK" "$T/audit-a.out"
grep -q "^verify: OK" "$T/audit-a.out" || { echo "--- audit of broker a:"; head -n 40 "$T/audit-a.out"; }
check "  across vr-zeeland's key rotation: two epochs, both verified" \
    test "$(grep -c '^ok .*vr-zeeland sitrep.vr-zeeland epoch' "$T/audit-a.out")" = 2
check "  including vr-utrecht's 50 messages from before the revocation" \
    grep -q "^ok .*vr-utrecht sitrep.vr-utrecht .*seq 1..50 verified 1..50" "$T/audit-a.out"
stop kcr2-broker-c
"$KNOOP" audit verify --journal "$T/kcr2-broker-c" --trust "$T/auditor" --pattern 'sitrep.>' >"$T/audit-c.out" 2>&1 || true
check "audit refuses what vr-utrecht signed after the revocation (broker c's journal)" \
    grep -q "dated after the key of 'vr-utrecht' was revoked" "$T/audit-c.out"
"$KNOOP" keys list --trust "$T/trust" --learned "$T/kcr2-broker-a/trust" >"$T/list.out"
check "keys list shows vr-utrecht revoked" grep -q "^vr-utrecht .*revoked " "$T/list.out"
check "keys list shows vr-zeeland issued by kcr2-root" grep -q "^vr-zeeland .*kcr2-root .*valid" "$T/list.out"
