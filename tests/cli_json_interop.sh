#!/usr/bin/env bash
# Canonical proto3 JSON, checked against Google's own implementation: for
# every crisis payload type, python3-protobuf's google.protobuf.json_format
# (with classes protoc generates from our .proto files) reads what knoop
# writes and gets the same message as from the protobuf bytes, and knoop
# reads what Python writes (lowerCamelCase names, and .proto names) back to
# the same message. knoop's JSON equals Python's (preserving field names)
# value for value: 64-bit integers as strings, enums by name, doubles in
# their shortest form. Skipped (exit 77) without python3-protobuf or protoc.
source "$(dirname "$0")/lib.sh"

PY=
for p in /usr/bin/python3 python3; do
    if "$p" -c 'import google.protobuf.json_format' 2>/dev/null; then PY=$p; break; fi
done
if [ -z "$PY" ] || ! command -v protoc >/dev/null; then
    echo "skip - needs python3-protobuf and protobuf-compiler (deploy/install-deps.sh)"
    trap - EXIT; rm -rf "$T"; exit 77
fi
SRC=${KNOOP_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
FIX=$SRC/tests/fixtures/payloads
mkdir -p "$T/py"
protoc --python_out="$T/py" -I "$SRC/proto" "$SRC"/proto/knoop/crisis/v1/*.proto

cat >"$T/check.py" <<'PYEOF'
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
from google.protobuf import json_format
mode, name, *files = sys.argv[2:]
mods = {"GripLevel": "grip_level", "SitRep": "sitrep", "Duiding": "duiding",
        "WaterLevel": "water_level", "VitalOutage": "vital_outage", "Alert": "alert",
        "ResourceRequest": "resource_request"}
cls = getattr(importlib.import_module("knoop.crisis.v1.%s_pb2" % mods[name]), name)
def from_bytes(path):
    m = cls(); m.ParseFromString(open(path, "rb").read()); return m
if mode == "read-knoop":          # bytes, knoop's JSON
    want = from_bytes(files[0])
    text = open(files[1]).read()
    got = json_format.Parse(text, cls())
    assert got == want, "python reads knoop's JSON as a different message"
    mine = json_format.MessageToDict(want, preserving_proto_field_name=True)
    theirs = json.loads(text)
    assert mine == theirs, "knoop's JSON differs from python's:\n%s\n%s" % (theirs, mine)
    assert want.ByteSize() > 0
elif mode == "write":             # bytes -> python's JSON, both spellings
    m = from_bytes(files[0])
    open(files[1], "w").write(json_format.MessageToJson(m))
    open(files[2], "w").write(json_format.MessageToJson(m, preserving_proto_field_name=True))
elif mode == "same":              # two byte files hold the same message
    assert from_bytes(files[0]) == from_bytes(files[1]), "messages differ"
PYEOF

for f in "$FIX"/*.json; do
    name=$(basename "$f" .json)
    type=knoop.crisis.v1.$name
    "$KNOOP" payload encode --type "$type" "$f" >"$T/$name.pb"
    "$KNOOP" payload decode --type "$type" "$T/$name.pb" >"$T/$name.knoop.json"
    check "$name: python reads knoop's JSON as the same message, and writes the same JSON" \
        "$PY" "$T/check.py" "$T/py" read-knoop "$name" "$T/$name.pb" "$T/$name.knoop.json"
    "$PY" "$T/check.py" "$T/py" write "$name" "$T/$name.pb" "$T/$name.camel.json" "$T/$name.snake.json"
    check "$name: python writes lowerCamelCase names" grep -q '[a-z][A-Z]' "$T/$name.camel.json"
    "$KNOOP" payload encode --type "$type" "$T/$name.camel.json" >"$T/$name.camel.pb"
    "$KNOOP" payload encode --type "$type" "$T/$name.snake.json" >"$T/$name.snake.pb"
    check "$name: knoop reads python's lowerCamelCase JSON back to the same message" \
        "$PY" "$T/check.py" "$T/py" same "$name" "$T/$name.pb" "$T/$name.camel.pb"
    check "$name: knoop reads python's .proto-name JSON back to the same message" \
        "$PY" "$T/check.py" "$T/py" same "$name" "$T/$name.pb" "$T/$name.snake.pb"
done

check "a 64-bit integer above 2^53 is a string, exact" \
    grep -q '"customers_affected":"9007199254740993"' "$T/VitalOutage.knoop.json"
check "doubles in their shortest form" grep -q '"discharge_m3s":3117.5' "$T/WaterLevel.knoop.json"
check "no double printed with 17 digits" lacks -E '[0-9]\.[0-9]{15,}' "$T"/*.knoop.json
check "enums by name" grep -q '"level":"GRIP_4"' "$T/GripLevel.knoop.json"
