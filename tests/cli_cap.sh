#!/usr/bin/env bash
# CAP 1.2 through the federation: `knoop cap import` at KCR2's node, the
# broker, `knoop cap export` at a region's node. Every valid document of
# tests/cap/valid comes out equal under C14N (xmllint --c14n), an XML
# signature made with xmlsec1 still verifies after the trip, every invalid
# document is refused naming its element and publishes nothing, CAP status
# sets the envelope status, and Update/Cancel supersede the referenced alert
# in the picture while the export still holds the whole history.
source "$(dirname "$0")/lib.sh"

for tool in xmllint xmlsec1 openssl; do
    command -v "$tool" >/dev/null || die "$tool is missing: run deploy/install-deps.sh"
done
CORPUS=$KNOOP_SRC/tests/cap

make_partner kcr2-broker-1 broker
make_partner kcr2 kcr2
make_partner vr-utrecht region
make_partner vr-limburg-noord region
cat >"$T/policy" <<'P'
kcr2 publish alert.>
* subscribe alert.>
P
EP="ipc://$T/b.sock"
B="kcr2-broker-1@$EP"
start_broker kcr2-broker-1 "$EP"
start_node kcr2 --broker "$B" --subscribe 'alert.>'
start_node vr-utrecht --broker "$B" --subscribe 'alert.>'
start_node vr-limburg-noord --broker "$B" --subscribe 'alert.>'
A_KCR2=$(api kcr2)
A_UTR=$(api vr-utrecht)
A_LN=$(api vr-limburg-noord)
# 03-tweetalig-besloten is scope Private, addressed to kcr2 and
# vr-limburg-noord: TLP red to those two, never to vr-utrecht.
PRIVATE_ID=VRZL-2021-0715-luchtruim

