#!/usr/bin/env bash
# Puts promtool (Prometheus's rule and config checker) at build/tools/promtool for the tests of
# tests/monitoring, unless one is already there or on PATH. It comes from Debian's `prometheus`
# package, the one role monitoring installs on the monitoring host (same version): the package
# is downloaded and unpacked, not installed, so no Prometheus daemon ever starts on the controller.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=build/tools/promtool
[ -x "$dest" ] && exit 0
if command -v promtool >/dev/null; then
  mkdir -p build/tools
  ln -sf "$(command -v promtool)" "$dest"
  exit 0
fi
echo "promtool-deps: fetching Debian's prometheus package for its promtool"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# apt-get download needs the package lists; a fresh machine may have none yet.
if ! apt-cache show prometheus >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
fi
(cd "$tmp" && apt-get download -qq prometheus 2>&1 | { grep -v 'unsandboxed' || true; })
dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
mkdir -p build/tools
install -m 0755 "$tmp/x/usr/bin/promtool" "$dest"
"$dest" --version | head -1
