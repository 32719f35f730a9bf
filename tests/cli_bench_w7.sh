#!/usr/bin/env bash
# bench_pubsub W7 in a small size: 50 partners in the bench's load generator
# (each its own key, certificate issued by a test root, CURVE session from its
# own loopback address), groups of 5, on a 3-broker mesh; 3 s at 1 msg/s each,
# then the three brokers restart at once. Checks that the JSON line is
# well-formed and complete: every partner linked and caught up, before and
# after the restart, every message acknowledged and delivered to each other
# member of its group exactly in order. Asserts no performance figure.
source "$(dirname "$0")/lib.sh"

BENCH=$BIN_DIR/bench/bench_pubsub
[ -x "$BENCH" ] || skip "bench_pubsub not built"
command -v jq >/dev/null || skip "jq not installed"

read -r pa pb pc <<< "$(free_ports 3)"
mkdir -p "$T/run"
rc=0
timeout 240 "$BENCH" "$T/run" --only W7 --partners 50 --group 5 --w7-seconds 3 \
    --idle-seconds 1 --ports "$pa,$pb,$pc" >"$T/w7.json" 2>"$T/bench.log" || rc=$?
check "the bench exits 0" [ "$rc" -eq 0 ]
check "one JSON line" [ "$(wc -l < "$T/w7.json")" -eq 1 ]
check "it parses" jq -e . "$T/w7.json" >/dev/null
j() { jq -r "$1" "$T/w7.json"; }
check "workload W7, 50 partners, groups of 5, 3 brokers" \
    [ "$(j '"\(.workload) \(.partners) \(.group) \(.brokers)"')" = "W7 50 5 3" ]
check "all 50 linked and caught up at the start" [ "$(j .all_linked)" = true ]
check "all 50 linked and caught up after the restart" [ "$(j .restart.complete)" = true ]
pub=$(j .published)
check "messages were published ($pub)" [ "$pub" -gt 0 ]
check "every message acknowledged by a broker" [ "$(j .acked)" -eq "$pub" ]
check "deliveries due: 4 per message (the others of its group)" \
    [ "$(j .deliveries_due)" -eq $((pub * 4)) ]
check "every delivery received, in order" [ "$(j .delivered)" -eq "$((pub * 4))" ]
check "nothing missing, no gap" [ "$(j '.missing + .gaps')" -eq 0 ]
check "latency samples were taken" [ "$(j .latency_ms.samples)" -gt 0 ]
check "figures are numbers" jq -e '(.rss_per_session_kib|type) == "number" and
    (.idle_cpu_pct.total|type) == "number" and (.latency_ms.p99|type) == "number" and
    (.restart.caught_up_s >= 0) and (.restart.relinked_s >= 0)' "$T/w7.json" >/dev/null
check "each session was started twice at least (start, restart)" [ "$(j .sessions)" -ge 100 ]
check "no daemon crashed or logged an error" [ "$(j '.daemon_bad_exits + .daemon_errors')" -eq 0 ]
check "the bench's directory is removed" bash -c "[ -z \"\$(ls -A '$T/run')\" ]"
[ "$FAIL" -eq 0 ] || tail -20 "$T/bench.log"
