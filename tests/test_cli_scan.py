"""CLI tests for every input format and option of ``labelaudit scan``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import labelaudit
from tests.conftest import SAMPLE, invoke, make_frame

FAST = ["--model", "logreg", "--checks", "label,outlier,near_duplicate,class_imbalance,null"]


def scan_json(runner, args):
    res = invoke(runner, ["scan", *args, "--format", "json", "-q"])
    assert res.exit_code in (0, 1), res.output
    return res, json.loads(res.stdout)


def test_version(runner):
    res = invoke(runner, ["--version"])
    assert res.exit_code == 0
    assert res.stdout.strip() == f"labelaudit {labelaudit.__version__}"


def test_python_dash_m(tmp_path):
    out = subprocess.run([sys.executable, "-m", "labelaudit", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("labelaudit ")


def test_help_documents_exit_codes(runner):
    res = invoke(runner, ["scan", "--help"])
    assert res.exit_code == 0
    assert "Exit codes: 0" in res.stdout and "--fail-above" in res.stdout


def test_csv_table_output_writes_audit(runner, csv_file, workdir):
    res = invoke(runner, ["scan", csv_file, *FAST, "--top", "3"])
    assert res.exit_code == 0, res.output
    assert "labelaudit scan" in res.stdout and "label issues" in res.stdout
    assert "Top 3 suspected label errors" in res.stdout
    audit = labelaudit.load_audit(workdir / "data.labelaudit")
    assert len(audit.issues) == 240
    assert audit.issues["row"].tolist() == list(range(240))
    assert audit.issues["id"].iloc[5] == "r5"
    assert set(audit.issues["given_label"]) == {"cat", "dog", "bird"}
    assert audit.pred_probs.shape == (240, 3)
    assert audit.manifest["id_column"] == "id"
    assert audit.class_names == ["bird", "cat", "dog"]


def test_progress_goes_to_stderr_and_json_only_to_stdout(runner, csv_file):
    res = invoke(runner, ["scan", csv_file, *FAST, "--format", "json"])
    doc = json.loads(res.stdout)  # stdout is pure JSON
    assert doc["audits"][0]["summary"]["rows"] == 240
    assert "training 5 folds" in res.stderr


def test_quiet_prints_nothing_on_success(runner, csv_file):
    res = invoke(runner, ["scan", csv_file, *FAST, "-q"])
    assert res.exit_code == 0
    assert res.stdout == "" and res.stderr == ""


@pytest.mark.parametrize("sep,suffix", [(";", ".csv"), ("\t", ".tsv"), ("|", ".csv")])
def test_delimiters_detected(runner, workdir, frame, sep, suffix):
    p = workdir / f"semi{suffix}"
    frame.to_csv(p, index=False, sep=sep)
    _, doc = scan_json(runner, [p, *FAST])
    assert doc["audits"][0]["summary"]["rows"] == 240


def test_encoding_option_reads_latin1(runner, workdir, frame):
    frame = frame.copy()
    frame["colour"] = frame["colour"].str.replace("red", "rouge-é")
    p = workdir / "latin.csv"
    frame.to_csv(p, index=False, encoding="latin-1")
    res = invoke(runner, ["scan", p, *FAST, "-q"])
    assert res.exit_code == 2
    assert "--encoding" in res.stderr
    res = invoke(runner, ["scan", p, *FAST, "-q", "--encoding", "latin-1"])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "feather"])
def test_columnar_formats(runner, workdir, frame, fmt):
    p = workdir / f"data.{fmt}"
    if fmt == "parquet":
        frame.to_parquet(p, index=False)
    elif fmt == "jsonl":
        frame.assign(when=frame["when"].astype(str)).to_json(p, orient="records", lines=True)
    else:
        frame.to_feather(p)
    _, doc = scan_json(runner, [p, *FAST])
    assert doc["audits"][0]["summary"]["rows"] == 240


def test_npy_with_labels_files(runner, workdir):
    X = np.load(SAMPLE / "digits_embeddings.npy")
    labels = pd.read_csv(SAMPLE / "digits_embedding_labels.csv")["label"].to_numpy()
    np.save(workdir / "emb.npy", X[:400])
    (workdir / "labels.txt").write_text("\n".join(labels[:400]) + "\n")
    pd.DataFrame({"label": labels[:400]}).to_csv(workdir / "labels.csv", index=False)
    np.save(workdir / "labels_int.npy", pd.factorize(labels[:400], sort=True)[0])
    for lab in ("labels.txt", "labels.csv", "labels_int.npy"):
        _, doc = scan_json(runner, [workdir / "emb.npy", "--labels", workdir / lab, "--force"])
        a = doc["audits"][0]
        assert a["summary"]["rows"] == 400
        assert a["model"] == "ensemble"  # auto: small data -> lr + hgb + knn


@pytest.mark.parametrize("keys", [("X", "y"), ("features", "labels")])
def test_npz(runner, workdir, keys):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    X = rng.normal(size=(200, 6)) + y[:, None] * 3
    np.savez(workdir / "d.npz", **{keys[0]: X, keys[1]: y})
    _, doc = scan_json(runner, [workdir / "d.npz"])
    assert doc["audits"][0]["summary"]["classes"] == 2


@pytest.mark.parametrize("fixed", [True, False])
def test_vector_column_embeddings(runner, workdir, fixed):
    X = np.load(SAMPLE / "digits_embeddings.npy")[:300]
    labels = pd.read_csv(SAMPLE / "digits_embedding_labels.csv")["label"][:300].tolist()
    typ = pa.list_(pa.float32(), 16) if fixed else pa.list_(pa.float32())
    table = pa.table({"emb": pa.array(list(X), type=typ), "label": labels, "uid": [f"u{i}" for i in range(300)]})
    pq.write_table(table, workdir / "vec.parquet")
    feather.write_feather(table, workdir / "vec.arrow")
    for name in ("vec.parquet", "vec.arrow"):
        _, doc = scan_json(runner, [workdir / name, "--id", "uid", "--force"])
        a = doc["audits"][0]
        assert a["model"] == "ensemble"
    audit = labelaudit.load_audit(workdir / "vec.labelaudit")
    assert audit.manifest["data_kind"] == "embedding" and audit.manifest["n_features"] == 16
    assert audit.issues["id"].iloc[3] == "u3"


def test_label_features_id_options(runner, workdir, frame):
    df = frame.rename(columns={"label": "species", "id": "key"})
    p = workdir / "custom.parquet"
    df.to_parquet(p, index=False)
    res = invoke(runner, ["scan", p, "-q"])
    assert res.exit_code == 2
    assert "no label column" in res.stderr and "pass --label COLUMN" in res.stderr and "species" in res.stderr
    _, doc = scan_json(runner, [p, "--label", "species", "--id", "key", "--features", "a,b,colour", *FAST[:2]])
    audit = labelaudit.load_audit(workdir / "custom.labelaudit")
    assert audit.manifest["feature_columns"] == ["a", "b", "colour"]
    assert audit.manifest["label_column"] == "species"
    assert audit.issues["id"].iloc[0] == "key0".replace("key", "r")


def test_text_column(runner, workdir):
    rng = np.random.default_rng(1)
    words = {
        "sport": "goal match team score league",
        "tech": "code chip software cloud data",
        "food": "recipe bake salt flavour cook",
    }
    rows = []
    for i in range(180):
        topic = list(words)[i % 3]
        vocab = words[topic].split()
        rows.append({"body": " ".join(rng.choice(vocab, 6)), "topic": topic})
    df = pd.DataFrame(rows)
    df.loc[:9, "topic"] = "tech"  # a few wrong
    p = workdir / "text.csv"
    df.to_csv(p, index=False)
    _, doc = scan_json(runner, [p, "--text", "body", "--label", "topic"])
    a = doc["audits"][0]
    assert a["model"] == "logreg"
    audit = labelaudit.load_audit(workdir / "text.labelaudit")
    assert audit.manifest["data_kind"] == "text"
    flagged = set(np.flatnonzero(audit.issues["is_label_issue"]))
    wrong = {i for i in range(10) if i % 3 != 1}
    assert len(wrong & flagged) >= 0.8 * len(wrong)


@pytest.mark.parametrize("model", ["auto", "hgb", "logreg", "knn", "rf", "ensemble"])
def test_models(runner, csv_file, model):
    _, doc = scan_json(runner, [csv_file, "--model", model, "--checks", "label", "--force"])
    used = doc["audits"][0]["model"]
    assert used == ("ensemble" if model == "auto" else model)


def test_auto_picks_by_size_and_kind(monkeypatch):
    from labelaudit.dataset import Dataset, FeatureSet
    from labelaudit.oof import models

    def ds(n, d, kind="tabular", floats=True):
        X = np.random.default_rng(0).normal(size=(min(n, 50), d)) if floats else np.ones((min(n, 50), d))
        fs = FeatureSet(
            X.astype(np.float32), [f"f{i}" for i in range(d)], np.zeros(d, bool), np.zeros(min(n, 50), np.float32), []
        )
        return Dataset(
            n_rows=n, labels=np.zeros(min(n, 50), np.int64), class_names=list(range(10)), features=fs, kind=kind
        )

    assert models.resolve_auto(ds(1000, 10))[0] is models.ModelName.ensemble
    assert models.resolve_auto(ds(10_000, 128, floats=False))[0] is models.ModelName.hgb
    assert models.resolve_auto(ds(100_000, 10, floats=False))[0] is models.ModelName.hgb
    assert models.resolve_auto(ds(100_000, 128))[0] is models.ModelName.logreg
    assert models.resolve_auto(ds(100_000, 16, kind="embedding"))[0] is models.ModelName.logreg
    assert models.resolve_auto(ds(100, 5, kind="text"))[0] is models.ModelName.logreg


def test_auto_says_which_model(runner, csv_file):
    res = invoke(runner, ["scan", csv_file, "--checks", "label"])
    assert "model: ensemble (--model auto)" in res.stderr
    # the reason is said once, in the summary, not again in the progress lines
    assert (res.stdout + res.stderr).count("small data") == 1


def test_pred_probs_single_and_ensemble(runner, workdir, frame):
    df = frame[["id", "label"]]
    p = workdir / "labels_only.parquet"
    df.to_parquet(p, index=False)
    classes = sorted(df["label"].unique())
    rng = np.random.default_rng(0)
    onehot = (df["label"].to_numpy()[:, None] == np.array(classes)).astype(float)
    a = 0.8 * onehot + 0.2 * rng.dirichlet(np.ones(3), len(df))
    b = 0.8 * onehot + 0.2 * rng.dirichlet(np.ones(3), len(df))  # as good as a: both get weight
    np.save(workdir / "a.npy", a)
    pd.DataFrame(b[:, [2, 0, 1]], columns=[classes[2], classes[0], classes[1]]).to_csv(workdir / "b.csv", index=False)
    _, doc = scan_json(runner, [p, "--pred-probs", workdir / "a.npy"])
    s = doc["audits"][0]["summary"]
    assert doc["audits"][0]["model"] == "pred_probs"
    assert set(s["skipped_checks"]) == {"near_duplicate", "non_iid", "null", "underperforming_group", "data_valuation"}
    assert "needs feature columns" in s["skipped_checks"]["null"]
    _, doc = scan_json(runner, [p, "--pred-probs", workdir / "a.npy", "--pred-probs", workdir / "b.csv", "--force"])
    audit = labelaudit.load_audit(workdir / "labels_only.labelaudit")
    w = audit.manifest["model"]["ensemble_weights"]  # likelihood weights (labelaudit.oof.ensemble)
    assert min(w) > 0.05  # both count, so a column mismatch in b.csv would show
    assert np.allclose(audit.pred_probs, w[0] * a + w[1] * b, atol=1e-5)  # CSV columns matched by class name
    assert "2 models combined with the weights that maximise the likelihood" in audit.manifest["model"]["reason"]


def test_folds_seed_checks_recorded(runner, csv_file, workdir):
    _, doc = scan_json(runner, [csv_file, "--folds", "3", "--seed", "7", "--checks", "label,null", "--model", "logreg"])
    audit = labelaudit.load_audit(workdir / "data.labelaudit")
    assert audit.manifest["folds"] == 3 and audit.manifest["seed"] == 7
    assert audit.manifest["checks"]["run"] == ["label", "null"]
    assert "is_outlier_issue" not in audit.issues.columns
    assert len(audit.manifest["fold_seconds"]) == 3


def test_all_checks_columns(runner, csv_file, workdir):
    invoke(runner, ["scan", csv_file, "--model", "logreg", "-q"])
    cols = set(labelaudit.load_audit(workdir / "data.labelaudit").issues.columns)
    for name in ("outlier", "near_duplicate", "non_iid", "class_imbalance", "null"):
        assert {f"{name}_score", f"is_{name}_issue"} <= cols
    assert {"near_duplicate_set", "rank", "label_quality", "suggested_label"} <= cols


def test_out_and_force(runner, csv_file, workdir):
    target = workdir / "audits" / "mine"
    (workdir / "audits").mkdir()
    res = invoke(runner, ["scan", csv_file, *FAST, "--out", target, "-q"])
    assert res.exit_code == 0 and (target / "manifest.json").exists()
    res = invoke(runner, ["scan", csv_file, *FAST, "--out", target, "-q"])
    assert res.exit_code == 2
    assert (
        res.stderr.strip()
        == f"error: audit directory {target} already exists; pass --force to overwrite it or choose another path"
    )
    res = invoke(runner, ["scan", csv_file, *FAST, "--out", target, "-q", "--force"])
    assert res.exit_code == 0


def test_fail_above_gate(runner, csv_file):
    res, doc = scan_json(runner, [csv_file, *FAST, "--fail-above", "0.01"])
    assert res.exit_code == 1 and doc["exit_code"] == 1
    gate = doc["audits"][0]["gates"]["results"][0]
    assert gate["check"] == "label" and gate["passed"] is False
    res, doc = scan_json(runner, [csv_file, *FAST, "--fail-above", "0.9", "--fail-above", "outlier=0.5", "--force"])
    assert res.exit_code == 0
    assert [g["check"] for g in doc["audits"][0]["gates"]["results"]] == ["label", "outlier"]


def test_fail_above_table_shows_gate(runner, csv_file):
    res = invoke(runner, ["scan", csv_file, *FAST, "--fail-above", "0.01"])
    assert res.exit_code == 1
    assert "gate label" in res.stdout and "FAIL" in res.stdout


@pytest.mark.parametrize(
    "bad,msg",
    [
        ("1.5", "--fail-above rate must be between 0 and 1 (got 1.5); 5 % is 0.05"),
        ("abc", "--fail-above needs a rate between 0 and 1 such as 0.05 (got 'abc')"),
        (
            "bogus=0.1",
            "--fail-above CHECK=RATE must be one of label, outlier, near_duplicate, non_iid, "
            "class_imbalance, null, underperforming_group, data_valuation (got 'bogus')",
        ),
    ],
)
def test_fail_above_bad_values(runner, csv_file, bad, msg):
    res = invoke(runner, ["scan", csv_file, "--fail-above", bad])
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: {msg}"


def test_gate_on_skipped_check_is_an_error(runner, workdir, frame):
    p = workdir / "lab.csv"
    frame[["label"]].to_csv(p, index=False)
    onehot = pd.get_dummies(frame["label"]).to_numpy(float) * 0.9 + 0.1 / 3
    np.save(workdir / "pp.npy", onehot)
    res = invoke(runner, ["scan", p, "--pred-probs", workdir / "pp.npy", "--fail-above", "near_duplicate=0.1"])
    assert res.exit_code == 2
    assert "gates 'near_duplicate', but that check will be skipped: it needs feature columns" in res.stderr


def test_bad_options_fail_before_any_training(runner, csv_file):
    """Each bad option is refused when the options are built or the data read, not after the folds trained."""
    for args, msg in (
        (["--model", "ensemble", "--device", "tpu", "--checks", "label"], "--device must be auto, cpu or cuda"),
        (["--low-memory", "--fail-above", "outlier=0.1"], "gates 'outlier', but that check will be skipped"),
    ):
        res = invoke(runner, ["scan", csv_file, *args])
        assert res.exit_code == 2 and msg in res.stderr, res.output
        assert "training" not in res.stderr and "pass 2/3" not in res.stderr, res.stderr


def test_jobs_and_knn_options(runner, csv_file, workdir):
    _, doc = scan_json(runner, [csv_file, "--model", "logreg", "--jobs", "2", "--knn", "approx"])
    audit = labelaudit.load_audit(workdir / "data.labelaudit")
    assert audit.manifest["options"]["jobs"] == 2
    assert audit.manifest["knn"]["method"].startswith(("approx", "exact"))


def test_several_files_one_audit_each(runner, workdir):
    for i in range(2):
        make_frame(seed=i)[0].to_csv(workdir / f"part{i}.csv", index=False)
    (workdir / "broken.csv").write_text("")
    res = invoke(runner, ["scan", "part0.csv", "broken.csv", "part1.csv", *FAST])
    assert res.exit_code == 2  # worst of the runs
    assert (workdir / "part0.labelaudit").is_dir() and (workdir / "part1.labelaudit").is_dir()
    assert "broken.csv: error: broken.csv is empty" in res.stderr
    assert "labelaudit batch" in res.stdout


def test_config_file_defaults_and_flag_override(runner, csv_file, workdir):
    (workdir / "labelaudit.toml").write_text('model = "logreg"\nfolds = 3\nfail-above = ["0.9"]\nchecks = "label"\n')
    _, doc = scan_json(runner, [csv_file])
    audit = labelaudit.load_audit(workdir / "data.labelaudit")
    assert audit.manifest["model"]["used"] == "logreg" and audit.manifest["folds"] == 3
    assert audit.manifest["config_file"].endswith("labelaudit.toml")
    assert audit.gates["thresholds"] == {"label": 0.9}
    _, doc = scan_json(runner, [csv_file, "--folds", "4", "--force"])
    assert labelaudit.load_audit(workdir / "data.labelaudit").manifest["folds"] == 4


def test_pyproject_config_and_unknown_key(runner, csv_file, workdir):
    (workdir / "pyproject.toml").write_text('[tool.labelaudit]\nmodel = "knn"\nchecks = "label"\n')
    _, doc = scan_json(runner, [csv_file])
    assert doc["audits"][0]["model"] == "knn"
    (workdir / "pyproject.toml").write_text('[tool.labelaudit]\nmodle = "knn"\n')
    res = invoke(runner, ["scan", csv_file])
    assert res.exit_code == 2
    assert "unknown scan option 'modle'" in res.stderr


def test_categorical_bool_datetime_missing_are_encoded(runner, csv_file, workdir):
    invoke(runner, ["scan", csv_file, "--checks", "label,null", "-q"])
    notes = " ".join(labelaudit.load_audit(workdir / "data.labelaudit").manifest["notes"])
    assert "colour: 3 categories" in notes


@pytest.mark.parametrize("values", [[1, 2], [True, False]])
def test_integer_and_boolean_labels_keep_their_type(runner, workdir, values):
    df, _ = make_frame(n=200)
    df = df[df["label"] != "bird"].copy()
    df["label"] = np.where(df["label"] == "cat", values[0], values[1])
    p = workdir / "typed.parquet"
    df.to_parquet(p, index=False)
    invoke(runner, ["scan", p, *FAST, "-q"])
    audit = labelaudit.load_audit(workdir / "typed.labelaudit")
    assert audit.class_names == sorted(values)
    assert set(audit.issues["given_label"].tolist()) == set(values)


@pytest.mark.parametrize("model", ["auto", "ensemble", "hgb", "logreg", "knn", "rf"])
def test_tiny_data_never_crashes(tmp_path, model):
    """10 rows, 2 classes, 5 folds: every model trains (early stopping and k adapt to the size)."""
    df = pd.DataFrame({"a": np.arange(10, dtype=float), "label": ["x", "y"] * 5})
    df.to_parquet(tmp_path / "tiny.parquet")
    audit = labelaudit.scan(tmp_path / "tiny.parquet", model=model)
    assert len(audit.issues) == 10 and np.allclose(audit.pred_probs.sum(axis=1), 1, atol=1e-5)


def test_a_full_disk_is_named_as_such_not_as_a_bug(runner, csv_file, workdir, monkeypatch):
    import errno

    from labelaudit.audit import Audit

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Audit, "save", full)
    res = invoke(runner, ["scan", csv_file, "--model", "logreg", "-q"])
    assert res.exit_code == 3  # a resource failure (the exit-code table), not a usage error
    assert res.stderr.strip() == (
        "error: no space left on the disk ([Errno 28] No space left on device); free some space, or write to "
        "another disk (--out)"
    )
