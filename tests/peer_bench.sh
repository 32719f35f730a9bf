# tests/peer_bench.sh — checks shared by cli_bench_nats.sh and
# cli_bench_rabbitmq.sh (sourced after lib.sh). Performance is never asserted:
# these check that a peer bench runs its server, completes W1-W4 with every
# message accounted for, prints one well-formed JSON line per workload, and
# leaves no server or temp dir behind.

# no_process PATTERN: no process has PATTERN in its command line (a function,
# so that no shell's own command line holds the pattern)
no_process() { ! pgrep -f -- "$1" >/dev/null; }

# peer_bench_run BENCH_BIN SERVER_PATTERN: the bench in its smallest sizes.
peer_bench_run() {
    local bin=$1 pattern=$2 name
    name=$(basename "$bin")
    check "$name --help exits 0 and shows the usage" \
        bash -c "'$bin' --help | grep -q -- '--quick'"
    local rc=0
    "$bin" --bogus >"$T/bogus.out" 2>&1 || rc=$?
    check "$name --bogus exits 2 naming the option" \
        bash -c "[ $rc -eq 2 ] && grep -q \"unknown option '--bogus'\" '$T/bogus.out'"

    mkdir -p "$T/run"
    rc=0
    timeout 400 "$bin" "$T/run" --quick --messages 2000 --consumers 3 --catchup 5000 \
        --seconds 1 --rate 500 >"$T/out.jsonl" 2>"$T/$name.log" || rc=$?
    check "$name exits 0" [ "$rc" -eq 0 ]
    check "$name prints one JSON line per workload, W1 to W4" \
        bash -c "[ \"\$(jq -r .workload '$T/out.jsonl' | tr '\n' ' ')\" = 'W1 W2 W3 W4 ' ]"
    # jqw W EXPR: the one line of workload W satisfies EXPR
    jqw() { jq -s -e --arg w "$1" "map(select(.workload == \$w)) | length == 1 and (.[0] | $2)" \
        "$T/out.jsonl" >/dev/null; }
    check "W1: 2000 messages acknowledged at a positive rate" \
        jqw W1 '.messages == 2000 and .acked_msgs_per_s > 0'
    check "W2: each of 3 consumers got all 2000 (6000 deliveries)" \
        jqw W2 '.complete and .consumers_complete == 3 and .delivered == 6000'
    check "W3: the fresh consumer got all 5000" \
        jqw W3 '.complete and .held == 5000 and .catchup_msgs_per_s > 0'
    check "W4: 500 published, none lost, 500 latency samples and 500 acks" \
        jqw W4 '.published == 500 and .lost == 0 and .latency_ms.samples == 500 and .publish_ack_ms.samples == 500 and .latency_ms.p50 > 0'
    check "every line names the system and the payload size" \
        jq -s -e 'length == 4 and (map(.payload_bytes == 256 and (.system | type == "string")
                  and (.fsync_before_ack | type == "boolean")) | all)' "$T/out.jsonl"
    check "the server is stopped" no_process "$pattern"
    check "the bench's temp dir is removed" \
        bash -c "[ -z \"\$(ls -A '$T/run')\" ]"
}
