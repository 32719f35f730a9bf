#!/usr/bin/env bash
# bench/compare.sh — knooppunt beside NATS JetStream and RabbitMQ on the same
# workloads W1-W4, in one invocation, and one table of medians with ratios.
#
#   bench/compare.sh [--rounds N] [--quick] [--dir DIR] [options]
#
# It installs what is missing (deploy/install-deps.sh --bench: nats-server,
# libnats-dev, rabbitmq-server, librabbitmq-dev), builds the benches, then runs
# N rounds (default 3). Each round runs the machine's bare limits (bench_journal:
# fsync; bench_zmq: ZeroMQ with and without CURVE) and the three systems one
# after the other (bench_pubsub --only W1,W2,W3,W4, bench_nats, bench_rabbitmq),
# starting with a different system each round, so that a slow spell of a
# shared machine does not fall on one system only. It prints the medians over
# the rounds as a Markdown table, with knooppunt/NATS and knooppunt/RabbitMQ,
# and what each system guarantees when it acknowledges.
#
# Options:
#   --rounds N       rounds (default 3)
#   --quick          every bench in its --quick sizes (about 5 minutes a round)
#   --dir DIR        where the benches put their data (default: the current
#                    directory; must not be tmpfs, which ignores fsync)
#   --build DIR      build directory (default: build/ in the repository)
#   --systems LIST   a subset of knooppunt,nats,rabbitmq
#   --window W       knooppunt's publisher keeps W requests of 1,000 in flight
#                    (bench_pubsub --window; default 8), as the NATS and RabbitMQ
#                    publishers keep 256 unconfirmed (their best settings here:
#                    NATS JetStream gains nothing from a larger window)
#   --out FILE       keep every JSON line here (default DIR/compare-DATE.jsonl)
#   --no-install     do not run deploy/install-deps.sh --bench
#   --no-build       use the binaries already in the build directory
#   --help           this text
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
rounds=3
quick=0
dir=.
build=$repo/build
systems=knooppunt,nats,rabbitmq
out=
window=8
install=1
do_build=1

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "compare: $*" >&2; exit 1; }
need_arg() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value (try --help)"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) need_arg "$@"; rounds=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --dir) need_arg "$@"; dir=$2; shift 2 ;;
    --build) need_arg "$@"; build=$2; shift 2 ;;
    --systems) need_arg "$@"; systems=$2; shift 2 ;;
    --out) need_arg "$@"; out=$2; shift 2 ;;
    --window) need_arg "$@"; window=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    --no-build) do_build=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
case "$rounds" in ''|*[!0-9]*|0) die "--rounds needs a positive number, not '$rounds'" ;; esac
case "$window" in ''|*[!0-9]*|0) die "--window needs a positive number, not '$window'" ;; esac
IFS=, read -r -a sys_list <<< "$systems"
for s in "${sys_list[@]}"; do
  case "$s" in knooppunt|nats|rabbitmq) ;; *) die "--systems: unknown system '$s' (knooppunt, nats, rabbitmq)" ;; esac
done
[ -d "$dir" ] || die "--dir $dir: no such directory"
dir=$(cd "$dir" && pwd)
if [ "$(stat -f -c %T "$dir")" = tmpfs ]; then
  die "$dir is on tmpfs, which ignores fsync: the figures would mean nothing (use --dir on a disk)"
fi
[ -n "$out" ] || out=$dir/compare-$(date -u +%Y%m%dT%H%M%SZ).jsonl
: > "$out" || die "cannot write $out"
logs=$(mktemp -d "$dir/compare-logs-XXXXXX")
trap 'rm -rf "$logs"' EXIT

if [ "$install" -eq 1 ]; then
  "$repo/deploy/install-deps.sh" --bench >&2 ||
    die "deploy/install-deps.sh --bench failed: the peers cannot be installed (run it as root, or use --no-install and --systems knooppunt)"
fi

if [ "$do_build" -eq 1 ]; then
  echo "compare: building in $build" >&2
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$logs/cmake.log" 2>&1 ||
    { tail -20 "$logs/cmake.log" >&2; die "cmake configure failed"; }
  targets=(bench_pubsub bench_journal bench_zmq knoop-broker knoop-node)
  for s in "${sys_list[@]}"; do
    case "$s" in nats) targets+=(bench_nats) ;; rabbitmq) targets+=(bench_rabbitmq) ;; esac
  done
  cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}" \
    >>"$logs/cmake.log" 2>&1 ||
    { tail -30 "$logs/cmake.log" >&2; die "build failed (is libnats-dev/librabbitmq-dev installed? deploy/install-deps.sh --bench)"; }
