"""Constants shared by the modules (a leaf: it imports nothing of ipgeo)."""

from __future__ import annotations

#: The package's version (``ipgeo.__version__``; pyproject.toml has the same).
VERSION = "0.1.0"

#: Format names, as ``Source.format`` and ``/readyz`` (``db.format``) give them.
MMDB = "mmdb"
IPIP = "17mon"
IPDB = "ipdb"
XDB = "xdb"

# The MaxMind DB metadata section starts after this marker, within the last 128 KiB.
MMDB_MARKER = b"\xab\xcd\xefMaxMind.com"
MMDB_METADATA_MAX = 128 * 1024

#: The lookup answer's top-level fields, in the order the body has them.
FIELDS = ("ip", "network", "country", "region", "city", "location")
