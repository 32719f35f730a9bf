#!/usr/bin/env bash
# The README's first command, short: deploy/demo.sh --short runs the mesh of
# three brokers and seven partners through the Limburg scenario with a link
# loss and a broker kill, and must end with its proof: the brokers agree,
# every partner holds what the brokers hold on what it reads, every journal
# verifies, and exercise traffic stays out of the picture.
source "$(dirname "$0")/lib.sh"
demo_run 40
check "the three brokers agree" grep -q "mesh: 3 brokers AGREE" "$T/demo.out"
check "all ten journals verify" grep -q "10 of 10 journals verify" "$T/demo.out"
check "Zuid-Limburg caught up after its link loss" grep -q "caught up from" "$T/demo.out"
check "exercise traffic was there and stayed out of the picture" \
    grep -Eq "exercise messages: [1-9][0-9]* in KCR2's journal, 0 in the picture" "$T/demo.out"
check "GRIP 4 for Zuid-Limburg in the national picture" grep -q "vr-zuid-limburg  GRIP_4" "$T/demo.out"
check "the duiding with its handelingsperspectief" grep -q "AUDIENCE_PUBLIC: Volg de instructies" "$T/demo.out"
check "every certificate of the demo is issued by its root" bash -c \
    "'$KNOOP' keys list --trust '$T/demo/trust' | awk 'NR > 1 && \$4 != \"(root)\" && \$4 != \"demo-root\" { bad = 1 } END { exit bad }'"
check "the demo root key is sealed and 0600" bash -c \
    "[ \"\$(stat -c %a '$T/demo/root/demo-root.key')\" = 600 ] && grep -q '^\[sealed-key\]' '$T/demo/root/demo-root.key'"
check "a new partner joined with one issued certificate, nothing copied to the brokers" \
    grep -q "vr-nieuw published through kcr2-broker-3 and KCR2 holds its message" "$T/demo.out"
check "nothing left running" bash -c "! pgrep -f 'knoop-(node|broker).*$T/demo/' >/dev/null"
