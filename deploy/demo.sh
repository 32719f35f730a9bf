#!/usr/bin/env bash
# deploy/demo.sh — the national federation on this machine, doing its job.
#
# Installs what is missing, builds, makes keys and certificates for every
# partner in deploy/partners.csv and the three KCR2 brokers (in a fresh run
# directory, never in the repository), starts the brokers in a mesh and one
# node per partner on 127.0.0.1, and plays the Limburg high-water scenario of
# July 2021, and serves the picture of KCR2 and of Zuid-Limburg in a browser
# (knoop-web; the URLs are printed). Halfway Zuid-Limburg's node loses its link for a while and a
# broker is killed and restarted; the demo shows the catch-up. At the end it
# prints the national picture and the proof: every partner's journal holds
# exactly what the brokers hold on the topics it reads, and every journal
# verifies. It stops everything it started, also on Ctrl-C.
#
# --scenario 112-storing plays a national telecom outage instead (issue 12):
# Zuid-Limburg and Limburg-Noord lose every link to KCR2 and exchange through
# a regional broker in Maastricht; Zuid-Limburg's control room is evacuated
# and its standby node at the backup location takes over; Zuid-Limburg's
# information reaches KCR2 on a USB bundle before the links return; then
# everything converges and the same proof is printed.
#
#   ./deploy/demo.sh            the whole federation (about 65 processes)
#   ./deploy/demo.sh --short    a few partners, faster (the CI test runs this)
#   ./deploy/demo.sh --scenario 112-storing [--short]
#   ./deploy/demo.sh --keep     leave the federation running to explore
#   ./deploy/demo.sh --help
set -euo pipefail

usage() {
    cat <<'EOF'
usage: deploy/demo.sh [--scenario NAME] [--short] [--keep] [--speed X] [--run-dir DIR] [--no-install]

  --scenario NAME  limburg-2021 (default: high water, a lost link, a killed broker)
                   or 112-storing (a telecom outage: a regional broker, a standby
                   node, a USB bundle)
  --short        7 partners instead of all, the scenario 4x faster
  --keep         leave brokers and nodes running afterwards (prints how to stop)
  --speed X      play the scenario X times faster (default 1: about 100 s; --short: 4)
  --run-dir DIR  where keys, journals, configs and logs go (default run/demo-TIME)
  --no-install   do not run deploy/install-deps.sh
  --no-build     use the binaries already in $KNOOP_BUILD (default build/)
EOF
}

SHORT=0 KEEP=0 SPEED="" RUN="" INSTALL=1 BUILDIT=1 SCENARIO=limburg-2021 EXTRA_JOURNALS=""
while [ $# -gt 0 ]; do
    case $1 in
    --scenario) SCENARIO=${2:-}; shift ;;
    --short) SHORT=1 ;;
    --keep) KEEP=1 ;;
    --speed) SPEED=$2; shift ;;
    --run-dir) RUN=$2; shift ;;
    --no-install) INSTALL=0 ;;
    --no-build) BUILDIT=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "demo: unknown option '$1'"; usage; exit 2 ;;
    esac
    shift
done
[ -n "$SPEED" ] || SPEED=$([ $SHORT = 1 ] && echo 4 || echo 1)
case $SCENARIO in
limburg-2021|112-storing) ;;
*) echo "demo: unknown scenario '$SCENARIO' (limburg-2021 or 112-storing)"; exit 2 ;;
esac

cd "$(dirname "$0")/.."
TOP=$(pwd)
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
info() { printf '   %s\n' "$*"; }

if [ $INSTALL = 1 ]; then
    step "dependencies"
    ./deploy/install-deps.sh
fi
BUILD=${KNOOP_BUILD:-$TOP/build}
if [ $BUILDIT = 1 ]; then
    step "build ($BUILD)"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)" \
        --target knoop knoop-node knoop-broker knoop-web knoop-test-proxy >/dev/null
fi
KNOOP=$BUILD/nodes/knoop NODE=$BUILD/nodes/knoop-node BROKER=$BUILD/broker/knoop-broker
PROXY=$BUILD/tests/knoop-test-proxy WEB=$BUILD/web/knoop-web

