"""The manifest fields every audit shares (scan and crowd audits both build through these).

``manifest.json`` is the audit directory's contract: its shape is pinned by ``audit.MANIFEST_SPEC``
(what the other commands read) and ``tests/golden/report_json_shape.json`` (what the report shows).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from labelaudit._version import __version__
from labelaudit.audit import SCHEMA_VERSION
from labelaudit.io.readers import file_sha256


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("cleanlab", "scikit-learn", "numpy", "pandas", "pyarrow", "scipy", "faiss-cpu"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def manifest_header(path: Path, fmt: str, rows: int, sha: str, command: Sequence[str] | None) -> dict[str, Any]:
    """The manifest fields every audit kind shares: versions, command, time and the input's identity."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "labelaudit", "version": __version__},
        "libraries": library_versions(),
        "command": list(command) if command is not None else None,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "input": {
            "path": str(path.resolve()) if fmt != "parquet-dataset" else str(path),
            "name": path.name,
            "format": fmt,
            "bytes": _input_bytes(path, fmt),
            "sha256": sha,
            "rows": rows,
        },
    }


def _input_bytes(path: Path, fmt: str) -> int:
    if fmt == "parquet-dataset":
        from labelaudit.oof.stream import dataset_files

        return sum(f.stat().st_size for f in dataset_files(path))
    return path.stat().st_size


def file_facts(p: Path | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {"path": str(Path(p).resolve()), "bytes": Path(p).stat().st_size, "sha256": file_sha256(Path(p))}


def audit_manifest(
    header: dict[str, Any],
    data: dict[str, Any],
    *,
    options: Any,
    config_file: str | None,
    classes: list[dict[str, Any]],
    model: dict[str, Any],
    checks: dict[str, Any],
    summary: dict[str, Any],
    gates: dict[str, Any],
    timings: dict[str, float],
    fold_seconds: Sequence[float] = (),
    knn: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The one manifest layout, for scans and crowd audits alike.

    ``header`` from :func:`manifest_header`; ``data``: how the input was read (label/id/feature columns,
    notes, the labels and pred_probs files). The exit code is derived here, from the gates.
    """
    return {
        **header,
        **data,
        "classes": classes,
        "options": options.to_json(),
        "config_file": config_file,
        "model": model,
        "folds": options.folds,
        "seed": options.seed,
        "fold_seconds": [round(s, 4) for s in fold_seconds],
        "checks": checks,
        "knn": knn,
        "timings": timings,
        "summary": summary,
        "gates": gates,
        "exit_code": 0 if gates["passed"] else 1,
    }
