#!/usr/bin/env bash
# Key rotation while a partner keeps publishing, with real brokers and nodes
# under a KCR2 root:
#  - a node takes up its rotated key without a restart (its key file is
#    replaced once the new certificate is issued and published): new
#    messages under a new epoch signed by the new key, the link reconnects
#    on the new Curve key, the old key is then revoked by fingerprint;
#  - a broker's next key is announced (issued and published over the mesh)
#    before the broker switches to it; the node and the peer broker reach it
#    on its new key without anything copied;
# and through both switches a publisher never stops: a subscriber on the
# other broker gets every message exactly once, both brokers hold exactly
# what was acknowledged, and an auditor holding only the root certificate
# verifies both journals across the switches.
source "$(dirname "$0")/lib.sh"

make_root
issue kcr2-broker-a broker; issue kcr2-broker-b broker
cp "$T/issued/kcr2-broker-"*.cert "$T/trust/"
sitrep_policy
read -r -a FREE <<<"$(free_ports 2)"
EPA="tcp://127.0.0.1:${FREE[0]}"; EPB="tcp://127.0.0.1:${FREE[1]}"
start_broker kcr2-broker-a "$EPA" --peer "kcr2-broker-b@$EPB" --anti-entropy-ms 500
start_broker kcr2-broker-b "$EPB" --peer "kcr2-broker-a@$EPA" --anti-entropy-ms 500

issue vr-pub region --api "$(api kcr2-broker-a)"
issue vr-sub region --api "$(api kcr2-broker-b)"
for id in vr-pub vr-sub; do node_trust $id; done
for b in kcr2-broker-a kcr2-broker-b; do
    wait_for "$b learns vr-pub and vr-sub" 15 bash -c \
        "grep -q 'learned certificate of vr-pub' '$T/$b.log' && grep -q 'learned certificate of vr-sub' '$T/$b.log'" || true
done
start_n() { start_node_in "$1" "$2" "$T/trust-$2" "${@:3}"; }   # start_n NAME ID ARGS...
start_n pub vr-pub --broker "kcr2-broker-a@$EPA"
start_n sub vr-sub --broker "kcr2-broker-b@$EPB" --subscribe 'sitrep.>'
wait_for "vr-pub's link up" 15 grep -q "link up to kcr2-broker-a" "$T/pub.log" || true

# The publisher: batches of 10 until told to stop; every message it was
# told is stored is one line of acked; a failed call is recorded.
(
    i=0
    while [ ! -e "$T/stop" ]; do
        awk -v s="$i" 'BEGIN { for (k = s; k < s + 10; k++)
            printf "{\"incident_id\":\"pub-%d\",\"summary\":\"melding\"}\n", k }' >"$T/batch"
        if ! "$KNOOP" pub --api "ipc://$T/pub/api.sock" --topic sitrep.vr-pub \
                --type knoop.crisis.v1.SitRep --file "$T/batch" --timeout 5 \
                >>"$T/acked" 2>>"$T/pub.err"; then
            echo "publish of pub-$i.. failed" >>"$T/pub.fail"
            break
        fi
        i=$((i + 10))
        sleep 0.05
    done
) &
LOOP=$!
acked() { wc -l <"$T/acked" 2>/dev/null || echo 0; }
acked_at_least() { [ "$(acked)" -ge "$1" ]; }
wait_for "publishing under the first key" 20 acked_at_least 50 || true

# --- the node's key, rotated without a restart ---
"$KNOOP" keys rotate --key "$T/keys/vr-pub.key" --out "$T/keys2" >"$T/rotate.out"
OLDFP=$(sed -n 's/.*old key: *fingerprint \([0-9a-f]*\).*/\1/p' "$T/rotate.out")
NEWFP=$(sed -n 's/.*new key:.*fingerprint \([0-9a-f]*\).*/\1/p' "$T/rotate.out")
check "keys rotate names the old and the new fingerprint" test -n "$OLDFP" -a -n "$NEWFP"
# The key file replaced before the certificate is known: the node waits.
mv "$T/keys/vr-pub.key" "$T/vr-pub-old.key"
mv "$T/keys2/vr-pub.key" "$T/keys/vr-pub.key"
wait_for "vr-pub notices the new key file" 10 grep -q "key file .* changed, but the node keeps its current key: the trust store has no certificate" "$T/pub.log" || true
check "the node keeps its key while the new one has no certificate, and says why" \
    grep -q "key file .* changed, but the node keeps its current key: the trust store has no certificate" "$T/pub.log"
