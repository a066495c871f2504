"""Every bad input: exit 2, one line naming the problem and the fix, the input unchanged, no audit left."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import labelaudit
from tests.conftest import invoke, leftovers, make_frame, sha


def run_bad(runner, workdir, args, data, expected: str):
    before = sha(data) if data.exists() else None
    res = invoke(runner, ["scan", *args])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.stderr
    line = res.stderr.strip().splitlines()[-1]  # progress lines may come first; the error is one line
    assert line.startswith("error: ")
    assert expected in line, line
    if before is not None:
        assert sha(data) == before  # input never modified
    assert leftovers(workdir) == []
    return line


def test_missing_file(runner, workdir):
    run_bad(runner, workdir, ["nope.csv"], workdir / "nope.csv", "nope.csv: no such file; check the path")


def test_empty_file(runner, workdir):
    p = workdir / "empty.csv"
    p.write_text("")
    run_bad(runner, workdir, [p], p, "empty.csv is empty (0 bytes); give a file with a header and at least one row")


def test_header_only(runner, workdir):
    p = workdir / "header.csv"
    p.write_text("a,b,label\n")
    run_bad(runner, workdir, [p], p, "has a header but no rows; give a file with data rows")


def test_missing_label_column(runner, workdir, frame):
    p = workdir / "d.csv"
    frame.to_csv(p, index=False)
    line = run_bad(
        runner, workdir, [p, "--label", "kind"], p, "--label column 'kind' not found in d.csv; columns are: id, a, b"
    )
    assert "label" in line


def test_all_labels_missing(runner, workdir, frame):
    p = workdir / "d.csv"
    frame.assign(label=np.nan).to_csv(p, index=False)
    run_bad(
        runner,
        workdir,
        [p],
        p,
        "label column 'label' has no values (every label is missing); fill in labels before auditing",
    )


def test_one_class(runner, workdir, frame):
    p = workdir / "d.csv"
    frame.assign(label="cat").to_csv(p, index=False)
    run_bad(
        runner, workdir, [p], p, "label column 'label' has a single class ('cat'); an audit needs at least two classes"
    )


def test_class_with_single_row_leaves_one_assessable_class(runner, workdir, frame):
    df = frame[frame["label"] != "bird"].copy()
    df["label"] = "cat"
    df.iloc[0, df.columns.get_loc("label")] = "dog"
    p = workdir / "d.csv"
    df.to_csv(p, index=False)
    run_bad(runner, workdir, [p], p, "1 of 2 classes have at least 5 labeled rows ('cat': ")


def test_class_with_single_row_among_others_is_reported_not_flagged(runner, workdir, frame):
    df = frame.copy()
    df.iloc[0, df.columns.get_loc("label")] = "fish"
    p = workdir / "d.csv"
    df.to_csv(p, index=False)
    res = invoke(runner, ["scan", p, "--model", "logreg"])
    assert res.exit_code == 0, res.output
    assert "classes with fewer than 5 rows are not assessed: 'fish'" in res.stderr
    audit = labelaudit.load_audit(workdir / "d.labelaudit")
    row = audit.issues.iloc[0]
    assert row["given_label"] == "fish" and not row["is_label_issue"] and not row["label_assessed"]
    assert np.isnan(row["label_quality"]) and pd.isna(row["rank"])
    assert audit.summary["not_assessed"]["rare_classes"] == [{"class": "fish", "rows": 1}]
    assert len(audit.issues) == len(df)  # not dropped


def test_labels_file_wrong_length(runner, workdir):
    np.save(workdir / "x.npy", np.random.default_rng(0).normal(size=(50, 4)))
    (workdir / "y.txt").write_text("\n".join(["a", "b"] * 20))
    run_bad(
        runner,
        workdir,
        [workdir / "x.npy", "--labels", workdir / "y.txt"],
        workdir / "x.npy",
        "labels file y.txt has 40 rows but x.npy has 50; give one label per row, in the same order",
    )


def test_npy_without_labels(runner, workdir):
    np.save(workdir / "x.npy", np.zeros((10, 3)))
    run_bad(runner, workdir, [workdir / "x.npy"], workdir / "x.npy", "x.npy holds features only; pass --labels FILE")


@pytest.fixture
def labels_only(workdir, frame):
    p = workdir / "lab.csv"
    frame[["id", "label"]].to_csv(p, index=False)
    return p


def test_pred_probs_wrong_rows(runner, workdir, labels_only):
    np.save(workdir / "pp.npy", np.full((10, 3), 1 / 3))
    run_bad(
        runner,
        workdir,
        [labels_only, "--pred-probs", workdir / "pp.npy"],
        labels_only,
        "pp.npy has 10 rows but the data has 240; give one row of probabilities per data row",
    )


def test_pred_probs_wrong_columns(runner, workdir, labels_only):
    np.save(workdir / "pp.npy", np.full((240, 4), 0.25))
    run_bad(
        runner,
        workdir,
        [labels_only, "--pred-probs", workdir / "pp.npy"],
        labels_only,
        "pp.npy has 4 columns but the labels have 3 classes (bird, cat, dog); give one column per class",
    )


def test_pred_probs_not_summing_to_one(runner, workdir, labels_only):
    np.save(workdir / "pp.npy", np.full((240, 3), 0.5))
    run_bad(
        runner,
        workdir,
        [labels_only, "--pred-probs", workdir / "pp.npy"],
        labels_only,
        "pp.npy: rows must sum to 1, but 240 do not (row 0 sums to 1.5); give probabilities, not logits",
    )


def test_pred_probs_logits(runner, workdir, labels_only):
    np.save(workdir / "pp.npy", np.random.default_rng(0).normal(size=(240, 3)))
    run_bad(
        runner, workdir, [labels_only, "--pred-probs", workdir / "pp.npy"], labels_only, "has values outside [0, 1]"
    )


def test_inf_features(runner, workdir, frame):
    df = frame.copy()
    df.loc[3, "b"] = np.inf
    p = workdir / "d.parquet"
    df.to_parquet(p, index=False)
    run_bad(runner, workdir, [p], p, "feature column 'b' has infinite values in 1 rows (first: row 3); replace them")


def test_nan_in_embeddings(runner, workdir):
    X = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
    X[7, 2] = np.nan
    np.save(workdir / "e.npy", X)
    (workdir / "y.txt").write_text("\n".join(["a", "b", "c"] * 20))
    run_bad(
        runner,
        workdir,
        [workdir / "e.npy", "--labels", workdir / "y.txt"],
        workdir / "e.npy",
        "e.npy has NaN values in 1 rows (first: row 7); embeddings must be finite",
    )


def test_nan_in_tabular_features_is_handled(runner, workdir, frame):
    p = workdir / "d.csv"
    frame.to_csv(p, index=False)
    res = invoke(runner, ["scan", p, "--model", "logreg", "-q"])
    assert res.exit_code == 0


def test_corrupt_parquet(runner, workdir, frame):
    p = workdir / "d.parquet"
    frame.to_parquet(p, index=False)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    run_bad(runner, workdir, [p], p, "d.parquet is not a readable Parquet file (")


def test_wrong_extension(runner, workdir, frame):
    p = workdir / "d.xlsx"
    frame.to_csv(p, index=False)
    run_bad(runner, workdir, [p], p, "d.xlsx: unsupported file type '.xlsx'; give a CSV/TSV, Parquet, JSON Lines")


def test_pickled_npy_refused(runner, workdir):
    p = workdir / "evil.npy"
    np.save(p, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    run_bad(
        runner,
        workdir,
        [p, "--labels", p],
        p,
        "evil.npy holds pickled Python objects, which labelaudit refuses to load",
    )


def test_pickled_labels_refused(runner, workdir):
    np.save(workdir / "x.npy", np.zeros((4, 2)))
    p = workdir / "y.npy"
    with open(p, "wb") as fh:
        pickle.dump([1, 2, 3, 4], fh)
    run_bad(runner, workdir, [workdir / "x.npy", "--labels", p], p, "y.npy holds pickled Python objects")


def test_unwritable_output_directory(runner, workdir, frame):
    p = workdir / "d.csv"
    frame.to_csv(p, index=False)
    run_bad(
        runner,
        workdir,
        [p, "--out", workdir / "missing" / "a.labelaudit"],
        p,
        f"directory {workdir / 'missing'} does not exist; create it or choose another output path",
    )
    (workdir / "file").write_text("x")
    run_bad(
        runner,
        workdir,
        [p, "--out", workdir / "file" / "a.labelaudit"],
        p,
        f"cannot write to directory {workdir / 'file'}; choose a writable output path",
    )


def test_undecodable_bytes(runner, workdir):
    p = workdir / "d.csv"
    p.write_bytes(b"a,label\n1,caf\xe9\n2,tea\n")
    run_bad(runner, workdir, [p], p, "byte 0xe9 at position 13 is not valid utf-8; pass --encoding")


def test_bad_option_values(runner, workdir, frame):
    p = workdir / "d.csv"
    frame.to_csv(p, index=False)
    run_bad(
        runner,
        workdir,
        [p, "--model", "xgb"],
        p,
        "--model must be one of auto, hgb, logreg, knn, rf, ensemble, mlp (got 'xgb')",
    )
    run_bad(runner, workdir, [p, "--folds", "1"], p, "--folds must be an integer of at least 2 (got 1)")
    run_bad(runner, workdir, [p, "--checks", "label,typo"], p, "--checks must be one of label, outlier")


def test_vector_lengths_differ(runner, workdir):
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pa.table({"emb": [[1.0, 2.0], [1.0, 2.0, 3.0]] * 10, "label": ["a", "b"] * 10})
    pq.write_table(t, workdir / "v.parquet")
    run_bad(
        runner,
        workdir,
        [workdir / "v.parquet"],
        workdir / "v.parquet",
        "vector column 'emb' has vectors of different lengths (2 in row 0, 3 in row 1)",
    )


def test_internal_error_exit_3(runner, workdir, frame, monkeypatch):
    p = workdir / "d.csv"
    frame.to_csv(p, index=False)

    def boom(*a, **k):
        raise ZeroDivisionError("x")

    monkeypatch.setattr("labelaudit.checks.data.null_check", boom)
    res = invoke(runner, ["scan", p, "--model", "logreg", "-q"])
    assert res.exit_code == 3
    assert res.stderr.strip() == "error: check 'null' failed: x; report this with the command you ran"
    assert leftovers(workdir) == []


def test_make_frame_noise_is_what_it_says():
    df, flip = make_frame(noise=0.2)
    assert 0.1 < flip.mean() < 0.3
