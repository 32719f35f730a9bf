#!/usr/bin/env bash
# Installs what is missing, configures, builds and runs every test with ctest.
# Exits non-zero on any failure.
#
#   ./tests/run.sh                 normal build in build/
#   KNOOP_SANITIZE=address,undefined ./tests/run.sh   sanitizer build in build-san/
#   KNOOP_SOAK=1 ./tests/run.sh    longer fault and crash runs
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

./deploy/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
werror=${KNOOP_WERROR:-OFF}
if [ -n "${CI:-}" ]; then werror=ON; fi

run_suite() {   # $1 build dir, $2 sanitize list ("" for none)
  local dir=$1 san=$2
  echo "== configure $dir (sanitize='${san}', werror=$werror)"
  cmake -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DKNOOP_WERROR="$werror" -DKNOOP_SANITIZE="$san" >/dev/null
  echo "== build $dir"
  cmake --build "$dir" -j "$jobs"
  echo "== test $dir"
  (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 600)
}

if [ -n "${KNOOP_SANITIZE:-}" ]; then
  run_suite build-san "$KNOOP_SANITIZE"
else
  run_suite build ""
  # The sanitizer build runs the unit and bad-input tests as well; CI always does.
  if [ -n "${CI:-}" ] || [ -n "${KNOOP_WITH_SANITIZE:-}" ]; then
    run_suite build-san "address,undefined"
  fi
fi
