#!/bin/bash
# Builds the prepared index of an IP database on the controller, once per database: the index
# is kept as BUILD_DIR/<the database's SHA-256>[-<languages>].idx and reused for as long as the
# database is the same file and the controller's ipgeo still opens it for that database (a new
# index format version is rebuilt). `ipgeo prepare` validates the index against the database
# before it is kept.
#
# Usage: build-index.sh IPGEO SRC BUILD_DIR KEEP [LANG ...]
#   IPGEO      the controller's ipgeo command
#   SRC        the database (a MaxMind DB)
#   BUILD_DIR  where indexes are kept (created if missing)
#   KEEP       how many indexes to keep in BUILD_DIR, the newest first (older ones are removed)
#   LANG       languages to prepare (none: ipgeo prepare's default, en and zh-CN where present)
# Prints one JSON line: {"path": ..., "db_sha256": ..., "built": true|false}. Exits non-zero
# with the reason on stderr when SRC fails `ipgeo check-db` (no index is built for a database
# that must not be deployed: the nodes' check reports it) or when the build fails.
set -euo pipefail

if [ $# -lt 4 ]; then
    echo "usage: $0 IPGEO SRC BUILD_DIR KEEP [LANG ...]" >&2
    exit 2
fi
ipgeo=$1 src=$2 dir=$3 keep=$4
shift 4
langs=()
for lang in "$@"; do
    langs+=(--lang "$lang")
done
suffix=$(IFS=_; echo "${*:+-$*}")

sha=$(sha256sum "$src" | cut -d' ' -f1)
out="$dir/$sha$suffix.idx"
# The Python of the venv the ipgeo command comes from: it opens a kept index as a worker would.
python=$(dirname "$ipgeo")/python
mkdir -p "$dir"

# One build at a time per directory (two playbooks may run at once); the second one waits and
# then finds the index built.
exec 9>"$dir/.lock"
flock 9

built=false
if [ -s "$out" ]; then
    # Exit 3: this ipgeo refuses the kept index (e.g. an older format): build it again. Any
    # other failure (no such Python, ipgeo not importable) keeps it: the nodes check it anyway.
    rc=0
    "$python" -c 'import sys
from ipgeo.prepared import PreparedIndex, PreparedIndexError
try:
    PreparedIndex(sys.argv[1], sys.argv[2]).close()
except PreparedIndexError as exc:
    print(exc, file=sys.stderr)
    sys.exit(3)' "$out" "$sha" || rc=$?
    if [ "$rc" -eq 3 ]; then
        echo "build-index: this ipgeo cannot use $out; building it again" >&2
        rm -f "$out"
    elif [ "$rc" -ne 0 ]; then
        echo "build-index: could not open $out with $python (rc $rc); keeping it" >&2
    fi
fi
if [ ! -s "$out" ]; then
    "$ipgeo" check-db "$src" >/dev/null
    partial="$out.partial-$$"
    trap 'rm -f "$partial"' EXIT
    "$ipgeo" prepare "${langs[@]}" "$src" "$partial" >&2
    mv -f "$partial" "$out"
    built=true
fi
touch "$out"

# Keep the newest KEEP indexes.
find "$dir" -maxdepth 1 -name '*.idx' -printf '%T@ %p\n' | sort -rn | tail -n +"$((keep + 1))" \
    | cut -d' ' -f2- | xargs -r rm -f --

printf '{"path": "%s", "db_sha256": "%s", "built": %s}\n' "$out" "$sha" "$built"
