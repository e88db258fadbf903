#!/bin/bash
# Turns the IP database source into the MaxMind DB the nodes serve, on the controller. An MMDB
# is used as it is; a 17monipdb, ipip.net IPDB or ip2region xdb file is checked (`ipgeo check-db`)
# and converted (`ipgeo convert`) into BUILD_DIR/<its SHA-256>-ipgeo-<version>.mmdb, reused while
# the source is the same file and the controller's ipgeo the same version. The original is left
# where it is (for audit); the converted MMDB names it and its SHA-256 in its metadata, which
# the app shows in /readyz as db.converted_from.
#
# Usage: convert-db.sh IPGEO SRC BUILD_DIR KEEP
#   IPGEO      the controller's ipgeo command (its venv's Python sniffs the format)
#   SRC        the database source
#   BUILD_DIR  where converted files are kept (created if missing)
#   KEEP       how many converted files to keep in BUILD_DIR, the newest first
# Prints one JSON line: {"path": the MMDB to deploy, "source_format": its format, "source_sha256":
# SRC's SHA-256, "converted": true when this run converted}. Exits non-zero with one line on
# stderr naming SRC and the problem (unknown format, truncated, corrupt...).
set -euo pipefail

if [ $# -ne 4 ]; then
    echo "usage: $0 IPGEO SRC BUILD_DIR KEEP" >&2
    exit 2
fi
ipgeo=$1 src=$2 dir=$3 keep=$4
python=$(dirname "$ipgeo")/python

format=$("$python" - "$src" <<'PY'
import sys

from ipgeo.sources import sniff

try:
    kind = sniff(sys.argv[1])
except OSError as exc:
    sys.exit(f"ipgeo: {sys.argv[1]}: cannot read: {exc.strerror or exc}")
print(kind.format if kind else "")
PY
)
sha=$(sha256sum "$src" | cut -d' ' -f1)
if [ "$format" = mmdb ]; then
    printf '{"path": "%s", "source_format": "mmdb", "source_sha256": "%s", "converted": false}\n' \
        "$src" "$sha"
    exit 0
fi
if [ -z "$format" ]; then
    # check-db says why in one line (unknown format, or a damaged file of a known one).
    "$ipgeo" check-db "$src" >/dev/null
    exit 1
fi

version=$("$ipgeo" --version | cut -d' ' -f2)
out="$dir/$sha-ipgeo-$version.mmdb"
mkdir -p "$dir"
# One conversion at a time per directory; the second run waits and then finds it done.
exec 9>"$dir/.lock"
flock 9

converted=false
if [ ! -s "$out" ]; then
    "$ipgeo" check-db "$src" >/dev/null
    partial="$out.partial-$$"
    trap 'rm -f "$partial"' EXIT
    "$ipgeo" convert --no-progress "$src" "$partial" >&2
    mv -f "$partial" "$out"
    converted=true
fi
touch "$out"

# Keep the newest KEEP conversions.
find "$dir" -maxdepth 1 -name '*.mmdb' -printf '%T@ %p\n' | sort -rn | tail -n +"$((keep + 1))" \
    | cut -d' ' -f2- | xargs -r rm -f --

printf '{"path": "%s", "source_format": "%s", "source_sha256": "%s", "converted": %s}\n' \
    "$out" "$format" "$sha" "$converted"
