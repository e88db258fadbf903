#!/usr/bin/env bash
# Installs what the controller needs on a fresh Debian 12 (run as root) and makes sure
# a Docker engine is running. Safe to run again: each step checks before it acts.
set -euo pipefail

need=()
command -v make >/dev/null || need+=(make)
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v curl >/dev/null || need+=(curl)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v python3 >/dev/null || need+=(python3)
# The app's optional C renderer is compiled into the wheel on the controller.
command -v gcc >/dev/null || need+=(gcc libc6-dev)
python3 -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  2>/dev/null || need+=(python3-dev)
# `nft -c` checks the firewall role's rules in a throwaway network namespace (tests/roles);
# Debian ships nftables.service disabled, so the host's own rules (Docker's) stay as they are.
[ -x /usr/sbin/nft ] || need+=(nftables)
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)

if [ ${#need[@]} -gt 0 ]; then
  echo "host-deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Packages must not start daemons on their own here: dockerd is started below.
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Nothing starts dockerd on these machines (no systemd): start it ourselves.
if ! docker info >/dev/null 2>&1; then
  echo "host-deps: starting dockerd"
  mkdir -p /var/log
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "host-deps: dockerd did not come up; see /var/log/dockerd.log" >&2; exit 1; }
fi
