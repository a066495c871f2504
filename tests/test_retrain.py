"""labelaudit retrain: the comparison, honest evaluation, rounds, saved models and bad inputs."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss

from labelaudit.retrain.evaluate import Resamples, score, summarise
from tests.conftest import invoke

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="needs torch: pip install 'labelaudit[torch]'")


def test_bootstrap_scores_match_sklearn_and_pair_across_strategies():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 300)
    p = rng.dirichlet(np.ones(4), 300)
    p[np.arange(300), y] += 0.5
    p /= p.sum(1, keepdims=True)
    rs = Resamples.draw(300, 200, seed=1)
    s = score(y, p, rs)
    assert s["accuracy"] == pytest.approx(accuracy_score(y, p.argmax(1)))
    assert s["macro_f1"] == pytest.approx(f1_score(y, p.argmax(1), average="macro"))
    assert s["log_loss"] == pytest.approx(log_loss(y, p, labels=range(4)))
    # a resample's weights reproduce sklearn's weighted scores
    w = rs.weights[0]
    assert s["boot:accuracy"][0] == pytest.approx(accuracy_score(y, p.argmax(1), sample_weight=w))
    assert s["boot:macro_f1"][0] == pytest.approx(f1_score(y, p.argmax(1), average="macro", sample_weight=w))
    out = summarise(s, s)
    lo, hi = out["accuracy"]["ci95"]
    assert lo < out["accuracy"]["value"] < hi
    assert out["accuracy"]["diff_vs_baseline"] == 0 and out["accuracy"]["diff_ci95"] == [0.0, 0.0]


@pytest.fixture(scope="module")
def noisy_digits(tmp_path_factory):
    """digits: 70 % training rows with 40 % symmetric noise, scanned; 30 % clean test rows."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from labelaudit.noise import simulate_noise

    d = tmp_path_factory.mktemp("retrain")
    X, y = load_digits(return_X_y=True)
    df = pd.DataFrame(X.astype(np.float32), columns=[f"px{i}" for i in range(64)])
    df["digit"] = np.array([f"d{v}" for v in y])
    tr, te = train_test_split(df, test_size=0.3, random_state=0, stratify=y)
    codes = tr["digit"].str[1:].astype(int).to_numpy()
    noisy = simulate_noise(codes, 10, "symmetric", 0.4, 0).noisy
    tr = tr.assign(digit=[f"d{v}" for v in noisy]).reset_index(drop=True)
    tr.to_parquet(d / "train.parquet")
    te.reset_index(drop=True).to_parquet(d / "test.parquet")
    import labelaudit

    audit = labelaudit.scan(d / "train.parquet", label="digit", model="logreg", seed=0)
    audit.save(d / "train.labelaudit")
    return d


