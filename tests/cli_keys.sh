#!/usr/bin/env bash
# cli_keys.sh — `knoop keys new` and `knoop keys show`, end to end on real files.
# check, lacks and the temp dir $T (removed at exit): tests/lib.sh
source "$(dirname "$0")/lib.sh"

knoop=$KNOOP
tmp=$T
# run CMD... : sets $rc, $out, $err without tripping set -e.
run() {
  set +e
  "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  set -e
  out=$(cat "$tmp/out")
  err=$(cat "$tmp/err")
}

keys=$tmp/keys            # does not exist yet: keys new creates it

# --- keys new ---
run "$knoop" keys new --id vr-utrecht --role region --out "$keys"
check "keys new exits 0" test "$rc" -eq 0
check "keys new writes the key" test -f "$keys/vr-utrecht.key"
check "keys new writes the cert" test -f "$keys/vr-utrecht.cert"
check "key file mode is 600" test "$(stat -c %a "$keys/vr-utrecht.key")" = 600
check "created directory mode is 700" test "$(stat -c %a "$keys")" = 700
check "keys new prints the cert path" grep -qF "$keys/vr-utrecht.cert" "$tmp/out"
check "keys new prints a fingerprint" grep -qE 'fingerprint: +[0-9a-f]{16}$' "$tmp/out"
seed=$(sed -n 's/^seed = //p' "$keys/vr-utrecht.key")
check "key file holds a 64-digit hex seed" test "${#seed}" -eq 64
check "keys new never prints the seed" bash -c \
    'lacks -F "$0" "$1" && lacks --empty-ok -F "$0" "$2"' "$seed" "$tmp/out" "$tmp/err"

cert_before=$(cat "$keys/vr-utrecht.cert")
key_before=$(cat "$keys/vr-utrecht.key")
run "$knoop" keys new --id vr-utrecht --role region --out "$keys"
check "second keys new fails" test "$rc" -ne 0
check "second keys new names the existing file" \
      grep -qF "$keys/vr-utrecht.key already exists; refusing to overwrite" "$tmp/err"
check "second keys new leaves the key alone" test "$key_before" = "$(cat "$keys/vr-utrecht.key")"
check "second keys new leaves the cert alone" test "$cert_before" = "$(cat "$keys/vr-utrecht.cert")"

run "$knoop" keys new --id Bad_Id --role region --out "$keys"
check "invalid id is refused with status 2" test "$rc" -eq 2
check "invalid id message names the option" grep -qF -- "--id" "$tmp/err"
run "$knoop" keys new --id vr-x --role 'Not A Role' --out "$keys"
check "invalid role is refused" test "$rc" -eq 2
run "$knoop" keys new --id vr-x --role region
check "missing --out is a usage error" test "$rc" -eq 2
run "$knoop" keys new --id vr-x --role region --out "$keys" --valid-days soon
check "bad --valid-days is refused" test "$rc" -eq 2
run "$knoop" keys new --id vr-x --role region --out "$keys" --valid-from 2026-02-30T00:00:00Z
check "bad --valid-from is refused" test "$rc" -eq 2
check "refused commands wrote nothing" test ! -e "$keys/vr-x.key"

run "$knoop" keys new --id ws-oud --role waterschap --out "$keys" \
    --valid-from 2020-01-01T00:00:00Z --valid-days 30
check "keys new with explicit validity" test "$rc" -eq 0

# --- keys show ---
run "$knoop" keys show "$keys/vr-utrecht.cert"
check "keys show cert exits 0" test "$rc" -eq 0
check "keys show prints the id" grep -qE '^id: +vr-utrecht$' "$tmp/out"
check "keys show prints the role" grep -qE '^role: +region$' "$tmp/out"
check "keys show says valid now" grep -q 'valid now' "$tmp/out"

run "$knoop" keys show "$keys/ws-oud.cert"
check "keys show on an expired cert exits 0" test "$rc" -eq 0
check "keys show says expired" grep -q 'EXPIRED' "$tmp/out"
check "keys show prints valid-until" grep -qE '^valid-until: +2020-01-31T00:00:00Z$' "$tmp/out"

run "$knoop" keys show "$keys/vr-utrecht.key"
check "keys show key exits 0" test "$rc" -eq 0
check "keys show key prints the id" grep -qE '^id: +vr-utrecht$' "$tmp/out"
check "keys show key matches its cert" grep -q 'belongs to this key' "$tmp/out"
check "keys show key never prints the seed" bash -c \
    'lacks -F "$0" "$1" && lacks --empty-ok -F "$0" "$2"' "$seed" "$tmp/out" "$tmp/err"

