"""The data an audit was made from: found, verified (hash and rows), read whole, and written back in its format.

CSV/TSV cells are read and written as text, so every value of a kept row is written back exactly as
it was read. Parquet, Feather and JSON Lines keep their Arrow types; NPY/NPZ features keep their
dtype and labels go back to a file like the one they came from.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from labelaudit.audit import Audit, dictionary_columns
from labelaudit.errors import InputError, SchemaError
from labelaudit.io.readers import TableSource, file_sha256, open_table, read_labels_file


@dataclass
class AuditedData:
    """The audited file's rows as a DataFrame, plus how to write rows back in the same format."""

    path: Path
    format: str
    frame: pd.DataFrame
    """All columns, input order. For NPY/NPZ: ``f0..`` feature columns plus ``label``."""
    label_column: str
    delimiter: str | None = None
    encoding: str | None = None
    labels_file: Path | None = None
    npz_keys: tuple[str, str] | None = None
    feature_dtype: Any = None
    arrow_schema: pa.Schema | None = None
    """Parquet/Feather/JSON Lines: the input's Arrow schema, so written rows keep the input's types."""

    def typed(self, columns: list[str]) -> pd.DataFrame:
        """``columns`` with their real types, for reports: CSV cells are kept as text (to write rows back
        exactly as read), so here a column whose every non-empty cell is a number becomes numbers, and one
        of only true/false becomes booleans, as pandas reads a CSV; other columns stay text."""
        if self.format not in {"csv", "tsv"}:
            return self.frame[columns]
        return pd.DataFrame({c: _typed_text_column(self.frame[c]) for c in columns}, index=self.frame.index)


def _typed_text_column(s: pd.Series) -> pd.Series:
    if not s.map(lambda v: isinstance(v, str)).all():
        return s  # already typed (a crowd audit's item table, built in memory)
    blank = s.eq("")
    if blank.all():
        return s.where(~blank, None)
    values = s[~blank]
    if values.str.lower().isin({"true", "false"}).all():
        return s.str.lower().map({"true": True, "false": False}).where(~blank, None)
    num = pd.to_numeric(values, errors="coerce")
    if num.notna().all():
        if blank.any():
            return pd.to_numeric(s.where(~blank), errors="coerce")
        return num
    return s.where(~blank, None)


def verify_audited_file(audit: Audit, path: Path) -> None:
    facts = audit.manifest["input"]
    if not path.exists():
        raise InputError(f"{path}: the audited data file is not there; pass it with --data FILE")
    digest = file_sha256(path)
    if digest != facts["sha256"]:
        raise InputError(
            f"{path} is not the data this audit was made from (sha256 {digest[:12]}… differs from "
            f"{facts['sha256'][:12]}…); pass the original file with --data, or re-run 'labelaudit scan' on this one"
        )


def load_audited_data(audit: Audit, data: Path | None = None) -> AuditedData:
    """Read the audited data (default: the manifest's path) after checking it is the same file."""
    m = audit.manifest
    path = Path(data) if data is not None else Path(m["input"]["path"])
    source = audit.source
    if source is not None and (data is not None and Path(data).resolve() != Path(source.path).resolve()):
        source = None
    # a source that kept the bytes it parsed is the audited data; one read from its path (a big file) may
    # have changed since the scan read it, so its file is hashed again
    if source is None or source.sha256() != m["input"]["sha256"] or (not source.is_array and not source.retained):
        verify_audited_file(audit, path)
        source = None
    labels_file = Path(m["labels_file"]["path"]) if m.get("labels_file") else None
    out = read_data_file(
        path,
        label_column=m["label_column"],
        encoding=(m.get("options") or {}).get("encoding"),
        labels_file=labels_file,
        source=source,
    )
    if len(out.frame) != m["input"]["rows"]:
        raise InputError(f"{path} has {len(out.frame)} rows but the audit has {m['input']['rows']}; re-run scan")
    return out