fi
bin_pubsub=$build/bench/bench_pubsub
bin_journal=$build/bench/bench_journal
bin_zmq=$build/bench/bench_zmq
bin_nats=$build/bench/peers/bench_nats
bin_rabbitmq=$build/bench/peers/bench_rabbitmq
for b in "$bin_journal" "$bin_zmq"; do [ -x "$b" ] || die "$b not built"; done
for s in "${sys_list[@]}"; do
  b=bin_$s; [ "$s" = knooppunt ] && b=bin_pubsub
  [ -x "${!b}" ] || die "${!b} not built (for $s)"
done

qflag=()
[ "$quick" -eq 1 ] && qflag=(--quick)

# run NAME ROUND CMD...: its JSON lines, tagged, into $out; its stderr to a log.
failures=0
run() {
  local name=$1 round=$2; shift 2
  local log=$logs/$name-$round.log t0=$SECONDS
  echo "compare: round $round: $name" >&2
  if "$@" 2>"$log" | jq -c --arg s "$name" --argjson r "$round" '. + {run: $s, round: $r}' >>"$out"; then
    echo "compare: round $round: $name done in $((SECONDS - t0)) s" >&2
  else
    failures=$((failures + 1))
    echo "compare: round $round: $name FAILED (its figures are missing from the table); last lines of its log:" >&2
    tail -15 "$log" >&2
  fi
}

echo "compare: $rounds round(s)$([ "$quick" -eq 1 ] && echo ' (quick)') in $dir; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= rounds; r++)); do
  if [ "$quick" -eq 1 ]; then
    run limits-journal "$r" "$bin_journal" "$dir" --seconds 1
    run limits-zmq "$r" "$bin_zmq" --messages 200000
  else
    run limits-journal "$r" "$bin_journal" "$dir" --seconds 2
    run limits-zmq "$r" "$bin_zmq"
  fi
  n=${#sys_list[@]}
  for ((i = 0; i < n; i++)); do
    s=${sys_list[$(((i + r - 1) % n))]}
    case "$s" in
      knooppunt) run knooppunt "$r" "$bin_pubsub" "$dir" --only W1,W2,W3,W4 --window "$window" "${qflag[@]}" ;;
      nats) run nats "$r" "$bin_nats" "$dir" "${qflag[@]}" ;;
      rabbitmq) run rabbitmq "$r" "$bin_rabbitmq" "$dir" "${qflag[@]}" ;;
    esac
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$out" "$rounds" "$quick" "$load_start" "$load_end" "$(nproc)" "$window" <<'EOF'
import json, statistics, sys

path, rounds, quick, load0, load1, ncpu, window = sys.argv[1:8]
rows = [json.loads(l) for l in open(path) if l.strip()]

def values(system, workload, *keys):
    out = []
    for r in rows:
        if r.get("run") != system or (workload and r.get("workload") != workload):
            continue
        v = r
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            # a run that did not complete has no throughput to compare
            if r.get("complete") is False:
                continue
            out.append(float(v))
    return out

def med(vs):
    return statistics.median(vs) if vs else None

def fmt(v, unit, n):
    if v is None:
        return "n/a"
    s = f"{v:,.0f}" if unit == "rate" else f"{v:.2f}"
    return s + ("" if n == int(rounds) else f" ({n}/{rounds})")

def ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}×"

# (label, unit, knooppunt source, peer source, target)
table = [
    ("W1 durable publish, node-acked (msg/s)", "rate", ("W1", "node_acked_msgs_per_s"),
     ("W1", "acked_msgs_per_s"), "≥ 2× NATS"),
    ("W1 durable publish, broker-acked (msg/s)", "rate", ("W1", "broker_acked_msgs_per_s"),
     ("W1", "acked_msgs_per_s"), "≥ 1.5× NATS"),
    ("W2 fan-out to 25 (deliveries/s)", "rate", ("W2", "aggregate_delivered_msgs_per_s"),
     ("W2", "aggregate_delivered_msgs_per_s"), "≥ 1.5× NATS"),
    ("W3 catch-up by a fresh consumer (msg/s)", "rate", ("W3", "catchup_msgs_per_s"),
     ("W3", "catchup_msgs_per_s"), "≥ 1.3× NATS"),
    ("W4 latency at 1,000/s, p50 (ms)", "ms", ("W4", "latency_ms", "p50"),
     ("W4", "latency_ms", "p50"), "≤ 1.0 ms"),
    ("W4 latency at 1,000/s, p99 (ms)", "ms", ("W4", "latency_ms", "p99"),
     ("W4", "latency_ms", "p99"), "≤ 2.0 ms"),
    ("W4 latency at 1,000/s, max (ms)", "ms", ("W4", "latency_ms", "max"),
     ("W4", "latency_ms", "max"), "≤ 10 ms"),
    ("W4 same node, p99 (ms)", "ms", ("W4", "local_latency_ms", "p99"), None, "≤ 1 ms"),
]

