#!/usr/bin/env bash
# Prometheus metrics of knoop-broker and knoop-node (--metrics HOST:PORT and
# the "metrics" config key): promtool accepts both expositions, and a real
# Prometheus started here scrapes both and its HTTP API returns the series
# for messages in (with the number actually published) and for the journal's
# commit (fsync) latency. Skipped (77) without prometheus/promtool.
source "$(dirname "$0")/lib.sh"

PROM=${KNOOP_PROMETHEUS:-$(command -v prometheus || true)}
PROMTOOL=$(command -v promtool || true)
if [ -z "$PROM" ] || [ -z "$PROMTOOL" ]; then
    echo "SKIP: no prometheus/promtool (apt-get install prometheus)"; trap - EXIT; rm -rf "$T"; exit 77
fi

make_partner kcr2-broker-1 broker
make_partner kcr2-broker-2 broker
make_partner vr-utrecht region
make_partner vr-zeeland region
printf 'role:region publish grip.{id}\nrole:region publish sitrep.{id}\nrole:region subscribe grip.>\n' >"$T/policy"
BM=$(free_port)
NM=$(free_port)
EP="ipc://$T/b.sock"
EP2="ipc://$T/b2.sock"
start_broker kcr2-broker-1 "$EP" --metrics "127.0.0.1:$BM" --peer "kcr2-broker-2@$EP2" --anti-entropy-ms 300
start_broker kcr2-broker-2 "$EP2" --peer "kcr2-broker-1@$EP" --anti-entropy-ms 300
cat >"$T/node.conf" <<C
[node]
metrics = 127.0.0.1:$NM
C
start_node vr-utrecht --broker "kcr2-broker-1@$EP" --subscribe 'grip.>' --config "$T/node.conf"
check "the broker logs its metrics endpoint" grep -q "metrics on http://127.0.0.1:$BM/metrics" "$T/kcr2-broker-1.log"

check "a bad --metrics address stops the node with a clear error" bash -c \
    "'$NODE' --id vr-utrecht --data '$T/x' --key '$T/keys/vr-utrecht.key' --trust '$T/trust' --metrics 'localhost' 2>&1 | grep -q 'not a numeric HOST:PORT'"
check "a --metrics port in use stops the broker with a clear error" bash -c \
    "'$BROKER' --id kcr2-broker-1 --listen 'ipc://$T/b2.sock' --data '$T/b2' --key '$T/keys/kcr2-broker-1.key' --trust '$T/trust' --policy '$T/policy' --metrics 127.0.0.1:$BM 2>&1 | grep -q 'cannot serve metrics on 127.0.0.1:$BM'"

N=7
for i in $(seq 1 $N); do
    "$KNOOP" pub --api "$(api vr-utrecht)" --topic grip.vr-utrecht --type knoop.crisis.v1.GripLevel \
        --key "inc-$i/vr-utrecht" --priority flash \
        --json "{\"incident_id\":\"inc-$i\",\"region\":\"vr-utrecht\",\"level\":\"GRIP_1\"}" >/dev/null
done
"$KNOOP" pub --api "$(api vr-utrecht)" --topic sitrep.vr-utrecht --type knoop.crisis.v1.SitRep \
    --key s --json '{"summary":"x"}' >/dev/null
wait_for "the broker has them" 10 has_count "$T/kcr2-broker-1" '>' $((N + 1))
# a second node catches up the GRIPs from the broker: messages out
start_node vr-zeeland --broker "kcr2-broker-1@$EP" --subscribe 'grip.>'
wait_for "vr-zeeland has the $N GRIPs" 20 has_count "$T/vr-zeeland" 'grip.>' $N
wait_for "broker 2 has them too" 20 has_count "$T/kcr2-broker-2" '>' $((N + 1))
peer_synced() { curl -s --max-time 5 "http://127.0.0.1:$BM/metrics" | grep -qx 'knoop_peer_in_sync{peer="kcr2-broker-2"} 1'; }
wait_for "broker 1 in sync with broker 2" 20 peer_synced

# one refusal by policy (vr-utrecht may not publish on vr-zeeland's SitRep topic)
"$KNOOP" pub --api "$(api vr-utrecht)" --topic sitrep.vr-zeeland --type knoop.crisis.v1.SitRep \
    --json '{"summary":"niet van mij"}' >/dev/null 2>&1 && bad "a publish the policy refuses exits 0"
