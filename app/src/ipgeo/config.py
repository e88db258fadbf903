"""Settings read from the environment (all optional; see the README)."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from .release import RUNNING_RELEASE

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """An environment variable has a value the service cannot use."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def parse_networks(raw: str) -> tuple[Network, ...]:
    """Parse a comma-separated list of IPs / CIDRs (a bare IP is a /32 or /128)."""
    nets = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"IPGEO_TRUSTED_PROXIES: not an IP or CIDR: {item!r}") from None
    return tuple(nets)


@dataclass(frozen=True)
class Settings:
    db_path: str | None = None
    index_path: str | None = None
    codes_path: str | None = None
    node_name: str = field(default_factory=socket.gethostname)
    default_lang: str | None = None
    # IPGEO_RELEASE, else the release id of the installed code (see ipgeo.release).
    release: str = RUNNING_RELEASE
    trusted_proxies: tuple[Network, ...] = ()
    proxy_hops: int = 1
    batch_limit: int = 1000
    metrics_dir: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            db_path=env.get("IPGEO_DB_PATH") or None,
            index_path=env.get("IPGEO_INDEX_PATH") or None,
            codes_path=env.get("IPGEO_ADCODE_FILE") or None,
            node_name=env.get("IPGEO_NODE_NAME") or socket.gethostname(),
            default_lang=env.get("IPGEO_DEFAULT_LANG") or None,
            release=env.get("IPGEO_RELEASE") or RUNNING_RELEASE,
            trusted_proxies=parse_networks(env.get("IPGEO_TRUSTED_PROXIES", "")),
            proxy_hops=_int(env, "IPGEO_PROXY_HOPS", 1, minimum=1),
            batch_limit=_int(env, "IPGEO_BATCH_LIMIT", 1000, minimum=1),
            metrics_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or None,
        )
