#!/usr/bin/env bash
# The Debian package: cpack builds it from this build tree, it installs (when
# the test runs as root, as in CI: dpkg -i, then removed again; otherwise it is
# unpacked), and `knoop --version` runs from it, with the daemons, the systemd
# units and the documentation in place.
source "$(dirname "$0")/lib.sh"
command -v cpack >/dev/null || die "cpack not found"
(cd "$T" && cpack -G DEB -B "$T/pkg" --config "$BIN_DIR/CPackConfig.cmake" >"$T/cpack.log" 2>&1) \
    || { cat "$T/cpack.log"; die "cpack failed"; }
DEB=$(ls "$T"/pkg/knooppunt_*.deb 2>/dev/null | head -1)
check "cpack built a .deb" test -n "$DEB"
dpkg-deb -I "$DEB" >"$T/info"
check "it is package knooppunt with its library dependencies" \
    bash -c "grep -q 'Package: knooppunt' '$T/info' && grep -q 'Depends:.*libczmq4' '$T/info' && grep -q 'Depends:.*libmicrohttpd12' '$T/info'"
dpkg-deb -c "$DEB" >"$T/contents"
for f in usr/bin/knoop usr/bin/knoop-node usr/bin/knoop-broker \
         usr/lib/systemd/system/knoop-broker@.service usr/lib/systemd/system/knoop-node@.service \
         usr/share/doc/knooppunt/README.md usr/share/knooppunt/policy \
         usr/bin/knoop-web usr/share/knooppunt/web/index.html usr/share/knooppunt/web/app.js \
         usr/share/knooppunt/web/app.css; do
    check "the package holds /$f" grep -qF " ./$f" "$T/contents"
done
if [ "$(id -u)" = 0 ] && command -v dpkg >/dev/null && ! dpkg -s knooppunt >/dev/null 2>&1; then
    dpkg -i "$DEB" >"$T/dpkg.log" 2>&1 || cat "$T/dpkg.log"
    check "it installs with dpkg" dpkg -s knooppunt
    check "knoop --version runs from the installed package" \
        bash -c "/usr/bin/knoop --version | grep -q '^knoop 0\.'"
    check "knoop-broker --help runs from it" bash -c "/usr/bin/knoop-broker --help | grep -q NAME"
    timeout 4 /usr/bin/knoop-web --api "ipc://$T/none/api.sock" >"$T/web.out" 2>&1 || true
    check "knoop-web finds its installed page without --assets (and then waits for its node)" \
        bash -c "grep -q 'waiting for the node' '$T/web.out' && lacks 'no index.html' '$T/web.out'"
    dpkg -r knooppunt >/dev/null 2>&1 || true
else
    dpkg-deb -x "$DEB" "$T/root"
    check "knoop --version runs from the unpacked package" \
        bash -c "'$T/root/usr/bin/knoop' --version | grep -q '^knoop 0\.'"
fi