# The peers name themselves with their version ("NATS JetStream 2.9.10").
def version(run, default):
    for r in rows:
        if r.get("run") == run and isinstance(r.get("system"), str):
            return r["system"]
    return default

print()
q = " (--quick sizes)" if quick == "1" else ""
print(f"Medians of {rounds} interleaved round(s){q}; 256-byte payloads; "
      f"{ncpu} CPUs, load average {load0} at start, {load1} at the end. "
      f"Publishers in W1-W3: knooppunt {window} request(s) of 1,000 in flight, "
      f"the peers 256 unconfirmed messages.")
print()
print(f"| workload | knooppunt | {version('nats', 'NATS JetStream')} | "
      f"{version('rabbitmq', 'RabbitMQ quorum queues')} | knooppunt/NATS | knooppunt/RabbitMQ | target |")
print("|---|---|---|---|---|---|---|")
for label, unit, ksrc, psrc, target in table:
    kv = values("knooppunt", *ksrc)
    nv = values("nats", *psrc) if psrc else []
    rv = values("rabbitmq", *psrc) if psrc else []
    k, n, r = med(kv), med(nv), med(rv)
    cells = [fmt(k, unit, len(kv)),
             fmt(n, unit, len(nv)) if psrc else "—",
             fmt(r, unit, len(rv)) if psrc else "—",
             ratio(k, n) if psrc else "—",
             ratio(k, r) if psrc else "—"]
    print(f"| {label} | " + " | ".join(cells) + f" | {target} |")
print()
print("Ratios are knooppunt divided by the peer: above 1 is better for knooppunt on")
print("the rates, below 1 is better on the latencies.")

lost = [(r["run"], r["round"], r.get("lost")) for r in rows
        if r.get("workload") == "W4" and r.get("lost")]
incomplete = [(r["run"], r["round"], r["workload"]) for r in rows
              if r.get("complete") is False]
for s, rd, n in lost:
    print(f"Note: {s} lost {n} message(s) in W4 of round {rd}.")
for s, rd, w in incomplete:
    print(f"Note: {s} did not complete {w} in round {rd}: left out of the medians.")

fs = med(values("limits-journal", None, "fsync_per_s"))
b1024 = med(values("limits-journal", None, "append_batch1024_msgs_per_s"))
zp = med(values("limits-zmq", None, "plain_msgs_per_s"))
zc = med(values("limits-zmq", None, "curve_msgs_per_s"))
print()
print("The machine's bare limits (medians over the rounds):")
if fs:
    print(f"- fsync: {fs:,.0f}/s (pwrite + fdatasync of 4 KiB, mean {1e6 / fs:,.0f} µs) on the bench's disk;"
          f" an LMDB commit syncs twice")
if b1024:
    print(f"- LMDB journal, batched fsynced appends (1,024 per commit): {b1024:,.0f} msg/s")
if zp and zc:
    print(f"- ZeroMQ over loopback TCP, one 256-byte message per frame: {zp:,.0f} msg/s plain, "
          f"{zc:,.0f} msg/s with CURVE")
print()
print("What each system guarantees when it acknowledges:")
print("- knooppunt: node-acked = the message is in the publishing node's LMDB journal and")
print("  fdatasynced; broker-acked = also fsynced in the broker's journal. Every link is")
print("  CurveZMQ (encrypted, both ends authenticated), every stream is hash-chained and")
print("  head-signed, and receivers verify before they store.")
print("- NATS JetStream: acked = the server has written the message to the stream's file")
print("  store (the OS page cache); it does not fsync before the ack (it syncs")
print("  periodically), so one replica can lose acked messages on power loss. Plaintext")
print("  TCP without authentication here.")
print("- RabbitMQ quorum queues: confirmed = the message is in the queue's Raft log, whose")
print("  write-ahead log is fdatasynced before the confirm (one member here). Plaintext")
print("  AMQP with the guest login.")
EOF
echo >&2
echo "compare: every JSON line is in $out" >&2
if [ "$failures" -ne 0 ]; then
  echo "compare: $failures run(s) failed; see above" >&2
  exit 1
fi