RUN=${RUN:-$TOP/run/demo-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RUN"/{keys,trust,conf,log}
chmod 700 "$RUN" "$RUN/keys"
PIDFILE=$RUN/pids
: >"$PIDFILE"

stop_all() {
    [ -s "$PIDFILE" ] || return 0
    while read -r p; do kill -TERM "$p" 2>/dev/null || true; done <"$PIDFILE"
    sleep 1
    while read -r p; do kill -KILL "$p" 2>/dev/null || true; done <"$PIDFILE"
    : >"$PIDFILE"
}
on_exit() {
    local rc=$?
    if [ $KEEP = 1 ] && [ $rc = 0 ]; then return; fi
    stop_all
    echo "   run directory kept for inspection: $RUN"
}
trap on_exit EXIT
trap 'echo; echo "interrupted"; exit 130' INT TERM

# ---- partners ----
REG=$TOP/deploy/partners.csv
if [ $SHORT = 1 ] && [ $SCENARIO = 112-storing ]; then
    PARTNERS="kcr2 vr-zuid-limburg vr-limburg-noord vr-brabant-zuidoost vr-utrecht ws-limburg vp-kpn"
elif [ $SHORT = 1 ]; then
    PARTNERS="kcr2 vr-zuid-limburg vr-limburg-noord vr-brabant-zuidoost vr-utrecht ws-limburg vp-enexis"
else
    PARTNERS=$(grep -v '^#' "$REG" | awk -F, 'NR > 1 && $2 != "broker" { print $1 }' | tr '\n' ' ')
fi
BROKERS="kcr2-broker-1 kcr2-broker-2 kcr2-broker-3"
# 112-storing: a regional broker in Maastricht, and the two regions that lose
# every link to KCR2 in the outage (they reach KCR2 through cuttable lines).
REGIONAL="" OUTAGE=""
if [ $SCENARIO = 112-storing ]; then
    REGIONAL=regio-broker-limburg OUTAGE="vr-zuid-limburg vr-limburg-noord"
fi
field() { grep -v '^#' "$REG" | awk -F, -v id="$1" -v f="$2" '$1 == id { print $f }'; }
n_partners=$(echo $PARTNERS | wc -w)

step "a demo root; keys for $n_partners partners and $(echo $BROKERS $REGIONAL | wc -w) brokers, every certificate issued by the root"
# The demo root: its key sealed under a passphrase (a real root is made on an
# offline machine with --kdf-cost sensitive; see deploy/README.md).
mkdir -p "$RUN/root"
head -c 24 /dev/urandom | base64 >"$RUN/root/passphrase"
chmod 600 "$RUN/root/passphrase"
"$KNOOP" keys root --id demo-root --out "$RUN/root" --passphrase-file "$RUN/root/passphrase" \
    --kdf-cost interactive >/dev/null
cp "$RUN/root/demo-root.cert" "$RUN/trust/"
requests=()
for id in $BROKERS $REGIONAL $PARTNERS; do
    role=$(field "$id" 2)
    [ -n "$role" ] || role=broker        # the regional broker is not in the registry
    "$KNOOP" keys new --id "$id" --role "$role" --out "$RUN/keys" >/dev/null
    requests+=(--cert "$RUN/keys/$id.cert")
done
"$KNOOP" keys issue --root "$RUN/root/demo-root.key" --passphrase-file "$RUN/root/passphrase" \
    "${requests[@]}" --out "$RUN/trust" >/dev/null
info "secret keys: $RUN/keys/*.key (mode 0600); trust store: $RUN/trust (the root and $((${#requests[@]} / 2)) issued certificates)"
cp "$TOP/deploy/policy" "$RUN/policy"

# ---- ports ----
# Free ports below the kernel's ephemeral range, each reserved for this run
# against every other demo and test picking at the same time (deploy/free-port).
port() { "$TOP/deploy/free-port" $$ || { echo "demo: no free port on 127.0.0.1" >&2; exit 1; }; }
declare -A BPORT MPORT
for b in $BROKERS $REGIONAL; do BPORT[$b]=$(port); MPORT[$b]=$(port); done
ZL_PROXY_PORT=$(port)
# 112-storing: every line between Limburg and KCR2 is one we can cut:
# KCR2 -> the regional broker (K2R), the regional broker -> each KCR2 broker
# (R2K), each outage region's node -> its KCR2 broker (NPROXY).
declare -A R2K NPROXY
if [ -n "$REGIONAL" ]; then
    K2R=$(port)
    for b in $BROKERS; do R2K[$b]=$(port); done
    for id in $OUTAGE; do NPROXY[$id]=$(port); done
fi
CUT_PIDS=()

spawn() {   # spawn LOG CMD...   (not a job of this shell: no "Killed" notices)
    local log=$1; shift
    "$@" >>"$log" 2>&1 &
    LAST_PID=$!
    disown "$LAST_PID"
    echo "$LAST_PID" >>"$PIDFILE"
}
wait_for() {  # wait_for SECONDS CMD...
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.2
    done
}

# ---- brokers ----
step "three KCR2 brokers in a full mesh"
declare -A BPID
start_broker() {
    local b=$1 conf=$RUN/conf/$1.conf
    {
        echo "[broker]"
        echo "id = $b"
        echo "listen = tcp://127.0.0.1:${BPORT[$b]}"
        echo "data = $RUN/$b"
        echo "key = $RUN/keys/$b.key"
        echo "trust = $RUN/trust"
        echo "policy = $RUN/policy"
        echo "heartbeat-ms = 400"
        echo "timeout-ms = 2000"
        echo "anti-entropy-ms = 1000"
        echo "metrics = 127.0.0.1:${MPORT[$b]}"
        if [ "$b" = "$REGIONAL" ]; then
            for o in $BROKERS; do echo "peer = $o@tcp://127.0.0.1:${R2K[$o]}"; done
        else
            for o in $BROKERS; do [ $o = $b ] || echo "peer = $o@tcp://127.0.0.1:${BPORT[$o]}"; done
            [ -z "$REGIONAL" ] || echo "peer = $REGIONAL@tcp://127.0.0.1:$K2R"
        fi
    } >"$conf"
    spawn "$RUN/log/$b.log" "$BROKER" --config "$conf"
    BPID[$b]=$LAST_PID
}
if [ -n "$REGIONAL" ]; then
    step "a regional broker in Maastricht ($REGIONAL), issued by the same root, peering with KCR2"
    spawn "$RUN/log/proxy-k2r.log" "$PROXY" "$K2R" "${BPORT[$REGIONAL]}"; CUT_PIDS+=("$LAST_PID")
    for b in $BROKERS; do
        spawn "$RUN/log/proxy-r2k-$b.log" "$PROXY" "${R2K[$b]}" "${BPORT[$b]}"; CUT_PIDS+=("$LAST_PID")
    done
fi
for b in $BROKERS $REGIONAL; do start_broker $b; done
for b in $BROKERS $REGIONAL; do
    wait_for 15 grep -q "listening on" "$RUN/log/$b.log" || { echo "demo: $b did not start:"; tail "$RUN/log/$b.log"; exit 1; }
    info "$b listening on tcp://127.0.0.1:${BPORT[$b]}"
done

# ---- nodes ----
subs_for() {    # the patterns a partner reads, by the policy's scheme
    local id=$1 kind prov
    kind=$(field "$id" 2); prov=$(field "$id" 4)
    echo "duiding.>" "alert.>"
    case $kind in
    national) echo ">" ;;
    region)
        echo "bijstand.>"
        grep -v '^#' "$REG" | awk -F, -v p="$prov" -v me="$id" 'NR > 1 && $4 == p && $1 != me {
            if ($2 == "region") printf "grip.%s\ngrip.%s.>\nsitrep.%s\nsitrep.%s.>\n", $1, $1, $1, $1
            if ($2 == "waterschap") printf "water.%s.>\n", $1 }' ;;
    waterschap)
        echo "water.>"
        grep -v '^#' "$REG" | awk -F, -v p="$prov" 'NR > 1 && $4 == p && $2 == "region" {
            printf "grip.%s\ngrip.%s.>\n", $1, $1 }' ;;
    esac
}
step "$n_partners partner nodes"
ZL_PROXY_PID="" ZL_STANDBY=""
declare -A NPID
i=0
for id in $PARTNERS; do
    home=$(echo $BROKERS | cut -d' ' -f$((i % 3 + 1))); i=$((i + 1))
    conf=$RUN/conf/$id.conf
    {
        echo "[node]"
        echo "id = $id"
        echo "data = $RUN/$id"
        echo "key = $RUN/keys/$id.key"
        echo "trust = $RUN/trust"
        echo "heartbeat-ms = 400"
        echo "timeout-ms = 2000"
        echo "failback-ms = 3000"
        if [ -n "${NPROXY[$id]:-}" ]; then
            # 112-storing: its line to KCR2 can be cut; the regional broker
            # is its fall-back, last in its list.
            echo "broker = $home@tcp://127.0.0.1:${NPROXY[$id]}"
            echo "broker = $REGIONAL@tcp://127.0.0.1:${BPORT[$REGIONAL]}"
        elif [ "$id" = vr-zuid-limburg ] && [ -z "$REGIONAL" ]; then
            # Zuid-Limburg's link runs through a line we can cut.
            echo "broker = $home@tcp://127.0.0.1:$ZL_PROXY_PORT"
        else
            echo "broker = $home@tcp://127.0.0.1:${BPORT[$home]}"
            for o in $BROKERS; do [ $o = $home ] || echo "broker = $o@tcp://127.0.0.1:${BPORT[$o]}"; done
        fi
        for p in $(subs_for "$id"); do echo "subscribe = $p"; done
    } >"$conf"
    if [ -n "${NPROXY[$id]:-}" ]; then
        spawn "$RUN/log/proxy-$id.log" "$PROXY" "${NPROXY[$id]}" "${BPORT[$home]}"
        CUT_PIDS+=("$LAST_PID")
    elif [ "$id" = vr-zuid-limburg ] && [ -z "$REGIONAL" ]; then
        spawn "$RUN/log/proxy.log" "$PROXY" "$ZL_PROXY_PORT" "${BPORT[$home]}"
        ZL_PROXY_PID=$LAST_PID
    fi
    if [ "$id" = vr-zuid-limburg ] && [ $SCENARIO = 112-storing ]; then
        # Zuid-Limburg runs a primary and a standby at its backup location
        # (uitwijklocatie): same key, same brokers, its own journal.
        ZL_STANDBY=$id-uitwijk
        echo "pair = primary" >>"$conf"
        sed -e "s|^data = .*|data = $RUN/$ZL_STANDBY|" -e 's/^pair = primary/pair = standby/' \
            "$conf" >"$RUN/conf/$ZL_STANDBY.conf"
        echo "takeover-ms = 2000" >>"$RUN/conf/$ZL_STANDBY.conf"
        EXTRA_JOURNALS="$ZL_STANDBY"
    fi
    spawn "$RUN/log/$id.log" "$NODE" --config "$conf"
    NPID[$id]=$LAST_PID
    if [ "$id" = vr-zuid-limburg ] && [ -n "$ZL_STANDBY" ]; then
        # the standby starts once the primary is active at its broker
        wait_for 20 grep -q "link up" "$RUN/log/$id.log" || true
        spawn "$RUN/log/$ZL_STANDBY.log" "$NODE" --config "$RUN/conf/$ZL_STANDBY.conf"
    fi
