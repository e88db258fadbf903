"""Load a role's program from its files/ directory, as a module, for the tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROLES = Path(__file__).resolve().parents[2] / "roles"


def load_program(role: str, name: str) -> ModuleType:
    path = ROLES / role / "files" / name
    spec = importlib.util.spec_from_file_location(f"{role}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
