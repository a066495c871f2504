"""How many rows the label check flags: the error-count estimate, --flag-size, and ensembles that never hurt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

import labelaudit
from labelaudit.checks.label import FlagSize, estimate_errors, find_label_issues
from tests.conftest import ROOT, invoke

SHARED = ROOT.parent / "shared" / "benchmarks" / "cifar10n-aggregate"


def _f1(flag: np.ndarray, truth: np.ndarray) -> float:
    return 2 * float((flag & truth).sum()) / (flag.sum() + truth.sum())


def _generated(seed: int, n: int = 3000, k: int = 4):
    """Out-of-fold-like probabilities and labels whose errors follow the estimate's own model.

    Easy rows: the model is sure of the true class; 3 % of them carry a random wrong label (a confident
    disagreement). Hard rows (30 %): the model splits between the true class and a confusable one, and the
    given label is the model's second choice with the odds of its first (an ambiguous disagreement is an
    error with probability p_max / (p_max + p_given)) -- so the number of errors is known row by row.
    """
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    pp = np.full((n, k), 0.02)
    hard = rng.random(n) < 0.3
    other = (true + rng.integers(1, k, n)) % k
    split = rng.uniform(0.5, 0.75, n)
    pp[np.arange(n), true] = np.where(hard, split, 0.94)
    pp[np.arange(n), other] = np.where(hard, 0.96 - split, 0.02)
    pp /= pp.sum(axis=1, keepdims=True)
    given = true.copy()
    flip_easy = ~hard & (rng.random(n) < 0.03)
    given[flip_easy] = other[flip_easy]
    # hard rows: the given label is the second choice; it is an error with the odds of the first
    top, second = pp[np.arange(n), true], pp[np.arange(n), other]
    hard_shown = hard & (rng.random(n) < 0.5)
    wrong = hard_shown & (rng.random(n) < top / (top + second))
    given[wrong] = other[wrong]
    # the rest of the shown hard rows: the given label is right and the model prefers the wrong class
    fooled = hard_shown & ~wrong
    pp[np.flatnonzero(fooled)[:, None], np.stack([true[fooled], other[fooled]], 1)] = np.stack(
        [second[fooled], top[fooled]], 1
    )
    return given, pp.astype(np.float32), given != true


def test_the_error_estimate_lands_in_its_own_interval_in_most_seeds():
    inside = 0
    for seed in range(10):
        labels, pp, truth = _generated(seed)
        est = estimate_errors(labels, pp, np.ones(len(labels), bool), seed=seed)
        assert est.low < est.estimate < est.high
        inside += est.low <= truth.sum() <= est.high
        # it is not a trivially wide interval
        assert est.high - est.low < 0.4 * truth.sum()
    assert inside >= 8, inside


def test_auto_flags_the_estimate_and_conservative_is_cleanlab():
    from cleanlab.filter import find_label_issues as cl_find

    labels, pp, truth = _generated(3)
    auto = find_label_issues(labels, pp, [])
    assert auto.check.count == round(auto.errors.estimate)
    # the flagged rows are the lowest label quality ones
    q = auto.check.scores
    assert q[auto.check.is_issue].max() <= q[~auto.check.is_issue].min()
    cons = find_label_issues(labels, pp, [], flag_size="conservative")
    np.testing.assert_array_equal(cons.check.is_issue, cl_find(labels, pp, n_jobs=1, min_examples_per_class=1))
    # confident learning alone flags fewer rows than there are errors here (the ambiguous ones): auto finds more
    assert cons.check.count < truth.sum() and _f1(auto.check.is_issue, truth) > _f1(cons.check.is_issue, truth)
    assert find_label_issues(labels, pp, [], flag_size="25").check.count == 25
    assert find_label_issues(labels, pp, [], flag_size="1%").check.count == 30
    assert find_label_issues(labels, pp, [], flag_size=0.02).check.count == 60


def test_an_unsure_model_flags_only_the_confident_disagreements(tmp_path):
    """A weak model (mean top probability ~0.5): its own mistakes inflate the estimate (1 611 for the 404
    errors injected here), most of them ambiguous disagreements, so auto flags only the 1 150 confident ones,
    ranked by label quality: F1 0.454, against 0.377 for the uncapped estimate and 0.423 for cleanlab's own
    flagged set."""
    from cleanlab.filter import find_label_issues as cl_find
    from sklearn.datasets import make_classification

    X, y = make_classification(4000, 32, n_informative=16, n_classes=10, n_clusters_per_class=1, random_state=1)
    rng = np.random.default_rng(1)
    truth = rng.random(len(y)) < 0.1
    noisy = np.where(truth, (y + rng.integers(1, 10, len(y))) % 10, y)
    pd.DataFrame(X.astype(np.float32)).rename(columns=str).assign(label=noisy).to_parquet(tmp_path / "d.parquet")
    audit = labelaudit.scan(tmp_path / "d.parquet", checks="label", model="logreg")
    lab = audit.summary["checks"]["label"]
    assert audit.pred_probs.max(axis=1).mean() < 0.6
    assert lab["flag_count_capped_by"].startswith("confident disagreements only")
    flagged = audit.issues["is_label_issue"].to_numpy()
    est = lab["estimated_errors"]
    assert flagged.sum() == est["confident_disagreements"] < est["estimate"]
    cl = cl_find(noisy, audit.pred_probs.astype(np.float64), n_jobs=1, min_examples_per_class=1)
    uncapped = find_label_issues(noisy, audit.pred_probs, [], flag_size=str(round(est["estimate"])))
    assert _f1(flagged, truth) >= _f1(cl, truth)
    assert _f1(flagged, truth) > _f1(uncapped.check.is_issue, truth) + 0.03


@pytest.mark.parametrize("bad", ["lots", "-3", "1.5", "150%"])
def test_bad_flag_size_is_refused(bad, runner, csv_file):
    res = invoke(runner, ["scan", csv_file, "--flag-size", bad])
    assert res.exit_code == 2 and res.stderr.startswith("error: --flag-size")
    with pytest.raises(labelaudit.ConfigError):
        FlagSize.parse(bad)


def test_an_ensemble_with_a_useless_member_is_not_worse_than_the_good_one(tmp_path):
    labels, good, truth = _generated(5, n=4000)
    rng = np.random.default_rng(0)
    junk = rng.dirichlet(np.ones(good.shape[1]), len(labels)).astype(np.float32)
    np.save(tmp_path / "good.npy", good)
    np.save(tmp_path / "junk.npy", junk)
    data = tmp_path / "labels.parquet"
    pd.DataFrame({"label": labels}).to_parquet(data)
    alone = labelaudit.scan(data, pred_probs=(tmp_path / "good.npy",), checks="label")
    both = labelaudit.scan(data, pred_probs=(tmp_path / "good.npy", tmp_path / "junk.npy"), checks="label")
    weights = both.manifest["model"]["ensemble_weights"]
    assert weights[0] > 0.9 > weights[1]
    for audit in (alone, both):
        audit.f1 = _f1(audit.issues["is_label_issue"].to_numpy(), truth)
        audit.ap = average_precision_score(truth, -audit.issues["label_quality"].to_numpy())
    assert both.f1 >= alone.f1 - 0.005 and both.ap >= alone.ap - 0.005, (both.f1, alone.f1, both.ap, alone.ap)
    # the plain mean of the two would have been clearly worse: the weights are what protects the ensemble
    mean = (good + junk) / 2
    mean_f1 = _f1(find_label_issues(labels, mean, []).check.is_issue, truth)
    assert mean_f1 < alone.f1 - 0.02


def test_model_ensemble_records_its_member_weights(parquet_file):
    audit = labelaudit.scan(parquet_file, model="ensemble", checks="label")
    weights = audit.manifest["model"]["ensemble_weights"]
    assert set(weights) == {"logreg", "svc", "knn"} or set(weights) == {"logreg", "hgb", "knn"}
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.skipif(not SHARED.exists(), reason=f"the real-noise benchmark set is not here ({SHARED})")
def test_cifar10n_real_noise_five_model_ensemble(tmp_path):
    noisy = np.load(SHARED / "noisy_labels.npy")
    truth = noisy != np.load(SHARED / "true_labels.npy")
    data = tmp_path / "labels.parquet"
    pd.DataFrame({"label": noisy}).to_parquet(data)
    files = tuple(sorted(Path(SHARED).glob("pred_probs_*.npy")))
    audit = labelaudit.scan(data, pred_probs=files, checks="label")
    f1 = _f1(audit.issues["is_label_issue"].to_numpy(), truth)
    assert f1 >= 0.85, f1
    est = audit.summary["checks"]["label"]["estimated_errors"]
    assert est["interval95"][0] <= est["estimate"] <= est["interval95"][1]
