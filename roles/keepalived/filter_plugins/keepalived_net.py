"""Filters of role keepalived's preflight, on the standard library's ipaddress (the controller
has no netaddr, which ansible.utils.ipaddr needs)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

# Derived priorities: the first host of the group 200, the next 190. High values keep the
# backup's skew time ((256 - priority) / 256 s with VRRPv2) short.
TOP_PRIORITY = 200
PRIORITY_STEP = 10


def keepalived_is_address(value: object) -> bool:
    """Whether the value is an IPv4 address, with or without a /prefix."""
    try:
        return ipaddress.ip_interface(str(value)).version == 4
    except ValueError:
        return False


def keepalived_in_network(address: str, network: str) -> bool:
    """Whether the address (bare or address/prefix) is inside the network."""
    try:
        ip = ipaddress.ip_interface(address).ip
        return ip in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def _iface(facts: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    # Fact keys spell '-' and ':' of interface names as '_'.
    return facts.get(name.replace("-", "_").replace(":", "_")) or {}


def keepalived_interface(facts: Mapping[str, Any], address: str, wanted: str = "") -> dict:
    """The interface the VIP goes on: `wanted` if it is one of the host's interfaces with an
    IPv4 address, else (wanted empty) the one holding `address`. Returns name, address and
    network (address/prefix); name is empty when there is no such interface."""
    names = [wanted] if wanted else list(facts.get("interfaces") or [])
    for name in names:
        if name not in (facts.get("interfaces") or []):
            continue
        iface = _iface(facts, name)
        ipv4 = iface.get("ipv4") or {}
        if not ipv4.get("address"):
            continue
        held = [ipv4["address"]] + [s.get("address") for s in iface.get("ipv4_secondaries", [])]
        if wanted or address in held:
            net = ipaddress.ip_interface(f"{ipv4['address']}/{ipv4['netmask']}").network
            return {
                "name": name,
                "address": ipv4["address"],
                "network": str(net),
                "prefix": net.prefixlen,
            }
    return {"name": "", "address": "", "network": "", "prefix": 0}


def keepalived_priorities(configured: list[object]) -> list[int]:
    """Each host's priority from its keepalived_priority, in group order: 0 (unset) is derived
    from the host's place, so two unset hosts never tie."""
    return [
        int(p) if int(p) > 0 else TOP_PRIORITY - PRIORITY_STEP * i for i, p in enumerate(configured)
    ]


class FilterModule:
    def filters(self) -> dict[str, Callable[..., object]]:
        return {
            "keepalived_is_address": keepalived_is_address,
            "keepalived_in_network": keepalived_in_network,
            "keepalived_interface": keepalived_interface,
            "keepalived_priorities": keepalived_priorities,
        }