# ---- invalid documents: each refused, naming its element; nothing published ----
# One import of all of them through the node: each is reported on its own
# line ("FILE refused: REASON"), and the whole import publishes nothing.
rc=0
"$KNOOP" cap import --api "$A_KCR2" --topic alert.nl "$CORPUS"/invalid/*.xml \
    >"$T/out" 2>"$T/err" || rc=$?
check "an import of invalid documents exits 1 and says nothing was published" \
    bash -c "[ $rc -eq 1 ] && grep -q 'nothing published' '$T/err'"
n_invalid=0
for f in "$CORPUS"/invalid/*.xml; do
    expect=$(sed -n 's/^<!-- expect: \(.*\) -->$/\1/p' "$f")
    if grep -F -- "$f refused: " "$T/err" | grep -qF -- "$expect"; then
        n_invalid=$((n_invalid + 1))
    else
        bad "$(basename "$f") refused naming '$expect' (got: $(grep -F -- "$f" "$T/err" | head -c 300))"
    fi
done
check "all $n_invalid invalid documents refused with the element named" [ "$n_invalid" -ge 20 ]
check "a batch with one invalid document publishes nothing" bash -c \
    "! '$KNOOP' cap import --api '$A_KCR2' --topic alert.nl '$CORPUS'/valid/01-*.xml \
       '$CORPUS'/invalid/27-polygon-text.xml 2>/dev/null"
check "nothing of it reached the journal" has_count "$T/kcr2" 'alert.>' 0

# ---- a signed alert, signed here with xmlsec1 (RSA-SHA256, enveloped) ----
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/sign.key" 2>/dev/null
openssl pkey -in "$T/sign.key" -pubout -out "$T/sign.pub" 2>/dev/null
cat >"$T/signed-tmpl.xml" <<'X'
<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>NL-ALERT-SIGNED-0001</identifier>
  <sender>nl-alert@vr-zuid-limburg</sender>
  <sent>2021-07-14T23:50:00+02:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>nl-NL</language>
    <category>Safety</category>
    <event>Overstroming</event>
    <urgency>Immediate</urgency>
    <severity>Extreme</severity>
    <certainty>Observed</certainty>
    <headline>Verlaat Valkenburg centrum</headline>
    <area>
      <areaDesc>Valkenburg</areaDesc>
      <circle>50.8651,5.8320 1.5</circle>
      <altitude>0</altitude>
      <ceiling>0</ceiling>
    </area>
  </info>
  <Signature xmlns="http://www.w3.org/2000/09/xmldsig#">
    <SignedInfo>
      <CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>
      <SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
      <Reference URI="">
        <Transforms>
          <Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
        </Transforms>
        <DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
        <DigestValue/>
      </Reference>
    </SignedInfo>
    <SignatureValue/>
  </Signature>
</alert>
X
xmlsec1 --sign --privkey-pem "$T/sign.key" --output "$T/signed.xml" "$T/signed-tmpl.xml" \
    2>"$T/xmlsec.err" || die "xmlsec1 cannot sign: $(cat "$T/xmlsec.err")"
xmlsec1 --verify --pubkey-pem "$T/sign.pub" "$T/signed.xml" >/dev/null 2>&1 \
    || die "the freshly signed document does not verify"

# ---- import the corpus (in file order: the Update and Cancel chains) ----
"$KNOOP" cap import --api "$A_KCR2" --topic alert.nl "$CORPUS"/valid/*.xml "$T/signed.xml" \
    >"$T/import.out" 2>"$T/import.err" || { cat "$T/import.err"; die "import failed"; }
n_valid=$(ls "$CORPUS"/valid/*.xml | wc -l)
total=$((n_valid + 1))
check "import published $total alerts, one line each" [ "$(wc -l <"$T/import.out")" -eq "$total" ]
check "--check validates without a node" "$KNOOP" cap import --check "$CORPUS"/valid/02-*.xml
check "stdin is read with -" bash -c \
    "'$KNOOP' cap import --check - <'$CORPUS/valid/03-tweetalig-besloten.xml' | grep -q VRZL"
check "an Update takes the key of the alert it references" \
    grep -q "^.*05-update2-knmi.xml: .* key knmi@knmi.nl,KNMI-2021-07-14-0600-ORANJE$" "$T/import.out"
check "so does the Cancel" \
    grep -q "06-cancel-knmi.xml: .* key knmi@knmi.nl,KNMI-2021-07-14-0600-ORANJE$" "$T/import.out"

open=$((total - 1))
wait_for "vr-utrecht holds all alerts but the Private one" 20 has_count "$T/vr-utrecht" 'alert.>' "$open" \
    || bad "vr-utrecht holds $(count_msgs "$T/vr-utrecht" 'alert.>') of $open alerts"
wait_for "vr-limburg-noord holds all alerts" 20 has_count "$T/vr-limburg-noord" 'alert.>' "$total" \
    || bad "vr-limburg-noord holds $(count_msgs "$T/vr-limburg-noord" 'alert.>') of $total alerts"

# ---- export at the other node: equal under C14N, signature still verifies ----
"$KNOOP" cap export --api "$A_UTR" --out "$T/export" >"$T/export.out" 2>"$T/export.err" \
    || { cat "$T/export.err"; bad "export failed"; }
check "export wrote one document per alert message it holds ($open)" \
    [ "$(ls "$T/export" | wc -l)" -eq "$open" ]
check "the Private alert was not delivered to a partner its addresses do not name" \
    test ! -e "$T/export/$PRIVATE_ID.xml"
"$KNOOP" cap export --api "$A_LN" --out "$T/export-ln" >/dev/null 2>&1 || bad "export at vr-limburg-noord"
check "vr-limburg-noord, named in it, exports it" test -f "$T/export-ln/$PRIVATE_ID.xml"
same=0
for f in "$CORPUS"/valid/*.xml "$T/signed.xml"; do
    id=$(xmllint --xpath 'string(/*[local-name()="alert"]/*[local-name()="identifier"])' "$f")
    name=$(printf '%s' "$id" | sed 's/[^A-Za-z0-9._-]/_/g').xml
    dir=$T/export
    [ "$id" = "$PRIVATE_ID" ] && dir=$T/export-ln
    if [ -f "$dir/$name" ] &&
       cmp -s <(xmllint --c14n "$f") <(xmllint --c14n "$dir/$name"); then
        same=$((same + 1))
    else
        bad "$(basename "$f") -> $name equal under C14N"
        diff <(xmllint --c14n "$f") <(xmllint --c14n "$dir/$name") | head -20 || true
    fi
done
check "every document came back equal under C14N ($same of $total)" [ "$same" -eq "$total" ]
check "the signed alert still verifies after import, broker and export" \
    xmlsec1 --verify --pubkey-pem "$T/sign.pub" "$T/export/NL-ALERT-SIGNED-0001.xml"
sed 's/Verlaat Valkenburg centrum/Blijf in Valkenburg centrum/' \
    "$T/export/NL-ALERT-SIGNED-0001.xml" >"$T/tampered.xml"
check "and the verification is real: a changed headline fails it" bash -c \
    "! xmlsec1 --verify --pubkey-pem '$T/sign.pub' '$T/tampered.xml' >/dev/null 2>&1"
check "the export holds superseded alerts too (history, not only the picture)" \
    test -f "$T/export/KNMI-2021-07-14-0600-ORANJE.xml" -a -f "$T/export/KNMI-2021-07-14-1200-ROOD.xml"
check "export --since after the last message writes nothing" bash -c \
    "'$KNOOP' cap export --api '$A_UTR' --since 2099-01-01T00:00:00Z --out '$T/none' 2>/dev/null
     [ -d '$T/none' ] && [ -z \"\$(ls '$T/none')\" ]"
check "export --pattern on another family writes nothing" bash -c \
    "'$KNOOP' cap export --api '$A_UTR' --pattern 'grip.>' --out '$T/grip' 2>/dev/null
     [ -z \"\$(ls '$T/grip')\" ]"

# ---- envelope status and the picture ----
"$KNOOP" sub --api "$A_LN" --pattern 'alert.>' --from-start --status all --count "$total" \
    --timeout 5 >"$T/sub.all" || true
st() { jq -r "select(.payload.identifier == \"$1\") | .status" "$T/sub.all"; }
check "CAP Exercise travels as an exercise envelope" [ "$(st OEF-2026-11-30-001)" = exercise ]
check "CAP Test as test" [ "$(st SYS-HEARTBEAT-42)" = test ]
check "CAP System as system" [ "$(st ACK-0001)" = system ]
check "CAP Actual as actual" [ "$(st NL-ALERT-2021-0714-2345)" = actual ]
tlp() { jq -r "select(.payload.identifier == \"$1\") | .tlp" "$T/sub.all"; }
check "scope Public goes TLP clear" [ "$(tlp NL-ALERT-2021-0714-2345)" = clear ]
check "scope Private naming partners goes TLP red" [ "$(tlp "$PRIVATE_ID")" = red ]
check "to the partner ids among its addresses" bash -c \
    "jq -c 'select(.payload.identifier == \"$PRIVATE_ID\") | .recipients' '$T/sub.all' | grep -qx '\[\"kcr2\",\"vr-limburg-noord\"\]'"
check "scope Restricted goes TLP amber" [ "$(tlp VOLLEDIG-1)" = amber ]
check "Immediate urgency goes flash" bash -c \
    "jq -r 'select(.payload.identifier == \"NL-ALERT-2021-0714-2345\") | .priority' '$T/sub.all' | grep -qx flash"
"$KNOOP" beeld --api "$A_UTR" --pattern 'alert.>' --json >"$T/beeld"
key_id() { jq -r "select(.key == \"$1\") | .payload.identifier" "$T/beeld"; }
check "the Cancel superseded the KNMI chain in the picture" \
    [ "$(key_id knmi@knmi.nl,KNMI-2021-07-14-0600-ORANJE)" = KNMI-2021-07-16-1800-EINDE ]
check "the chain's Updates are not in the picture any more" bash -c \
    "jq -r .payload.identifier '$T/beeld' >'$T/beeld.ids' && lacks -x KNMI-2021-07-14-1200-ROOD '$T/beeld.ids'"
check "an exercise alert is not in the real picture" bash -c \
    "! jq -r .payload.identifier '$T/beeld' | grep -qx OEF-2026-11-30-001"
check "an unrelated alert stands in the picture under its own key" \
    [ "$(key_id nl-alert@vr-zuid-limburg,NL-ALERT-2021-0714-2345)" = NL-ALERT-2021-0714-2345 ]

# ---- the picture's alerts as a CAP Atom feed from knoop-web ----
WEB=$BIN_DIR/web/knoop-web
if [ -x "$WEB" ]; then
    WPORT=$(free_port)
    "$WEB" --api "$A_UTR" --listen "127.0.0.1:$WPORT" --assets "$KNOOP_SRC/web/static" \
        --public-read >>"$T/web.log" 2>&1 &
    PIDS+=($!)
    wait_for "knoop-web listening" 10 grep -q "serving the picture" "$T/web.log"
    code=$(curl -s -o "$T/feed.xml" -D "$T/feed.hdr" -w '%{http_code}' --max-time 10 \
        "http://127.0.0.1:$WPORT/alerts.atom")
    check "knoop-web serves /alerts.atom (200, application/atom+xml)" bash -c \
        "[ '$code' = 200 ] && grep -qi '^content-type: application/atom+xml' '$T/feed.hdr'"
    check "the feed is well-formed XML" xmllint --noout "$T/feed.xml"
    check "the feed is Atom 1.0: <feed> of http://www.w3.org/2005/Atom with id, title, updated" \
        bash -c "[ \"\$(xmllint --xpath 'namespace-uri(/*)' '$T/feed.xml')\" = http://www.w3.org/2005/Atom ] &&
                 [ \"\$(xmllint --xpath 'local-name(/*)' '$T/feed.xml')\" = feed ] &&
                 [ \"\$(xmllint --xpath 'count(/*/*[local-name()=\"id\" or local-name()=\"title\" or local-name()=\"updated\"])' '$T/feed.xml')\" -eq 3 ]"
    check "every entry has the id, title and updated RFC 4287 requires" bash -c \
        "[ \"\$(xmllint --xpath 'count(//*[local-name()=\"entry\"][*[local-name()=\"id\"] and *[local-name()=\"title\"] and *[local-name()=\"updated\"]])' '$T/feed.xml')\" -eq \"\$(xmllint --xpath 'count(//*[local-name()=\"entry\"])' '$T/feed.xml')\" ]"
    n_keys=$(jq -r .key "$T/beeld" | sort -u | wc -l)
    check "one entry per alert in the picture ($n_keys)" \
        [ "$(xmllint --xpath 'count(//*[local-name()="entry"])' "$T/feed.xml")" -eq "$n_keys" ]
    entry_alert() {   # the CAP document of the entry for identifier $1
        xmllint --xpath "//*[local-name()='entry'][*[local-name()='content']/*/*[local-name()='identifier']='$1']/*[local-name()='content']/*" "$T/feed.xml"
    }
    check "the KNMI chain stands in the feed as its Cancel" bash -c \
        "xmllint --xpath 'string(//*[local-name()=\"entry\"][*[local-name()=\"content\"]/*/*[local-name()=\"identifier\"]=\"KNMI-2021-07-16-1800-EINDE\"]/*[local-name()=\"title\"])' '$T/feed.xml' | grep -qx 'Einde waarschuwing'"
    check "and the superseded Update is not in the feed" \
        lacks 'KNMI-2021-07-14-1200-ROOD<' "$T/feed.xml"
    entry_alert NL-ALERT-SIGNED-0001 >"$T/from-feed.xml"
    check "the signed alert in the feed is the document that was signed (C14N)" \
        cmp -s <(xmllint --c14n "$T/signed.xml") <(xmllint --c14n "$T/from-feed.xml")
    check "and its signature verifies when taken out of the feed" \
        xmlsec1 --verify --pubkey-pem "$T/sign.pub" "$T/from-feed.xml"
else
    bad "knoop-web was not built ($WEB)"
fi

# ---- an Alert published as JSON must travel with its CAP status ----
oef='{"identifier":"OEF-JSON-1","sender":"kcr2","sent":"2026-01-01T00:00:00+01:00","status":"CAP_STATUS_EXERCISE","msg_type":"CAP_MSG_TYPE_ALERT","scope":"CAP_SCOPE_PUBLIC"}'
rc=0
"$KNOOP" pub --api "$A_KCR2" --topic alert.nl --type knoop.crisis.v1.Alert --status actual \
    --json "$oef" >/dev/null 2>"$T/err" || rc=$?
check "the node refuses a CAP Exercise alert in an ACTUAL envelope, saying why" bash -c \
    "[ $rc -eq 1 ] && grep -q \"CAP status is Exercise, the envelope's actual\" '$T/err'"
check "and takes it in an EXERCISE envelope" "$KNOOP" pub --api "$A_KCR2" --topic alert.nl \
    --type knoop.crisis.v1.Alert --status exercise --json "$oef"
draft=${oef//CAP_STATUS_EXERCISE/CAP_STATUS_DRAFT}
rc=0
"$KNOOP" pub --api "$A_KCR2" --topic alert.nl --type knoop.crisis.v1.Alert --json "$draft" \
    >/dev/null 2>"$T/err" || rc=$?
check "a CAP Draft is not published as JSON either" bash -c \
    "[ $rc -eq 1 ] && grep -q 'a draft is not published' '$T/err'"
total=$((total + 1))

# ---- a later import finds the chain in the node's picture ----
sed -e 's/KNMI-2021-07-16-1800-EINDE/KNMI-2021-07-17-0000-NA/' \
    -e 's|<references>.*</references>|<references>knmi@knmi.nl,KNMI-2021-07-16-1800-EINDE,2021-07-16T18:00:00+02:00</references>|' \
    -e 's/<msgType>Cancel/<msgType>Update/' "$CORPUS/valid/06-cancel-knmi.xml" >"$T/late.xml"
wait_for "kcr2 sees its own chain" 10 has_count "$T/kcr2" 'alert.>' "$total"
check "an Update imported later, referencing only the Cancel, joins the same key" bash -c \
    "'$KNOOP' cap import --api '$A_KCR2' --topic alert.nl '$T/late.xml' | grep -q 'key knmi@knmi.nl,KNMI-2021-07-14-0600-ORANJE$'"
check "knoop cap --help documents import and export" bash -c \
    "'$KNOOP' cap --help | grep -q 'knoop cap import' && '$KNOOP' cap export --help | grep -q -- '--since'"
check "export without --out is a usage error" bash -c \
    "'$KNOOP' cap export --api '$A_UTR' 2>/dev/null; [ \$? -eq 2 ]"

# ---- knoop pub of a JSON Alert takes the same state key as cap import ----
# (lib/cap.c knoop_cap_keys_assign, used by both): an Update or Cancel
# published as JSON supersedes the alert it references in the picture.
jalert() {   # identifier msgType references
    printf '{"identifier":"%s","sender":"kcr2","sent":"2026-01-02T0%s:00:00+01:00","status":"CAP_STATUS_ACTUAL","msg_type":"CAP_MSG_TYPE_%s","scope":"CAP_SCOPE_PUBLIC","references":"%s","info":[{"language":"nl-NL","category":["CAP_CATEGORY_MET"],"event":"Storm","urgency":"CAP_URGENCY_EXPECTED","severity":"CAP_SEVERITY_MODERATE","certainty":"CAP_CERTAINTY_LIKELY","headline":"%s"}]}' \
        "$1" "${1##*-}" "$2" "$3" "$1"
}
"$KNOOP" pub --api "$A_KCR2" --topic alert.json --type knoop.crisis.v1.Alert \
    --json "$(jalert JSON-1 ALERT '')" >/dev/null || bad "pub of a JSON alert"
"$KNOOP" pub --api "$A_KCR2" --topic alert.json --type knoop.crisis.v1.Alert \
    --json "$(jalert JSON-2 ALERT '')" >/dev/null || bad "pub of a second JSON alert"
"$KNOOP" pub --api "$A_KCR2" --topic alert.json --type knoop.crisis.v1.Alert \
    --json "$(jalert JSON-3 UPDATE 'kcr2,JSON-1,2026-01-02T01:00:00+01:00')" >/dev/null \
    || bad "pub of a JSON Update"
jbeeld() {   # the identifier standing under key $1 on alert.json at kcr2
    "$KNOOP" beeld --api "$A_KCR2" --pattern alert.json --json |
        jq -r "select(.key == \"$1\") | .payload.identifier"
}
check "a JSON Alert stands under its own sender,identifier" [ "$(jbeeld kcr2,JSON-2)" = JSON-2 ]
check "a JSON Update published with knoop pub supersedes the alert it references" \
    [ "$(jbeeld kcr2,JSON-1)" = JSON-3 ]
# a file of JSON lines: a Cancel referencing only the Update (found through
# the picture), then an Update of JSON-2 referencing it (found in the batch)
{ jalert JSON-4 CANCEL 'kcr2,JSON-3,2026-01-02T03:00:00+01:00'; echo
  jalert JSON-5 UPDATE 'kcr2,JSON-2,2026-01-02T02:00:00+01:00'; echo; } >"$T/alerts.jsonl"
"$KNOOP" pub --api "$A_KCR2" --topic alert.json --type knoop.crisis.v1.Alert \
    --file "$T/alerts.jsonl" >/dev/null || bad "pub --file of JSON alerts"
check "a JSON Cancel referencing only the Update joins the chain's key" \
    [ "$(jbeeld kcr2,JSON-1)" = JSON-4 ]
check "a JSON Update in a file supersedes its alert" [ "$(jbeeld kcr2,JSON-2)" = JSON-5 ]
check "the picture of alert.json holds two alerts, not five" bash -c \
    "[ \"\$('$KNOOP' beeld --api '$A_KCR2' --pattern alert.json --json | jq -s length)\" -eq 2 ]"
# knoop play, the scenario player, gives a scenario's alerts the same keys
{ printf '{"at": 0, "as": "kcr2", "topic": "alert.play", "type": "knoop.crisis.v1.Alert", "payload": %s}\n' \
      "$(jalert PLAY-1 ALERT '')"
  printf '{"at": 0, "as": "kcr2", "topic": "alert.play", "type": "knoop.crisis.v1.Alert", "payload": %s}\n' \
      "$(jalert PLAY-2 UPDATE 'kcr2,PLAY-1,2026-01-02T01:00:00+01:00')"; } >"$T/play.jsonl"
"$KNOOP" play --scenario "$T/play.jsonl" --api-template "${A_KCR2//kcr2/\{id\}}" --quiet \
    >/dev/null 2>"$T/play.err" || { cat "$T/play.err"; bad "knoop play of two alerts"; }
check "an Update played from a scenario supersedes its alert" bash -c \
    "'$KNOOP' beeld --api '$A_KCR2' --pattern alert.play --json |
     jq -r 'select(.key == \"kcr2,PLAY-1\") | .payload.identifier' | grep -qx PLAY-2"
check "--key still wins over the alert's own key" bash -c \
    "'$KNOOP' pub --api '$A_KCR2' --topic alert.json --type knoop.crisis.v1.Alert --key eigen \
       --json '$(jalert JSON-6 ALERT '')' >/dev/null &&
     '$KNOOP' beeld --api '$A_KCR2' --pattern alert.json --json | jq -r .key | grep -qx eigen"

# ---- CAP as other producers write it, through the federation ----
# tests/cap/producers: KNMI (ISO-8859-1, cap: prefix, a stylesheet PI,
# comments inside values), NL-Alert (BOM, CRLF, CDATA, a PI between
# elements), a waterschap gauge (one line, standalone, c: prefix, comment
# and PI after </alert>), a foreign hub (redundant namespace declarations,
# an extension with a comment and a PI). Each comes out of the other node
# equal under C14N 1.0 without comments (libxml2's xmlC14NDocDumpMemory
# through tests/tools/c14n.c): the round trip's measure in docs/protocol.md.
C14N=$BIN_DIR/tests/knoop-test-c14n
[ -x "$C14N" ] || die "$C14N was not built"
n_prod=$(ls "$CORPUS"/producers/*.xml | wc -l)
"$KNOOP" cap import --api "$A_KCR2" --topic alert.producers "$CORPUS"/producers/*.xml \
    >"$T/prod.out" 2>"$T/prod.err" || { cat "$T/prod.err"; bad "import of other producers' alerts"; }
wait_for "vr-utrecht holds the $n_prod producers' alerts" 20 \
    has_count "$T/vr-utrecht" alert.producers "$n_prod" || bad "producers' alerts at vr-utrecht"
"$KNOOP" cap export --api "$A_UTR" --pattern alert.producers --out "$T/prod-export" \
    >/dev/null 2>"$T/prod-export.err" || { cat "$T/prod-export.err"; bad "export of producers' alerts"; }
same=0
for f in "$CORPUS"/producers/*.xml; do
    id=$(xmllint --xpath 'string(/*[local-name()="alert"]/*[local-name()="identifier"])' "$f")
    out=$T/prod-export/$(printf '%s' "$id" | sed 's/[^A-Za-z0-9._-]/_/g').xml
    if [ -f "$out" ] && cmp -s <("$C14N" --no-comments "$f") <("$C14N" --no-comments "$out"); then
        same=$((same + 1))
    else
        bad "$(basename "$f") -> $(basename "$out") equal under C14N without comments"
        [ -f "$out" ] && diff <("$C14N" --no-comments "$f") <("$C14N" --no-comments "$out") | head -20
    fi
done
check "every producer's alert came back equal under C14N without comments ($same of $n_prod)" \
    [ "$same" -eq "$n_prod" -a "$n_prod" -ge 4 ]
knmi_out=$T/prod-export/2.49.0.1.528.0.20261201.0600.ORANJE.LB.xml
check "KNMI's stylesheet PI before <alert> and comment after it came back" bash -c \
    "grep -q '<?xml-stylesheet type=\"text/xsl\" href=\"https://cap.knmi.nl/capweergave.xsl\"?>' '$knmi_out' &&
     grep -q '<!-- einde bericht; volgende uitgifte 12:00 -->' '$knmi_out'"
check "its Latin-1 text arrived as the same characters (in UTF-8)" \
    grep -q 'caféterrassen, ë, ü' "$knmi_out"
check "and the comment inside <instruction> is not part of the value" bash -c \
    "'$KNOOP' sub --api '$A_UTR' --pattern alert.producers --from-start --count $n_prod --timeout 5 |
     jq -r '.payload.info[0].instruction // empty' | grep -qx 'Blijf binnen. Vermijd bossen <en> parken.'"

# ---- the broker's verdict, as knoop pub: a refusal exits 1 with the reason ----
# vr-utrecht may not publish alerts at all (policy: only kcr2)
rc=0
"$KNOOP" cap import --api "$A_UTR" --topic alert.vr-utrecht --wait 10 "$CORPUS/valid/01-"*.xml \
    >"$T/out" 2>"$T/err" || rc=$?
check "cap import of an alert the broker refuses by policy exits 1" [ "$rc" -eq 1 ]
check "... naming the broker's reason" bash -c "grep -q \"the broker refused vr-utrecht alert.vr-utrecht 1: .*vr-utrecht may not publish on alert.vr-utrecht\" '$T/err' || { cat '$T/err'; false; }"
check "... after saying what the node committed" grep -q "vr-utrecht alert.vr-utrecht 1" "$T/out"
check "--wait takes seconds only" bash -c \
    "'$KNOOP' cap import --api '$A_UTR' --wait soon '$CORPUS'/valid/01-*.xml 2>&1 >/dev/null | grep -q -- \"--wait: 'soon' is not an integer\""
check "--wait is for import only" bash -c \
    "'$KNOOP' cap export --api '$A_UTR' --out '$T/x' --wait 3 2>/dev/null; [ \$? -eq 2 ]"
# with the link down the node stores the alert and says so; exit 0
stop kcr2-broker-1
wait_for "kcr2 sees its link down" 20 bash -c "! '$KNOOP' status --api '$A_KCR2' --json | grep -q '\"state\": *\"up\"'"
sed -e 's/<identifier>[^<]*</<identifier>OFFLINE-1</' "$CORPUS/valid/01-"*.xml >"$T/offline.xml"
rc=0
"$KNOOP" cap import --api "$A_KCR2" --topic alert.nl "$T/offline.xml" >"$T/out" 2>"$T/err" || rc=$?
check "link down: cap import exits 0 after the node's commit" [ "$rc" -eq 0 ]
check "... and says the alert is stored, sent when the link returns" \
    grep -q "stored by the node; no link to a broker now" "$T/err"
sed -e 's/<identifier>[^<]*</<identifier>OFFLINE-2</' "$CORPUS/valid/01-"*.xml >"$T/offline2.xml"
check "--no-wait: exits 0 without a word on stderr" bash -c \
    "'$KNOOP' cap import --api '$A_KCR2' --topic alert.nl --no-wait '$T/offline2.xml' >/dev/null 2>'$T/err2' && [ ! -s '$T/err2' ]"
