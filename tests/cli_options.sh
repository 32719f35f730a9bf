#!/usr/bin/env bash
# One option system for every command (issue 13): each knoop command and
# each daemon shows --help in the same layout and exits 0; refuses an
# abbreviated or unknown option, a missing value and a stray argument with
# one line naming the cause and exit status 2; and takes the same keys
# from --config FILE as from its flags.
source "$(dirname "$0")/lib.sh"
WEB=$BIN_DIR/web/knoop-web

# Every command that parses options: "NAME|a real option of it".
COMMANDS=(
    "pub|--topic" "sub|--pattern" "status|--json" "beeld|--pattern"
    "audit verify|--journal" "audit replay|--journal" "audit digest|--journal"
    "mesh check|--broker" "policy check|--policy" "play|--scenario"
    "payload encode|--type" "payload decode|--type"
    "edxl wrap|--sender" "edxl unwrap|--lines"
    "bundle export|--journal" "bundle inspect|--trust" "bundle import|--dry-run"
    "node promote|--reason" "node demote|--reason"
    "keys new|--role" "keys show|--config" "keys root|--kdf-cost" "keys issue|--cert"
    "keys revoke|--fingerprint" "keys publish|--api" "keys rotate|--valid-days"
    "keys list|--learned" "cap import|--topic" "cap export|--pattern"
)

for entry in "${COMMANDS[@]}"; do
    cmd=${entry%%|*}
    opt=${entry#*|}
    # shellcheck disable=SC2086
    set +e
    "$KNOOP" $cmd --help >"$T/help.out" 2>"$T/help.err"; rc=$?
    set -e
    check "knoop $cmd --help exits 0" [ $rc -eq 0 ]
    for section in NAME SYNOPSIS OPTIONS FILES "EXIT STATUS"; do
        check "knoop $cmd --help has $section" grep -q "^$section\$" "$T/help.out"
    done
    check "knoop $cmd --help names $opt" grep -q -- "^       $opt" "$T/help.out"
    check "knoop $cmd --help fits a terminal" bash -c "! awk 'length > 79' '$T/help.out' | grep -q ."

    # An abbreviation: the option without its last letter.
    short=${opt%?}
    set +e
    # shellcheck disable=SC2086
    "$KNOOP" $cmd "$short" x >"$T/out" 2>"$T/err"; rc=$?
    set -e
    check "knoop $cmd $short (abbreviated) exits 2" [ $rc -eq 2 ]
    check "knoop $cmd $short is refused as an abbreviation" \
        grep -q "did you mean $opt? options are not abbreviated" "$T/err"
    check "knoop $cmd $short publishes or prints nothing" [ ! -s "$T/out" ]

    set +e
    # shellcheck disable=SC2086
    "$KNOOP" $cmd --bogus-option >"$T/out" 2>"$T/err"; rc=$?
    set -e
    check "knoop $cmd --bogus-option exits 2 naming it" \
        bash -c "[ $rc -eq 2 ] && grep -q -- \"--bogus-option: unknown option\" '$T/err'"
done

# A missing value and a stray argument.
set +e
"$KNOOP" sub --pattern >"$T/out" 2>"$T/err"; rc=$?
set -e
check "a missing value is named" \
    bash -c "[ $rc -eq 2 ] && grep -q -- '--pattern: missing value' '$T/err'"
set +e
"$KNOOP" status stray >"$T/out" 2>"$T/err"; rc=$?
set -e
check "a stray argument is named" \
    bash -c "[ $rc -eq 2 ] && grep -q \"unexpected argument 'stray'\" '$T/err'"
set +e
"$KNOOP" payload encode --type knoop.crisis.v1.GripLevel a b >"$T/out" 2>"$T/err"; rc=$?
set -e
check "more operands than a command takes are refused" \
    bash -c "[ $rc -eq 2 ] && grep -q \"unexpected argument 'b'\" '$T/err'"

# knoop keys: the same keys from --config FILE, a range refused by name, and
# an abbreviation that writes nothing.
"$KNOOP" keys new --id vr-opt --role region --out "$T/keys" >/dev/null
printf '[keys-list]\ntrust = %s\n' "$T/keys" >"$T/keys.ini"
"$KNOOP" keys list --config "$T/keys.ini" >"$T/out"
check "knoop keys list takes --trust from --config FILE" grep -q "^vr-opt " "$T/out"
set +e
"$KNOOP" keys new --id vr-opt2 --role region --out "$T/keys" --valid-days 0 >"$T/out" 2>"$T/err"
rc=$?
"$KNOOP" keys new --id vr-opt2 --role region --out "$T/keys" --valid-day 5 >"$T/out" 2>"$T/err2"
rc2=$?
set -e
check "knoop keys new --valid-days 0 is refused naming the range" \
    bash -c "[ $rc -eq 2 ] && grep -q 'from 1 to 36500' '$T/err'"
check "knoop keys new --valid-day (abbreviated) writes no key" \
    bash -c "[ $rc2 -eq 2 ] && [ ! -e '$T/keys/vr-opt2.key' ]"

# The daemons: the same layout.
for d in "$BROKER" "$NODE" "$WEB"; do
    [ -x "$d" ] || continue
    "$d" --help >"$T/help.out"
    for section in NAME SYNOPSIS OPTIONS FILES; do
        check "$(basename "$d") --help has $section" grep -q "^$section\$" "$T/help.out"
    done
done

# --config FILE: the same keys as the flags, and a flag beats the file.
printf '{"region":"vr-utrecht","level":"GRIP_2"}\n' >"$T/grip.json"
cat >"$T/encode.ini" <<'EOF'
[payload-encode]
type = knoop.crisis.v1.GripLevel
EOF
"$KNOOP" payload encode --config "$T/encode.ini" "$T/grip.json" >"$T/grip.pb"
check "knoop payload encode takes --type from --config FILE" \
    bash -c "'$KNOOP' payload decode --type knoop.crisis.v1.GripLevel '$T/grip.pb' | grep -q GRIP_2"
cat >"$T/bad.ini" <<'EOF'
[payload-encode]
typo = knoop.crisis.v1.GripLevel
EOF
set +e
"$KNOOP" payload encode --config "$T/bad.ini" "$T/grip.json" >"$T/out" 2>"$T/err"; rc=$?
set -e
check "an unknown key in --config FILE is refused with its line" \
    bash -c "[ $rc -eq 2 ] && grep -q 'bad.ini:2' '$T/err' && grep -q typo '$T/err'"
cat >"$T/policy.ini" <<EOF
[policy-check]
policy = /nonexistent/policy
EOF
"$KNOOP" policy check --config "$T/policy.ini" --policy "${KNOOP_SRC:?}/deploy/policy" >"$T/out"
check "a flag beats the file" grep -q "rules, loads" "$T/out"