refused() { curl -s --max-time 5 "http://127.0.0.1:$BM/metrics" | grep -qx 'knoop_refusals_total{reason="policy"} 1'; }
wait_for "the broker counts the refusal" 10 refused
curl -s --max-time 5 "http://127.0.0.1:$BM/metrics" >"$T/broker.prom"
curl -s --max-time 5 "http://127.0.0.1:$NM/metrics" >"$T/node.prom"
check "promtool check metrics passes on the broker's" "$PROMTOOL" check metrics <"$T/broker.prom"
check "promtool check metrics passes on the node's" "$PROMTOOL" check metrics <"$T/node.prom"
check "broker: $N flash grip messages in" grep -qx "knoop_messages_in_total{family=\"grip\",priority=\"flash\"} $N" "$T/broker.prom"
check "broker: 1 routine sitrep message in" grep -qx 'knoop_messages_in_total{family="sitrep",priority="routine"} 1' "$T/broker.prom"
check "node: $N flash grip messages in" grep -qx "knoop_messages_in_total{family=\"grip\",priority=\"flash\"} $N" "$T/node.prom"
check "broker: three sessions (two nodes, the peer broker)" grep -qx 'knoop_sessions 3' "$T/broker.prom"
# messages out by topic family and priority
check "broker: $N flash grip messages out in catch-up (vr-zeeland's; the peer's may add)" \
    awk -v n=$N '/^knoop_messages_out_total\{family="grip",priority="flash",phase="catchup"\}/ { s += $2 } END { exit !(s >= n) }' "$T/broker.prom"
check "broker: out series name family, priority and phase" \
    grep -q '^knoop_messages_out_total{family="grip",priority="flash",phase="' "$T/broker.prom"
check "node: $N flash grip messages out to the broker (resends would add)" \
    awk -v n=$N '/^knoop_messages_out_total\{family="grip",priority="flash"\}/ { v = $2 } END { exit !(v >= n) }' "$T/node.prom"
check "node: 1 routine sitrep out" \
    awk '/^knoop_messages_out_total\{family="sitrep",priority="routine"\}/ { v = $2 } END { exit !(v >= 1) }' "$T/node.prom"
# journal size and map use, also as a fraction
for w in broker node; do
    check "$w: journal bytes in use > 0, at most the map" awk '
        /^knoop_journal_used_bytes / { u = $2 } /^knoop_journal_map_bytes / { m = $2 }
        /^knoop_journal_map_used_ratio / { r = $2 } /^knoop_journal_map_limit_bytes / { x = $2 }
        /^knoop_journal_limit_used_ratio / { l = $2 }
        END { exit !(u > 0 && u <= m && m <= x && r > 0 && r <= 1 && (r - u / m) ^ 2 < 1e-12 && l > 0 && l <= r) }' "$T/$w.prom"
    check "$w: forks counted (0)" grep -qx 'knoop_forks_total 0' "$T/$w.prom"
    check "$w: a commit-latency histogram with commits" \
        awk '/^knoop_journal_commit_seconds_count / { exit !($2 > 0) }' "$T/$w.prom"
    check "$w: batch sizes as a histogram" awk '/^knoop_batch_size_count / { c = $2 } END { exit !(c > 0) }' "$T/$w.prom"
done
check "broker: a catch-up duration observed (vr-zeeland's)" \
    awk '/^knoop_catchup_seconds_count / { exit !($2 >= 1) }' "$T/broker.prom"
check "node: its catch-up duration observed" awk '/^knoop_catchup_seconds_count / { exit !($2 >= 1) }' "$T/node.prom"
check "broker: per-peer lag and last anti-entropy" bash -c "
    grep -q '^knoop_peer_lag_seconds{peer=\"kcr2-broker-2\"} ' '$T/broker.prom' &&
    awk -v now=\$(date +%s) '/^knoop_peer_last_anti_entropy_timestamp_seconds\\{peer=\"kcr2-broker-2\"\\}/ { ok = (\$2 > now - 30 && \$2 <= now + 1) } END { exit !ok }' '$T/broker.prom'"