@needs_torch
def test_retrain_compares_strategies_on_the_clean_test_set(runner, noisy_digits, tmp_path):
    d = noisy_digits
    res = invoke(
        runner,
        ["retrain", d / "train.labelaudit", "--test", d / "test.parquet", "--format", "json", "--bootstrap", "200"],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    names = [s["name"] for s in out["strategies"]]
    assert names == ["baseline", "cleaned", "gce", "sce", "coteaching", "recipe"]
    assert out["evaluation"]["mode"] == "clean_test" and out["evaluation"]["rows"] == 540
    acc = {s["name"]: s["metrics"]["accuracy"]["value"] for s in out["strategies"]}
    # 40 % noise: every noise-aware strategy beats plain training on clean labels
    for name in ("cleaned", "gce", "sce", "coteaching", "recipe"):
        assert acc[name] > acc["baseline"] + 0.02, acc
    assert out["winner"] == max(acc, key=acc.get)
    for s in out["strategies"]:
        assert set(s["metrics"]) == {"accuracy", "macro_f1", "log_loss"}
        lo, hi = s["metrics"]["macro_f1"]["ci95"]
        assert lo <= s["metrics"]["macro_f1"]["value"] <= hi
    cleaned = next(s for s in out["strategies"] if s["name"] == "cleaned")
    assert cleaned["train_rows"] < 1257 and cleaned["metrics"]["accuracy"]["diff_ci95"][0] > 0
    assert "biased" not in res.stderr


@needs_torch
def test_without_a_test_set_it_warns_and_holds_out_unflagged_rows(runner, noisy_digits):
    d = noisy_digits
    res = invoke(runner, ["retrain", d / "train.labelaudit", "--strategy", "baseline", "--strategy", "gce", "-q"])
    assert res.exit_code == 0, res.output
    assert "no clean test set" in res.stderr and "biased" in res.stderr
    assert "NOISY labels: biased" in res.stdout
    from labelaudit.audit import load_audit
    from labelaudit.retrain.strategies import retrain

    r = retrain(load_audit(d / "train.labelaudit"), strategies=["baseline"], n_boot=0)
    flagged = load_audit(d / "train.labelaudit").issues["is_label_issue"].to_numpy()
    assert r.evaluation["mode"] == "holdout_unflagged"
    assert not flagged[r.eval_rows].any()
    assert r.results[0].train_rows + len(r.eval_rows) == 1257


@needs_torch
def test_flags_pick_one_strategy_saved_with_metadata_and_predictions(runner, noisy_digits, tmp_path):
    d = noisy_digits
    out_dir = tmp_path / "model"
    args = ["retrain", d / "train.labelaudit", "--test", d / "test.parquet", "--loss", "gce", "--label-smoothing"]
    res = invoke(runner, [*args, "0.1", "--out", out_dir, "--format", "json", "--bootstrap", "50"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [s["name"] for s in out["strategies"]] == ["baseline", "custom"]
    assert out["chosen"] == "custom"
    meta = json.loads((out_dir / "model.json").read_text())
    assert meta["strategy"]["params"] == {"loss": "gce", "q": 0.7, "label_smoothing": 0.1}
    assert meta["classes"] == [f"d{i}" for i in range(10)] and meta["n_features"] == 64
    assert meta["versions"]["torch"].startswith("2.") and meta["metrics"]["accuracy"]["value"] > 0.8
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "comparison.json",
        "model.json",
        "model.pt",
        "predictions.parquet",
    ]
    pred = pd.read_parquet(out_dir / "predictions.parquet")
    assert len(pred) == 540
    from labelaudit.retrain.model_io import load_model

    model = load_model(out_dir)
    test = pd.read_parquet(d / "test.parquet")
    proba = model.predict_proba(test[[f"px{i}" for i in range(64)]].to_numpy(np.float32))
    assert np.allclose(proba, pred[[f"p[d{i}]" for i in range(10)]].to_numpy(), atol=1e-5)
    assert (pred["predicted_label"] == pred["given_label"]).mean() == pytest.approx(
        meta["metrics"]["accuracy"]["value"], abs=1e-4
    )
    # an existing model directory is not overwritten without --force
    res = invoke(runner, [*args, "0.1", "--out", out_dir])
    assert res.exit_code == 2
    assert "already exists; pass --force" in res.stderr


@needs_torch
@pytest.mark.slow
def test_rounds_terminate_and_report_the_flagged_set_changes(noisy_digits):
    from labelaudit.audit import load_audit
    from labelaudit.retrain.strategies import retrain

    d = noisy_digits
    r = retrain(load_audit(d / "train.labelaudit"), test=d / "test.parquet", strategies=["gce"], rounds=4, n_boot=0)
    assert 1 <= len(r.rounds) <= 4
    for i, rd in enumerate(r.rounds, start=1):
        assert rd["round"] == i and 0 <= rd["jaccard_vs_previous"] <= 1
        assert rd["added"] >= 0 and rd["removed"] >= 0
    # it stops at the first stable round, or runs them all
    stable = [rd["stable"] for rd in r.rounds]
    assert stable[:-1] == [False] * (len(stable) - 1)
    assert stable[-1] or len(stable) == 4


def test_sklearn_learner_saves_a_skops_model(runner, noisy_digits, tmp_path):
    d = noisy_digits
    out_dir = tmp_path / "sk"
    res = invoke(
        runner,
        ["retrain", d / "train.labelaudit", "--test", d / "test.parquet", "--learner", "sklearn", "--out", out_dir],
    )
    assert res.exit_code == 0, res.output
    assert "model.skops" in {p.name for p in out_dir.iterdir()}
    from labelaudit.retrain.model_io import load_model

    model = load_model(out_dir)
    test = pd.read_parquet(d / "test.parquet")
    assert model.predict_proba(test[[f"px{i}" for i in range(64)]].to_numpy(np.float32)).shape == (540, 10)


@pytest.mark.parametrize(
    ("make_test", "args", "message"),
    [
        (lambda te: te.assign(digit="d99"), [], "has classes the audited data does not have (d99)"),
        (lambda te: te.drop(columns=["px3"]), [], "lacks the column(s) px3"),
        (lambda te: te, ["--coteach", "mlp,mlp"], "co-teaching needs two different models"),
        (lambda te: te, ["--strategy", "bagging"], "unknown strategy bagging"),
        (lambda te: te, ["--rounds", "-1"], "--rounds must be 0 or more"),
    ],
)
def test_bad_inputs_exit_2_with_one_line(runner, noisy_digits, tmp_path, make_test, args, message):
    d = noisy_digits
    test = tmp_path / "test.parquet"
    make_test(pd.read_parquet(d / "test.parquet")).to_parquet(test)
    res = invoke(runner, ["retrain", d / "train.labelaudit", "--test", test, "--bootstrap", "0", "-q", *args])
    assert res.exit_code == 2, res.output
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_missing_torch_extra_is_exit_2_naming_it(runner, noisy_digits, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    d = noisy_digits
    res = invoke(runner, ["retrain", d / "train.labelaudit", "--loss", "gce"])
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        "error: this needs PyTorch: pip install 'labelaudit[torch]' "
        "(CPU-only build: pip install torch --index-url https://download.pytorch.org/whl/cpu)"
    )
    # the default comparison still runs the scikit-learn strategies, and says what it left out
    res = invoke(runner, ["retrain", d / "train.labelaudit", "--format", "json", "--bootstrap", "0"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [s["name"] for s in out["strategies"]] == ["baseline", "cleaned"]
    assert any("labelaudit[torch]" in w for w in out["warnings"])
    res = invoke(runner, ["scan", d / "train.parquet", "--label", "digit", "--model", "mlp", "--out", "x.labelaudit"])
    assert res.exit_code == 2 and "labelaudit[torch]" in res.stderr
