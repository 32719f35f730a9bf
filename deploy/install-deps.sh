#!/usr/bin/env bash
# Installs every build and test dependency of knooppunt from Debian packages.
# Idempotent: packages already present are not touched, and apt is only
# consulted when something is missing.
#
#   deploy/install-deps.sh           build and test dependencies (what CI needs)
#   deploy/install-deps.sh --bench   also the peers that bench/compare.sh runs
#                                    beside knooppunt: NATS (nats-server,
#                                    libnats-dev) and RabbitMQ (rabbitmq-server,
#                                    librabbitmq-dev). Their system services are
#                                    not started: the bench runs its own
#                                    throwaway servers in a temp dir.
set -euo pipefail

BENCH=0
for a in "$@"; do
  case "$a" in
    --bench) BENCH=1 ;;
    -h|--help)
      sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
      exit 0 ;;
    *) echo "install-deps: unknown option '$a' (try --help)" >&2; exit 2 ;;
  esac
done

PKGS=(
  build-essential cmake pkg-config
  libzmq3-dev libczmq-dev
  libprotobuf-c-dev protobuf-c-compiler
  libsodium-dev
  liblmdb-dev lmdb-utils
  libjansson-dev libinih-dev libxml2-dev
  libcmocka-dev
  libmicrohttpd-dev
  jq bc python3 curl faketime
  libxml2-utils xmlsec1 openssl
  chromium fonts-dejavu-core nodejs prometheus
  python3-protobuf protobuf-compiler   # tests/cli_json_interop.sh: proto3 JSON against Google's
  clang libclang-rt-dev                 # tests/fuzz: libFuzzer targets
  strace e2fsprogs util-linux mount     # fault tests: ENOSPC injection, loop-mounted ext4
  iproute2 nftables                     # tests/cli_net_*.sh: namespaces, veth, nft drops, tc tbf
)
BENCH_PKGS=(nats-server libnats-dev rabbitmq-server librabbitmq-dev)
if [ "$BENCH" -eq 1 ]; then PKGS+=("${BENCH_PKGS[@]}"); fi

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
# While installing, forbid package scripts to start services (policy-rc.d exit
# 101): rabbitmq-server would otherwise start a system node and epmd that
# nothing here uses. An existing policy-rc.d is left as it is.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ "$BENCH" -eq 1 ] && [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  added_policy=1
fi
cleanup() { if [ "$added_policy" -eq 1 ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
npm_deps
echo "install-deps: done"
