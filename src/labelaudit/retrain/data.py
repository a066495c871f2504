"""The features and labels ``retrain`` trains on: the audited data (verified) and an optional clean test set.

Training and test rows are stacked before features are built, so both are encoded the same way
(category codes, vector columns, TF-IDF vocabulary: label-free transforms); labels are mapped to the
audit's class order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from labelaudit.audit import Audit
from labelaudit.dataset import Dataset, build_dataset
from labelaudit.errors import ConfigError, InputError, SchemaError
from labelaudit.io.audited_data import verify_audited_file
from labelaudit.io.readers import TableSource, file_sha256, open_table, read_labels_file


@dataclass
class TrainTest:
    """Encoded features and integer labels (audit class order; -1 = missing) of training and test rows."""

    X: Any
    y: np.ndarray
    classes: list[Any]
    X_test: Any | None
    y_test: np.ndarray | None
    dataset: Dataset
    """The stacked dataset (for model factories that need its column facts)."""
    feature_names: list[str]
    test_path: Path | None = None
    test_sha256: str | None = None
    test_ids: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)


def encode_classes(values: list[Any], classes: list[Any], what: str) -> np.ndarray:
    index = {str(c): i for i, c in enumerate(classes)}
    out = np.full(len(values), -1, dtype=np.int64)
    unseen: set[str] = set()
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        key = str(v)
        if key in index:
            out[i] = index[key]
        else:
            unseen.add(key)
    if unseen:
        shown = ", ".join(sorted(unseen)[:10])
        raise SchemaError(
            f"{what} has classes the audited data does not have ({shown}); the test set must use the training "
            "classes: remove those rows or re-scan data that includes them"
        )
    return out


def load_train_test(audit: Audit, data: Path | None = None, test: Path | None = None) -> TrainTest:
    """Read the audited data (hash-checked) and ``test`` with the audit's label and feature columns."""
    m = audit.manifest
    if m.get("kind") == "crowd":
        raise ConfigError(
            "retrain trains on a feature file; this is a crowd-annotation audit. Filter it, join the "
            "consensus labels to your features and scan that file"
        )
    path = Path(data) if data is not None else Path(m["input"]["path"])
    verify_audited_file(audit, path)
    classes = audit.class_names
    opts = m.get("options") or {}
    encoding = opts.get("encoding")
    source = open_table(path, encoding=encoding)
    if source.is_array:
        return _array_train_test(audit, source, test, classes)
    feats = list(m.get("feature_columns") or [])
    text = opts.get("text")
    label = m.get("label_column")
    if not feats and not text:
        raise ConfigError(
            f"the audit of {path.name} used no feature columns (pred_probs only); retrain needs features: "
            "re-scan with --features COLUMNS"
        )
    cols = [c for c in ([label] if label else []) + ([text] if text else feats) if c is not None]
    train = source.read(cols)
    if m.get("labels_file"):
        raw_train = list(read_labels_file(Path(m["labels_file"]["path"]), encoding=encoding))
    else:
        raw_train = train.column(label).to_pylist()
    y = encode_classes(raw_train, classes, f"{path.name}")
    n_train = train.num_rows
    if n_train != m["input"]["rows"]:
        raise InputError(f"{path} has {n_train} rows but the audit has {m['input']['rows']}; re-run scan")
    train_feats = train.select([c for c in cols if c != label])
    out_test, test_sha = None, None
    table = train_feats
    if test is not None:
        test_table, out_test, test_sha = _read_test(Path(test), cols, label, classes, train_feats, encoding)
        table = pa.concat_tables([train_feats, test_table])
    # labels are handled above; build features from the stacked feature table with a dummy label column
    stacked = table.append_column("__labelaudit_label__", pa.array(np.arange(table.num_rows, dtype=np.int64) % 2))
    mem = TableSource(path, "table", stacked.column_names, loaded=stacked)
    ds = build_dataset(mem, label="__labelaudit_label__", features=None if text else feats, text=text, id_column=None)
    assert ds.features is not None
    # the real labels (audit class order), so model factories see the true class counts
    all_codes = np.concatenate([y, out_test]) if out_test is not None else y
    ds = replace(ds, labels=all_codes, class_names=list(classes))
    X = ds.features.X
    return TrainTest(
        X=X[:n_train],
        y=y,
        classes=classes,
        X_test=X[n_train:] if out_test is not None else None,
        y_test=out_test,
        dataset=ds,
        feature_names=ds.features.names,
        test_path=Path(test) if test is not None else None,
        test_sha256=test_sha,
        notes=list(ds.notes),
    )


def _read_test(test: Path, cols: list[str], label: str | None, classes, train_feats: pa.Table, encoding):
    """The test set's feature columns (cast to the training types), its label codes and the hash of its bytes."""
    tsrc = open_table(test, encoding=encoding, read_once=True)
    if tsrc.is_array:
        raise SchemaError(f"the test set {test.name} is an array file but the audited data has columns")
    need = [c for c in cols if c != label] + ([label] if label else ["label"])
    missing = [c for c in need if c not in tsrc.columns]
    if missing:
        raise SchemaError(
            f"the test set {test.name} lacks the column(s) {', '.join(missing)} that the audited data "
            "has; give a test file with the same label and feature columns"
        )
    test_table = tsrc.read(need)
    if test_table.num_rows == 0:
        raise InputError(f"the test set {test.name} has no rows")
    test_label = label or "label"
    codes = encode_classes(test_table.column(test_label).to_pylist(), classes, f"the test set {test.name}")
    if (codes < 0).all():
        raise InputError(f"the test set {test.name} has no labels in column '{test_label}'")
    try:
        test_table = test_table.select(train_feats.column_names).cast(train_feats.schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as err:
        raise SchemaError(
            f"the test set {test.name} has columns of other types than the audited data ({err})"
        ) from None
    return test_table, codes, tsrc.sha256()


def _array_train_test(audit: Audit, source: TableSource, test: Path | None, classes: list[Any]) -> TrainTest:
    m = audit.manifest
    X = np.asarray(source.matrix, dtype=np.float32)
    if m.get("labels_file"):
        raw = list(read_labels_file(Path(m["labels_file"]["path"])))
    else:
        raw = list(np.asarray(source.labels).tolist())
    y = encode_classes(raw, classes, source.path.name)
    X_test = y_test = None
    test_sha = None
    if test is not None:
        tsrc = open_table(Path(test))
        if tsrc.format != "npz" or tsrc.labels is None:
            raise SchemaError(
                f"the audited data is an array file: give the test set as an NPZ with X and y (got {Path(test).name})"
            )
        X_test = np.asarray(tsrc.matrix, dtype=np.float32)
        if X_test.ndim != 2 or X_test.shape[1] != X.shape[1]:
            raise SchemaError(
                f"the test set {Path(test).name} has {X_test.shape[-1]} features but the audited data has "
                f"{X.shape[1]}; give a test set with the same features"
            )
        y_test = encode_classes(list(np.asarray(tsrc.labels).tolist()), classes, f"the test set {Path(test).name}")
        test_sha = file_sha256(Path(test))
    names = [f"f{i}" for i in range(X.shape[1])]
    from labelaudit.dataset import FeatureSet

    fs = FeatureSet(X, names, np.zeros(X.shape[1], bool), np.zeros(len(X), np.float32), names)
    ds = Dataset(n_rows=len(X), labels=y, class_names=classes, features=fs, kind="embedding")
    return TrainTest(X, y, classes, X_test, y_test, ds, names, Path(test) if test else None, test_sha)
