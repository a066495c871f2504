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


def default_audit_dir(data: Path, cwd: Path | None = None) -> Path:
    """``<input stem>.labelaudit`` in the current directory."""
    return (cwd or Path.cwd()) / f"{Path(data).stem}.labelaudit"


@dataclass
class Audit:
    """The result of a scan: manifest facts, one issues row per input row, and the pred_probs."""

    manifest: dict[str, Any]
    issues: pd.DataFrame
    pred_probs: np.ndarray
    path: Path | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Extra per-audit tables saved as ``<name>.parquet`` (crowd audits: ``items``, ``annotators``)."""

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

    # -- persistence -----------------------------------------------------
    def save(self, path: Path, *, force: bool = False, write_cleaned: bool = False) -> Path:
        """Write the audit directory atomically; refuses to replace one unless ``force``.

        ``write_cleaned`` also writes the default ``filter`` result (``cleaned.<ext>`` and
        ``removed.<ext>``) into the directory, through the same code as ``labelaudit filter``.
        """
        path = Path(path)
        with atomic_directory(path, force=force) as tmp:
            if write_cleaned and self.manifest.get("input", {}).get("format") == "parquet-dataset":
                self.manifest["cleaned"] = {"skipped": "a partitioned dataset is not rewritten; filter its parts"}
            elif write_cleaned:
                from labelaudit.clean import DEFAULT_ACTION, DEFAULT_CHECKS, DEFAULT_MAX_CLASS_FRACTION
                from labelaudit.filtering import filter_dataset, write_into_folder

                result = filter_dataset(self)
                files = write_into_folder(result, tmp)
                self.manifest["cleaned"] = {
                    "action": DEFAULT_ACTION.value,
                    "checks": list(DEFAULT_CHECKS),
                    "max_class_fraction": DEFAULT_MAX_CLASS_FRACTION,
                    "counts": result.counts,
                    "capped_classes": [str(c) for c in result.plan.capped_classes],
                    "files": files,
                }
            table = pa.Table.from_pandas(self.issues, preserve_index=False)
            pq.write_table(table, tmp / ISSUES, compression="zstd")
            for name, frame in self.tables.items():
                pq.write_table(
                    pa.Table.from_pandas(frame, preserve_index=False), tmp / f"{name}.parquet", compression="zstd"
                )
            np.save(tmp / PRED_PROBS, np.ascontiguousarray(self.pred_probs), allow_pickle=False)
            (tmp / MANIFEST).write_text(json.dumps(self.manifest, indent=2, default=_json_default) + "\n")
        self.path = path
        return path


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
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise AuditFormatError(
            f"{path} has audit schema version {version}; this labelaudit reads version {SCHEMA_VERSION}: "
            "re-run 'labelaudit scan' with this version"
        )
    try:
        issues = pq.read_table(path / ISSUES).to_pandas()
        pred_probs = np.load(path / PRED_PROBS, allow_pickle=False)
    except (pa.ArrowInvalid, OSError, ValueError) as err:
        raise AuditFormatError(f"{path} holds a damaged file ({err}); re-run 'labelaudit scan'") from None
    tables = {
        name: pq.read_table(path / f"{name}.parquet").to_pandas()
        for name in EXTRA_TABLES
        if (path / f"{name}.parquet").exists()
    }
    return Audit(manifest, issues, pred_probs, path, tables)