done
up=0
for id in $PARTNERS; do
    wait_for 20 grep -q "link up" "$RUN/log/$id.log" && up=$((up + 1))
done
info "$up of $n_partners nodes connected"

# ---- the picture in a browser ----
step "the operational picture in a browser (knoop-web)"
# A user who may publish from the page, with a password made for this run
# (in a 0600 file, never printed); reading needs no login in the demo.
head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RUN/keys/web-password"
"$WEB" --users "$RUN/conf/web-users" --add-user demo <"$RUN/keys/web-password" >/dev/null
declare -A WURL
for id in kcr2 vr-zuid-limburg; do
    wp=$(port)
    {
        echo "[web]"
        echo "api = ipc://$RUN/$id/api.sock"
        echo "listen = 127.0.0.1:$wp"
        echo "assets = $TOP/web/static"
        echo "users = $RUN/conf/web-users"
        echo "public-read = true"
    } >"$RUN/conf/web-$id.conf"
    spawn "$RUN/log/web-$id.log" "$WEB" --config "$RUN/conf/web-$id.conf"
    wait_for 15 grep -q "serving the picture" "$RUN/log/web-$id.log" ||
        { echo "demo: knoop-web for $id did not start:"; tail "$RUN/log/web-$id.log"; exit 1; }
    WURL[$id]="http://127.0.0.1:$wp/"
