#!/usr/bin/env bash
# run.sh BINARY SEEDS: one fuzz target for a bounded time (ctest runs it).
# Every input in SEEDS (the seed corpus and the crashes found before, which
# stay there as regression cases) runs first; then libFuzzer mutates for
# KNOOP_FUZZ_SECONDS (default 5; 300 with KNOOP_SOAK=1). New corpus entries go
# to a temporary directory; a crash fails the test and its input is printed
# in base64 so that it can be added to SEEDS.
set -euo pipefail
bin=$1 seeds=$2
secs=${KNOOP_FUZZ_SECONDS:-$([ -n "${KNOOP_SOAK:-}" ] && echo 300 || echo 5)}
work=$(mktemp -d "${TMPDIR:-/tmp}/knoop-fuzz-XXXXXX")
trap 'rm -rf "$work"' EXIT
[ -x "$bin" ] || { echo "missing $bin"; exit 1; }
[ -d "$seeds" ] && [ -n "$(ls -A "$seeds")" ] || { echo "no seed corpus in $seeds"; exit 1; }
mkdir -p "$work/corpus"
if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$seeds" >"$work/log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^Done|INITED" "$work/log" || true
    echo "$(basename "$bin"): no crash in ${secs}s, $(ls "$work/corpus" | wc -l) new corpus entries"
    exit 0
fi
tail -n 60 "$work/log"
for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
    [ -f "$f" ] || continue
    echo "== $(basename "$f") (add it to $seeds as a regression case):"
    base64 -w 0 "$f"; echo
done
exit 1
