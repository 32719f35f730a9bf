# deploy/scenarios/112-storing.sh — the events of the 112-storing scenario
# (issue 12), sourced by deploy/demo.sh once the federation runs: a national
# telecom outage in four parts (the JSON lines in 112-storing/, played with
# knoop play) and what happens between them.
#
#   1-voor      KPN reports the outage, KCR2 its duiding, the regions GRIP 1
#   -- outage   every line between Limburg and KCR2 is cut: the regional
#               broker's peer links and the two Limburg nodes' links; the
#               nodes fail over to the regional broker (last in their lists)
#   2-storing   Zuid-Limburg and Limburg-Noord exchange sitreps and a bijstand
#               request through the regional broker; KCR2 sees none of it
#   -- standby  Zuid-Limburg's control room is evacuated: its primary node is
#               killed and the standby node at the backup location takes over
#   3-uitwijk   Zuid-Limburg publishes from the backup location
#   -- USB      a liaison officer carries a bundle of Zuid-Limburg's streams
#               to KCR2, whose node imports it before the links return
#   -- heal     the lines return; the nodes go back to KCR2
#   4-herstel   KPN restored, KCR2's last duiding, GRIP 1
#
# Steps whose software is not in this build (knoop bundle, the standby node)
# say so plainly and are skipped; they are never imitated.

step "scenario: landelijke 112-storing, juni 2026 (speed ${SPEED}x)"
mkdir -p "$RUN/api"
for id in $PARTNERS; do ln -sfn "$RUN/$id/api.sock" "$RUN/api/$id.sock"; done

play_part() {   # play_part FILE: one part of the scenario, lines of running partners only
    local scen=$TOP/deploy/scenarios/112-storing/$1 part=$RUN/112-$1
    grep -E '"say"|"as": "('"$(echo $PARTNERS | tr ' ' '|')"')"' "$scen" >"$part"
    "$KNOOP" play --scenario "$part" --api-template "ipc://$RUN/api/{id}.sock" --speed "$SPEED" \
        >"$RUN/log/play-$1.log" 2>&1 && rc=0 || rc=$?
    sed 's/^/   /' "$RUN/log/play-$1.log"
    [ $rc = 0 ] || { echo "demo: part $1 of the scenario did not play through"; exit 1; }
}
link_json() { "$KNOOP" status --api "ipc://$RUN/api/$1.sock" --json 2>/dev/null | tr -d ' \n'; }
on_broker() {   # on_broker ID BROKER: the node's link is up to BROKER
    link_json "$1" | grep -q "\"link\":{\"state\":\"up\",\"broker\":\"$2\""
}
count() { "$KNOOP" audit digest --journal "$1" --pattern "$2" 2>/dev/null | awk '$1 == "digest" {print $NF}'; }

mode_of() {     # mode_of DATA: "active" or "standby", as the node's status says of itself
    # (its own line; the JSON also lists the other instances and their modes)
    "$KNOOP" status --api "ipc://$RUN/$1/api.sock" 2>/dev/null |
        awk '$1 == "instance" { print tolower($2); exit }'
}
is_mode() { [ "$(mode_of "$1")" = "$2" ]; }   # is_mode DATA MODE
standby_takeover() {
    local t0=$SECONDS
    kill -9 "${NPID[vr-zuid-limburg]}"
    printf '   >>> vr-zuid-limburg: control room evacuated, its primary node is gone (SIGKILL)\n'
    if wait_for 30 is_mode "$ZL_STANDBY" active; then
        info "the standby at the backup location ($ZL_STANDBY) is ACTIVE after $((SECONDS - t0)) s"
        ln -sfn "$RUN/$ZL_STANDBY/api.sock" "$RUN/api/vr-zuid-limburg.sock"
        "$KNOOP" status --api "ipc://$RUN/$ZL_STANDBY/api.sock" | grep -E '^(instance|link)' |
            sed "s/^/   $ZL_STANDBY  /"
    else
        proof_ok_112=0; info "THE STANDBY DID NOT TAKE OVER (see $RUN/log/$ZL_STANDBY.log)"
    fi
}
# After the heal the old primary is started again: it stays standby (failback
# is the operator's decision: knoop node promote) and catches up.
standby_back() {
    spawn "$RUN/log/vr-zuid-limburg.log" "$NODE" --config "$RUN/conf/vr-zuid-limburg.conf"
    NPID[vr-zuid-limburg]=$LAST_PID
    if wait_for 30 is_mode vr-zuid-limburg standby; then
        info "the old primary is back as STANDBY; $ZL_STANDBY stays ACTIVE until an operator runs knoop node promote"
    else
        proof_ok_112=0; info "THE OLD PRIMARY DID NOT COME BACK AS STANDBY (see $RUN/log/vr-zuid-limburg.log)"
    fi
}
kcr2_holds() { [ "$(count "$RUN/kcr2" '*.vr-zuid-limburg')" = "$1" ]; }
usb_bundle() {
    local src=$RUN/vr-zuid-limburg usb=$RUN/usb/vr-zuid-limburg.knoopbundle want got
    [ -z "${ZL_STANDBY:-}" ] || [ "$(mode_of "$ZL_STANDBY")" != active ] || src=$RUN/$ZL_STANDBY
    mkdir -p "$RUN/usb"
    printf '   >>> a liaison officer drives a USB stick with Zuid-Limburg'"'"'s streams to KCR2\n'
    if "$KNOOP" bundle export --journal "$src" --trust "$RUN/trust" --pattern '*.vr-zuid-limburg' \
            --out "$usb" >"$RUN/log/bundle-export.txt" 2>&1 &&
       "$KNOOP" bundle inspect "$usb" --trust "$RUN/trust" >"$RUN/log/bundle-inspect.txt" 2>&1 &&
       "$KNOOP" bundle import --api "ipc://$RUN/kcr2-broker-1/api.sock" "$usb" \
            >"$RUN/log/bundle-import.txt" 2>&1; then
        want=$(count "$src" '*.vr-zuid-limburg')
        if wait_for 20 kcr2_holds "$want"; then
            info "bundle: $(du -h "$usb" | cut -f1), verified and imported at kcr2-broker-1; KCR2's node holds all $want of Zuid-Limburg's messages while the lines are still down"
        else
            got=$(count "$RUN/kcr2" '*.vr-zuid-limburg')
            proof_ok_112=0; info "BUNDLE IMPORTED BUT KCR2 HOLDS ${got:-?} OF $want (see $RUN/log/bundle-*.txt)"
        fi
    else
        proof_ok_112=0; info "BUNDLE FAILED (see $RUN/log/bundle-export.txt, bundle-inspect.txt, bundle-import.txt)"
    fi
}