done
info "KCR2 (landelijk beeld):  ${WURL[kcr2]}"
info "Zuid-Limburg:            ${WURL[vr-zuid-limburg]}"
info "publishing from the page: log in as 'demo' with the password in $RUN/keys/web-password"
info "metrics (Prometheus):     $(for b in $BROKERS; do printf 'http://127.0.0.1:%s/metrics ' "${MPORT[$b]}"; done)"

# ---- the scenario ----
t() { python3 -c "print($1 / $SPEED)" 2>/dev/null || awk -v a="$1" -v s="$SPEED" 'BEGIN { print a / s }'; }
if [ $SCENARIO = 112-storing ]; then
    # shellcheck source=scenarios/112-storing.sh
    source "$TOP/deploy/scenarios/112-storing.sh"
else
step "scenario: hoogwater Limburg, juli 2021 (speed ${SPEED}x)"
SCEN=$TOP/deploy/scenarios/limburg-2021.jsonl
if [ $SHORT = 1 ]; then
    # Only partners that run in the short demo say something.
    grep -E '"say"|"as": "('"$(echo $PARTNERS | tr ' ' '|')"')"' "$SCEN" >"$RUN/scenario.jsonl"
    SCEN=$RUN/scenario.jsonl
fi
"$KNOOP" play --scenario "$SCEN" --api-template "ipc://$RUN/{id}/api.sock" --speed "$SPEED" \
    >"$RUN/log/play.log" 2>&1 &
