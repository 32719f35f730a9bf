#!/usr/bin/env bash
# A session whose key expires while it is idle is dropped at the expiry, not
# at the next frame or the silence timeout. The broker's housekeeping keeps,
# per session, the time its key stays good until and looks again only then
# or after a trust reload (issue 14, W7's idle CPU): this shows that the
# remembered time is the certificate's end (with the 300 s allowed for
# clock skew), so no partner keeps reading past it.
#   - vr-utrecht's certificate ends (skew included) 45 s after start (room
#     for a slow start under the sanitizer);
#   - its node links, subscribes, and is then paused (SIGSTOP): it sends
#     nothing more, so only the housekeeping can cut it;
#   - heartbeats every 10 s, silence timeout 90 s: a drop for silence would
#     come far later;
#   - the broker drops it within a few seconds of the end, naming the key;
#     vr-zeeland, whose key is good, keeps its session.
source "$(dirname "$0")/lib.sh"

SKEW=300   # KNOOP_CERT_SKEW_SECONDS
END_IN=45
start_s=$(date +%s)
from=$(date -u -d "@$((start_s - 86400 - SKEW + END_IN))" +%Y-%m-%dT%H:%M:%SZ)
make_partner kcr2-broker-1 broker
make_partner vr-utrecht region --valid-from "$from" --valid-days 1
make_partner vr-zeeland region
sitrep_policy
EP="tcp://127.0.0.1:$(free_port)"
start_broker kcr2-broker-1 "$EP" --heartbeat-ms 10000 --timeout-ms 90000
start_node vr-utrecht --broker "kcr2-broker-1@$EP" --subscribe 'sitrep.>' --heartbeat-ms 10000 --timeout-ms 90000
start_node vr-zeeland --broker "kcr2-broker-1@$EP" --subscribe 'sitrep.>' --heartbeat-ms 10000 --timeout-ms 90000

linked() { grep -q "link up to kcr2-broker-1" "$T/$1.log"; }
wait_for "vr-utrecht linked" 10 linked vr-utrecht
wait_for "vr-zeeland linked" 10 linked vr-zeeland
check "vr-utrecht linked before its key ran out" linked vr-utrecht
kill -STOP "$(pid_of vr-utrecht)"

gone() { grep -q "session vr-utrecht closed: key revoked" "$T/kcr2-broker-1.log"; }
wait_for "the broker drops vr-utrecht's idle session" $((END_IN + 20)) gone || true
kill -CONT "$(pid_of vr-utrecht)"
check "the broker dropped vr-utrecht's idle session" gone
# when, by the broker's own log line (not by when this script looked)
stamp=$(grep -m1 "session vr-utrecht closed: key revoked" "$T/kcr2-broker-1.log" | cut -d' ' -f1)
dropped_ms=$(date -d "$stamp" +%s%3N 2>/dev/null || echo 0)
end_ms=$(((start_s + END_IN) * 1000))
echo "certificate ends (skew included) at +${END_IN} s; dropped at +$(((dropped_ms - start_s * 1000))) ms"
check "... not before its key ran out" test "$dropped_ms" -ge "$end_ms"
check "... within 5 s of it (housekeeping, not the 90 s silence timeout)" \
    test "$dropped_ms" -le $((end_ms + 5000))
check "... naming the key as no longer trusted" \
    grep -q "no longer trusted\|key revoked" "$T/kcr2-broker-1.log"
check "vr-zeeland's session stays" \
    bash -c "! grep -q 'session vr-zeeland closed' '$T/kcr2-broker-1.log'"
