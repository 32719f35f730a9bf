#!/usr/bin/env bash
# EDXL-DE 2.0 to and from the federation: one payload of every crisis type
# (from the demo scenario) and a CAP alert are published at one node, read
# at another, wrapped into one EDXL-DE distribution and unwrapped again with
# the same payloads; a distribution from a foreign hub (tests/edxl/valid) is
# unwrapped, published, read back at the other node and wrapped again equal
# under C14N (whitespace between elements aside); every invalid document of
# tests/edxl/invalid is refused naming its element; a document in the
# lowerCamelCase spelling knooppunt wrote before it followed the 2.0 schema
# (tests/edxl/old-format) still unwraps, to the same distribution.
source "$(dirname "$0")/lib.sh"

command -v xmllint >/dev/null || die "xmllint is missing: run deploy/install-deps.sh"
SRC=$KNOOP_SRC

make_partner kcr2-broker-1 broker
make_partner kcr2 kcr2
make_partner vr-utrecht region
# vr-utrecht plays a gateway that forwards other partners' payloads: the
# sender fields in them name those partners (speak-for, node and policy).
cat >"$T/policy" <<'P'
* publish x.{id}.>
* subscribe x.>
vr-utrecht speak-for *
P
EP="ipc://$T/b.sock"
B="kcr2-broker-1@$EP"
start_broker kcr2-broker-1 "$EP"
start_node kcr2 --broker "$B" --subscribe 'x.>'
start_node vr-utrecht --broker "$B" --subscribe 'x.>' --speak-for '*'
A_KCR2=$(api kcr2)
A_UTR=$(api vr-utrecht)

# ---- one message of every type in the scenario, plus a CAP alert ----
grep -v '^#' "$SRC/deploy/scenarios/limburg-2021.jsonl" |
    jq -c 'select(.type) | {type, payload}' | awk -F'"type":"' '{split($2, a, "\""); if (!seen[a[1]]++) print}' \
    >"$T/one-each.jsonl"
types=$(wc -l <"$T/one-each.jsonl")
check "the scenario has a payload of every crisis type ($types types)" [ "$types" -ge 7 ]
n=0
while IFS= read -r line; do
    type=$(jq -r .type <<<"$line")
    n=$((n + 1))
    "$KNOOP" pub --api "$A_UTR" --topic "x.vr-utrecht.t$n" --type "$type" \
        --json "$(jq -c .payload <<<"$line")" >/dev/null || bad "publish $type"
done <"$T/one-each.jsonl"
"$KNOOP" cap import --api "$A_UTR" --topic x.vr-utrecht.cap \
    "$SRC/tests/cap/valid/03-tweetalig-besloten.xml" >/dev/null || bad "cap import"
total=$((types + 1))
wait_for "kcr2 holds them" 20 has_count "$T/kcr2" 'x.>' "$total" || bad "kcr2 holds $total"

"$KNOOP" sub --api "$A_KCR2" --pattern 'x.>' --from-start --count "$total" --timeout 5 \
    >"$T/sub.jsonl" || bad "sub at kcr2"
"$KNOOP" edxl wrap --sender kcr2 --id kcr2-edxl-1 --sent 2021-07-15T02:00:00+02:00 \
    --to vr-utrecht --to email:lcms@vr-utrecht.nl --language nl-NL \
    "$T/sub.jsonl" >"$T/out.xml" 2>"$T/wrap.err" || { cat "$T/wrap.err"; bad "wrap"; }
check "wrap writes well-formed XML" xmllint --noout "$T/out.xml"
check "with one contentObject per message ($total)" \
    [ "$(xmllint --xpath 'count(//*[local-name()="ContentObject"])' "$T/out.xml")" -eq "$total" ]
check "the alert goes as embedded CAP 1.2" \
    xmllint --xpath '//*[local-name()="EmbeddedXMLContent"]/*[local-name()="alert"]' "$T/out.xml"
check "dateTimeExpires defaults to a day after dateTimeSent" \
    grep -q '<DateTimeExpires>2021-07-16T02:00:00+02:00</DateTimeExpires>' "$T/out.xml"