chmod 644 "$keys/vr-utrecht.key"
run "$knoop" keys show "$keys/vr-utrecht.key"
check "keys show refuses a world-readable key" test "$rc" -ne 0
check "refusal names the file and its mode" grep -qF "$keys/vr-utrecht.key has mode 0644" "$tmp/err"
check "refusal prints no key material" lacks --empty-ok -F "$seed" "$tmp/out" "$tmp/err"
chmod 640 "$keys/vr-utrecht.key"
run "$knoop" keys show "$keys/vr-utrecht.key"
check "keys show refuses a group-readable key" test "$rc" -ne 0
chmod 600 "$keys/vr-utrecht.key"

printf '[cert]\nid = vr-x\n' >"$tmp/broken.cert"
run "$knoop" keys show "$tmp/broken.cert"
check "keys show on a broken cert exits 2" test "$rc" -eq 2
run "$knoop" keys show "$tmp/nonexistent.cert"
check "keys show on a missing file exits 2" test "$rc" -eq 2
run "$knoop" keys show
check "keys show without FILE is a usage error" test "$rc" -eq 2

# --- help ---
for cmd in "keys --help" "keys new --help" "keys show --help" "keys new -h" "keys root --help" \
           "keys issue --help" "keys revoke --help" "keys publish --help" "keys list --help" \
           "keys rotate --help"; do
  # shellcheck disable=SC2086
  run "$knoop" $cmd
  check "knoop $cmd exits 0" test "$rc" -eq 0
  for section in NAME SYNOPSIS DESCRIPTION "EXIT STATUS"; do
    check "knoop $cmd has $section" grep -q "^$section" "$tmp/out"
  done
done
run "$knoop" keys new --help
for section in OPTIONS EXAMPLES; do
  check "keys new --help has $section" grep -q "^$section" "$tmp/out"
done
# --- the root: sealed, its passphrase file guarded, its usage errors ---
printf 'a long enough passphrase\n' >"$tmp/pass"
chmod 644 "$tmp/pass"
run "$knoop" keys root --id kcr2-root --out "$tmp/root" --passphrase-file "$tmp/pass" --kdf-cost interactive
check "a passphrase file readable by others is refused" test "$rc" -eq 2
check "  naming the file and its permissions" grep -qF "$tmp/pass: permissions 0644 are too open" "$tmp/err"
chmod 600 "$tmp/pass"
run "$knoop" keys root --id kcr2-root --out "$tmp/root" --passphrase-file "$tmp/pass" --kdf-cost cheap
check "an unknown --kdf-cost is refused" test "$rc" -eq 2
run "$knoop" keys root --id kcr2-root --out "$tmp/root" --passphrase-file "$tmp/pass" --kdf-cost interactive
check "keys root exits 0" test "$rc" -eq 0
check "the root key is sealed" grep -q '^\[sealed-key\]' "$tmp/root/kcr2-root.key"
check "the root key is mode 600" test "$(stat -c %a "$tmp/root/kcr2-root.key")" = 600
run "$knoop" keys show "$tmp/root/kcr2-root.key"
check "keys show refuses to open a sealed key without its passphrase" test "$rc" -eq 2
run "$knoop" keys issue --root "$tmp/root/kcr2-root.key" --out "$tmp/issued" --passphrase-file "$tmp/pass"
check "keys issue without --cert is a usage error" test "$rc" -eq 2
run "$knoop" keys issue --root "$tmp/root/kcr2-root.key" --cert "$keys/vr-utrecht.cert" \
    --out "$tmp/issued" --passphrase-file "$tmp/pass"
check "keys issue exits 0" test "$rc" -eq 0
check "the issued certificate names its issuer" grep -q '^issuer = kcr2-root' "$tmp/issued/vr-utrecht.cert"
run "$knoop" keys revoke --root "$tmp/root/kcr2-root.key" --passphrase-file "$tmp/pass"
check "keys revoke without --id or --fingerprint is a usage error" test "$rc" -eq 2
run "$knoop" keys list --trust "$tmp/nowhere"
check "keys list of a missing directory exits 2" test "$rc" -eq 2

run "$knoop" keys frobnicate
check "unknown keys command exits 2" test "$rc" -eq 2

