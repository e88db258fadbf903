"""Filters of role firewall: split address lists by family for nftables sets, and check that an
address lies in one of a list of ranges (the controller's address in the SSH ranges)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(sources: Iterable[object]) -> list[Network]:
    return [ipaddress.ip_network(str(s).strip(), strict=False) for s in sources]


def firewall_family(sources: Iterable[object], version: int | str) -> list[str]:
    """The sources of IP version `version` (4 or 6), as nftables elements (a.b.c.d or a.b.c.d/n)."""
    out = []
    for net in _networks(sources):
        if net.version != int(version):
            continue
        out.append(str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net))
    return sorted(set(out))


def firewall_invalid(sources: Iterable[object]) -> list[object]:
    """The sources that are neither an address nor a CIDR range."""
    bad = []
    for s in sources:
        try:
            ipaddress.ip_network(str(s).strip(), strict=False)
        except ValueError:
            bad.append(s)
    return bad


def firewall_contains(address: object, sources: Iterable[object]) -> bool:
    """True when `address` lies in one of `sources`."""
    addr = ipaddress.ip_address(str(address).strip())
    return any(addr in net for net in _networks(sources) if net.version == addr.version)


class FilterModule:
    def filters(self) -> dict[str, Callable[..., object]]:
        return {
            "firewall_family": firewall_family,
            "firewall_invalid": firewall_invalid,
            "firewall_contains": firewall_contains,
        }