PLAY=$!
tail -n +1 -f "$RUN/log/play.log" --pid=$PLAY 2>/dev/null | sed 's/^/   /' &
TAILER=$!
sleep "$(t 40)"
CUT_AT=$(date +%s.%N)
kill -USR1 "$ZL_PROXY_PID"
printf '   >>> vr-zuid-limburg: link lost\n'
sleep "$(t 10)"
kill -9 "${BPID[kcr2-broker-2]}"
printf '   >>> kcr2-broker-2: killed (SIGKILL)\n'
sleep "$(t 10)"
start_broker kcr2-broker-2
echo "${BPID[kcr2-broker-2]}" >>"$PIDFILE"
printf '   >>> kcr2-broker-2: restarted; it catches up from its peers\n'
sleep "$(t 10)"
kill -USR2 "$ZL_PROXY_PID"
HEAL_AT=$(date +%s.%N)
printf '   >>> vr-zuid-limburg: link back after %.0f s\n' "$(echo "$HEAL_AT - $CUT_AT" | bc 2>/dev/null || echo 30)"
wait $PLAY || { echo "demo: the scenario did not play through"; exit 1; }
kill $TAILER 2>/dev/null || true

# ---- catch-up ----
step "vr-zuid-limburg after its link loss"
wait_for 30 bash -c "'$KNOOP' status --api 'ipc://$RUN/vr-zuid-limburg/api.sock' --json | grep -q '\"backlog\": 0'" || true
grep -E "link up|caught up" "$RUN/log/vr-zuid-limburg.log" | tail -2 | sed 's/^/   /'
"$KNOOP" status --api "ipc://$RUN/vr-zuid-limburg/api.sock" | sed 's/^/   /' | head -4
fi