check "broker: refusals by reason (1 policy)" grep -qx 'knoop_refusals_total{reason="policy"} 1' "$T/broker.prom"
check "node: the refusal it was told, by reason" grep -qx 'knoop_refusals_total{reason="policy"} 1' "$T/node.prom"
check "broker: credit stalls declared" grep -q '^# TYPE knoop_credit_stalls_total counter' "$T/broker.prom"
check "broker: certificate expiry, own and earliest" bash -c \
    "grep -q '^knoop_certificate_expiry_timestamp_seconds{which=\"own\"}' '$T/broker.prom' && grep -q '^knoop_certificate_expiry_timestamp_seconds{which=\"earliest_in_trust_store\"}' '$T/broker.prom'"
check "node: link up, the refused message is the backlog, its stream blocked" bash -c "grep -qx 'knoop_link_up 1' '$T/node.prom' && grep -qx 'knoop_outbox_backlog 1' '$T/node.prom' && grep -qx 'knoop_outbox_blocked_streams 1' '$T/node.prom'"
check "node: certificate expiry in the future" \
    awk -v now="$(date +%s)" '/^knoop_certificate_expiry_timestamp_seconds/ { if ($2 > now) ok = 1 } END { exit !ok }' "$T/node.prom"
check "the endpoint answers 404 elsewhere" test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$BM/")" = 404
check "and 405 to a POST" test "$(curl -s -o /dev/null -w '%{http_code}' -d x "http://127.0.0.1:$BM/metrics")" = 405

# A real Prometheus scrapes both.
PP=$(free_port)
cat >"$T/prometheus.yml" <<Y
global:
  scrape_interval: 500ms
  scrape_timeout: 400ms
scrape_configs:
  - job_name: knoop-broker
    static_configs: [ { targets: ['127.0.0.1:$BM'] } ]
  - job_name: knoop-node
    static_configs: [ { targets: ['127.0.0.1:$NM'] } ]
Y
check "promtool accepts the scrape config" "$PROMTOOL" check config "$T/prometheus.yml"
"$PROM" --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
    --web.listen-address="127.0.0.1:$PP" --log.level=warn >>"$T/prometheus.log" 2>&1 &
PIDS+=($!)
query() { curl -s --max-time 5 -G "http://127.0.0.1:$PP/api/v1/query" --data-urlencode "query=$1"; }
export -f query; export PP
both_jobs() {   # both_jobs QUERY VALUE: the query has VALUE for the broker and the node
    local out; out=$(query "$1") || return 1
    [ "$(echo "$out" | jq -r --arg v "$2" '[.data.result[] | select(.value[1] == $v) | .metric.job] | sort | join(",")')" = "knoop-broker,knoop-node" ]
}
export -f both_jobs
wait_for "Prometheus has scraped both" 30 both_jobs "sum by (job) (knoop_messages_in_total{family=\"grip\"})" "$N"
check "Prometheus returns messages-in = $N for the broker and the node" \
    both_jobs "sum by (job) (knoop_messages_in_total{family=\"grip\"})" "$N"
check "Prometheus returns the fsync-latency histogram for both" \
    both_jobs "count by (job) (knoop_journal_commit_seconds_bucket{le=\"+Inf\"})" 1
check "... with commits counted (count > 0 on both)" both_jobs \
    "count by (job) (knoop_journal_commit_seconds_count > 0)" 1
check "Prometheus sees both targets up" both_jobs 'up' 1
query 'histogram_quantile(0.99, sum by (job, le) (knoop_journal_commit_seconds_bucket))' >"$T/p99.json"
check "a p99 commit latency can be computed for both" \
    bash -c "[ \$(jq '[.data.result[] | select(.value[1] != \"NaN\")] | length' '$T/p99.json') = 2 ]"
echo "p99 commit latency: $(jq -c '[.data.result[] | {job: .metric.job, s: .value[1]}]' "$T/p99.json")"
# The Grafana dashboard shows only metrics the daemons export.
grep -o 'knoop_[a-z_]*' "${KNOOP_SRC:-$(dirname "$0")/..}/deploy/grafana-dashboard.json" |
    sed 's/_bucket$//; s/_sum$//; s/_count$//' | sort -u >"$T/dash"
sed -n 's/^# TYPE \(knoop_[a-z_]*\) .*/\1/p' "$T/broker.prom" "$T/node.prom" | sort -u >"$T/ours"
check "every metric of deploy/grafana-dashboard.json is exported ($(wc -l <"$T/dash") used)" \
    bash -c "[ -s '$T/dash' ] && [ -z \"\$(comm -23 '$T/dash' '$T/ours')\" ]"
