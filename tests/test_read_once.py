"""A scan reads its input from disk once: the hash, the rows modelled and the cleaned copy share one set of bytes."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

import labelaudit
from labelaudit.clean.filtering import write_default_cleaned
from labelaudit.progress import ProgressEvent


def _frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 4)) + y[:, None] * 2.0
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(4)])
    df["label"] = np.array(["a", "b", "c"])[y]
    return df


def _write(df, path):
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    elif path.suffix == ".jsonl":
        df.to_json(path, orient="records", lines=True)
    elif path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_feather(path)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet", ".feather"])
def test_the_input_swapped_after_the_read_does_not_reach_the_audit(tmp_path, suffix):
    path = tmp_path / f"data{suffix}"
    original = _frame()
    _write(original, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    other = _frame(seed=1).iloc[:250]

    def swap(event: ProgressEvent) -> None:
        # another process rewrites the file as soon as the scan has read it
        if event.kind == "end" and event.stage == "read":
            _write(other, path)

    audit = labelaudit.scan(path, checks="label", folds=3, progress=swap)
    assert audit.manifest["input"]["sha256"] == digest
    assert audit.manifest["input"]["rows"] == 300
    out = audit.save(tmp_path / "audit", extra=write_default_cleaned)
    files = sorted(p.name for p in out.iterdir())
    kept = next(p for p in out.iterdir() if p.name.startswith("cleaned."))
    removed = next(p for p in out.iterdir() if p.name.startswith("removed."))
    n_kept = _rows(kept)
    n_removed = _rows(removed)
    assert n_kept + n_removed == 300, files
    assert n_removed == int(audit.issues["is_label_issue"].sum())


def test_a_big_input_swapped_after_the_read_is_refused_not_copied(tmp_path, monkeypatch):
    """Over RETAIN_BYTES the bytes are not held: the cleaned copy hashes the file again and refuses a new one."""
    from labelaudit.io import readers

    monkeypatch.setattr(readers, "RETAIN_BYTES", 0)
    path = tmp_path / "data.parquet"
    _write(_frame(), path)

    def swap(event: ProgressEvent) -> None:
        if event.kind == "end" and event.stage == "read":
            _write(_frame(seed=1).iloc[:250], path)

    audit = labelaudit.scan(path, checks="label", folds=3, progress=swap)
    assert audit.manifest["input"]["rows"] == 300
    with pytest.raises(labelaudit.InputError, match="is not the data this audit was made from"):
        audit.save(tmp_path / "audit", extra=write_default_cleaned)
    assert not (tmp_path / "audit").exists()  # no half-written audit
    # unchanged, the same big file is copied from its path
    _write(_frame(), path)
    audit = labelaudit.scan(path, checks="label", folds=3)
    out = audit.save(tmp_path / "audit2", extra=write_default_cleaned)
    assert _rows(out / "cleaned.parquet") + _rows(out / "removed.parquet") == 300


def _rows(p):
    if p.suffix == ".csv":
        return len(pd.read_csv(p))
    if p.suffix == ".jsonl":
        return len(pd.read_json(p, lines=True))
    if p.suffix == ".parquet":
        return len(pd.read_parquet(p))
    return len(pd.read_feather(p))


def test_a_file_changed_before_filter_is_still_refused(tmp_path):
    """A saved audit (no bytes in memory) verifies the file again: a different file is an error."""
    path = tmp_path / "data.csv"
    _write(_frame(), path)
    audit = labelaudit.scan(path, checks="label", folds=3)
    out = audit.save(tmp_path / "audit")
    _write(_frame(seed=1), path)
    with pytest.raises(labelaudit.InputError, match="is not the data this audit was made from"):
        labelaudit.filter_dataset(labelaudit.load_audit(out))
