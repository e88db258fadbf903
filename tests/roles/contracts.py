"""Checks of the roles' contracts, run by test_role_contracts.py on the repository (no problem
expected) and on small broken role trees (each check must find its problem).

Every check returns a list of problems, one readable line each.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import yaml

# Keys whose string values are Jinja expressions without braces.
BARE_KEYS = {"when", "that", "changed_when", "failed_when", "until"}
_BLOCK = re.compile(r"{{(.*?)}}|{%(.*?)%}", re.DOTALL)
_STRING = re.compile(r"'[^']*'|\"[^\"]*\"")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def load_yaml(path: Path) -> object:
    return yaml.safe_load(path.read_text()) if path.exists() else None


def roles(roles_dir: Path) -> list[Path]:
    return sorted(p for p in roles_dir.iterdir() if (p / "tasks").is_dir())


def defaults(role: Path) -> dict:
    return load_yaml(role / "defaults/main.yml") or {}


def specs(role: Path) -> dict:
    return (load_yaml(role / "meta/argument_specs.yml") or {}).get("argument_specs") or {}


def names_in(expression: str) -> set[str]:
    """The identifiers of a Jinja expression, string literals left out."""
    return set(_NAME.findall(_STRING.sub("", expression)))


def expressions(node: object, key: str = "") -> Iterator[str]:
    """Every Jinja expression in a loaded YAML document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from expressions(v, str(k))
    elif isinstance(node, list):
        for v in node:
            yield from expressions(v, key)
    elif isinstance(node, str):
        if key in BARE_KEYS:
            yield node
        for block in _BLOCK.finditer(node):
            yield block.group(1) or block.group(2) or ""


def file_names(path: Path) -> set[str]:
    """Identifiers used in Jinja in a YAML file or a template."""
    if path.suffix in (".yml", ".yaml"):
        exprs = list(expressions(load_yaml(path)))
    else:
        exprs = [b.group(1) or b.group(2) or "" for b in _BLOCK.finditer(path.read_text())]
    found: set[str] = set()
    for expr in exprs:
        found |= names_in(expr)
    return found


def role_files(role: Path) -> list[Path]:
    dirs = ("tasks", "handlers", "defaults", "vars", "templates", "meta")
    return sorted(
        p
        for d in dirs
        for p in (role / d).rglob("*")
        if p.is_file() and (p.suffix in (".yml", ".yaml", ".j2")) and p.name != "argument_specs.yml"
    )


def check_defaults_match_specs(roles_dir: Path) -> list[str]:
    """defaults/main.yml and argument_specs `main` list the same variables, with the same
    defaults; internal (`__`) values live in vars/, never in defaults or specs."""
    problems = []
    for role in roles(roles_dir):
        dflt = defaults(role)
        spec = specs(role)
        if "main" not in spec:
            problems.append(f"{role.name}: no argument_specs entry point 'main'")
            continue
        options = spec["main"].get("options") or {}
        for name in sorted(set(dflt) - set(options)):
            problems.append(f"{role.name}: default {name} is not an option of argument_specs main")
        for name in sorted(set(options) - set(dflt)):
            if "default" in options[name]:
                problems.append(f"{role.name}: main option {name} has a default, defaults none")
        for name in sorted(n for n in list(dflt) + list(options) if "__" in n):
            problems.append(f"{role.name}: internal variable {name} in defaults or argument_specs")
    return problems


def check_entry_points(roles_dir: Path, playbooks: list[Path]) -> list[str]:
    """Every entry point has a task file and options that are the role's variables with their
    real defaults (options without a default are inputs such as host vars); every task file a
    playbook or role enters with tasks_from has an entry point."""
    problems = []
    for role in roles(roles_dir):
        dflt = defaults(role)
        for entry, spec in specs(role).items():
            if not (role / "tasks" / f"{entry}.yml").exists():
                problems.append(f"{role.name}: entry point {entry} has no tasks/{entry}.yml")
            for name, option in (spec.get("options") or {}).items():
                if not name.startswith(role.name + "_"):
                    problems.append(f"{role.name}: {entry} option {name} lacks the role's prefix")
                if "default" in option:
                    if name not in dflt:
                        problems.append(f"{role.name}: {entry} option {name} is not in defaults")
                    elif option["default"] != dflt[name]:
                        problems.append(
                            f"{role.name}: {entry} option {name} default {option['default']!r}"
                            f" != defaults/main.yml {dflt[name]!r}"
                        )
                elif name in dflt:
                    problems.append(f"{role.name}: {entry} option {name} lacks its default")
    sources = playbooks + [p for role in roles(roles_dir) for p in role_files(role)]
    for path in sources:
        for use in tasks_from_uses(path):
            name, entry = use
            role = roles_dir / name
            if not role.is_dir() or entry not in specs(role):
                problems.append(f"{path}: tasks_from {entry} of role {name} has no argument_specs")
    return problems


def tasks_from_uses(path: Path) -> Iterator[tuple[str, str]]:
    if path.suffix not in (".yml", ".yaml"):
        return

    def walk(node: object) -> Iterator[tuple[str, str]]:
        if isinstance(node, dict):
            for key in ("ansible.builtin.include_role", "ansible.builtin.import_role"):
                args = node.get(key)
                if isinstance(args, dict) and "tasks_from" in args and "{{" not in args["name"]:
                    yield args["name"], args["tasks_from"]
            for v in node.values():
                yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)

    yield from walk(load_yaml(path))


def check_no_foreign_variables(roles_dir: Path, playbooks: list[Path]) -> list[str]:
    """No role reads another role's variables (their values come in as its own inputs), and
    nothing reads another role's internal `__` variables."""
    all_roles = roles(roles_dir)
    problems = []
    for role in all_roles:
        others = [r.name + "_" for r in all_roles if r != role]
        for path in role_files(role):
            for name in sorted(file_names(path)):
                owner = next((o for o in others if name.startswith(o)), None)
                if owner:
                    problems.append(f"{path}: reads {name} of role {owner[:-1]}")
                elif "__" in name and not name.startswith(role.name + "__"):
                    problems.append(f"{path}: reads the internal variable {name}")
    for path in playbooks:
        for name in sorted(file_names(path)):
            if "__" in name.strip("_"):
                problems.append(f"{path}: reads the internal variable {name}")
    return problems


def handlers_defined(roles_dir: Path, playbooks: list[Path]) -> set[str]:
    names: set[str] = set()
    documents = [load_yaml(r / "handlers/main.yml") or [] for r in roles(roles_dir)]
    documents += [play.get("handlers") or [] for p in playbooks for play in load_yaml(p) or []]
    for handlers in documents:
        for handler in handlers:
            names.add(handler.get("name", ""))
            listen = handler.get("listen", [])
            names.update([listen] if isinstance(listen, str) else listen)
    return names


def check_notified_handlers(roles_dir: Path, playbooks: list[Path]) -> list[str]:
    """Every handler name or topic a task notifies is defined (as a name or a `listen` topic)."""
    defined = handlers_defined(roles_dir, playbooks)
    problems = []

    def walk(node: object, path: Path) -> None:
        if isinstance(node, dict):
            notify = node.get("notify")
            for name in [notify] if isinstance(notify, str) else notify or []:
                if name not in defined:
                    problems.append(f"{path}: notifies {name!r}; no handler has that name or topic")
            for v in node.values():
                walk(v, path)
        elif isinstance(node, list):
            for v in node:
                walk(v, path)

    for path in playbooks + [p for r in roles(roles_dir) for p in role_files(r)]:
        if path.suffix in (".yml", ".yaml"):
            walk(load_yaml(path), path)
    return problems
