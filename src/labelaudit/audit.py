"""The audit: what a scan found, and the audit directory that stores it.

```
<name>.labelaudit/
  manifest.json    versions, command, input hash, options, classes, timings, summary, gates
  issues.parquet   one row per input row, in input order (scores: LOWER = more severe)
  pred_probs.npy   rows x classes out-of-fold probabilities, columns in manifest class order
```
``report``, ``filter`` and ``retrain`` read this directory and never recompute it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from labelaudit.errors import AuditFormatError
from labelaudit.io.atomic import atomic_directory

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
ISSUES = "issues.parquet"
PRED_PROBS = "pred_probs.npy"
EXTRA_TABLES = ("items", "annotators")


@dataclass
class Audit:
    """The result of a scan: manifest facts, one issues row per input row, and the pred_probs."""

    manifest: dict[str, Any]
    issues: pd.DataFrame
    pred_probs: np.ndarray
    path: Path | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Extra per-audit tables saved as ``<name>.parquet`` (crowd audits: ``items``, ``annotators``)."""
    source: Any = field(default=None, repr=False, compare=False)
    """The opened input (``labelaudit.io.readers.TableSource``) a fresh scan holds, so writing its cleaned
    copy parses the bytes the scan read and hashed instead of reading the file again; never saved."""

    # -- convenient views -------------------------------------------------
    @property
    def summary(self) -> dict[str, Any]:
        return self.manifest["summary"]

    @property
    def class_names(self) -> list[Any]:
        return [c["name"] for c in self.manifest["classes"]]

    @property
    def gates(self) -> dict[str, Any]:
        return self.manifest["gates"]

    @property
    def passed(self) -> bool:
        return bool(self.manifest["gates"]["passed"])

    @property
    def exit_code(self) -> int:
        return int(self.manifest["exit_code"])

    @property
    def label_issue_rate(self) -> float:
        return float(self.summary["checks"]["label"]["rate"])

    def worst(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` rows most likely mislabelled (flagged first, then by label quality)."""
        df = self.issues[self.issues["rank"].notna()]
        return df.sort_values("rank").head(n)

    def input_paths(self) -> list[Path]:
        """The files this audit was made from (data, labels, pred_probs, item features): never overwritten."""
        m = self.manifest
        out = [Path(m["input"]["path"])] if isinstance(m.get("input"), dict) and m["input"].get("path") else []
        for key in ("labels_file", "crowd_features_file"):
            if isinstance(m.get(key), dict) and m[key].get("path"):
                out.append(Path(m[key]["path"]))
        out += [Path(f["path"]) for f in m.get("pred_probs_files") or [] if isinstance(f, dict) and f.get("path")]
        return out

    # -- persistence -----------------------------------------------------
    def save(
        self, path: Path, *, force: bool = False, extra: Callable[[Audit, Path], dict[str, Any]] | None = None
    ) -> Path:
        """Write the audit directory atomically; refuses to replace one unless ``force``.

        ``extra(audit, folder)`` writes more files into the directory inside the same atomic write and
        returns what the manifest records of them under ``cleaned`` (``clean.filtering.write_default_cleaned``
        writes the default ``filter`` result: ``cleaned.<ext>`` and ``removed.<ext>``).
        """
        path = Path(path)
        started = time.perf_counter()
        timings = self.manifest.setdefault("timings", {})
        with atomic_directory(path, force=force, inputs=self.input_paths()) as tmp:
            if extra is not None:
                self.manifest["cleaned"] = extra(self, tmp)
                timings["write:cleaned"] = round(time.perf_counter() - started, 4)
            table = pa.Table.from_pandas(self.issues, preserve_index=False)
            dictionary = dictionary_columns(table, unique=("row", "rank", "id"))
            pq.write_table(table, tmp / ISSUES, compression="zstd", use_dictionary=dictionary)
            for name, frame in self.tables.items():
                pq.write_table(
                    pa.Table.from_pandas(frame, preserve_index=False), tmp / f"{name}.parquet", compression="zstd"
                )
            np.save(tmp / PRED_PROBS, np.ascontiguousarray(self.pred_probs), allow_pickle=False)
            timings["write"] = round(time.perf_counter() - started - timings.get("write:cleaned", 0.0), 4)
            (tmp / MANIFEST).write_text(json.dumps(self.manifest, indent=2, default=_json_default) + "\n")
        self.path = path
        return path


def dictionary_columns(table, unique: tuple[str, ...] = ()) -> list[str]:
    """Columns worth Parquet's dictionary encoding: all but floating-point ones and the ``unique`` ones (a
    row number or rank: pyarrow's default encodes every column, and a column with a value per row fills the
    dictionary before falling back; on 100 000 x 128 float32 columns that took 0.83 s for a file 50 % larger,
    0.13 s without; the 1M-row issues table 0.40 s, 0.31 s without)."""
    return [f.name for f in table.schema if not pa.types.is_floating(f.type) and f.name not in unique]


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (np.ndarray,)):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def load_audit(path: Path) -> Audit:
    """Read an audit directory written by ``scan``."""
    path = Path(path)
    if not path.is_dir():
        raise AuditFormatError(f"{path} is not an audit directory; run 'labelaudit scan DATA' first")
    missing = [n for n in (MANIFEST, ISSUES, PRED_PROBS) if not (path / n).exists()]
    if missing:
        raise AuditFormatError(
            f"{path} is missing {', '.join(missing)}; re-run 'labelaudit scan' to write a complete audit"
        )
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AuditFormatError(f"{path / MANIFEST} is not valid JSON ({err}); re-run 'labelaudit scan'") from None
    if not isinstance(manifest, dict):
        raise AuditFormatError(
            f"{path / MANIFEST} holds a JSON {_json_kind(manifest)}, not an audit manifest; re-run 'labelaudit scan'"
        )
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise AuditFormatError(
            f"{path} has audit schema version {version}; this labelaudit reads version {SCHEMA_VERSION}: "
            "re-run 'labelaudit scan' with this version"
        )
    _check_manifest(path, manifest)
    issues = _read_table(path, ISSUES)
    try:
        pred_probs = np.load(path / PRED_PROBS, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise AuditFormatError(
            f"{path / PRED_PROBS} is damaged ({_first_line(err)}); re-run 'labelaudit scan'"
        ) from None
    _check_arrays(path, manifest, issues, pred_probs)
    tables = {
        name: _read_table(path, f"{name}.parquet") for name in EXTRA_TABLES if (path / f"{name}.parquet").exists()
    }
    return Audit(manifest, issues, pred_probs, path, tables)


#: what report, filter and retrain read from a manifest: key -> type, or a nested spec
MANIFEST_SPEC: dict[str, Any] = {
    "input": {"path": str, "name": str, "sha256": str, "rows": int},
    "classes": list,
    "model": dict,
    "options": dict,
    "libraries": dict,
    "timings": dict,
    "folds": int,
    "seed": int,
    "exit_code": int,
    "gates": {"results": list, "passed": bool},
    "summary": {
        "rows": int,
        "classes": int,
        "labeled_rows": int,
        "assessed_rows": int,
        "not_assessed": dict,
        "per_class": list,
        "skipped_checks": dict,
        "checks": {"label": {"count": int, "rate": (int, float), "estimated_noise_rate": (int, float)}},
    },
}
#: lists of objects the renderers index into: each entry is an object with these keys and types
MANIFEST_ENTRIES: dict[tuple[str, ...], dict[str, Any]] = {
    ("gates", "results"): {"check": str, "passed": bool, "rate": (int, float), "threshold": (int, float)},
    ("summary", "per_class"): {"rows": int, "flagged": int, "rate": (int, float), "assessed": bool},
}
#: what every check's entry in summary.checks holds (the summary and reports index both)
CHECK_SUMMARY: dict[str, Any] = {"count": int, "rate": (int, float)}
ISSUES_COLUMNS = ("row", "given_label", "suggested_label", "label_quality", "is_label_issue", "rank")


def _check_manifest(path: Path, manifest: dict[str, Any], spec: dict[str, Any] = MANIFEST_SPEC, at: str = "") -> None:
    """Every key the other commands read, with its type: a tampered manifest is exit 2, not a crash later."""
    for key, want in spec.items():
        where = f"{at}{key}"
        if key not in manifest:
            raise AuditFormatError(
                f"{path / MANIFEST} lacks '{where}'; it is incomplete or edited: re-run 'labelaudit scan'"
            )
        value = manifest[key]
        if isinstance(want, dict):
            if not isinstance(value, dict):
                raise AuditFormatError(f"{path / MANIFEST}: '{where}' is not an object; re-run 'labelaudit scan'")
            _check_manifest(path, value, want, f"{where}.")
        elif not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise AuditFormatError(
                f"{path / MANIFEST}: '{where}' is a {type(value).__name__}, not what labelaudit wrote; "
                "re-run 'labelaudit scan'"
            )
    if not at:
        for c in manifest["classes"]:
            if not isinstance(c, dict) or "name" not in c:
                raise AuditFormatError(f"{path / MANIFEST}: 'classes' entries need a 'name'; re-run 'labelaudit scan'")
        for keys, entry in MANIFEST_ENTRIES.items():
            value: Any = manifest
            for k in keys:
                value = value[k]
            for e in value:
                bad = not isinstance(e, dict) or any(
                    k not in e or not isinstance(e[k], t) or (t is int and isinstance(e[k], bool))
                    for k, t in entry.items()
                )
                if bad:
                    raise AuditFormatError(
                        f"{path / MANIFEST}: an entry of '{'.'.join(keys)}' is not what labelaudit wrote; "
                        "re-run 'labelaudit scan'"
                    )
        for name, c in manifest["summary"]["checks"].items():
            ok = isinstance(c, dict) and all(
                k in c and isinstance(c[k], t) and not isinstance(c[k], bool) for k, t in CHECK_SUMMARY.items()
            )
            if not ok:
                raise AuditFormatError(
                    f"{path / MANIFEST}: 'summary.checks.{name}' is not what labelaudit wrote; re-run 'labelaudit scan'"
                )


def _read_table(path: Path, name: str) -> pd.DataFrame:
    try:
        return pq.read_table(path / name).to_pandas()
    except (pa.ArrowInvalid, pa.ArrowException, OSError, ValueError) as err:
        raise AuditFormatError(f"{path / name} is damaged ({_first_line(err)}); re-run 'labelaudit scan'") from None


def _check_arrays(path: Path, manifest: dict[str, Any], issues: pd.DataFrame, pred_probs: np.ndarray) -> None:
    missing = [c for c in ISSUES_COLUMNS if c not in issues.columns]
    if missing:
        raise AuditFormatError(f"{path / ISSUES} lacks the column(s) {', '.join(missing)}; re-run 'labelaudit scan'")
    rows, k = int(manifest["summary"]["rows"]), len(manifest["classes"])
    if len(issues) != rows:
        raise AuditFormatError(
            f"{path / ISSUES} has {len(issues)} rows but the manifest says {rows}; re-run 'labelaudit scan'"
        )
    if pred_probs.shape != (rows, k) or not np.issubdtype(pred_probs.dtype, np.floating):
        raise AuditFormatError(
            f"{path / PRED_PROBS} has shape {pred_probs.shape} ({pred_probs.dtype}), expected ({rows}, {k}) floats; "
            "re-run 'labelaudit scan'"
        )


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {list: "list", str: "string", bool: "boolean"}.get(type(value), "number")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:200]
