"""Option defaults from ``labelaudit.toml`` or the ``[tool.labelaudit]`` table of ``pyproject.toml``.

Top-level keys are ``scan`` options; a sub-table named after a command (``[tool.labelaudit.report]``)
holds that command's options. Keys use the option names, with dashes or underscores. Flags given on
the command line override these values.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from labelaudit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

COMMANDS = ("scan", "report", "filter", "retrain")


def find_config(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """The nearest ``labelaudit.toml``, or ``pyproject.toml`` with a [tool.labelaudit] table, at or above ``start``."""
    for folder in [start, *start.parents]:
        own = folder / "labelaudit.toml"
        if own.is_file():
            return own, _load(own)
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            table = _load(pyproject).get("tool", {}).get("labelaudit")
            if table is not None:
                return pyproject, table
        if (folder / ".git").exists():
            break
    return None


def _load(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML ({err}); fix the file or pass --config") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {path} ({err.strerror})") from None
    if path.name == "labelaudit.toml" and "tool" in data and "labelaudit" in data["tool"]:
        return data["tool"]["labelaudit"]
    return data


def load_config(explicit: Path | None, cwd: Path) -> tuple[Path | None, dict[str, Any]]:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} not found; check the --config path")
        data = _load(explicit)
        if explicit.name == "pyproject.toml":
            data = data.get("tool", {}).get("labelaudit", {})
        return explicit, data
    found = find_config(cwd)
    return (found[0], found[1]) if found else (None, {})


def to_default_map(path: Path, data: dict[str, Any], allowed: dict[str, set[str]]) -> dict[str, dict[str, Any]]:
    """Turn the config table into click's ``default_map``, rejecting unknown keys."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        if key in COMMANDS and isinstance(value, dict):
            target, items = key, value.items()
        else:
            target, items = "scan", [(key, value)]
        for k, v in items:
            name = k.replace("-", "_")
            if name not in allowed.get(target, set()):
                known = ", ".join(sorted(n.replace("_", "-") for n in allowed.get(target, set())))
                raise ConfigError(f"{path}: unknown {target} option '{k}'; known options: {known}")
            out.setdefault(target, {})[name] = v
    return out
