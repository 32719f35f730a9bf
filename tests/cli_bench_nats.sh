#!/usr/bin/env bash
# bench/peers/bench_nats: NATS JetStream on W1-W4 in its smallest sizes, and
# Ctrl-C stops its server. Skipped where libnats-dev or nats-server is not
# installed (deploy/install-deps.sh --bench). Asserts no performance.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peer_bench.sh"

BENCH=$BIN_DIR/bench/peers/bench_nats
[ -x "$BENCH" ] || skip "bench_nats not built (libnats-dev missing: deploy/install-deps.sh --bench)"
command -v nats-server >/dev/null || skip "nats-server not installed (deploy/install-deps.sh --bench)"
command -v jq >/dev/null || skip "jq not installed"

peer_bench_run "$BENCH" "$T/run/bench_nats-"

# Ctrl-C in the middle of a run: the server is stopped, the temp dir removed.
mkdir -p "$T/int"
"$BENCH" "$T/int" --only W3 --catchup 5000000 >/dev/null 2>"$T/int.log" &
bp=$!
PIDS+=("$bp")
wait_for "the bench to start W3" 60 grep -q "W3 catch-up" "$T/int.log" || true
check "the server runs during the bench" pgrep -f -- "$T/int/bench_nats-" >/dev/null
kill -INT "$bp"
rc=0
wait "$bp" || rc=$?
check "SIGINT: the bench exits 130" [ "$rc" -eq 130 ]
check "SIGINT: the server is stopped" no_process "$T/int/bench_nats-"
check "SIGINT: the temp dir is removed" bash -c "[ -z \"\$(ls -A '$T/int')\" ]"