play_part 1-voor.jsonl

# ---- the outage ----
for p in "${CUT_PIDS[@]}"; do kill -USR1 "$p"; done
CUT_AT=$(date +%s.%N)
printf '   >>> telecom outage: %s, and the regional broker %s, lose every link to KCR2\n' \
    "$(echo $OUTAGE | sed 's/ / and /')" "$REGIONAL"
for id in $OUTAGE; do
    if wait_for 30 on_broker "$id" "$REGIONAL"; then
        info "$id: failed over to $REGIONAL (last in its list of brokers)"
    else
        proof_ok_112=0; info "$id DID NOT REACH $REGIONAL (see $RUN/log/$id.log)"
    fi
done
wait_for 10 bash -c "'$KNOOP' status --api 'ipc://$RUN/api/vr-zuid-limburg.sock' | grep -q ISOLATED" || true
"$KNOOP" status --api "ipc://$RUN/api/vr-zuid-limburg.sock" | grep -E '^(link|mesh)' | sed 's/^/   vr-zuid-limburg  /'

play_part 2-storing.jsonl
# the bijstand request crossed between the neighbours, not through KCR2
zl_req_ln=0
wait_for 20 bash -c "[ \"\$('$KNOOP' audit digest --journal '$RUN/vr-limburg-noord' --pattern bijstand.vr-zuid-limburg | awk '\$1 == \"digest\" {print \$NF}')\" -ge 1 ]" && zl_req_ln=1
zl_req_kcr2=$(count "$RUN/kcr2-broker-1" bijstand.vr-zuid-limburg)
if [ $zl_req_ln = 1 ] && [ "${zl_req_kcr2:-0}" = 0 ]; then
    info "vr-limburg-noord holds Zuid-Limburg's bijstand request, through $REGIONAL; KCR2's brokers hold none of it yet"
else
    proof_ok_112=0; info "THE NEIGHBOURS DID NOT EXCHANGE THROUGH $REGIONAL (limburg-noord: $zl_req_ln, kcr2-broker-1: ${zl_req_kcr2:-?})"
fi

# ---- the control room is evacuated: the standby node takes over ----
if [ -n "${ZL_STANDBY:-}" ]; then
    standby_takeover
else
    info "NOT YET AVAILABLE: the standby node (knoop node promote|demote, issue 12 item 1) is not in this build;"
    info "  Zuid-Limburg keeps publishing from its primary node"
fi
play_part 3-uitwijk.jsonl

# ---- a USB bundle carries Zuid-Limburg's information to KCR2 ----
if "$KNOOP" bundle --help >/dev/null 2>&1; then
    usb_bundle
else
    info "NOT YET AVAILABLE: knoop bundle export|import|inspect (issue 12 item 3) is not in this build;"
    info "  Zuid-Limburg's information reaches KCR2 when the links return"
fi

# ---- the links return ----
for p in "${CUT_PIDS[@]}"; do kill -USR2 "$p"; done
HEAL_AT=$(date +%s.%N)
printf '   >>> links back after %.0f s\n' "$(echo "$HEAL_AT - $CUT_AT" | bc 2>/dev/null || echo 0)"
for id in $OUTAGE; do
    if wait_for 30 bash -c "'$KNOOP' status --api 'ipc://$RUN/api/$id.sock' --json | tr -d ' \n' | grep -q '\"state\":\"up\",\"broker\":\"kcr2-broker-[0-9]\"'"; then
        info "$id: back on $(link_json "$id" | sed 's/.*"link":{"state":"up","broker":"\([^"]*\)".*/\1/') (failback)"
    else
        proof_ok_112=0; info "$id DID NOT RETURN TO KCR2 (see $RUN/log/$id.log)"
    fi
done
[ -z "${ZL_STANDBY:-}" ] || standby_back
play_part 4-herstel.jsonl