"$KNOOP" keys issue --root "$ROOT" --cert "$T/keys2/vr-pub.cert" --out "$T/issued2" \
    --passphrase-file "$PASSF" --api "$(api kcr2-broker-a)" >/dev/null
wait_for "vr-pub switches to its new key" 15 grep -q "switched to its new key $NEWFP" "$T/pub.log" || true
check "the node switched to its new key without a restart" grep -q "switched to its new key $NEWFP" "$T/pub.log"
check "  as the same process" kill -0 "$PID_pub"
AT_SWITCH=$(acked)
wait_for "publishing goes on under the new key" 20 acked_at_least $((AT_SWITCH + 50)) || true
check "publishing went on after the switch" acked_at_least $((AT_SWITCH + 50))
check "the node's link came up again on the new key" \
    test "$(grep -c "link up to kcr2-broker-a" "$T/pub.log")" -ge 2
# Whoever else holds the old key (a copy that leaked) is still admitted on it
# while it is valid: a second vr-pub node on the old key, subscribed. Once
# that key is revoked its session is cut, although vr-pub's new key stays
# valid: a session is held to the key it was admitted on.
"$NODE" --id vr-pub --data "$T/old-key-holder" --key "$T/vr-pub-old.key" --trust "$T/trust-vr-pub" \
    --heartbeat-ms 200 --timeout-ms 2000 --broker "kcr2-broker-a@$EPA" --subscribe 'sitrep.>' \
    >>"$T/old-key-holder.log" 2>&1 &
PIDS+=($!)
wait_for "the old key's holder links up" 15 grep -q "link up to kcr2-broker-a" "$T/old-key-holder.log" || true
check "a second vr-pub on the old (still valid) key is admitted" \
    grep -q "link up to kcr2-broker-a" "$T/old-key-holder.log"
CUT_BEFORE=$(grep -c "session vr-pub closed: key revoked" "$T/kcr2-broker-a.log" || true)
"$KNOOP" keys revoke --root "$ROOT" --fingerprint "$OLDFP" --reason rotated \
    --passphrase-file "$PASSF" --api "$(api kcr2-broker-a)" >/dev/null
for b in kcr2-broker-a kcr2-broker-b; do
    wait_for "$b applies the revocation" 10 grep -q "applied revocation list 1" "$T/$b.log" || true
done
wait_for "the old key's session is cut" 10 \
    more_than "${CUT_BEFORE:-0}" 'session vr-pub closed: key revoked' "$T/kcr2-broker-a.log" || true
check "revoking the old key cuts the session opened on it, though vr-pub's new key is valid" \
    more_than "${CUT_BEFORE:-0}" 'session vr-pub closed: key revoked' "$T/kcr2-broker-a.log"
wait_for "the old key's holder is refused at the handshake" 10 \
    grep -q "refused vr-pub (key $OLDFP) .*key revoked" "$T/kcr2-broker-a.log" || true
check "  and its next handshake on the old key is refused" \
    grep -q "refused vr-pub (key $OLDFP) .*key revoked" "$T/kcr2-broker-a.log"
AT_REVOKE=$(acked)
wait_for "publishing goes on after the old key is revoked" 20 acked_at_least $((AT_REVOKE + 30)) || true
check "revoking the old key leaves the node publishing on its new key" acked_at_least $((AT_REVOKE + 30))

# --- the root's revocation list file lost: numbering would restart ---
mv "$T/root/kcr2-root.revocations" "$T/lost.revocations"
check "a restarted list (number 1 again, other content) is refused by the broker" bash -c \
    "! '$KNOOP' keys revoke --root '$ROOT' --id vr-gone --passphrase-file '$PASSF' \
        --api '$(api kcr2-broker-a)' >'$T/stale.out' 2>&1"
check "  saying the list file was lost and how to continue" \
    grep -q "differs from the list 1 this broker applied.*knoop keys revoke --list COPY" "$T/stale.out"
cp "$T/kcr2-broker-a/trust/revocations.list" "$T/root/copy.revocations"
check "revoking again from a broker's copy of the list continues its numbering" \
    "$KNOOP" keys revoke --root "$ROOT" --id vr-gone --passphrase-file "$PASSF" \
        --list "$T/root/copy.revocations" --api "$(api kcr2-broker-a)"
check "  and keeps the old key's revocation" grep -q "^revoked - $OLDFP " "$T/root/copy.revocations"
wait_for "broker b applies list 2" 10 grep -q "applied revocation list 2" "$T/kcr2-broker-b.log" || true
check "broker b applied list 2" grep -q "applied revocation list 2" "$T/kcr2-broker-b.log"

