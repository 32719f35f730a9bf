#!/usr/bin/env bash
# The partner registry and its default policy: deploy/policy is what
# deploy/gen-policy.sh makes of deploy/partners.csv, it loads, and it says
# what need-to-know means for a few real partners.
source "$(dirname "$0")/lib.sh"
SRC=${KNOOP_SRC:?}
P="$SRC/deploy/policy"

check "the registry holds the 25 regions, 21 waterschappen, KCR2 and 3 brokers" bash -c "
    [ \$(grep -c ',region,' '$SRC/deploy/partners.csv') = 25 ] &&
    [ \$(grep -c ',waterschap,' '$SRC/deploy/partners.csv') = 21 ] &&
    [ \$(grep -c '^kcr2,national,' '$SRC/deploy/partners.csv') = 1 ] &&
    [ \$(grep -c ',broker,' '$SRC/deploy/partners.csv') = 3 ]"
"$SRC/deploy/gen-policy.sh" "$SRC/deploy/partners.csv" >"$T/policy.gen"
check "deploy/policy is generated from deploy/partners.csv (run deploy/gen-policy.sh)" \
    cmp -s "$T/policy.gen" "$P"
check "the policy loads" "$KNOOP" policy check --policy "$P"

allow() { "$KNOOP" policy check --policy "$P" --partner "$1" --role "$2" "$3" "$4" >/dev/null; }
deny()  { ! allow "$@"; }
check "a region publishes its GRIP level" allow vr-zuid-limburg region --publish grip.vr-zuid-limburg
check "not another region's" deny vr-utrecht region --publish grip.vr-zeeland
check "a waterschap publishes its gauges" allow ws-limburg waterschap --publish water.ws-limburg.geul
check "Enexis publishes in its sector" allow vp-enexis vital --publish vitaal.energie.vp-enexis.storing
check "not in another sector" deny vp-enexis vital --publish vitaal.telecom.vp-enexis.storing
check "KCR2 publishes the duiding" allow kcr2 national --publish duiding.nl
check "a region does not" deny vr-utrecht region --publish duiding.nl
check "everyone reads the duiding" allow vp-kpn vital --subscribe 'duiding.>'
check "Zuid-Limburg reads Limburg-Noord" allow vr-zuid-limburg region --subscribe 'grip.vr-limburg-noord.>'
check "and Waterschap Limburg" allow vr-zuid-limburg region --subscribe 'water.ws-limburg.>'
check "not Utrecht (need-to-know)" deny vr-zuid-limburg region --subscribe 'grip.vr-utrecht.>'
check "bijstand reaches every region" allow vr-brabant-zuidoost region --subscribe 'bijstand.>'
check "KCR2 reads everything" allow kcr2 national --subscribe '>'