def read_data_file(
    path: Path,
    *,
    label_column: str | None,
    encoding: str | None = None,
    labels_file: Path | None = None,
    source: TableSource | None = None,
) -> AuditedData:
    """Every column of a data file, typed so that rows can be written back faithfully.

    ``source``: the file as a scan opened it (its bytes already read and hashed), to parse instead of the path.
    """
    if source is None:
        source = open_table(path, encoding=encoding)
    label_col = label_column or "label"
    if source.is_array:
        X = np.asarray(source.matrix)
        frame = pd.DataFrame({f"f{i}": X[:, i] for i in range(X.shape[1])})
        if labels_file is not None:
            labels = read_labels_file(labels_file, encoding=encoding)
        elif source.labels is not None:
            labels = np.asarray(source.labels)
        else:
            raise SchemaError(f"{path.name} holds features only; pass --labels FILE")
        if len(labels) != len(frame):
            raise InputError(f"labels file has {len(labels)} rows but {path.name} has {len(frame)}")
        frame["label"] = list(labels)
        keys = None
        if source.format == "npz":
            with np.load(path, allow_pickle=False) as npz:
                keys = ("X", "y") if "X" in npz.files else ("features", "labels")
        return AuditedData(
            path, source.format, frame, "label", labels_file=labels_file, npz_keys=keys, feature_dtype=X.dtype
        )
    if source.format in {"csv", "tsv"}:
        frame = pd.read_csv(
            source.byte_stream(),
            sep=source.delimiter,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding=source.encoding,
        )
        return AuditedData(path, source.format, frame, label_col, delimiter=source.delimiter, encoding=source.encoding)
    table = source.read(source.columns)
    return AuditedData(
        path, source.format, table.to_pandas(types_mapper=pd.ArrowDtype), label_col, arrow_schema=table.schema
    )


def _as_input_types(frame: pd.DataFrame, schema: pa.Schema | None) -> pa.Table:
    """``frame`` as Arrow with the input's column types and metadata (pandas dtypes read back as they were)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if schema is None:
        return table
    fields = []
    for f in table.schema:
        i = schema.get_field_index(f.name)
        fields.append(schema.field(i) if i >= 0 and schema.field(i).type != f.type else f)
    # a relabelled value the old type cannot hold keeps the written type
    with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
        table = table.cast(pa.schema(fields))
    return table.replace_schema_metadata(schema.metadata)


def label_values(data: AuditedData, values: list[Any]) -> pd.Series:
    """New label values typed like the label column (text for CSV)."""
    col = data.frame[data.label_column]
    if data.format in {"csv", "tsv"}:
        return pd.Series(["" if v is None else str(v) for v in values], dtype=col.dtype, index=None)
    if isinstance(col.dtype, pd.ArrowDtype):
        arr = pa.array(values).cast(col.dtype.pyarrow_dtype) if values else pa.array([], col.dtype.pyarrow_dtype)
        return pd.Series(arr, dtype=col.dtype)
    return pd.Series(values, dtype=col.dtype if col.dtype != object else object)


def write_rows(data: AuditedData, frame: pd.DataFrame, target: Path) -> list[Path]:
    """Write ``frame`` (columns as ``data.frame``) to ``target`` in the input's format; return paths written.

    The caller owns atomicity (``target`` is a temporary path); for NPY inputs a labels file is
    written beside it as ``<target stem>.labels<suffix of the original labels file>``.
    """
    fmt = data.format
    if fmt in {"csv", "tsv"}:
        frame.to_csv(target, sep=data.delimiter or ",", index=False, encoding=data.encoding or "utf-8")
        return [target]
    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = _as_input_types(frame, data.arrow_schema)
        pq.write_table(table, target, use_dictionary=dictionary_columns(table))
        return [target]
    if fmt == "arrow":
        import pyarrow.feather as feather

        feather.write_feather(_as_input_types(frame, data.arrow_schema), target)
        return [target]
    if fmt == "jsonl":
        frame.to_json(target, orient="records", lines=True, date_format="iso")
        return [target]
    feats = frame[[c for c in frame.columns if c != "label"]].to_numpy(dtype=data.feature_dtype)
    labels = frame["label"].tolist()
    if fmt == "npz":
        keys = data.npz_keys or ("X", "y")
        with open(target, "wb") as fh:
            np.savez(fh, **{keys[0]: feats, keys[1]: _label_array(labels)})
        return [target]
    with open(target, "wb") as fh:
        np.save(fh, feats, allow_pickle=False)
    return [target]


def _label_array(labels: list[Any]) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.dtype == object:
        arr = arr.astype(str)
    return arr


def write_labels_beside(data: AuditedData, labels: list[Any], target: Path) -> None:
    """Labels for NPY features, in the format of the original labels file (CSV with a header by default)."""
    suffix = data.labels_file.suffix.lower() if data.labels_file else ".csv"
    if suffix == ".npy":
        with open(target, "wb") as fh:
            np.save(fh, _label_array(labels), allow_pickle=False)
    elif suffix in {".csv", ".tsv"}:
        pd.DataFrame({"label": labels}).to_csv(target, index=False, sep="," if suffix == ".csv" else "\t")
    else:
        target.write_text("".join(f"{'' if v is None else v}\n" for v in labels))


def labels_suffix(data: AuditedData) -> str:
    return data.labels_file.suffix.lower() if data.labels_file else ".csv"


def check_label_column(data: AuditedData) -> None:
    if data.label_column not in data.frame.columns:
        raise SchemaError(f"label column '{data.label_column}' is not in {data.path.name}; re-run scan")
