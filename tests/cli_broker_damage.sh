#!/usr/bin/env bash
# A broker with a damaged message in its journal (issue 8, item 4; catalogue
# F11): bytes flipped in one message's payload in kcr2-broker-2's journal
# while it is stopped. When it restarts and a node catches up from it:
#   - the broker never forwards the damaged bytes;
#   - it takes the message again from its peer kcr2-broker-1 and repairs it
#     in place;
#   - the node gets every message once, unaltered, in order;
#   - the broker's journal verifies clean afterwards.
source "$(dirname "$0")/lib.sh"

make_sitrep_partners
make_partner kcr2-broker-2 broker
sitrep_policy
start_broker_pair
start_node vr-utrecht --broker "$B1"
N=50
pub_numbered vr-utrecht $N m 'mesh-@-dijkring-veilig'
wait_for "kcr2-broker-2 holds all $N" 20 has_count "$T/kcr2-broker-2" 'sitrep.>' $N
stop kcr2-broker-2

python3 - "$T/kcr2-broker-2/data.mdb" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
n, i = 0, data.find(b"mesh-20-dijkring")
while i >= 0:
    data[i + 8:i + 16] = b"DIJKRING"
    n += 1
    i = data.find(b"mesh-20-dijkring", i + 1)
open(path, "wb").write(data)
print(f"flipped the payload of message 20 in {n} place(s)")
sys.exit(0 if n else 1)
PY
start_broker kcr2-broker-2 "$EP2" --peer "kcr2-broker-1@$EP1" --anti-entropy-ms 500
start_node vr-zeeland --broker "kcr2-broker-2@$EP2" --subscribe 'sitrep.>'
"$KNOOP" sub --api "$(api vr-zeeland)" --pattern 'sitrep.>' --from-start --count $N --timeout 20 \
    >"$T/received.jsonl" 2>/dev/null || true
B2="$T/kcr2-broker-2.log"
check "the broker finds the damage when it reads the message" grep -q "DAMAGED on disk: stream [0-9a-f]* seq 20" "$B2"
check "... asks its peer for it again" grep -q "damaged message(s) in the journal: asked 1 peer(s) for them again" "$B2"
check "... and repairs it in place" grep -q "repaired stream .* seq 20 with a good copy" "$B2"
check "the node gets all $N, once" \
    test "$(grep -o 'mesh-[0-9]*-dijkring' "$T/received.jsonl" | sort -u | wc -l)" -eq $N -a "$(wc -l <"$T/received.jsonl")" -eq $N
check "... never the damaged bytes" lacks 'DIJKRING' "$T/received.jsonl"
check "... in order" bash -c "grep -o 'mesh-[0-9]*' '$T/received.jsonl' | sort -c"
stop kcr2-broker-2
"$KNOOP" audit verify --journal "$T/kcr2-broker-2" --trust "$T/trust" --quiet >"$T/audit.out" 2>&1 || true
cat "$T/audit.out"
check "the broker's journal verifies clean afterwards" grep -Eq "verify: OK: .* 0 damaged on disk" "$T/audit.out"
