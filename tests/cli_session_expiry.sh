#!/usr/bin/env bash
# A session whose key expires while it is idle is dropped at the expiry, not
# at the next frame or the silence timeout. The broker's housekeeping keeps,
# per session, the time its key stays good until and looks again only then
# or after a trust reload (issue 14, W7's idle CPU): this shows that the
# remembered time is the certificate's end (with the 300 s allowed for
# clock skew), so no partner keeps reading past it.
#   - vr-utrecht's certificate ends (skew included) about 20 s after start;
#   - its node links, subscribes, and is then paused (SIGSTOP): it sends
#     nothing more, so only the housekeeping can cut it;
#   - heartbeats every 10 s, silence timeout 60 s: a drop for silence would
#     come far later;
#   - the broker drops it within a few seconds of the end, naming the key;
#     vr-zeeland, whose key is good, keeps its session.
source "$(dirname "$0")/lib.sh"

SKEW=300   # KNOOP_CERT_SKEW_SECONDS
END_IN=20
start_s=$(date +%s)
from=$(date -u -d "@$((start_s - 86400 - SKEW + END_IN))" +%Y-%m-%dT%H:%M:%SZ)
make_partner kcr2-broker-1 broker
make_partner vr-utrecht region --valid-from "$from" --valid-days 1
make_partner vr-zeeland region
sitrep_policy
EP="tcp://127.0.0.1:$(free_port)"
start_broker kcr2-broker-1 "$EP" --heartbeat-ms 10000 --timeout-ms 60000
start_node vr-utrecht --broker "kcr2-broker-1@$EP" --subscribe 'sitrep.>' --heartbeat-ms 10000 --timeout-ms 60000
start_node vr-zeeland --broker "kcr2-broker-1@$EP" --subscribe 'sitrep.>' --heartbeat-ms 10000 --timeout-ms 60000

linked() { grep -q "link up to kcr2-broker-1" "$T/$1.log"; }
wait_for "vr-utrecht linked" 10 linked vr-utrecht
wait_for "vr-zeeland linked" 10 linked vr-zeeland
check "vr-utrecht linked before its key ran out" linked vr-utrecht
kill -STOP "$(pid_of vr-utrecht)"

gone() { grep -q "session vr-utrecht closed: key revoked" "$T/kcr2-broker-1.log"; }
wait_for "the broker drops vr-utrecht's idle session" $((END_IN + 20)) gone || true
dropped_s=$(date +%s)
kill -CONT "$(pid_of vr-utrecht)"
check "the broker dropped vr-utrecht's idle session" gone
end_s=$((start_s + END_IN))
echo "certificate ends (skew included) at +${END_IN} s; dropped at +$((dropped_s - start_s)) s"
check "... not before its key ran out" test "$dropped_s" -ge "$end_s"
check "... within 3 s of it (housekeeping, not the 60 s silence timeout)" \
    test "$dropped_s" -le $((end_s + 3))
check "... naming the key as no longer trusted" \
    grep -q "no longer trusted\|key revoked" "$T/kcr2-broker-1.log"
check "vr-zeeland's session stays" \
    bash -c "! grep -q 'session vr-zeeland closed' '$T/kcr2-broker-1.log'"