# ---- convergence ----
step "convergence"
args=()
for b in $BROKERS $REGIONAL; do args+=(--broker "ipc://$RUN/$b/api.sock"); done
wait_for 60 "$KNOOP" mesh check "${args[@]}" || true
"$KNOOP" mesh check "${args[@]}" | sed 's/^/   /'
proof_ok=1
[ "${proof_ok_112:-1}" = 1 ] || proof_ok=0     # a step of 112-storing failed (said above)
ref=$RUN/kcr2-broker-1
digest() { "$KNOOP" audit digest --journal "$1" --pattern "$2" | awk '$1 == "digest" {print $2}'; }
agree() {    # agree ID: its digest equals the broker's for each pattern it reads
    local id=$1 p mine
    for p in $(subs_for "$id"); do
        mine=$(digest "$RUN/$id" "$p")
        [ -n "$mine" ] && [ "$mine" = "$(digest "$ref" "$p")" ] || return 1   # unreadable never agrees
    done
}
converged=0
for id in $PARTNERS; do
    if wait_for 60 agree "$id"; then converged=$((converged + 1)); else
        proof_ok=0; info "NOT CONVERGED: $id"; fi
done
info "$converged of $n_partners partners hold exactly what the brokers hold on every pattern they read"
verified=0
for j in $BROKERS $REGIONAL $PARTNERS $EXTRA_JOURNALS; do
    if "$KNOOP" audit verify --journal "$RUN/$j" --trust "$RUN/trust" --quiet >"$RUN/log/verify-$j.txt" 2>&1; then
        verified=$((verified + 1)); else proof_ok=0; info "VERIFY FAILED: $j (see $RUN/log/verify-$j.txt)"; fi
done
info "$verified of $(echo $BROKERS $REGIONAL $PARTNERS $EXTRA_JOURNALS | wc -w) journals verify: every chain intact, every head signed by its origin"

# ---- a new partner joins ----
NEW=vr-nieuw
step "a new partner joins: $NEW, issued by the root; nothing copied to the brokers"
"$KNOOP" keys new --id "$NEW" --role region --out "$RUN/keys" >/dev/null
# Issued and handed to kcr2-broker-1 once; the mesh carries it on trust.certs.
if "$KNOOP" keys issue --root "$RUN/root/demo-root.key" --passphrase-file "$RUN/root/passphrase" \
        --cert "$RUN/keys/$NEW.cert" --out "$RUN/issued" --api "ipc://$RUN/kcr2-broker-1/api.sock" \
        >"$RUN/log/issue-$NEW.txt" 2>&1; then
    mkdir -p "$RUN/trust-$NEW"
    cp "$RUN/trust/"*.cert "$RUN/issued/$NEW.cert" "$RUN/trust-$NEW/"
    {
        echo "[node]"
        echo "id = $NEW"
        echo "data = $RUN/$NEW"
        echo "key = $RUN/keys/$NEW.key"
        echo "trust = $RUN/trust-$NEW"
        echo "heartbeat-ms = 400"
        echo "timeout-ms = 2000"
        echo "broker = kcr2-broker-3@tcp://127.0.0.1:${BPORT[kcr2-broker-3]}"
    } >"$RUN/conf/$NEW.conf"
    spawn "$RUN/log/$NEW.log" "$NODE" --config "$RUN/conf/$NEW.conf"
    joined() { "$KNOOP" audit digest --journal "$RUN/kcr2" --pattern "sitrep.$NEW" | awk '$1 == "digest" {print $NF}' | grep -qx 1; }
    wait_for 15 test -S "$RUN/$NEW/api.sock" || true
    "$KNOOP" pub --api "ipc://$RUN/$NEW/api.sock" --topic "sitrep.$NEW" --type knoop.crisis.v1.SitRep \
        --json '{"incident_id": "aanmelding", "summary": "vr-nieuw is aangesloten"}' \
        >>"$RUN/log/issue-$NEW.txt" 2>&1 || true
    if [ ! -e "$RUN/trust/$NEW.cert" ] && wait_for 30 joined; then
        info "$NEW published through kcr2-broker-3 and KCR2 holds its message; the brokers' trust store has no file of it"
    else
        proof_ok=0; info "NEW PARTNER DID NOT JOIN (see $RUN/log/$NEW.log, $RUN/log/issue-$NEW.txt)"
    fi
else
    proof_ok=0; info "ISSUING FAILED (see $RUN/log/issue-$NEW.txt)"
fi

