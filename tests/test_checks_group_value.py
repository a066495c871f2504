"""The underperforming_group and data_valuation checks, and parity with Datalab where definitions match.

Floors measured on small data with injected truth, then set a margin below (benchmarks/checks.py has
the full comparison). Parity tests need ``cleanlab[datalab]`` (a test extra) and skip without it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import labelaudit
from labelaudit.checks import data as ck
from labelaudit.checks.knn import KnnGraph, build_knn_graph, knn_matrix, one_scale
from labelaudit.dataset import FeatureSet
from tests.conftest import SAMPLE


def blobs(n=900, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, 5))
    y = rng.integers(0, k, n)
    X = centres[y] + rng.normal(size=(n, 5))
    return X, y


def plant_slice(X, y, share, seed):
    """Uniform labels for the rows nearest one random row: a region where no model can be right."""
    rng = np.random.default_rng(seed)
    near = np.argsort(((X - X[rng.integers(len(X))]) ** 2).sum(axis=1))[: int(share * len(X))]
    y = y.copy()
    y[near] = rng.integers(0, y.max() + 1, len(near))
    return y, near


def graph_of(X, standardize=True, seed=0) -> KnnGraph:
    n, d = X.shape
    fs = FeatureSet(X.astype(np.float32), [f"f{i}" for i in range(d)], np.zeros(d, bool), np.zeros(n), [])
    M, metric = knn_matrix(fs, standardize=standardize, seed=seed)
    return build_knn_graph(M, metric, seed=seed)


def scan_frame(tmp_path, X, y, checks):
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]).assign(label=[f"c{v}" for v in y])
    df.to_parquet(tmp_path / "d.parquet", index=False)
    return labelaudit.scan(tmp_path / "d.parquet", model="logreg", checks=checks)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_planted_slice_is_found_as_an_underperforming_group(tmp_path, seed):
    X, y = blobs(seed=seed)
    y2, near = plant_slice(X, y, 0.08, seed)
    audit = scan_frame(tmp_path, X, y2, "label,underperforming_group")
    iss = audit.issues
    flagged = iss["is_underperforming_group_issue"].to_numpy()
    truth = np.zeros(len(X), bool)
    truth[near] = True
    precision = (flagged & truth).sum() / max(flagged.sum(), 1)
    recall = (flagged & truth).sum() / truth.sum()
    assert precision >= 0.6 and recall >= 0.5, (precision, recall)
    info = audit.summary["checks"]["underperforming_group"]
    assert info["n_groups"] >= 1 and info["groups"][0]["accuracy"] < info["overall_accuracy"] - 0.3
    assert iss.loc[flagged, "underperforming_group"].notna().all()
    assert iss.loc[~flagged, "underperforming_group"].isna().all()


def test_no_group_on_clean_separable_data(tmp_path):
    X, y = blobs(seed=5)
    audit = scan_frame(tmp_path, X, y, "label,underperforming_group")
    assert audit.summary["checks"]["underperforming_group"]["count"] == 0


def test_a_model_at_chance_everywhere_flags_no_group():
    X, y = blobs(n=300, seed=2)
    pp = np.full((len(y), 3), 1 / 3)
    res = ck.underperforming_group(graph_of(X), y, pp)
    assert res.count == 0 and "no better than chance" in res.info["note"]


def test_random_label_noise_alone_makes_no_group(tmp_path):
    """20 % flips spread over the data: label issues, not a region where the model fails."""
    X, y = blobs(seed=3)
    rng = np.random.default_rng(3)
    flip = rng.random(len(y)) < 0.2
    y2 = np.where(flip, (y + rng.integers(1, 3, len(y))) % 3, y)
    audit = scan_frame(tmp_path, X, y2, "label,underperforming_group")
    assert audit.summary["checks"]["underperforming_group"]["count"] <= 0.02 * len(y)


def test_data_valuation_matches_cleanlab_and_finds_flips():
    from cleanlab.data_valuation import data_shapley_knn

    X, y = blobs(n=600, seed=4)
    rng = np.random.default_rng(4)
    flip = rng.choice(len(y), 60, replace=False)
    y2 = y.copy()
    y2[flip] = (y[flip] + 1) % 3
    g = graph_of(X)
    res = ck.data_valuation(g, y2)
    theirs = data_shapley_knn(y2, knn_graph=g.to_csr(), k=g.k)
    np.testing.assert_allclose(res.scores, theirs, rtol=0, atol=1e-12)
    truth = np.zeros(len(y), bool)
    truth[flip] = True
    precision = (res.is_issue & truth).sum() / max(res.count, 1)
    recall = (res.is_issue & truth).sum() / truth.sum()
    assert precision >= 0.7 and recall >= 0.8, (precision, recall)


def test_data_valuation_ignores_unlabelled_rows():
    X, y = blobs(n=200, seed=6)
    y2 = y.copy()
    y2[:20] = -1
    res = ck.data_valuation(graph_of(X), y2)
    assert not res.is_issue[:20].any()


def test_columns_on_one_scale_are_searched_as_given():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 17, size=(50, 8)).astype(np.float32)
    mixed = np.column_stack([rng.normal(size=50), 1000 * rng.normal(size=50), rng.normal(size=50) * 0.01])
    assert one_scale(pixels) and not one_scale(mixed.astype(np.float32))
    fs = FeatureSet(pixels, [f"p{i}" for i in range(8)], np.zeros(8, bool), np.zeros(50), [])
    M, metric = knn_matrix(fs, standardize=True, seed=0)
    expected = pixels / np.linalg.norm(pixels, axis=1, keepdims=True)
    assert metric == "cosine" and np.allclose(M, expected)


def test_scan_cli_reports_groups_and_filter_uses_the_new_checks(tmp_path):
    from typer.testing import CliRunner

    from labelaudit.cli import app
    from labelaudit.report.recommend import recommendations

    X, y = blobs(seed=0)
    y2, _ = plant_slice(X, y, 0.08, 0)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)]).assign(label=[f"c{v}" for v in y2])
    df.to_parquet(tmp_path / "d.parquet", index=False)
    runner = CliRunner()
    audit_dir = tmp_path / "d.labelaudit"
    res = runner.invoke(app, ["scan", str(tmp_path / "d.parquet"), "--model", "logreg", "-q", "--out", str(audit_dir)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["report", str(audit_dir), "--format", "markdown"])
    assert res.exit_code == 0, res.output
    assert "Underperforming groups (model accuracy" in res.stdout
    assert "| data\\_valuation |" in res.stdout
    html = tmp_path / "r.html"
    res = runner.invoke(app, ["report", str(audit_dir), "--format", "html", "--output", str(html)])
    if res.exit_code == 0:  # the html extra is installed
        page = html.read_text()
        assert 'id="underperforming-groups"' in page and "<h2>Underperforming groups</h2>" in page
    else:
        assert "pip install" in res.stderr
    audit = labelaudit.load_audit(audit_dir)
    ids = [r["id"] for r in recommendations(audit)]
    assert "underperforming-groups" in ids and "low-value-rows" in ids
    n_dv = audit.summary["checks"]["data_valuation"]["count"]
    out = tmp_path / "clean.parquet"
    res = runner.invoke(app, ["filter", str(audit_dir), "--checks", "data_valuation", "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert len(pd.read_parquet(out)) == len(df) - n_dv


def _datalab():
    return pytest.importorskip("cleanlab.datalab.datalab", reason="needs cleanlab[datalab]: pip install -e '.[test]'")


@pytest.mark.parametrize("source", ["digits pixels", "blobs"])
def test_parity_with_datalab_on_the_same_graph(source):
    """Outliers, near duplicates, data valuation and the non-iid verdict: Datalab's definitions, same flags."""
    dl = _datalab()
    if source == "blobs":
        X, y = blobs(n=500, seed=7)
        X[:5] = X[5:10] + 1e-4  # five copies
    else:
        df = pd.read_parquet(SAMPLE / "digits_noisy.parquet")
        X = df[[c for c in df.columns if c.startswith("px")]].to_numpy(float)
        y = np.unique(df["label"], return_inverse=True)[1]
    g = graph_of(X)
    rng = np.random.default_rng(0)
    pp = rng.dirichlet(np.ones(y.max() + 1), len(y))
    lab = dl.Datalab(data={"label": y}, label_name="label", verbosity=0)
    lab.find_issues(
        pred_probs=pp,
        knn_graph=g.to_csr(),
        issue_types={"outlier": {}, "near_duplicate": {}, "data_valuation": {}, "non_iid": {}},
    )
    theirs = lab.get_issues()
    ours = {
        "outlier": ck.outlier_from_knn(g),
        "near_duplicate": ck.near_duplicate(g),
        "data_valuation": ck.data_valuation(g, y),
    }
    for name, res in ours.items():
        np.testing.assert_array_equal(res.is_issue, theirs[f"is_{name}_issue"].to_numpy(bool), err_msg=name)
    ours_p = ck.non_iid(g, seed=0).info["p_value"]
    their_p = lab.get_info("non_iid")["p-value"]
    assert (ours_p < 0.05) == (their_p < 0.05)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pred_probs_outlier_score_equals_cleanlabs(dtype):
    from cleanlab.outlier import OutOfDistribution

    rng = np.random.default_rng(1)
    n, k = 3000, 6
    pp = rng.dirichlet(np.ones(k) * 0.5, n).astype(dtype)
    y = rng.integers(0, k, n)
    y[y == 3] = 4  # a class nobody is labelled with
    y[:40] = -1  # unlabelled rows are scored with the fitted thresholds
    ood = OutOfDistribution()
    want = np.empty(n)
    want[y >= 0] = ood.fit_score(pred_probs=pp[y >= 0], labels=y[y >= 0], verbose=False)
    want[y < 0] = ood.score(pred_probs=pp[y < 0])
    from labelaudit.checks.label import confident_thresholds

    got = ck.outlier_from_pred_probs(y, pp, confident_thresholds(y, pp))
    np.testing.assert_allclose(got.scores, want, atol=1e-6)
    assert got.is_issue.sum() == (want < ck.OUTLIER_PRED_PROBS_THRESHOLD * np.median(want)).sum()
