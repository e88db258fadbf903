"""Type names shared by the modules (a leaf: it imports nothing of ipgeo)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: A database record, shaped like a GeoIP2 City record (``country``, ``subdivisions``, ...).
Record = Mapping[str, Any]
#: ``render(text)``: the lookup JSON of a dotted-quad IPv4 address from the prepared index.
Renderer = Callable[[str], bytes | None]
#: Progress messages of long checks and builds.
Progress = Callable[[str], None]