# --- broker a's key: announced over the mesh, then the broker switches ---
"$KNOOP" keys rotate --key "$T/keys/kcr2-broker-a.key" --out "$T/keys3" >"$T/rotate-a.out"
BNEWFP=$(sed -n 's/.*new key:.*fingerprint \([0-9a-f]*\).*/\1/p' "$T/rotate-a.out")
"$KNOOP" keys issue --root "$ROOT" --cert "$T/keys3/kcr2-broker-a.cert" --out "$T/issued3" \
    --passphrase-file "$PASSF" --api "$(api kcr2-broker-a)" >/dev/null
for f in pub.log kcr2-broker-b.log; do
    wait_for "$f: broker a's next key announced" 15 grep -q "learned certificate of kcr2-broker-a (broker, key $BNEWFP" "$T/$f" || true
    check "${f%.log} learned broker a's next key over the mesh before the switch" \
        grep -q "learned certificate of kcr2-broker-a (broker, key $BNEWFP" "$T/$f"
done
check "nothing was copied into the nodes' or brokers' trust directories" \
    lacks "$BNEWFP" "$T/trust" "$T/trust-vr-pub" "$T/trust-vr-sub"
UPS=$(grep -c "link up to kcr2-broker-a" "$T/pub.log")
stop kcr2-broker-a
mv "$T/keys/kcr2-broker-a.key" "$T/kcr2-broker-a-old.key"
mv "$T/keys3/kcr2-broker-a.key" "$T/keys/kcr2-broker-a.key"
start_broker kcr2-broker-a "$EPA" --peer "kcr2-broker-b@$EPB" --anti-entropy-ms 500
wait_for "vr-pub reconnects to broker a on its new key" 30 \
    more_than "$UPS" 'link up to kcr2-broker-a' "$T/pub.log" || true
check "the node reconnected to broker a after its key switch" \
    more_than "$UPS" 'link up to kcr2-broker-a' "$T/pub.log"
check "  pinning broker a's new key" grep -q "broker kcr2-broker-a: connecting with its key $BNEWFP" "$T/pub.log"
wait_for "broker b peers with broker a on its new key" 30 \
    grep -q "peer kcr2-broker-a: connecting with its key $BNEWFP" "$T/kcr2-broker-b.log" || true
check "broker b reached broker a on its new key" \
    grep -q "peer kcr2-broker-a: connecting with its key $BNEWFP" "$T/kcr2-broker-b.log"
AT_BSWITCH=$(acked)
wait_for "publishing goes on after broker a switched" 20 acked_at_least $((AT_BSWITCH + 50)) || true

touch "$T/stop"
wait "$LOOP"
check "the publisher never failed" test ! -e "$T/pub.fail"
[ -e "$T/pub.fail" ] && cat "$T/pub.fail" "$T/pub.err"
TOTAL=$(acked)
echo "published $TOTAL messages; node key switched at $AT_SWITCH, broker key at $AT_BSWITCH"
wait_for "the subscriber holds all $TOTAL" 30 has_count "$T/sub" 'sitrep.vr-pub' "$TOTAL" || true
check "a subscriber on the other broker got every one of the $TOTAL messages, none twice" \
    has_count "$T/sub" 'sitrep.vr-pub' "$TOTAL"
for b in kcr2-broker-a kcr2-broker-b; do
    wait_for "$b holds $TOTAL" 20 has_count "$T/$b" 'sitrep.vr-pub' "$TOTAL" || true
    check "$b holds exactly $TOTAL of vr-pub" has_count "$T/$b" 'sitrep.vr-pub' "$TOTAL"
done

mkdir -p "$T/auditor"
cp "$T/root/kcr2-root.cert" "$T/auditor/"
for b in kcr2-broker-a kcr2-broker-b; do
    "$KNOOP" audit verify --journal "$T/$b" --trust "$T/auditor" --pattern '>' >"$T/audit-$b.out" 2>&1 || true
    check "an auditor with only the root verifies $b's journal across both switches" \
        grep -q "^verify: OK" "$T/audit-$b.out"
    grep -q "^verify: OK" "$T/audit-$b.out" || head -n 30 "$T/audit-$b.out"
    check "  vr-pub's stream in two epochs, both verified to their last head" \
        test "$(grep -c '^ok .*vr-pub sitrep.vr-pub epoch .*unverified tail 0' "$T/audit-$b.out")" = 2
done