# ---- the national picture ----
step "the national picture (beeld of KCR2)"
"$KNOOP" beeld --api "ipc://$RUN/kcr2/api.sock" --json >"$RUN/beeld.jsonl"
if command -v jq >/dev/null; then
    echo "   GRIP"
    jq -r 'select(.type == "knoop.crisis.v1.GripLevel") | "     \(.payload.region)  \(.payload.level // "GRIP_0")  \(.payload.incident_name // .payload.incident_id)\(if .payload.coordinating_region then "  (coördinatie: \(.payload.coordinating_region))" else "" end)  gemeenten: \((.payload.municipalities // []) | join(" "))"' "$RUN/beeld.jsonl"
    echo "   SitRep (beeld - oordeel - besluit)"
    jq -r 'select(.type == "knoop.crisis.v1.SitRep") | "     \(.payload.reporting_region) #\(.payload.report_number): \(.payload.picture // .payload.summary)", "       oordeel: \(.payload.judgement // "-")", "       besluiten: \((.payload.decisions // []) | join("; "))", "       slachtoffers: T1 \(.payload.casualties.t1 // "?") T2 \(.payload.casualties.t2 // "?") T3 \(.payload.casualties.t3 // "?"), geëvacueerd \(.payload.casualties.evacuated // "?"), opgevangen \(.payload.casualties.sheltered // "?")"' "$RUN/beeld.jsonl"
    echo "   Duiding"
    jq -r 'select(.type == "knoop.crisis.v1.Duiding") | "     #\(.payload.report_number) \(.payload.title): \(.payload.assessment)", (.payload.advised_actions[]? | "       \(.audience): \(.actions | join("; "))"), "       bronnen: \((.payload.sources // []) | map(.name) | join(", "))", "       onbekend: \((.payload.information_gaps // []) | join("; "))"' "$RUN/beeld.jsonl"
    echo "   Water levels above threshold"
    jq -r 'select(.type == "knoop.crisis.v1.WaterLevel" and .payload.threshold_exceeded) | "     \(.payload.gauge_name): \(.payload.level_cm_nap) cm NAP (\(.payload.threshold.name)), \(.payload.source_organisation), at \(.payload.position.lat),\(.payload.position.lon)"' "$RUN/beeld.jsonl"
    echo "   Vital outages"
    jq -r 'select(.type == "knoop.crisis.v1.VitalOutage") | "     \(.payload.provider) [\(.payload.status // "-")]: \(.payload.description), \(.payload.customers_affected) customers, restore \(.payload.expected_restore); postcodes \((.payload.postcodes // []) | join(" ")); 112 \(if .payload.emergency_number_reachable == false then "NIET bereikbaar" else "bereikbaar" end)", (.payload.knock_on_effects[]? | "       gevolg: \(.sector): \(.description)")' "$RUN/beeld.jsonl"
else
    "$KNOOP" beeld --api "ipc://$RUN/kcr2/api.sock" | sed 's/^/   /'
fi
exercise_in_journal=$("$KNOOP" audit replay --journal "$RUN/kcr2" --pattern 'grip.vr-utrecht' | grep -c '"status":"exercise"' || true)
exercise_in_picture=$(grep -c '"status":"exercise"' "$RUN/beeld.jsonl" || true)
info "exercise messages: $exercise_in_journal in KCR2's journal, $exercise_in_picture in the picture"
[ "$exercise_in_picture" = 0 ] || proof_ok=0

step "proof"
if [ $proof_ok = 1 ]; then
    info "OK: all partners converged, all journals verify, exercise traffic stayed out of the picture"
else
    info "FAILED: see above; logs in $RUN/log"
    exit 1
fi
if [ $KEEP = 1 ]; then
    step "the federation keeps running"
    info "open ${WURL[kcr2]} (KCR2) or ${WURL[vr-zuid-limburg]} (Zuid-Limburg) in a browser"
    info "knoop beeld --api ipc://$RUN/kcr2/api.sock"
    info "knoop sub --api ipc://$RUN/vr-zuid-limburg/api.sock --pattern 'grip.>' --from-start"
    info "stop it: kill \$(cat $PIDFILE)"
fi
