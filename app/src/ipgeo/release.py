"""The release id of the code that is running.

Deploys install each release as ``/opt/ipgeo/releases/<release-id>/venv`` and start gunicorn
through a ``current`` symlink. Once ``current`` moves on, only the real path of the loaded
package still names the code this process runs, so the id is derived from it once, at import.
"""

from __future__ import annotations

import os
import re

from .consts import VERSION as __version__

# Header-safe (it is part of the ETag) and never a path trick such as "..".
_RELEASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")


def release_from_path(path: str, default: str = __version__) -> str:
    """The ``<id>`` of the innermost ``.../releases/<id>/...`` directory holding ``path``.

    ``default`` when there is none (a development checkout, a venv elsewhere).
    """
    parts = os.path.normpath(path).split(os.sep)
    # The last part is the file itself: an id must name a directory above it.
    for i in range(len(parts) - 3, -1, -1):
        if parts[i] == "releases" and _RELEASE_ID.fullmatch(parts[i + 1]):
            return parts[i + 1]
    return default


#: The running code's release: computed once, so it names what was imported even after the
#: ``current`` link points elsewhere.
RUNNING_RELEASE: str = release_from_path(os.path.realpath(__file__))
