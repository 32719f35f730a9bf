#!/usr/bin/env bash
# knoop-web in a real browser: headless Debian chromium driven by
# puppeteer-core (tests/web/browser.js) against a real broker, two nodes and
# knoop-web on Limburg-Noord's node. Checks: nothing is loaded from beyond
# 127.0.0.1; a GRIP change by Zuid-Limburg shows on the tile map within a
# second without reload; the link-lost banner comes when the broker is killed
# and goes when it is back; exercise traffic only in the OEFENING view; a
# SitRep published from the page arrives at Zuid-Limburg's node; a wrong
# password and a missing CSRF token are refused. Screenshots go to
# BUILD/tests/artefacts/web/. Skipped (77) without chromium, node or
# puppeteer-core (deploy/install-deps.sh installs them).
source "$(dirname "$0")/lib.sh"

WEB=$BIN_DIR/web/knoop-web
SRC=${KNOOP_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
CHROMIUM=${KNOOP_CHROMIUM:-/usr/bin/chromium}
skip() { echo "SKIP: $*"; PASS=0; FAIL=0; trap - EXIT; rm -rf "$T"; exit 77; }
[ -x "$CHROMIUM" ] || skip "no chromium at $CHROMIUM (apt-get install chromium)"
command -v node >/dev/null || skip "no node (apt-get install nodejs)"
[ -f "$SRC/web/node_modules/puppeteer-core/package.json" ] ||
    skip "no puppeteer-core in $SRC/web/node_modules (run deploy/install-deps.sh)"

make_partner kcr2-broker-1 broker
make_partner vr-zuid-limburg region
make_partner vr-limburg-noord region
cat >"$T/policy" <<'P'
role:region publish grip.{id}
role:region publish sitrep.{id}
role:region subscribe grip.>
role:region subscribe sitrep.>
P
BPORT=$(free_port)
EP="tcp://127.0.0.1:$BPORT"
start_broker kcr2-broker-1 "$EP"
# the browser test kills and restarts the broker: how to start it again
cat >"$T/start-broker.sh" <<S
#!/usr/bin/env bash
"$BROKER" --id kcr2-broker-1 --listen "$EP" --data "$T/kcr2-broker-1" --key "$T/keys/kcr2-broker-1.key" \
    --trust "$T/trust" --policy "$T/policy" --heartbeat-ms 200 --timeout-ms 2000 >>"$T/kcr2-broker-1.log" 2>&1 &
echo \$! >"$T/broker.pid"
S
chmod +x "$T/start-broker.sh"
echo "$(pid_of kcr2-broker-1)" >"$T/broker.pid"
for n in vr-zuid-limburg vr-limburg-noord; do
    start_node "$n" --broker "kcr2-broker-1@$EP" --subscribe 'grip.>' --subscribe 'sitrep.>'
done

echo "wachtwoord-van-test" | "$WEB" --users "$T/users" --add-user officier >/dev/null
check "the users file is 0600" test "$(stat -c %a "$T/users")" = 600
WPORT=$(free_port)
"$WEB" --api "$(api vr-limburg-noord)" --listen "127.0.0.1:$WPORT" --assets "$SRC/web/static" \
    --users "$T/users" >>"$T/web.log" 2>&1 &
PIDS+=($!)
wait_for "knoop-web listening" 10 grep -q "serving the picture" "$T/web.log"

ART=$BIN_DIR/tests/artefacts/web
mkdir -p "$ART"
export KNOOP NODE_API_OTHER="$(api vr-zuid-limburg)" WEB_URL="http://127.0.0.1:$WPORT" \
    WEB_USER=officier WEB_PASSWORD=wachtwoord-van-test CHROMIUM ARTEFACTS="$ART" \
    BROKER_PID_FILE="$T/broker.pid" BROKER_START="$T/start-broker.sh" \
    NODE_PATH="$SRC/web/node_modules"
# The browser's processes are its own; the test ends them itself (browser.close
# in a finally), bounded by timeout here.
if timeout 180 node "$SRC/tests/web/browser.js" 2>&1 | tee "$T/browser.out"; then :; fi
while read -r line; do
    case $line in
    "ok "*) ok "${line#ok }" ;;
    "FAIL "*) bad "${line#FAIL }" ;;
    esac
done < <(grep -E '^(ok|FAIL) ' "$T/browser.out")
check "the browser test ran to its end" grep -q '^done$' "$T/browser.out"
# the broker may have been restarted by the browser test: kill that one too
kill -9 "$(cat "$T/broker.pid")" 2>/dev/null || true
check "knoop-web logged the refusals" grep -q "refused POST /api/sitrep: 403" "$T/web.log"
