"""Who is asking: the peer, or the client a trusted proxy says it forwarded.

``X-Forwarded-For`` is believed only when the direct peer is a configured proxy, and only the
entry ``hops`` from the right is used: each proxy appends the address it saw, so entries further
left were written by the client and prove nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from .config import Network
from .render import canonical
from .types import IPAddress


def parse_addr(text: str | None) -> IPAddress | None:
    if not text:
        return None
    try:
        return canonical(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def is_trusted(ip: IPAddress, proxies: Iterable[Network]) -> bool:
    return any(ip in net for net in proxies)


def client_address(
    peer: str | None,
    forwarded_for: Iterable[str],
    proxies: tuple[Network, ...],
    hops: int,
) -> IPAddress | None:
    """The client's address, or None when not even the peer's address is known."""
    direct = parse_addr(peer)
    if direct is None or not proxies or not is_trusted(direct, proxies):
        return direct
    entries = [e.strip() for header in forwarded_for for e in header.split(",")]
    entries = [e for e in entries if e]
    if len(entries) < hops:
        # Fewer entries than proxy layers: the chain is not what we were told to expect.
        return direct
    forwarded = parse_addr(entries[-hops])
    return forwarded if forwarded is not None else direct
