#!/usr/bin/env bash
# F8: a full disk under a publishing node. The node's data directory is a
# small ext4 volume on a loop device; a filler file takes nearly all of it and
# an application publishes until the journal cannot grow. Then:
#   - the publisher gets an error that names the full disk, never "input/output
#     error", and never a false success: every acknowledged message is stored
#     and reaches the broker and the other partner;
#   - status stays readable and says so (last error with its time, the
#     full-disk counter), and delivery to others goes on;
#   - once space returns, publishing works again without a restart and the
#     last error clears; the journal verifies.
# Needs root and a loop device (CI runs as root); otherwise reported skipped.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root to mount a loop-device ext4 volume"
command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 missing (e2fsprogs)"
[ -e /dev/loop-control ] || skip "no loop devices (/dev/loop-control missing)"

VOL=$T/vr-utrecht
mkdir -p "$VOL"
truncate -s 32M "$T/disk.img"
mkfs.ext4 -q -F -m 0 "$T/disk.img" || skip "mkfs.ext4 failed on $T/disk.img"
mount -o loop "$T/disk.img" "$VOL" 2>"$T/mount.err" \
    || skip "cannot mount a loop device here: $(cat "$T/mount.err")"
at_exit "umount -l '$VOL'"
chmod 0700 "$VOL"

start_sitrep_scene

# Leave about 3 MiB free, then publish 64 KiB messages in chunks of 4.
free_kib() { df --output=avail -k "$VOL" | tail -n 1 | tr -d ' '; }
fallocate -l $(( ($(free_kib) - 3072) * 1024 )) "$VOL/filler"
echo "free on the volume before publishing: $(free_kib) KiB"
: >"$T/acked.ids"
refused=0
for c in $(seq 1 60); do
    pub_chunk vr-utrecht f "$c" 4 || { refused=1; break; }
done
echo "publisher: $(cat "$T/pub.err")"
check "the publisher was refused once the disk was full" test "$refused" = 1
check "the refusal names the full disk and the directory" \
    grep -q "disk full on $VOL: .* free" "$T/pub.err"
check "and does not call it an input/output error" lacks -i 'input/output' "$T/pub.err"
acked=$(wc -l <"$T/acked.ids")
echo "acknowledged before the disk filled: $acked"
check "messages were acknowledged before the disk filled" test "$acked" -ge 4

"$KNOOP" status --api "$(api vr-utrecht)" >"$T/status.txt" 2>&1 || true
"$KNOOP" status --api "$(api vr-utrecht)" --json >"$T/status.json" 2>&1 || true
check "status still answers and shows the full disk as last error" \
    grep -q "last error .*disk full on $VOL" "$T/status.txt"
check "with the time it happened" grep -q "^  at .*20[0-9][0-9]-" "$T/status.txt"
check "the full-disk counter moved" \
    test "$(jq '.journal.full_errors' "$T/status.json")" -ge 1
check "the node logged the full disk" grep -q "disk full on $VOL" "$T/vr-utrecht.log"
# So little room: the node sends only after its commits (a batch the disk
# refuses never left), which is what keeps "nothing unacknowledged" below.
check "near a full disk the node sends after its commit (send_before_commit.late_low_space)" \
    test "$(jq '.send_before_commit.late_low_space' "$T/status.json")" -ge 1
check "and sent nothing before a commit there" \
    test "$(jq '.send_before_commit.sent' "$T/status.json")" -eq 0
check "the full-disk alarm is raised in status (storage_alarm DISK FULL, journal.full = disk)" \
    test "$(jq -r '.storage_alarm | split(":")[0]' "$T/status.json") $(jq -r '.journal.full' "$T/status.json")" = "DISK FULL disk"

sort "$T/acked.ids" >"$T/acked.sorted"
wait_for "vr-zeeland has every acknowledged message" 30 \
    bash -c "[ -z \"\$(comm -23 '$T/acked.sorted' <('$KNOOP' audit replay --journal '$T/vr-zeeland' --pattern 'sitrep.>' | grep -o '\"incident_id\":\"f-[0-9]*-[0-9]*\"' | cut -d'\"' -f4 | sort -u))\" ]" || true
"$KNOOP" audit replay --journal "$T/vr-zeeland" --pattern 'sitrep.>' | incident_ids f | sort \
    >"$T/zeeland.ids"
check "delivery to the other partner went on: every acknowledged message is there" \
    test -z "$(comm -23 "$T/acked.sorted" "$T/zeeland.ids")"
check "and nothing unacknowledged (no message the publisher was told failed)" \
    test -z "$(comm -13 "$T/acked.sorted" "$T/zeeland.ids")"

# Space returns: publishing resumes without a restart, the error clears.
rm -f "$VOL/filler"
healed=$SECONDS
check "publishing works again once space returns" \
    "$KNOOP" pub --api "$(api vr-utrecht)" --topic sitrep.vr-utrecht \
        --type knoop.crisis.v1.SitRep --json '{"incident_id":"f-after","summary":"room again"}'
wait_for "the last error cleared" 5 \
    bash -c "'$KNOOP' status --api '$(api vr-utrecht)' | grep -q '^last error  none'" || true
check "the last error cleared once the journal wrote again" \
    bash -c "'$KNOOP' status --api '$(api vr-utrecht)' | grep -q '^last error  none'"
check "and the full-disk alarm with it" \
    test "$("$KNOOP" status --api "$(api vr-utrecht)" --json | jq -r '.storage_alarm // "none"')" = none
check "the node's pid is the one started before the disk filled (no restart)" \
    kill -0 "$(pid_of vr-utrecht)"
echo "f-after" >>"$T/acked.ids"
conv=$(converge_secs 30 'sitrep.>' "$VOL" "$T/kcr2-broker-1" "$T/vr-zeeland")
verdict "disk full (loop-mounted ext4)" \
    "the publishing node's 32 MiB ext4 volume filled until the journal could not write, then space freed" \
    1 "$T/acked.ids" "$conv" 'sitrep.>' "$VOL" "$T/kcr2-broker-1" "$T/vr-zeeland"
stop vr-utrecht
check "the journal on the volume verifies" \
    "$KNOOP" audit verify --journal "$VOL" --trust "$T/trust" --quiet
