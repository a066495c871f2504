"""Reading multi-annotator exports into one long table: item, annotator, label (+ time, gold).

Formats (detected from the file, or chosen with ``--export-format``):
* ``long``: one row per annotation (CSV/TSV, Parquet, JSON Lines), columns named by
  ``--item/--annotator/--label`` (defaults below).
* ``label-studio``: Label Studio JSON export (tasks with ``annotations[].result[].value.choices``).
* ``label-studio-csv``: Label Studio CSV export (``annotator``, ``annotation_id``, ``lead_time`` and a
  choices column named after the control tag).
* ``mturk``: MTurk batch results (``HITId``, ``WorkerId``, ``WorkTimeInSeconds``, ``Answer.*``).
* ``toloka``: Toloka TSV (``ASSIGNMENT:task_id``, ``ASSIGNMENT:worker_id``, ``OUTPUT:*``, ``GOLDEN:*``).

Duplicate (item, annotator) rows keep the LAST one in file order (a re-submission replaces the
earlier answer); how many were replaced is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from labelaudit.errors import InputError, SchemaError
from labelaudit.io.readers import TableSource, open_table
from labelaudit.names import ExportFormat

ITEM_NAMES = ("item", "item_id", "task", "task_id", "example", "example_id")
ANNOTATOR_NAMES = ("annotator", "annotator_id", "worker", "worker_id", "rater", "user", "user_id")
LABEL_NAMES = ("label", "labels", "answer", "class", "category")
LS_META = {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time", "annotations_id"}


@dataclass
class Annotations:
    """One row per annotation: ``item``, ``annotator``, ``label`` (strings), optional ``time``, ``gold``."""

    frame: pd.DataFrame
    format: ExportFormat
    columns: dict[str, str | None]
    duplicates_replaced: int = 0
    notes: list[str] = field(default_factory=list)
    #: SHA-256 of the bytes that were parsed (None: hash the file)
    sha256: str | None = None


def _pick(columns: list[str], given: str | None, names: tuple[str, ...], what: str, path: Path) -> str:
    if given is not None:
        if given not in columns:
            raise SchemaError(f"--{what} column '{given}' not found in {path.name}; columns are: {', '.join(columns)}")
        return given
    hits = [c for c in columns if c.lower() in names]
    if len(hits) == 1:
        return hits[0]
    raise SchemaError(
        f"{path.name}: cannot tell which column is the {what}; expected one named {'/'.join(names)} "
        f"(columns: {', '.join(columns[:20])}); pass --{what} COLUMN"
    )


def detect_format(path: Path, columns: list[str]) -> ExportFormat:
    if path.suffix.lower() == ".json":
        return ExportFormat.label_studio
    cols = set(columns)
    if {"HITId", "WorkerId"} <= cols:
        return ExportFormat.mturk
    if {"ASSIGNMENT:worker_id", "ASSIGNMENT:task_id"} <= cols:
        return ExportFormat.toloka
    if {"annotator", "annotation_id"} <= cols:
        return ExportFormat.label_studio_csv
    return ExportFormat.long


def is_annotation_export(path: Path, columns: list[str] | None = None) -> bool:
    """True for files that are multi-annotator exports without being told (JSON, MTurk, Toloka, Label Studio CSV).

    ``columns``: the file's columns when the caller has opened it already.
    """
    if path.suffix.lower() == ".json":
        return True
    if columns is None:
        try:
            columns = open_table(path).columns
        except InputError:
            return False
    return detect_format(path, columns) is not ExportFormat.long


def _finish(df: pd.DataFrame, fmt: ExportFormat, columns: dict[str, str | None], path: Path) -> Annotations:
    if df.empty:
        raise InputError(f"{path.name} holds no annotations; export again with at least one answered task")
    df = df.copy()
    for c in ("item", "annotator", "label"):
        df[c] = df[c].astype("string").str.strip()
    df = df[df["item"].notna() & (df["item"] != "") & df["annotator"].notna() & (df["annotator"] != "")]
    df = df[df["label"].notna() & (df["label"] != "")]
    if df.empty:
        raise InputError(f"{path.name} holds no answered annotations (every label is empty)")
    before = len(df)
    df = df.drop_duplicates(["item", "annotator"], keep="last").reset_index(drop=True)
    notes = []
    dups = before - len(df)
    if dups:
        notes.append(f"{dups} duplicate (item, annotator) answers: the last one in file order was kept")
    return Annotations(df, fmt, columns, dups, notes)


def read_annotations(
    path: Path,
    *,
    export_format: ExportFormat = ExportFormat.auto,
    item: str | None = None,
    annotator: str | None = None,
    label: str | None = None,
    time: str | None = None,
    gold: str | None = None,
    encoding: str | None = None,
    source: TableSource | None = None,
) -> Annotations:
    """``source``: the file already opened by the caller (its bytes are read once)."""
    path = Path(path)
    if path.suffix.lower() == ".json" and export_format in (ExportFormat.auto, ExportFormat.label_studio):
        return _label_studio_json(path)
    src = source if source is not None else open_table(path, encoding=encoding)
    cols = src.columns
    fmt = detect_format(path, cols) if export_format is ExportFormat.auto else export_format
    if fmt is ExportFormat.mturk:
        answers = [c for c in cols if c.startswith("Answer.")]
        lab = label or (answers[0] if len(answers) == 1 else None)
        if lab is None:
            raise SchemaError(
                f"{path.name}: MTurk results have answer columns {answers or 'none'}; pass --label Answer.<name>"
            )
        item, annotator, time = (
            item or "HITId",
            annotator or "WorkerId",
            time or ("WorkTimeInSeconds" if "WorkTimeInSeconds" in cols else None),
        )
        label = lab
    elif fmt is ExportFormat.toloka:
        outputs = [c for c in cols if c.startswith("OUTPUT:")]
        lab = label or (outputs[0] if len(outputs) == 1 else None)
        if lab is None:
            raise SchemaError(
                f"{path.name}: Toloka results have output columns {outputs or 'none'}; pass --label OUTPUT:<name>"
            )
        golds = [c for c in cols if c.startswith("GOLDEN:")]
        item, annotator, label = item or "ASSIGNMENT:task_id", annotator or "ASSIGNMENT:worker_id", lab
        gold = gold or (golds[0] if len(golds) == 1 else None)
    elif fmt is ExportFormat.label_studio_csv:
        choice_cols = [c for c in cols if c not in LS_META and not c.startswith("data.")]
        item, annotator = item or "id", annotator or "annotator"
        time = time or ("lead_time" if "lead_time" in cols else None)
        if label is None:
            named = [c for c in choice_cols if c.lower() in LABEL_NAMES]
            if len(named) != 1:
                raise SchemaError(
                    f"{path.name}: Label Studio CSV; cannot tell which column holds the choices "
                    f"({', '.join(choice_cols[:15])}); pass --label COLUMN"
                )
            label = named[0]
    else:
        item = _pick(cols, item, ITEM_NAMES, "item", path)
        annotator = _pick(cols, annotator, ANNOTATOR_NAMES, "annotator", path)
        label = _pick(cols, label, LABEL_NAMES, "label", path)
    names = {"item": item, "annotator": annotator, "label": label, "time": time, "gold": gold}
    for role, col in names.items():
        if col is not None and col not in cols:
            raise SchemaError(f"{path.name}: {role} column '{col}' not found; columns are: {', '.join(cols[:20])}")
    table = src.read([c for c in names.values() if c is not None]).to_pandas()
    df = pd.DataFrame({role: table[col] for role, col in names.items() if col is not None})
    if "time" in df:
        df["time"] = pd.to_numeric(df["time"], errors="coerce")
    out = _finish(df, fmt, names, path)
    out.sha256 = src.sha256()
    return out


def _label_studio_json(path: Path) -> Annotations:
    from labelaudit.io.label_studio import answers, load_tasks

    tasks = load_tasks(path)
    rows = []
    for index, task in enumerate(tasks):
        if "annotations" not in task:
            raise InputError(
                f"{path.name}: expected a Label Studio export (tasks with 'id', 'data' and "
                "'annotations'); task keys are " + ", ".join(sorted(map(str, task)))
            )
        for a in answers(task, index, path):
            rows.append({"item": str(task.get("id")), "annotator": a.annotator, "label": a.choice, "time": a.lead_time})
    df = pd.DataFrame(rows, columns=["item", "annotator", "label", "time"])
    df["time"] = pd.to_numeric(df["time"], errors="coerce")
    return _finish(
        df,
        ExportFormat.label_studio,
        {"item": "id", "annotator": "completed_by", "label": "result.value.choices", "time": "lead_time", "gold": None},
        path,
    )
