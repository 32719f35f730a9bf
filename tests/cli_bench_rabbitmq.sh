#!/usr/bin/env bash
# bench/peers/bench_rabbitmq: RabbitMQ quorum queues on W1-W4 in its smallest
# sizes, on a throwaway node (its own epmd, ports and data dir). Skipped where
# librabbitmq-dev or rabbitmq-server is not installed
# (deploy/install-deps.sh --bench). The node takes 10-70 s to start on a
# loaded 2-core machine. Asserts no performance.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peer_bench.sh"

BENCH=$BIN_DIR/bench/peers/bench_rabbitmq
[ -x "$BENCH" ] || skip "bench_rabbitmq not built (librabbitmq-dev missing: deploy/install-deps.sh --bench)"
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || skip "rabbitmq-server not installed (deploy/install-deps.sh --bench)"
command -v epmd >/dev/null || skip "epmd (erlang) not installed"
command -v jq >/dev/null || skip "jq not installed"

epmd_before=$(pgrep -xc epmd || true)
peer_bench_run "$BENCH" "$T/run/bench_rabbitmq-"
check "its own epmd is stopped too" [ "$(pgrep -xc epmd || true)" -eq "$epmd_before" ]
