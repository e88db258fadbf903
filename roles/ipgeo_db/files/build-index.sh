#!/bin/bash
# Builds the prepared index of an IP database on the controller, once per database and code
# dictionary: the index is kept as
# BUILD_DIR/<the database's SHA-256>[-<languages>][-codes-<the dictionary's SHA-256 prefix>].idx
# and reused for as long as the database and the dictionary are the same files and the
# controller's ipgeo still opens it for that database and dictionary (a new index format version
# is rebuilt). `ipgeo prepare` validates the index against the database before it is kept.
#
# Usage: build-index.sh [--codes TSV] IPGEO SRC BUILD_DIR KEEP [LANG ...]
#   TSV        a code dictionary: the index renders its adcodes and records its digest (the
#              app uses the index only with the same dictionary as IPGEO_ADCODE_FILE)
#   IPGEO      the controller's ipgeo command
#   SRC        the database (a MaxMind DB)
#   BUILD_DIR  where indexes are kept (created if missing)
#   KEEP       how many indexes to keep in BUILD_DIR, the newest first (older ones are removed)
#   LANG       languages to prepare (none: ipgeo prepare's default, en and zh-CN where present)
# Prints one JSON line: {"path": ..., "db_sha256": ..., "codes_sha256": ... ("" without a
# dictionary; both digests of the files as they were read), "built": true|false}. Exits non-zero
# with the reason on stderr when SRC fails `ipgeo check-db` (no index is built for a database
# that must not be deployed: the nodes' check reports it) or when the build fails.
set -euo pipefail

codes=
if [ "${1:-}" = --codes ]; then
    codes=${2:?--codes needs a file}
    shift 2
fi
if [ $# -lt 4 ]; then
    echo "usage: $0 [--codes TSV] IPGEO SRC BUILD_DIR KEEP [LANG ...]" >&2
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
codes_sha=
codes_args=()
if [ -n "$codes" ]; then
    # A private copy: the index, its name and the digest printed all come from the same bytes.
    codes_copy=$(mktemp)
    trap 'rm -f "$codes_copy"' EXIT
    cat -- "$codes" >"$codes_copy"
    codes_sha=$(sha256sum "$codes_copy" | cut -d' ' -f1)
    codes_args=(--codes "$codes_copy")
    suffix="$suffix-codes-${codes_sha:0:16}"
fi
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
from ipgeo.codes import CodeBook
from ipgeo.prepared import PreparedIndex, PreparedIndexError
index = None
try:
    index = PreparedIndex(sys.argv[1], sys.argv[2])
    index.require_codes(CodeBook.load(sys.argv[3]) if sys.argv[3:] else None)
except PreparedIndexError as exc:
    print(exc, file=sys.stderr)
    sys.exit(3)
finally:
    if index is not None:
        index.close()' "$out" "$sha" ${codes:+"$codes_copy"} || rc=$?
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
    trap 'rm -f "$partial" ${codes_copy:+"$codes_copy"}' EXIT
    "$ipgeo" prepare "${langs[@]}" "${codes_args[@]}" "$src" "$partial" >&2
    mv -f "$partial" "$out"
    built=true
fi
touch "$out"

# Keep the newest KEEP indexes.
find "$dir" -maxdepth 1 -name '*.idx' -printf '%T@ %p\n' | sort -rn | tail -n +"$((keep + 1))" \
    | cut -d' ' -f2- | xargs -r rm -f --

printf '{"path": "%s", "db_sha256": "%s", "codes_sha256": "%s", "built": %s}\n' \
    "$out" "$sha" "$codes_sha" "$built"
