#!/usr/bin/env bash
# Builds the app's wheelhouse archive on the controller: the app wheel plus every pinned runtime
# dependency, as wheels for the nodes' Python. The archive is reproducible (fixed timestamps,
# owners and order), so an unchanged app gives the same bytes and Ansible sees no change.
# Usage: build-wheelhouse.sh PYTHON APP_DIR OUT_DIR PLATFORM PY_VERSION ABI
# Prints one JSON line: {"version": ..., "release": ..., "archive": ..., "sha256": ...}
set -euo pipefail
python=$1 app=$2 out=$3 platform=$4 pyver=$5 abi=$6
export SOURCE_DATE_EPOCH=315532800 # 1980-01-01: the earliest time a zip can hold
export PIP_DISABLE_PIP_VERSION_CHECK=1

mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Dependencies are fetched once per lock file (keyed by its hash), then reused from the cache.
lock="$app/requirements.lock"
deps="$out/deps-$(sha256sum "$lock" | cut -c1-16)"
if [ ! -f "$deps/.complete" ]; then
  rm -rf "$deps"
  "$python" -m pip download -q --no-deps --only-binary=:all: --platform "$platform" \
    --python-version "$pyver" --implementation cp --abi "$abi" -r "$lock" -d "$deps" >&2
  touch "$deps/.complete"
fi

# Build from a clean copy so leftovers in the source tree (build/, *.egg-info) never leak in.
mkdir -p "$work/src" "$work/wheelhouse"
tar -C "$app" --exclude=build --exclude='*.egg-info' --exclude=__pycache__ --exclude="*.so" -c . | tar -C "$work/src" -x
# The app's C renderer is compiled here, so it only suits nodes with the controller's Python
# and CPU: otherwise build without it (the pure Python renderer gives the same answers).
here=$("$python" -c 'import platform, sys; print("%d.%d %s" % (*sys.version_info[:2], platform.machine()))')
if [ "$here" != "$pyver ${platform#*_}" ]; then
  echo "build-wheelhouse: controller is Python/CPU $here, nodes $pyver ${platform#*_}:" \
    "building without the C renderer" >&2
  export IPGEO_NO_SPEEDUPS=1
fi
"$python" -m pip wheel -q --no-deps --no-build-isolation -w "$work/wheelhouse" "$work/src" >&2
cp "$deps"/*.whl "$work/wheelhouse/"
cp "$lock" "$work/wheelhouse/requirements.lock"

version=$("$python" - "$work/wheelhouse" <<'PY'
import pathlib, sys
wheel = next(pathlib.Path(sys.argv[1]).glob("ipgeo-*.whl"))
print(wheel.name.split("-")[1])
PY
)
tar --sort=name --mtime=@"$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
  -C "$work/wheelhouse" -c . | gzip -n -9 >"$work/wheelhouse.tar.gz"
sha=$(sha256sum "$work/wheelhouse.tar.gz" | cut -d' ' -f1)
release="$version-${sha:0:12}"
archive="$out/ipgeo-$release.tar.gz"
[ -f "$archive" ] || mv "$work/wheelhouse.tar.gz" "$archive"
printf '{"version": "%s", "release": "%s", "archive": "%s", "sha256": "%s"}\n' \
  "$version" "$release" "$archive" "$sha"
