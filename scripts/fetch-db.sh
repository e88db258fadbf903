#!/usr/bin/env bash
# Fetches the GeoLite2-City database shipped inside the PyPI sdist maxminddb-geolite2==2018.703,
# checks its SHA-256 and places it at files/GeoLite2-City.mmdb. Never committed (see .gitignore).
# Usage: scripts/fetch-db.sh PIP   (PIP: a pip executable, e.g. .venv/bin/pip)
set -euo pipefail
pip=${1:-.venv/bin/pip}
top=$(cd "$(dirname "$0")/.." && pwd)
dest="$top/files/GeoLite2-City.mmdb"
want=55ad8f80b9f9a800272ab36ead4e814987bd258413cb03cfa80fa873478f62e9

if [ -f "$dest" ] && echo "$want  $dest" | sha256sum -c --status; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$pip" download -q --no-deps --no-binary=:all: -d "$tmp" maxminddb-geolite2==2018.703
tar -xzf "$tmp"/maxminddb-geolite2-2018.703.tar.gz -C "$tmp" --wildcards '*/_maxminddb_geolite2/GeoLite2-City.mmdb'
src=$(find "$tmp" -name GeoLite2-City.mmdb | head -n1)
if ! echo "$want  $src" | sha256sum -c --status; then
  echo "fetch-db: SHA-256 of the downloaded GeoLite2-City.mmdb is not $want; refusing to use it" >&2
  exit 1
fi
mkdir -p "$top/files"
mv "$src" "$dest.tmp" && mv "$dest.tmp" "$dest"
echo "fetch-db: $dest ready"
