#!/usr/bin/env bash
# Builds the containers' base image (Debian 12, minbase) from a debootstrap rootfs and imports it
# into Docker: no registry is reachable here, so no image is ever pulled. Rebuilds only when the
# recipe (this script or node-init) changed. Usage: scripts/base-image.sh [IMAGE]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
image=${1:-ipgeo-base:bookworm}
recipe=$(cat "$0" "$top/files/base-image/node-init" | sha256sum | cut -c1-16)

if [ "$(docker image inspect -f '{{ index .Config.Labels "ipgeo.recipe" }}' "$image" 2>/dev/null)" = "$recipe" ]; then
  exit 0
fi

# The host's Debian mirror (deb822 or one-line sources); containers reach it over plain HTTP.
mirror=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
  | head -n1 | tr -d ' ' || true)
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}
security=${mirror%/debian}/debian-security

rootfs=$(mktemp -d /var/tmp/ipgeo-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "base-image: debootstrap bookworm from $mirror (about a minute)"
debootstrap --variant=minbase --include=python3,python3-apt,sudo,ca-certificates,init-system-helpers \
  bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -20 "$rootfs.log" >&2; exit 1; }
rm -f "$rootfs.log"

cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
rm -f "$rootfs/etc/apt/sources.list"
install -m 0755 "$top/files/base-image/node-init" "$rootfs/usr/local/sbin/node-init"
# Real package lists, so the image's apt cache is complete and its age is honest.
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
chroot "$rootfs" apt-get update -qq
rm -f "$rootfs/etc/resolv.conf" "$rootfs"/var/cache/apt/archives/*.deb

tar -C "$rootfs" -c . | docker import \
  --change "LABEL ipgeo.recipe=$recipe" \
  --change 'CMD ["/usr/local/sbin/node-init"]' \
  - "$image" >/dev/null
echo "base-image: $image built (recipe $recipe)"
