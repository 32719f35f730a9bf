#!/usr/bin/env bash
# Installs every build and test dependency of knooppunt from Debian packages.
# Idempotent: packages already present are not touched, and apt is only
# consulted when something is missing.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libzmq3-dev libczmq-dev
  libprotobuf-c-dev protobuf-c-compiler
  libsodium-dev
  liblmdb-dev lmdb-utils
  libjansson-dev libinih-dev
  libcmocka-dev
  jq bc python3
  python3-protobuf protobuf-compiler   # tests/cli_json_interop.sh: proto3 JSON against Google's
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
