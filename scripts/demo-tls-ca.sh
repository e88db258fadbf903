#!/usr/bin/env bash
# A throwaway CA and a server certificate it signs, for a demo of the LB's HTTPS
# (nginx_lb_tls_*): DIR/ca.crt (what `curl --cacert` trusts), DIR/lb.crt and DIR/lb.key (for
# nginx_lb_tls_cert_src and nginx_lb_tls_key_src). Names: localhost, 127.0.0.1 and any given.
# A CA already in DIR (ca.crt and ca.key) is kept: a second run makes a new key and certificate
# signed by the same CA (a certificate rotation; what `curl --cacert DIR/ca.crt` trusts is the same).
# Usage: scripts/demo-tls-ca.sh DIR [NAME...]     (openssl from Debian; nothing leaves DIR)
set -euo pipefail
dir=${1:?usage: $0 DIR [NAME...]}
shift
mkdir -p "$dir"
cd "$dir"
umask 077
san="DNS:localhost,IP:127.0.0.1"
for name in "$@"; do
  if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then san+=",IP:$name"; else san+=",DNS:$name"; fi
done
if [[ ! -s ca.key || ! -s ca.crt ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=ipgeo demo CA (throwaway)" -keyout ca.key -out ca.crt 2>/dev/null
fi
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=localhost" -keyout lb.key -out lb.csr 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$san" > lb.ext
# A random serial each time (-set_serial): two certificates of one CA never share one.
openssl x509 -req -in lb.csr -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
  -days 30 -extfile lb.ext -out lb.crt 2>/dev/null
rm -f lb.csr lb.ext
chmod 644 ca.crt lb.crt
echo "CA: $PWD/ca.crt  certificate: $PWD/lb.crt  key: $PWD/lb.key ($san)"
