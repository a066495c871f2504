"""``filter_dataset``: apply a :class:`~labelaudit.clean.plan.Plan` to the audited data; write cleaned + removed rows.

Used by ``labelaudit filter`` and by ``scan`` (which writes the default-action result into the audit
directory) through the same code path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from labelaudit.audit import Audit
from labelaudit.clean.plan import (
    DEFAULT_ACTION,
    DEFAULT_CHECKS,
    DEFAULT_MAX_CLASS_FRACTION,
    Action,
    Plan,
    plan_actions,
    read_decisions,
)
from labelaudit.io.atomic import atomic_files
from labelaudit.io.audited_data import (
    AuditedData,
    label_values,
    labels_suffix,
    load_audited_data,
    write_labels_beside,
    write_rows,
)

META = ("labelaudit_row", "labelaudit_action", "labelaudit_reason", "labelaudit_old_label", "labelaudit_new_label")


@dataclass
class FilterResult:
    """The cleaned rows, the removed or changed rows (with why), and the plan behind them."""

    cleaned: pd.DataFrame
    removed: pd.DataFrame
    """Every dropped or relabelled row: its data plus ``labelaudit_row/action/reason/old_label/new_label``."""
    plan: Plan
    data: AuditedData
    action: Action
    warnings: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "input": len(self.plan.table),
            "cleaned": len(self.cleaned),
            "dropped": int(self.plan.dropped.sum()),
            "relabelled": int(self.plan.relabelled.sum()),
        }


def filter_dataset(
    audit: Audit,
    data: Path | AuditedData | None = None,
    *,
    action: Action | str = DEFAULT_ACTION,
    checks=DEFAULT_CHECKS,
    max_class_fraction: float = DEFAULT_MAX_CLASS_FRACTION,
    decisions: Path | dict[int, str] | None = None,
    undecided: str = "keep",
) -> FilterResult:
    """Cleaned and removed frames for ``audit`` applied to its data (verified by hash and row count)."""
    if isinstance(data, AuditedData):
        ad = data
    elif audit.manifest.get("kind") == "crowd":
        ad = crowd_items_data(audit)
    else:
        ad = load_audited_data(audit, data)
    if isinstance(decisions, (str, Path)):
        decisions = read_decisions(audit, Path(decisions))
    action = Action(action) if not isinstance(action, Action) else action
    plan = plan_actions(
        audit,
        action=action,
        checks=checks,
        max_class_fraction=max_class_fraction,
        decisions=decisions,
        undecided=undecided,
    )
    t = plan.table
    frame = ad.frame
    dropped = plan.dropped
    relabelled = plan.relabelled
    changed = dropped | relabelled
    cleaned = frame.copy()
    if relabelled.any():
        new = label_values(ad, t.loc[relabelled, "new_label"].tolist())
        new.index = cleaned.index[relabelled]
        cleaned[ad.label_column] = cleaned[ad.label_column].astype(new.dtype)
        cleaned.loc[relabelled, ad.label_column] = new
    if action is Action.flag:
        iss = audit.issues
        cleaned["labelaudit_label_quality"] = iss["label_quality"].to_numpy()
        cleaned["labelaudit_is_label_issue"] = iss["is_label_issue"].to_numpy()
        cleaned["labelaudit_suggested_label"] = (
            iss["suggested_label"].astype(str).where(iss["suggested_label"].notna(), None).to_numpy()
        )
        cleaned["labelaudit_reason"] = t["reason"].to_numpy()
    cleaned = cleaned[~dropped].reset_index(drop=True)
    removed = frame[changed].copy()
    removed.insert(0, "labelaudit_row", t.loc[changed, "row"].to_numpy())
    for col, src in zip(META[1:], ("action", "reason", "old_label", "new_label"), strict=True):
        removed[col] = t.loc[changed, src].astype(str).to_numpy()
    removed = removed.reset_index(drop=True)
    return FilterResult(cleaned, removed, plan, ad, action, list(plan.warnings))


def crowd_items_data(audit: Audit) -> AuditedData:
    """A crowd audit's dataset: one row per item with its consensus label (in the export's format when tabular)."""
    items = audit.tables.get("items")
    if items is None:
        from labelaudit.errors import AuditFormatError

        raise AuditFormatError(f"{audit.path} is a crowd audit without items.parquet; re-run 'labelaudit scan'")
    frame = pd.DataFrame(
        {
            "item": items["item"].astype(str),
            "label": items["consensus_label"].astype(str),
            "consensus_quality": items["consensus_quality"],
            "agreement": items["agreement"],
            "num_annotations": items["num_annotations"],
            "annotations": items.get("annotations", ""),
        }
    )
    src = Path(audit.manifest["input"]["path"])
    fmt = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".jsonl": "jsonl"}.get(src.suffix.lower(), "csv")
    path = src if src.suffix.lower() in {".csv", ".tsv", ".parquet", ".jsonl"} else src.with_suffix(".csv")
    return AuditedData(path, fmt, frame, "label", delimiter="\t" if fmt == "tsv" else ",")


def output_paths(data: AuditedData, output: Path | None, folder: Path | None = None) -> dict[str, Path]:
    """Where the cleaned data, its labels (NPY) and the removed rows go."""
    suffix = data.path.suffix
    if output is None:
        output = (folder or Path.cwd()) / f"{data.path.stem}.cleaned{suffix}"
    stem = output.name[: -len(output.suffix)] if output.suffix else output.name
    base = stem[: -len(".cleaned")] if stem.endswith(".cleaned") else stem
    paths = {"cleaned": output, "removed": output.with_name(f"{base}.removed{output.suffix}")}
    if data.format == "npy":
        ls = labels_suffix(data)
        paths["cleaned_labels"] = output.with_name(f"{stem}.labels{ls}")
        paths["removed_labels"] = output.with_name(f"{base}.removed.labels{ls}")
        paths["removed_info"] = output.with_name(f"{base}.removed.csv")
    return paths


def write_outputs(
    result: FilterResult, paths: dict[str, Path], *, force: bool, inputs: list[Path | None] | None = None
) -> dict[str, Path]:
    """Write every output through temporary files renamed only once all are written (never over an input)."""
    protected = [result.data.path, result.data.labels_file, *(inputs or [])]
    with atomic_files(paths, force=force, inputs=protected) as temps:
        _write_all(result, temps)
    return paths


def _write_all(result: FilterResult, temps: dict[str, Path]) -> None:
    data = result.data
    cleaned, removed = result.cleaned, result.removed
    write_rows(data, cleaned, temps["cleaned"])
    if data.format == "npy":
        write_labels_beside(data, cleaned["label"].tolist(), temps["cleaned_labels"])
        data_cols = [c for c in removed.columns if c not in META]
        write_rows(data, removed[data_cols], temps["removed"])
        write_labels_beside(data, removed["label"].tolist(), temps["removed_labels"])
        removed[list(META)].to_csv(temps["removed_info"], index=False)
    else:
        if data.format not in {"csv", "tsv"}:
            removed = removed.copy()
        write_rows(data, removed, temps["removed"])


def write_default_cleaned(audit: Audit, folder: Path) -> dict:
    """``Audit.save(extra=...)``: the default ``filter`` result written into the audit directory."""
    if audit.manifest.get("input", {}).get("format") == "parquet-dataset":
        return {"skipped": "a partitioned dataset is not rewritten; filter its parts"}
    result = filter_dataset(audit)
    files = write_into_folder(result, folder)
    return {
        "action": DEFAULT_ACTION.value,
        "checks": list(DEFAULT_CHECKS),
        "max_class_fraction": DEFAULT_MAX_CLASS_FRACTION,
        "counts": result.counts,
        "capped_classes": [str(c) for c in result.plan.capped_classes],
        "files": files,
    }


def write_into_folder(result: FilterResult, folder: Path) -> dict[str, str]:
    """The default cleaned dataset inside an audit directory (names relative to it)."""
    paths = output_paths(result.data, folder / f"cleaned{result.data.path.suffix}")
    paths = {k: v for k, v in paths.items()}
    paths["removed"] = folder / f"removed{result.data.path.suffix}"
    if "removed_labels" in paths:
        paths["removed_labels"] = folder / f"removed.labels{labels_suffix(result.data)}"
        paths["removed_info"] = folder / "removed.csv"
        paths["cleaned_labels"] = folder / f"cleaned.labels{labels_suffix(result.data)}"
    _write_all(result, paths)
    return {k: p.name for k, p in paths.items()}
