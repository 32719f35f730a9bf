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
  libmicrohttpd-dev
  jq bc python3 curl
  chromium fonts-dejavu-core nodejs prometheus
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Debian's nodejs comes without npm; a nodejs from elsewhere may bring its own.
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

# The browser tests' driver (puppeteer-core, pinned in web/package-lock.json)
# from the npm registry; it drives Debian's /usr/bin/chromium and downloads no
# browser. Only when it is missing, so that an offline machine that has it
# goes on working.
npm_deps() {
  local web
  web="$(cd "$(dirname "$0")/.." && pwd)/web"
  if [ ! -f "$web/node_modules/puppeteer-core/package.json" ]; then
    echo "install-deps: npm ci in $web (puppeteer-core for the browser tests)"
    (cd "$web" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) || {
      echo "install-deps: npm ci failed: the browser tests will be skipped" >&2
    }
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  npm_deps
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
npm_deps
echo "install-deps: done"
