#!/usr/bin/env bash
# Installs the Debian packages `make bench` needs beyond the controller's: wrk (the HTTP client),
# nginx (the LB path goes through it, as on a real fleet) and libnginx-mod-http-geoip2 (the
# nginx-geoip2 reference row). nginx must not start as a host daemon: the benchmark runs its own
# instances on loopback ports. (matplotlib, for the figure, comes
# from requirements/bench.txt into the venv.)
set -euo pipefail
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
[ -f /usr/lib/nginx/modules/ngx_http_geoip2_module.so ] || need+=(libnginx-mod-http-geoip2)
[ ${#need[@]} -eq 0 ] && exit 0
echo "bench-deps: installing ${need[*]}"
guard=
if [ ! -e /usr/sbin/policy-rc.d ]; then
  guard=/usr/sbin/policy-rc.d
  printf '#!/bin/sh\nexit 101\n' >"$guard"
  chmod 755 "$guard"
fi
trap '[ -z "$guard" ] || rm -f "$guard"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
