"""What a TLS server on the loopback offers (stdlib only, runs on the controller).

One handshake per protocol version (TLS 1.1, 1.2, 1.3, and the client's default range), each
verified against ``--cacert`` for ``--name`` (SNI and host name check), offering ALPN h2 and
http/1.1. The client allows every version and cipher (OpenSSL security level 0), so a refused
version is the server's refusal (its alert), not the client's. Prints one JSON object::

    {"1.1": {"error": "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] ..."},
     "1.2": {"version": "TLSv1.2", "alpn": "h2", "serial": "54F3...", "sha256": "a2ec..."},
     "1.3": {...}, "default": {...}}

``serial`` is the served certificate's serial number (hex, as ``openssl x509 -serial``), ``sha256``
the SHA-256 of its DER form (``openssl x509 -fingerprint -sha256``, lower case, no colons).

Usage::

    python3 tlsprobe.py --port 18443 --name lb.ipgeo.test --cacert ca.crt [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import ssl
import sys
import warnings

from loadgen import LOOPBACK

VERSIONS = {
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
    "default": None,
}


def client_context(cacert: str, version: ssl.TLSVersion | None) -> ssl.SSLContext:
    """A verifying client context that offers ``version`` only (None: OpenSSL's default range)."""
    ctx = ssl.create_default_context(cafile=cacert)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    if version is not None:
        # Level 0 lets this client offer TLS 1.1 (OpenSSL 3 refuses it at its default level 1+).
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ctx.maximum_version = version
    return ctx


def handshake(host: str, port: int, name: str, ctx: ssl.SSLContext, timeout: float) -> dict:
    """One TLS handshake; what was negotiated and served, or the error. Never raises."""
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as sock,
            ctx.wrap_socket(sock, server_hostname=name) as tls,
        ):
            der = tls.getpeercert(binary_form=True) or b""
            peer = tls.getpeercert() or {}
            return {
                "version": tls.version(),
                "alpn": tls.selected_alpn_protocol(),
                "serial": peer.get("serialNumber"),
                "sha256": hashlib.sha256(der).hexdigest(),
            }
    except (OSError, ssl.SSLError) as exc:
        return {"error": str(exc)}


def probe(host: str, port: int, name: str, cacert: str, timeout: float = 5.0) -> dict:
    if host not in LOOPBACK:
        raise ValueError(f"--host must be on the loopback, got {host!r}")
    return {
        label: handshake(host, port, name, client_context(cacert, version), timeout)
        for label, version in VERSIONS.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to connect to")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True, help="the server's name (SNI, verified)")
    parser.add_argument("--cacert", required=True, help="the CA the certificate must chain to")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per handshake")
    args = parser.parse_args(argv)
    try:
        result = probe(args.host, args.port, args.name, args.cacert, args.timeout)
    except ValueError as exc:
        parser.error(str(exc))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
