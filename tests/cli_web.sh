#!/usr/bin/env bash
# knoop-web against bad input, with curl: oversized requests, malformed form
# posts, path traversal, unauthenticated and forged publishing. Each is
# refused with the status that names the cause, nothing is published, and the
# daemon keeps serving. Also: the INI config, --public-read, --help.
source "$(dirname "$0")/lib.sh"

WEB=$BIN_DIR/web/knoop-web
SRC=${KNOOP_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
command -v curl >/dev/null || { echo "SKIP: no curl"; trap - EXIT; rm -rf "$T"; exit 77; }

make_partner kcr2-broker-1 broker
make_partner vr-utrecht region
cat >"$T/policy" <<'P'
role:region publish grip.{id}
role:region publish sitrep.{id}
role:region subscribe grip.>
role:region subscribe sitrep.>
P
EP="ipc://$T/b.sock"
start_broker kcr2-broker-1 "$EP"
start_node vr-utrecht --broker "kcr2-broker-1@$EP" --subscribe 'grip.>' --subscribe 'sitrep.>'

check "--help exits 0 and names the options" bash -c "'$WEB' --help | grep -q -- '--public-read'"
printf 'geheim123\n' | "$WEB" --users "$T/users" --add-user beheer >/dev/null
check "a second user of the same name is refused" \
    bash -c "! printf 'x\n' | '$WEB' --users '$T/users' --add-user beheer 2>/dev/null"
check "the users file holds an argon2id hash, not the password" \
    bash -c "grep -q '^beheer:\\\$argon2id\\\$' '$T/users' && lacks geheim123 '$T/users'"
echo "onzin" >"$T/users.bad"
check "a malformed users file stops knoop-web with file and line" \
    bash -c "'$WEB' --api '$(api vr-utrecht)' --users '$T/users.bad' --assets '$SRC/web/static' 2>&1 | grep -q 'users.bad:1'"

WPORT=$(free_port)
cat >"$T/web.conf" <<C
[web]
api = $(api vr-utrecht)
listen = 127.0.0.1:$WPORT
assets = $SRC/web/static
users = $T/users
public-read = true
C
"$WEB" --config "$T/web.conf" >>"$T/web.log" 2>&1 &
WPID=$!
PIDS+=($WPID)
wait_for "knoop-web listening" 10 grep -q "serving the picture" "$T/web.log"
U="http://127.0.0.1:$WPORT"

code() { curl -s -o "$T/body" -w '%{http_code}' --max-time 10 "$@"; }
is() { local want=$1 what=$2; shift 2; local got; got=$(code "$@"); 
       if [ "$got" = "$want" ]; then ok "$what ($got)"; else bad "$what: want $want, got $got"; fi; }

is 200 "the page" "$U/"
is 200 "its script" "$U/static/app.js"
check "the page has a strict Content-Security-Policy" \
    bash -c "curl -sI '$U/' | grep -qi \"content-security-policy: default-src 'self'\""
is 200 "--public-read: /api/me without login" "$U/api/me"
check "... and it says reading is allowed, publishing not" \
    bash -c "grep -q '\"lezen\":true' '$T/body' && grep -q '\"publiceren\":false' '$T/body'"
check "--public-read: the event stream without login" \
    bash -c "curl -s --max-time 2 '$U/events' | grep -q '^event: status'"

# path traversal and odd names
is 404 "../ in the path (raw)" --path-as-is "$U/static/../web_main.c"
is 404 "encoded ../" --path-as-is "$U/static/%2e%2e%2fweb_main.c"
is 404 "encoded ../ to /etc/passwd" --path-as-is "$U/static/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd"
check "... and no file content came back" lacks --empty-ok root: "$T/body"
is 404 "a hidden file" "$U/static/.htaccess"
is 404 "a file of an unserved type" "$U/static/CMakeLists.txt"
is 404 "an absolute path" --path-as-is "$U//etc/passwd"
is 404 "an unknown page" "$U/admin"
is 405 "a PUT" -X PUT --data x "$U/api/grip"
is 414 "a URL of 2000 characters" "$U/static/$(head -c 2000 /dev/zero | tr '\0' a).js"

# unauthenticated publish
before=$(count_msgs "$T/vr-utrecht" '>')
is 401 "a GRIP without login" --data 'incident_id=x&level=GRIP_4&csrf=00' "$U/api/grip"
is 401 "a SitRep without login" --data 'incident_id=x&summary=y' "$U/api/sitrep"
is 401 "a SitRep with a made-up session cookie" -b "knoop_sessie=$(head -c 32 /dev/zero | od -An -tx1 | tr -d ' \n')" \
    --data 'incident_id=x&summary=y' "$U/api/sitrep"
is 401 "a wrong password" --data 'user=beheer&password=fout' "$U/api/login"
is 401 "an unknown user" --data 'user=niemand&password=geheim123' "$U/api/login"
is 400 "a login without password" --data 'user=beheer' "$U/api/login"

# log in; then malformed forms with a valid session and token
is 200 "the right password" -c "$T/jar" --data 'user=beheer&password=geheim123' "$U/api/login"
check "the session cookie is HttpOnly and SameSite=Strict" \
    bash -c "curl -si --data 'user=beheer&password=geheim123' '$U/api/login' | grep -i 'set-cookie' | grep -q 'HttpOnly; SameSite=Strict'"
CSRF=$(curl -s -b "$T/jar" "$U/api/me" | jq -r .csrf)
check "the session has a CSRF token" test "${#CSRF}" = 64
C=(-b "$T/jar")
is 403 "a publish without the CSRF token" "${C[@]}" --data 'incident_id=x&level=GRIP_2' "$U/api/grip"
is 403 "a publish with another token" "${C[@]}" --data "incident_id=x&level=GRIP_2&csrf=$(echo "$CSRF" | tr 0-9a-f a-f0-9)" "$U/api/grip"
{ printf 'csrf=%s&incident_id=x&level=GRIP_2&reason=' "$CSRF"; head -c 1048576 /dev/zero | tr '\0' a; } >"$T/huge"
is 413 "a body of 1 MiB (Content-Length)" "${C[@]}" --data-binary "@$T/huge" "$U/api/grip"
{ printf 'csrf=%s&incident_id=x&summary=' "$CSRF"; head -c 40000 /dev/zero | tr '\0' a; } >"$T/big"
is 413 "a body of 40 kB, chunked" "${C[@]}" -H 'Transfer-Encoding: chunked' --data-binary "@$T/big" "$U/api/sitrep"
is 413 "one field longer than 4000" "${C[@]}" --data "csrf=$CSRF&incident_id=x&summary=$(head -c 5000 /dev/zero | tr '\0' a)" "$U/api/sitrep"
code "${C[@]}" -H "X-Big: $(head -c 70000 /dev/zero | tr '\0' a)" "$U/api/me" >"$T/code"
check "70 kB of headers is refused (4xx, got $(cat "$T/code"))" grep -qE '^(413|431|400)$' "$T/code"
is 415 "JSON instead of a form" "${C[@]}" -H 'Content-Type: application/json' --data '{"level":"GRIP_4"}' "$U/api/grip"
is 400 "an unknown form field" "${C[@]}" --data "csrf=$CSRF&incident_id=x&level=GRIP_2&admin=1" "$U/api/grip"
is 400 "a field given twice" "${C[@]}" --data "csrf=$CSRF&incident_id=x&level=GRIP_2&level=GRIP_5" "$U/api/grip"
is 400 "a level that does not exist" "${C[@]}" --data "csrf=$CSRF&incident_id=x&level=GRIP_9" "$U/api/grip"
is 400 "no incident" "${C[@]}" --data "csrf=$CSRF&level=GRIP_2" "$U/api/grip"
is 400 "an incident with a newline" "${C[@]}" --data "csrf=$CSRF&incident_id=a%0Ab&level=GRIP_2" "$U/api/grip"
is 400 "a SitRep without summary" "${C[@]}" --data "csrf=$CSRF&incident_id=x" "$U/api/sitrep"
is 400 "a negative count" "${C[@]}" --data "csrf=$CSRF&incident_id=x&summary=y&injured=-3" "$U/api/sitrep"
is 400 "a count that is not a number" "${C[@]}" --data "csrf=$CSRF&incident_id=x&summary=y&dead=veel" "$U/api/sitrep"
is 400 "text that is not UTF-8" "${C[@]}" --data "csrf=$CSRF&incident_id=x&summary=%FF%FE" "$U/api/sitrep"
is 400 "oefening neither ja nor nee" "${C[@]}" --data "csrf=$CSRF&incident_id=x&summary=y&oefening=misschien" "$U/api/sitrep"
sleep 0.3
check "nothing was published by any of these" test "$(count_msgs "$T/vr-utrecht" '>')" = "$before"

# and it keeps serving: a good publish goes through
is 200 "a good GRIP from the same session" "${C[@]}" --data "csrf=$CSRF&incident_id=brand-1&level=GRIP_3&reason=test" "$U/api/grip"
wait_for "the GRIP in the node's picture" 5 bash -c "'$KNOOP' beeld --api '$(api vr-utrecht)' | grep -q 'brand-1/vr-utrecht.*GRIP_3'"
check "the GRIP from the page is in the node's picture, key INCIDENT/PARTNER" \
    bash -c "'$KNOOP' beeld --api '$(api vr-utrecht)' | grep -q 'brand-1/vr-utrecht.*GRIP_3'"
check "knoop-web still runs" kill -0 "$WPID"
is 200 "and still serves the page" "$U/"
is 200 "logout with the token" "${C[@]}" --data "csrf=$CSRF" "$U/api/logout"
is 401 "after logout the session is gone" "${C[@]}" --data "csrf=$CSRF&incident_id=x&level=GRIP_2" "$U/api/grip"
check "refusals are counted in the log" grep -q "refused so far" "$T/web.log"
check "the log holds no password" lacks geheim123 "$T/web.log"
kill -TERM "$WPID"
wait_for "knoop-web exits on SIGTERM" 10 bash -c "! kill -0 $WPID 2>/dev/null"
check "knoop-web exits on SIGTERM (with an open event stream)" bash -c "! kill -0 $WPID 2>/dev/null"
