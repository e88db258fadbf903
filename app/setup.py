"""Only for the optional C renderer; everything else is in pyproject.toml.

Like MarkupSafe's speedups: if the extension cannot be built (no compiler or no Python
headers) the wheel is still built and ipgeo uses the pure Python renderer, which gives the
same bytes. IPGEO_NO_SPEEDUPS=1 builds without it on purpose (e.g. for nodes whose Python
differs from the controller's).
"""

import os

from setuptools import Extension, setup

ext_modules = []
if os.environ.get("IPGEO_NO_SPEEDUPS", "") in ("", "0"):
    ext_modules.append(
        Extension(
            "ipgeo._speedups",
            ["src/ipgeo/_speedups.c"],
            # No debug info: it would record the build directory and change the wheel's bytes.
            extra_compile_args=["-O2", "-g0"],
            optional=True,
        )
    )

setup(ext_modules=ext_modules)
