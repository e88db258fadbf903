#!/usr/bin/env bash
# Builds the `ops` scenario's image (systemd as PID 1, sshd, a deploy user with sudo) on top of
# the base image (scripts/base-image.sh), from files/host-image. Rebuilds only when the recipe or
# the base image changed. Nothing is pulled. Usage: scripts/host-image.sh [IMAGE]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
image=${1:-ipgeo-host:bookworm}
base=ipgeo-base:bookworm
"$top/scripts/base-image.sh" "$base"
recipe=$( (cat "$0" "$top"/files/host-image/*; docker image inspect -f '{{.Id}}' "$base") \
  | sha256sum | cut -c1-16)

if [ "$(docker image inspect -f '{{ index .Config.Labels "ipgeo.recipe" }}' "$image" 2>/dev/null)" = "$recipe" ]; then
  exit 0
fi
echo "host-image: building $image from $base (about a minute)"
docker build -q --pull=false --label "ipgeo.recipe=$recipe" -t "$image" "$top/files/host-image" >/dev/null
echo "host-image: $image built (recipe $recipe)"