DE='urn:oasis:names:tc:emergency:EDXL:DE:2.0'
CT='urn:oasis:names:tc:emergency:edxl:ct:1.0'
xp() { xmllint --xpath "$1" "$T/out.xml" 2>/dev/null; }
check "the header in EDXL-DE 2.0 names, in schema order" [ "$(xp "concat(name(/*/*[1]),' ',
    name(/*/*[2]),' ',name(/*/*[3]),' ',name(/*/*[4]),' ',name(/*/*[5]),' ',name(/*/*[6]),' ',
    name(/*/*[7]),' ',name(/*/*[8]),' ',count(/*/*[namespace-uri()='$DE']))")" \
    = "DistributionID SenderID DateTimeSent DateTimeExpires DistributionStatus DistributionKind Descriptor Content 8" ]
check "status and kind as ct:ValueListURI + ct:Value of the 2.0 default lists" [ "$(xp "concat(
    /*/*[local-name()='DistributionStatus']/*[local-name()='StatusKindDefault']/*[namespace-uri()='$CT' and local-name()='ValueListURI'], ' ',
    /*/*[local-name()='DistributionStatus']/*[local-name()='StatusKindDefault']/*[namespace-uri()='$CT' and local-name()='Value'], ' ',
    /*/*[local-name()='DistributionKind']/*[local-name()='DistributionKindDefault']/*[namespace-uri()='$CT' and local-name()='ValueListURI'], ' ',
    /*/*[local-name()='DistributionKind']/*[local-name()='DistributionKindDefault']/*[namespace-uri()='$CT' and local-name()='Value'])")" \
    = "$DE:Defaults:StatusKind Actual $DE:Defaults:DistributionType Report" ]
check "a payload as NonXMLContent/MIMEType, Size, ContentData" [ "$(xp "count(//*[local-name()='NonXMLContent']/*[local-name()='MIMEType']/following-sibling::*[1][local-name()='Size']/following-sibling::*[1][local-name()='ContentData'])")" \
    -eq "$(jq -r .type "$T/sub.jsonl" | grep -vcx knoop.crisis.v1.Alert)" ]
check "no lowerCamelCase EDXL element is written" lacks -E \
    '<(distributionID|senderID|dateTimeSent|distributionStatus|descriptor|explicitAddress|contentObject|nonXMLContent|mimeType|contentData)[ >]' "$T/out.xml"
"$KNOOP" edxl unwrap --lines "$T/out.xml" >"$T/back.jsonl" || bad "unwrap"
check "unwrap gives every payload back unchanged" \
    cmp -s <(jq -cS '{type, payload}' "$T/sub.jsonl") <(jq -cS . "$T/back.jsonl")
"$KNOOP" edxl unwrap "$T/out.xml" >"$T/dist.json" || bad "unwrap (distribution)"
check "the distribution header comes back" bash -c \
    "jq -e '.senderID == \"kcr2\" and .distributionKind == \"Report\" and .language == \"nl-NL\"
            and (.explicitAddress | length) == 2' '$T/dist.json' >/dev/null"
"$KNOOP" edxl wrap "$T/dist.json" >"$T/again.xml" || bad "wrap (distribution)"
check "wrap(unwrap(doc)) is the same document, byte for byte" cmp -s "$T/out.xml" "$T/again.xml"

# ---- a foreign hub's distribution into the federation and back ----
for f in "$SRC"/tests/edxl/valid/*.xml; do
    name=$(basename "$f" .xml)
    "$KNOOP" edxl unwrap "$f" >"$T/$name.json" || { bad "$name unwraps"; continue; }
    "$KNOOP" edxl unwrap --lines "$f" >"$T/$name.lines"
    k=0
    while IFS= read -r line; do
        k=$((k + 1))
        "$KNOOP" pub --api "$A_UTR" --topic "x.vr-utrecht.hub.$name.$k" --type "$(jq -r .type <<<"$line")" \
            --json "$(jq -c .payload <<<"$line")" >/dev/null || bad "$name: publish content $k"
    done <"$T/$name.lines"
    total=$((total + k))
    wait_for "kcr2 holds $name" 20 has_count "$T/kcr2" 'x.>' "$total" || bad "$name reaches kcr2"
    "$KNOOP" sub --api "$A_KCR2" --pattern "x.vr-utrecht.hub.$name.>" --from-start --count "$k" \
        --timeout 5 | jq -c '{type, payload}' >"$T/$name.arrived"
    check "$name: the content arrived at kcr2 unchanged" \
        cmp -s <(jq -cS . "$T/$name.lines") <(jq -cS . "$T/$name.arrived")
    jq --slurpfile c "$T/$name.arrived" '.content = [range(0; $c | length) as $i
        | {type: $c[$i].type, payload: $c[$i].payload}
          + (if .content[$i].description then {description: .content[$i].description} else {} end)]' \
        "$T/$name.json" >"$T/$name.rewrap.json"
    "$KNOOP" edxl wrap "$T/$name.rewrap.json" >"$T/$name.out.xml" || bad "$name wraps again"
    check "$name: wrapped again at kcr2, equal under C14N (whitespace between elements aside)" \
        cmp -s <(xmllint --noblanks "$f" | xmllint --c14n -) \
               <(xmllint --noblanks "$T/$name.out.xml" | xmllint --c14n -)
done

# ---- a document in the older lowerCamelCase spelling still unwraps ----
for f in "$SRC"/tests/edxl/old-format/*.xml; do
    name=$(basename "$f" .xml)
    "$KNOOP" edxl unwrap "$f" >"$T/$name.json" || { bad "$name (old spelling) unwraps"; continue; }
    check "$name (old spelling) unwraps to the same distribution as its 2.0 twin" \
        cmp -s "$T/$name.json" <("$KNOOP" edxl unwrap "$SRC/tests/edxl/valid/${name%-lowercamel}.xml")
    "$KNOOP" edxl wrap "$T/$name.json" >"$T/$name.out.xml" || bad "$name wraps again"
    check "$name: wrapped again in the 2.0 spelling, equal under C14N to its 2.0 twin" \
        cmp -s <(xmllint --noblanks "$SRC/tests/edxl/valid/${name%-lowercamel}.xml" | xmllint --c14n -) \
               <(xmllint --noblanks "$T/$name.out.xml" | xmllint --c14n -)
done
n_old=$(ls "$SRC"/tests/edxl/old-format/*.xml | wc -l)
check "there is an old-spelling document ($n_old)" [ "$n_old" -ge 1 ]

# ---- invalid documents ----
n_invalid=0
for f in "$SRC"/tests/edxl/invalid/*.xml; do
    expect=$(sed -n 's/^<!-- expect: \(.*\) -->$/\1/p' "$f")
    rc=0
    "$KNOOP" edxl unwrap --lines "$f" >"$T/out.lines" 2>"$T/err" || rc=$?
    # refused, naming the element, and nothing on stdout: a pipeline into
    # knoop pub publishes nothing of it
    if [ "$rc" -eq 1 ] && [ -n "$expect" ] && grep -qF -- "$expect" "$T/err" &&
       [ ! -s "$T/out.lines" ]; then
        n_invalid=$((n_invalid + 1))
    else
        bad "$(basename "$f") refused naming '$expect' (exit $rc: $(head -c 300 "$T/err"))"
    fi
done
n_files=$(ls "$SRC"/tests/edxl/invalid/*.xml | wc -l)
check "all $n_invalid invalid EDXL documents refused naming the element, nothing unwrapped" \
    [ "$n_invalid" -eq "$n_files" -a "$n_invalid" -ge 30 ]
# the same through a pipeline into knoop pub: nothing reaches the journal
before=$(count_msgs "$T/vr-utrecht" 'x.>')
for f in "$SRC"/tests/edxl/invalid/{17,18,21,24,30}-*.xml; do
    "$KNOOP" edxl unwrap --lines "$f" 2>/dev/null |
        while IFS= read -r line; do
            "$KNOOP" pub --api "$A_UTR" --topic x.vr-utrecht.invalid \
                --type "$(jq -r .type <<<"$line")" --json "$(jq -c .payload <<<"$line")"
        done >/dev/null 2>&1 || true
done
after=$(count_msgs "$T/vr-utrecht" 'x.>')
check "unwrap | pub of invalid documents published nothing ($before messages before and after)" \
    bash -c "[[ '$before' =~ ^[0-9]+\$ ]] && [ '$before' -gt 0 ] && [ '$after' = '$before' ]"
rc=0
"$KNOOP" edxl wrap --sender kcr2 --sent gisteren "$T/sub.jsonl" >/dev/null 2>"$T/err" || rc=$?
check "wrap with --sent gisteren exits 1 naming dateTimeSent" \
    bash -c "[ $rc -eq 1 ] && grep -q \"dateTimeSent: 'gisteren'\" '$T/err'"
check "knoop edxl --help documents wrap and unwrap" bash -c \
    "'$KNOOP' edxl --help | grep -q 'knoop edxl unwrap'"
