"""Noise simulation and truth scoring."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labelaudit
from labelaudit.noise import NoiseKind, pair_transition, simulate_noise, soft_confusion
from labelaudit.truth import detection_scores
from tests.conftest import SAMPLE, invoke, sha


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["symmetric", "asymmetric", "instance"]), st.floats(0.05, 0.5), st.integers(0, 10**6))
def test_realised_rate_close_and_seed_reproduces(kind, rate, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, 4000)
    pp = rng.dirichlet(np.ones(4), 4000)
    a = simulate_noise(y, 4, kind, rate, seed, pred_probs=pp)
    b = simulate_noise(y, 4, kind, rate, seed, pred_probs=pp)
    assert np.array_equal(a.noisy, b.noisy)
    assert abs(a.realised_rate - rate) < 0.03
    assert np.array_equal(a.flipped, a.noisy != y)


@pytest.mark.parametrize("kind", ["symmetric", "asymmetric"])
def test_class_conditional_noise_flips_exact_counts_per_class(kind):
    # a coin per row flipped 26 of 50 rows of one iris class at rate 0.4; exact counts never do
    y = np.repeat(np.arange(3), [50, 37, 113])
    pp = np.tile([0.6, 0.3, 0.1], (200, 1))
    for seed in range(20):
        res = simulate_noise(y, 3, kind, 0.4, seed, pred_probs=pp)
        for c, n in zip(range(3), [50, 37, 113], strict=True):
            assert res.flipped[y == c].sum() == round(0.4 * n)
    # a given matrix is realised exactly (largest remainder): 100 rows, 0.25 / 0.15 off the diagonal
    t = np.array([[0.6, 0.25, 0.15], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    res = simulate_noise(np.zeros(100, dtype=np.int64), 3, "asymmetric", 0.0, 3, transition=t)
    assert np.bincount(res.noisy, minlength=3).tolist() == [60, 25, 15]


def test_symmetric_targets_are_uniform():
    y = np.repeat(np.arange(5), 2000)
    res = simulate_noise(y, 5, "symmetric", 0.2, 0)
    for c in range(5):
        targets = np.bincount(res.noisy[(y == c) & res.flipped], minlength=5)
        assert targets[c] == 0
        assert targets[np.arange(5) != c].tolist() == [100] * 4


def test_missing_labels_never_flip():
    y = np.array([0, 1, -1, 2, -1] * 200)
    res = simulate_noise(y, 3, "symmetric", 0.3, 0)
    assert (res.noisy[y < 0] == -1).all()


def test_asymmetric_flips_to_most_confused_class():
    y = np.repeat(np.arange(3), 500)
    pp = np.zeros((1500, 3))
    pp[y == 0] = [0.7, 0.05, 0.25]  # 0 is confused with 2
    pp[y == 1] = [0.2, 0.7, 0.1]  # 1 with 0
    pp[y == 2] = [0.1, 0.25, 0.65]  # 2 with 1
    res = simulate_noise(y, 3, "asymmetric", 0.2, 0, pred_probs=pp)
    flipped = res.flipped
    assert set(res.noisy[flipped & (y == 0)]) == {2}
    assert set(res.noisy[flipped & (y == 1)]) == {0}
    assert np.allclose(res.transition, pair_transition(soft_confusion(y, pp, 3), 0.2))


def test_instance_noise_concentrates_on_hard_rows():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 6000)
    p_true = np.where(rng.random(6000) < 0.5, 0.95, 0.55)  # half easy, half hard
    pp = np.column_stack([np.where(y == 0, p_true, 1 - p_true), np.where(y == 1, p_true, 1 - p_true)])
    res = simulate_noise(y, 2, NoiseKind.instance, 0.2, 1, pred_probs=pp)
    hard = p_true < 0.9
    assert res.flipped[hard].mean() > 3 * res.flipped[~hard].mean()


def test_transition_matrix_validated():
    y = np.repeat(np.arange(2), 10)
    with pytest.raises(labelaudit.ConfigError, match="must be 2 x 2"):
        simulate_noise(y, 2, "asymmetric", 0.1, 0, transition=np.eye(3))
    with pytest.raises(labelaudit.ConfigError, match="summing to 1"):
        simulate_noise(y, 2, "asymmetric", 0.1, 0, transition=np.array([[0.5, 0.6], [0, 1]]))


def test_detection_scores_hand_computed():
    truth = np.array([1, 1, 0, 0, 0], bool)
    flag = np.array([1, 0, 1, 0, 0], bool)
    quality = np.array([0.1, 0.2, 0.3, 0.9, 0.8])
    s = detection_scores(flag, quality, truth)
    assert (s["precision"], s["recall"], s["f1"]) == (0.5, 0.5, 0.5)
    assert s["auprc"] == 1.0  # both true errors ranked first


def test_simulate_cli_then_scan_then_report_truth(runner, workdir):
    src = workdir / "digits.parquet"
    pd.read_parquet(SAMPLE / "digits_noisy.parquet").assign(
        label=pd.read_csv(SAMPLE / "digits_truth.csv")["true_label"]
    ).to_parquet(src)
    before = sha(src)
    res = invoke(
        runner,
        [
            "simulate",
            src,
            "--noise",
            "asymmetric",
            "--rate",
            "0.15",
            "--seed",
            "3",
            "--out",
            workdir / "noisy.parquet",
            "--id",
            "id",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "realised rate 0.1" in res.stdout
    assert sha(src) == before
    truth = pd.read_parquet(workdir / "noisy.truth.parquet")
    assert list(truth.columns) == ["row", "id", "original_label", "noisy_label", "is_noisy"]
    assert 0.12 < truth["is_noisy"].mean() < 0.18
    noisy = pd.read_parquet(workdir / "noisy.parquet")
    assert (noisy["label"].astype(str).to_numpy() == truth["noisy_label"].to_numpy()).all()
    assert invoke(runner, ["scan", workdir / "noisy.parquet", "--checks", "label", "-q"]).exit_code == 0
    res = invoke(runner, ["report", "noisy.labelaudit", "--truth", workdir / "noisy.truth.parquet", "--format", "json"])
    t = json.loads(res.stdout)["truth"]
    assert t["precision"] >= 0.7 and t["recall"] >= 0.7 and t["auprc"] >= 0.8, t
    res = invoke(runner, ["report", "noisy.labelaudit", "--truth", workdir / "noisy.truth.parquet"])
    assert "Against the truth file: precision" in res.stdout


def test_simulate_same_seed_same_bytes(runner, workdir, csv_file):
    for i in range(2):
        res = invoke(
            runner,
            [
                "simulate",
                csv_file,
                "--rate",
                "0.3",
                "--seed",
                "9",
                "--out",
                workdir / f"n{i}.csv",
                "--truth",
                workdir / f"t{i}.csv",
                "-q",
            ],
        )
        assert res.exit_code == 0, res.output
    assert sha(workdir / "n0.csv") == sha(workdir / "n1.csv")
    assert sha(workdir / "t0.csv") == sha(workdir / "t1.csv")


def test_simulate_bad_inputs(runner, workdir, csv_file):
    res = invoke(runner, ["simulate", csv_file, "--noise", "gaussian"])
    assert res.exit_code == 2 and "--noise must be one of symmetric, asymmetric, instance" in res.stderr
    res = invoke(runner, ["simulate", csv_file, "--rate", "1.5"])
    assert res.exit_code == 2 and "--rate must be in [0, 1) (got 1.5)" in res.stderr
    res = invoke(runner, ["simulate", csv_file, "--out", workdir / "x.parquet"])
    assert res.exit_code == 2 and "--out must keep the input's format (.csv)" in res.stderr
    (workdir / "t.csv").write_text("a,b\n1,2\n")
    res = invoke(runner, ["simulate", csv_file, "--noise", "asymmetric", "--transition", workdir / "t.csv"])
    assert res.exit_code == 2 and "must have one row and one column per class" in res.stderr


def test_transition_file_is_used(runner, workdir, csv_file):
    classes = ["bird", "cat", "dog"]
    t = pd.DataFrame(np.eye(3), index=classes, columns=classes)
    t.loc["cat"] = [0.0, 0.5, 0.5]  # only cats flip, always to dog
    t.to_csv(workdir / "t.csv")
    res = invoke(runner, ["simulate", csv_file, "--noise", "asymmetric", "--transition", workdir / "t.csv", "-q"])
    assert res.exit_code == 0, res.output
    truth = pd.read_parquet(workdir / "data.noisy.truth.parquet")
    flipped = truth[truth["is_noisy"]]
    assert set(flipped["original_label"]) == {"cat"} and set(flipped["noisy_label"]) == {"dog"}


def test_truth_file_must_match(runner, workdir, csv_file):
    assert invoke(runner, ["scan", csv_file, "--model", "logreg", "-q"]).exit_code == 0
    pd.DataFrame({"row": range(10), "is_noisy": [False] * 10}).to_csv(workdir / "t.csv", index=False)
    res = invoke(runner, ["report", "data.labelaudit", "--truth", workdir / "t.csv"])
    assert res.exit_code == 2 and "t.csv describes 10 rows but the audit has 240" in res.stderr
