"""The importable API: typed errors, no printing, no global RNG, reproducible bytes, save/load."""

from __future__ import annotations

import numpy as np
import pytest

import labelaudit
from labelaudit.progress import ProgressEvent
from tests.conftest import SAMPLE, sha


def test_scan_returns_audit_and_reports_progress(parquet_file, capsys):
    events: list[ProgressEvent] = []
    state = np.random.get_state()[1].copy()
    audit = labelaudit.scan(parquet_file, model="logreg", progress=events.append)
    assert isinstance(audit, labelaudit.Audit)
    assert np.array_equal(np.random.get_state()[1], state)  # global RNG untouched
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""  # library never prints
    stages = {e.stage for e in events}
    assert {"read", "folds", "knn", "check:label", "check:non_iid"} <= stages
    assert audit.path is None and audit.exit_code == 0


def test_typed_errors(tmp_path):
    with pytest.raises(labelaudit.InputError, match="no such file"):
        labelaudit.scan(tmp_path / "missing.csv")
    with pytest.raises(labelaudit.ConfigError, match="--folds"):
        labelaudit.ScanOptions(folds=1)
    assert issubclass(labelaudit.SchemaError, labelaudit.UsageError)


def test_save_load_roundtrip(parquet_file, tmp_path):
    audit = labelaudit.scan(parquet_file, model="logreg")
    audit.save(tmp_path / "a.labelaudit")
    again = labelaudit.load_audit(tmp_path / "a.labelaudit")
    assert again.issues.equals(audit.issues)
    assert np.array_equal(again.pred_probs, audit.pred_probs)
    assert again.manifest["input"]["sha256"] == sha(parquet_file)
    with pytest.raises(labelaudit.OutputError, match="already exists"):
        audit.save(tmp_path / "a.labelaudit")


def test_load_audit_errors(tmp_path):
    with pytest.raises(labelaudit.AuditFormatError, match="not an audit directory"):
        labelaudit.load_audit(tmp_path / "nope")
    (tmp_path / "half.labelaudit").mkdir()
    with pytest.raises(labelaudit.AuditFormatError, match="missing manifest.json, issues.parquet, pred_probs.npy"):
        labelaudit.load_audit(tmp_path / "half.labelaudit")


def test_manifest_records_versions_hash_params_timings(parquet_file):
    m = labelaudit.scan(parquet_file, model="logreg", seed=3, fail_above=["0.5"]).manifest
    assert m["tool"]["version"] == labelaudit.__version__
    assert {"cleanlab", "scikit-learn", "numpy", "pandas", "pyarrow"} <= set(m["libraries"])
    assert len(m["input"]["sha256"]) == 64 and m["input"]["rows"] == 240
    assert m["options"]["seed"] == 3 and m["options"]["fail_above"] == {"label": 0.5}
    assert {"read", "oof", "knn", "check:label"} <= set(m["timings"])
    label = m["summary"]["checks"]["label"]
    assert label["flag_size"] == "auto" and label["estimator"].startswith("the estimated number of label errors")
    assert label["estimated_errors"]["interval95"][0] <= label["estimated_errors"]["estimate"]
    assert m["exit_code"] == 0 and m["gates"]["passed"] is True


@pytest.mark.parametrize("model", ["hgb", "logreg"])
def test_same_seed_same_bytes(tmp_path, model):
    data = SAMPLE / "digits_noisy.parquet"
    for i, jobs in enumerate((1, 2)):
        labelaudit.scan(data, model=model, seed=5, jobs=jobs).save(tmp_path / f"{i}.labelaudit")
    for name in ("issues.parquet", "pred_probs.npy"):
        assert sha(tmp_path / "0.labelaudit" / name) == sha(tmp_path / "1.labelaudit" / name)


def test_different_seed_different_folds(parquet_file):
    a = labelaudit.scan(parquet_file, model="logreg", seed=0, checks="label")
    b = labelaudit.scan(parquet_file, model="logreg", seed=1, checks="label")
    assert not np.array_equal(a.pred_probs, b.pred_probs)


def test_missing_labels_are_kept_and_get_suggestions(tmp_path, frame):
    df = frame.copy()
    df.loc[[3, 4], "label"] = None
    df.to_parquet(tmp_path / "m.parquet", index=False)
    audit = labelaudit.scan(tmp_path / "m.parquet", model="logreg")
    rows = audit.issues.loc[[3, 4]]
    assert rows["given_label"].isna().all() and rows["suggested_label"].notna().all()
    assert not rows["is_label_issue"].any() and not rows["label_assessed"].any()
    assert audit.summary["not_assessed"]["missing_label"] == 2


def test_same_seed_same_bytes_with_approximate_knn(tmp_path, capfd):
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=4000, n_features=16, n_informative=8, n_classes=4, random_state=0)
    data = tmp_path / "d.parquet"
    pd.DataFrame(X.astype(np.float32), columns=[f"f{i}" for i in range(16)]).assign(label=y).to_parquet(data)
    for i in range(2):
        audit = labelaudit.scan(data, model="logreg", knn="approx", seed=1)
        assert audit.manifest["knn"]["method"].startswith("approx:ivf")
        audit.save(tmp_path / f"{i}.labelaudit")
    assert sha(tmp_path / "0.labelaudit" / "issues.parquet") == sha(tmp_path / "1.labelaudit" / "issues.parquet")
    out = capfd.readouterr()
    assert out.out == "" and out.err == ""  # nothing printed, not even by faiss


def test_outlier_rows_left_approximate_are_counted_and_warned_about(tmp_path, monkeypatch):
    """Over the exact-search budget, the rows above the outlier cutoff that kept approximate neighbours are
    named in the manifest and in a warning, not silently flagged."""
    import pandas as pd
    from sklearn.datasets import make_classification

    from labelaudit.checks import knn

    X, y = make_classification(n_samples=4000, n_features=16, n_informative=8, n_classes=4, random_state=0)
    X[:40] *= 8.0  # far rows
    data = tmp_path / "d.parquet"
    pd.DataFrame(X.astype(np.float32), columns=[f"f{i}" for i in range(16)]).assign(label=y).to_parquet(data)
    monkeypatch.setattr(knn, "FAR_MAX_COST", 1.0)  # budgets of at most one row: nothing but the first
    monkeypatch.setattr(knn, "FAR_FLAG_MAX_COST", 1.0)
    events = []
    audit = labelaudit.scan(data, model="logreg", knn="approx", seed=1, progress=events.append)
    left = audit.manifest["knn"]["unverified_far_rows"]
    assert left > 0 and f"+unverified-far({left})" in audit.manifest["knn"]["method"]
    warned = [e.message for e in events if e.kind == "warning"]
    assert any(m.startswith(f"KNN graph: {left} rows above the outlier cutoff kept approximate") for m in warned)
    monkeypatch.undo()
    again = labelaudit.scan(data, model="logreg", knn="approx", seed=1)
    assert "unverified_far_rows" not in again.manifest["knn"]
