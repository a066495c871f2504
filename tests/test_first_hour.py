"""What a new user meets in the first hour: no crash, no silent wrong answer, honest next steps.

One test per point of the first-hour review; each failed before its fix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SAMPLE, invoke, make_frame


def _int_labelled(workdir, kind: str):
    """make_frame with integer (0/1/2) or boolean labels; the boolean set keeps two classes."""
    df, _ = make_frame(n=240, seed=3, noise=0.1)
    codes = df["label"].map({"cat": 0, "dog": 1, "bird": 2})
    if kind == "bool":
        df = df[codes < 2].copy()
        df["label"] = codes[codes < 2].astype(bool)
        path = workdir / "b.parquet"
        df.to_parquet(path, index=False)
    else:
        df["label"] = codes
        path = workdir / "i.csv"
        df.to_csv(path, index=False)
    return path, df


@pytest.mark.parametrize("kind", ["int", "bool"])
def test_relabel_works_for_integer_and_boolean_labels(runner, workdir, kind):
    path, df = _int_labelled(workdir, kind)
    res = invoke(runner, ["scan", path, "--model", "logreg", "-q", "--no-clean"])
    assert res.exit_code == 0, res.output
    res = invoke(runner, ["filter", path.with_suffix(".labelaudit"), "--action", "relabel"])
    assert res.exit_code == 0, res.output
    cleaned_path = workdir / f"{path.stem}.cleaned{path.suffix}"
    cleaned = pd.read_parquet(cleaned_path) if kind == "bool" else pd.read_csv(cleaned_path)
    assert len(cleaned) == len(df)
    assert cleaned["label"].dtype == df["label"].dtype
    assert (cleaned["label"] != df["label"].to_numpy()).sum() > 0


def test_cleaned_parquet_reads_back_with_the_input_dtypes(runner, workdir):
    df, _ = make_frame(n=240, seed=1)
    df["small"] = np.arange(len(df), dtype=np.int8) % 7
    df["label"] = df["label"].astype("category")
    path = workdir / "d.parquet"
    df.to_parquet(path, index=False)
    res = invoke(runner, ["scan", path, "--model", "logreg", "-q"])
    assert res.exit_code == 0, res.output
    for name in ("cleaned.parquet", "removed.parquet"):
        back = pd.read_parquet(workdir / "d.labelaudit" / name)
        for col in df.columns:
            assert back[col].dtype == df[col].dtype, (name, col, back[col].dtype)


def _text_frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """Short documents on three topics, 10 % of labels flipped, with a non-standard unique id column."""
    rng = np.random.default_rng(seed)
    filler = ["the", "a", "cat", "dog", "sat", "on", "mat", "ran", "fast", "slow", "big", "small", "red", "blue"]
    topics = {
        "sport": ["ball", "goal", "team", "match", "score", "player", "win", "league", "coach"],
        "tech": ["code", "computer", "software", "chip", "data", "cloud", "server", "app", "phone"],
        "food": ["pizza", "bread", "cheese", "soup", "salad", "pasta", "cake", "apple", "rice"],
    }
    names = list(topics)
    rows = []
    for i in range(n):
        t = names[i % 3]
        words = rng.choice(filler + topics[t] * 3, size=rng.integers(8, 20))
        label = names[(i + 1) % 3] if rng.random() < 0.1 else t
        rows.append((f"doc{i}", " ".join(words), label))
    return pd.DataFrame(rows, columns=["doc_id", "text", "label"])


def test_a_lone_free_text_column_is_featurised_as_text_and_a_doc_id_is_the_row_id(runner, workdir):
    path = workdir / "docs.csv"
    _text_frame().to_csv(path, index=False)
    res = invoke(runner, ["scan", path, "--format", "json"])
    assert res.exit_code == 0, res.output
    assert "column 'doc_id' has unique values: used as the row id" in res.stderr
    assert "featurised with TF-IDF, as --text text would" in res.stderr
    import json

    audit = json.loads((workdir / "docs.labelaudit" / "manifest.json").read_text())
    assert audit["id_column"] == "doc_id" and audit["data_kind"] == "text"
    # the audit is a real one: a linear model on the words, not chance on a frequency-encoded column
    assert audit["model"]["oof_accuracy_vs_given_labels"] > 0.8


def test_free_text_and_unique_counter_features_warn_before_training_and_strict_refuses(runner, workdir):
    df = _text_frame()
    df["seq"] = np.arange(len(df)) * 3
    df["x"] = np.random.default_rng(0).normal(size=len(df))
    path = workdir / "mixed.csv"
    df.to_csv(path, index=False)
    res = invoke(runner, ["scan", path, "--checks", "label"])
    assert res.exit_code == 0, res.output
    err = res.stderr
    text_warning = "warning: feature column 'text' looks like free text"
    assert text_warning in err and "pass --text text" in err
    assert "warning: feature column 'seq' has a different value in every row" in err and "--id seq" in err
    assert err.index(text_warning) < err.index("training 5 folds")  # said before the work
    manifest = (workdir / "mixed.labelaudit" / "manifest.json").read_text()
    assert "looks like free text" in manifest
    res = invoke(runner, ["scan", path, "--strict", "-q", "--out", workdir / "strict.labelaudit"])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: feature column 'text' looks like free text")
    assert "--strict makes this an error" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (workdir / "strict.labelaudit").exists()


def test_pred_probs_in_the_users_class_order_are_called_out(runner, workdir):
    from tests.conftest import SAMPLE

    df = pd.read_parquet(SAMPLE / "digits_noisy.parquet")
    truth = pd.read_csv(SAMPLE / "digits_truth.csv")
    order = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    # a confident model's probabilities, columns in the user's (not the sorted) class order
    pp = np.full((len(df), 10), 0.01, dtype=np.float32)
    pp[np.arange(len(df)), [order.index(t) for t in truth["true_label"]]] = 0.91
    np.save(workdir / "pp.npy", pp)
    res = invoke(runner, ["scan", SAMPLE / "digits_noisy.parquet", "--pred-probs", workdir / "pp.npy", "-q"])
    assert res.exit_code == 0, res.output
    assert "warning: pp.npy: the columns look permuted" in res.stderr
    assert "'eight' in column" in res.stderr and "sorted class order (eight, five, four" in res.stderr
    res = invoke(
        runner,
        ["scan", SAMPLE / "digits_noisy.parquet", "--pred-probs", workdir / "pp.npy", "--strict", "--out", "s"],
    )
    assert res.exit_code == 2 and "the columns look permuted" in res.stderr
    # the same probabilities in sorted order raise nothing
    sorted_pp = pp[:, [order.index(c) for c in sorted(order)]]
    np.save(workdir / "ok.npy", sorted_pp)
    res = invoke(
        runner,
        ["scan", SAMPLE / "digits_noisy.parquet", "--pred-probs", workdir / "ok.npy", "--strict", "--out", "ok"],
    )
    assert res.exit_code == 0 and "permuted" not in res.stderr


@pytest.mark.parametrize("name", ["digits_noisy.parquet", "digits_noisy.csv"])
def test_low_memory_finds_the_id_column_like_the_in_memory_scan(runner, workdir, name):
    from tests.conftest import SAMPLE

    res = invoke(runner, ["scan", SAMPLE / name, "--low-memory", "-q", "--out", workdir / "s.labelaudit"])
    assert res.exit_code == 0, res.output
    issues = pd.read_parquet(workdir / "s.labelaudit" / "issues.parquet")
    assert issues["id"].iloc[:3].tolist() == ["d0000", "d0001", "d0002"]


def test_scan_ends_with_what_was_written_and_the_next_commands_with_real_paths(runner, workdir, csv_file):
    res = invoke(runner, ["scan", csv_file, "--model", "logreg"])
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "Written: data.labelaudit/cleaned.csv (" in out and "data.labelaudit/removed.csv (" in out
    assert "What to do next:" in out
    assert (
        "labelaudit report data.labelaudit --format review-csv --output data.review.csv" in out
        and "labelaudit filter data.labelaudit --decisions data.review.csv" in out
    )
    assert "AUDIT" not in out and " FILE" not in out
    # report's advice names the real paths too
    rep = invoke(runner, ["report", "data.labelaudit"])
    assert "labelaudit filter data.labelaudit --decisions data.review.csv" in rep.stdout and "AUDIT" not in rep.stdout


def test_a_failing_gate_is_named_even_with_quiet(runner, workdir, csv_file):
    res = invoke(runner, ["scan", csv_file, "--model", "logreg", "-q", "--fail-above", "0.01"])
    assert res.exit_code == 1
    assert res.stdout == ""
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("gate failed: label-issue rate ")
    assert line.endswith("above the limit 1.0 % (--fail-above 0.01)")


def test_batch_out_folder_is_created(runner, workdir, frame):
    for name in ("a.csv", "b.csv"):
        frame.to_csv(workdir / name, index=False)
    res = invoke(runner, ["scan", "a.csv", "b.csv", "--out", "audits", "--model", "logreg", "-q"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (workdir / "audits").iterdir()) == ["a.labelaudit", "b.labelaudit"]
    (workdir / "afile").write_text("x")
    res = invoke(runner, ["scan", "a.csv", "b.csv", "--out", "afile", "-q"])
    assert res.exit_code == 2 and "--out afile is a file" in res.stderr


def test_null_check_says_how_many_rows_have_missing_values(runner, workdir, frame):
    # make_frame leaves ~5 % of column 'a' empty: no row is entirely empty
    path = workdir / "n.csv"
    frame.to_csv(path, index=False)
    missing = int(frame["a"].isna().sum())
    res = invoke(runner, ["scan", path, "--model", "logreg", "--checks", "label,null"])
    assert res.exit_code == 0, res.output
    line = next(x for x in res.stdout.splitlines() if "null" in x)
    assert "0 (0.0 %)" in line and f"{missing} rows have missing values" in res.stdout


def test_html_report_shows_the_truth_score(runner, workdir):
    from tests.conftest import SAMPLE

    pytest.importorskip("matplotlib", reason="the HTML report needs labelaudit[html]")
    assert invoke(runner, ["scan", SAMPLE / "digits_noisy.parquet", "--model", "logreg", "-q"]).exit_code == 0
    res = invoke(
        runner,
        ["report", "digits_noisy.labelaudit", "--format", "html", "--truth", SAMPLE / "digits_truth.csv"],
    )
    assert res.exit_code == 0, res.output
    assert "Against the truth file" in res.stdout and "precision" in res.stdout and "AUPRC" in res.stdout


def test_text_audit_review_exports_carry_the_document_and_the_decision_sits_by_the_reason(runner, workdir):
    import json

    path = workdir / "docs.csv"
    _text_frame().to_csv(path, index=False)
    assert invoke(runner, ["scan", path, "-q"]).exit_code == 0
    tasks = json.loads(invoke(runner, ["report", "docs.labelaudit", "--format", "label-studio"]).stdout)
    docs = set(pd.read_csv(path)["text"])
    assert tasks and all(t["data"]["text"] in docs for t in tasks)
    records = json.loads(invoke(runner, ["report", "docs.labelaudit", "--format", "argilla"]).stdout)
    assert all(r["fields"]["text"] in docs for r in records)
    # tabular rows: the decision column comes right after the reason, before the 64 pixel columns
    from tests.conftest import SAMPLE

    assert invoke(runner, ["scan", SAMPLE / "digits_noisy.parquet", "--model", "logreg", "-q"]).exit_code == 0
    sheet = invoke(runner, ["report", "digits_noisy.labelaudit", "--format", "review-csv"]).stdout
    header = sheet.splitlines()[0].split(",")
    assert header.index("decision") == header.index("reason") + 1 and header[-1] == "px63"


def test_blank_review_decisions_keep_the_row_and_say_so(runner, workdir, csv_file):
    assert invoke(runner, ["scan", csv_file, "--model", "logreg", "-q"]).exit_code == 0
    res = invoke(runner, ["report", "data.labelaudit", "--format", "review-csv", "--output", "review.csv"])
    assert res.exit_code == 0, res.output
    review = pd.read_csv(workdir / "review.csv", dtype=str, keep_default_na=False)
    assert len(review) >= 3
    review.loc[0, "decision"] = "drop"
    review.to_csv(workdir / "review.csv", index=False)
    import json

    res = invoke(runner, ["filter", "data.labelaudit", "--decisions", "review.csv", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["counts"]["dropped"] == 1
    assert f"warning: {len(review) - 1} suspected rows have no decision in the review file: kept" in res.stderr
    res = invoke(
        runner,
        ["filter", "data.labelaudit", "--decisions", "review.csv", "--undecided", "auto", "--format", "json"]
        + ["--force"],
    )
    assert json.loads(res.stdout)["counts"]["dropped"] == len(review)
    assert "the automatic action was applied" in res.stderr
    res = invoke(runner, ["filter", "data.labelaudit", "--decisions", "review.csv", "--undecided", "maybe"])
    assert res.exit_code == 2 and "--undecided must be keep or auto" in res.stderr


def test_markdown_is_escaped_for_safety_not_for_show(runner, workdir, csv_file):
    from markdown_it import MarkdownIt

    def gfm():  # CommonMark with GitHub's tables and strikethrough (markdown-it-py ships with rich)
        return MarkdownIt("commonmark").enable(["table", "strikethrough"])

    assert invoke(runner, ["scan", csv_file, "--model", "logreg", "-q"]).exit_code == 0
    text = invoke(runner, ["report", "data.labelaudit", "--format", "markdown"]).stdout
    assert "\\(" not in text and "\\~" not in text and "\\%" not in text
    html = gfm().render(text)
    assert "Moderate noise (~" in html or "Light noise (~" in html or "nearly clean (estimated noise ~" in html
    from labelaudit.report.escape import md

    rendered = gfm().render("| x |\n|---|\n| " + md("[x](javascript:alert(1)) ~~s~~ <b>") + " |")
    assert "<a " not in rendered and "<del>" not in rendered and "<b>" not in rendered


def test_non_iid_p_value_that_underflows_is_not_printed_as_zero(runner, workdir):
    from sklearn.datasets import load_wine

    df = load_wine(as_frame=True).frame  # shipped sorted by class: its order is far from i.i.d.
    df.to_csv(workdir / "wine.csv", index=False)
    res = invoke(runner, ["scan", workdir / "wine.csv", "--model", "logreg", "--label", "target"])
    assert res.exit_code == 0, res.output
    line = next(x for x in res.stdout.splitlines() if "non_iid" in x)
    assert "p = 0 " not in line + " "
    assert "p < 1e-300" in line or "p = " in line


def test_the_sample_ships_a_clean_test_set_for_retrain(runner, workdir):
    from tests.conftest import SAMPLE

    train = pd.read_parquet(SAMPLE / "digits_train.parquet")
    test = pd.read_parquet(SAMPLE / "digits_test_clean.parquet")
    truth = pd.read_csv(SAMPLE / "digits_truth.csv").set_index("id")
    assert len(train) + len(test) == len(truth) and not set(train["id"]) & set(test["id"])
    assert (test["label"].to_numpy() == truth.loc[test["id"], "true_label"].to_numpy()).all()
    assert (train["label"].to_numpy() == truth.loc[train["id"], "given_label"].to_numpy()).all()
    assert invoke(runner, ["scan", SAMPLE / "digits_train.parquet", "--model", "logreg", "-q"]).exit_code == 0
    res = invoke(
        runner,
        [
            "retrain",
            "digits_train.labelaudit",
            "--test",
            SAMPLE / "digits_test_clean.parquet",
            "--learner",
            "sklearn",
            "--bootstrap",
            "0",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "clean test set" in res.stdout and "no intervals (--bootstrap 0)" in res.stdout
    assert "0 bootstrap resamples" not in res.stdout


def test_a_small_scan_never_imports_torch():
    """Asking torch for a GPU costs seconds at start-up; below 20 000 rows the KNN graph stays on the CPU."""
    import subprocess
    import sys

    from tests.conftest import SAMPLE

    code = "import sys, labelaudit; labelaudit.scan(sys.argv[1], model='logreg'); print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code, str(SAMPLE / "digits_noisy.parquet")], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_importing_the_cli_loads_no_heavy_library():
    import subprocess
    import sys

    code = (
        "import sys, labelaudit.cli; print(sorted(m for m in ('pandas', 'sklearn', 'scipy', 'numpy', 'torch', "
        "'cleanlab', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_parsing_scan_options_loads_no_heavy_library():
    """The CLI validates every option (checks, models, flag size, crowd formats) before the heavy modules
    load, so a scan's first progress line comes within the start-up the manifest records."""
    import subprocess
    import sys

    code = (
        "import sys, labelaudit.cli as c; from labelaudit.options import ScanOptions; "
        "ScanOptions(checks='label,outlier', model='logreg', flag_size='5%', export_format='long', "
        "consensus='majority', fail_above=['label=0.1']); c._audit_dirs([__import__('pathlib').Path('d.csv')], None); "
        "print(sorted(m for m in ('pandas', 'sklearn', 'scipy', 'numpy', 'cleanlab', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_pred_probs_scan_loads_no_scipy_or_scikit_learn(tmp_path):
    """scipy (0.3 s, 100 MB at 1M rows) is imported only where a graph or a model needs it."""
    import subprocess
    import sys

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    pp = rng.dirichlet(np.ones(3), 300)
    pp[np.arange(300), y] += 1.0  # a model that mostly agrees (else the permuted-columns check loads scipy.optimize)
    pp /= pp.sum(axis=1, keepdims=True)
    np.save(tmp_path / "pp.npy", pp)
    pd.DataFrame({"label": y}).to_parquet(tmp_path / "labels.parquet")
    code = (
        "import atexit, sys, labelaudit.cli as c; sys.argv = ['labelaudit', 'scan', sys.argv[1], '--pred-probs', "
        "sys.argv[2], '-q', '--out', sys.argv[3]]\n"
        "atexit.register(lambda: print(sorted(m for m in ('scipy', 'sklearn', 'torch') if m in sys.modules)))\n"
        "c.main()"
    )
    args = [str(tmp_path / "labels.parquet"), str(tmp_path / "pp.npy"), str(tmp_path / "a")]
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    assert (tmp_path / "a" / "issues.parquet").exists(), out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_manifest_times_start_up_and_writing(tmp_path):
    import json

    from typer.testing import CliRunner

    from labelaudit.cli import app

    res = CliRunner().invoke(
        app, ["scan", str(SAMPLE / "digits_noisy.parquet"), "--model", "logreg", "-q", "--out", str(tmp_path / "a")]
    )
    assert res.exit_code == 0, res.output
    timings = json.loads((tmp_path / "a" / "manifest.json").read_text())["timings"]
    assert {"read", "oof", "knn", "write", "write:cleaned"} <= set(timings)
    assert all(v >= 0 for v in timings.values())


def test_the_console_command_exits_with_its_code_its_output_flushed_and_exit_handlers_run(tmp_path):
    """The console entry point skips the interpreter's module teardown (os._exit): the exit code, the
    buffered output and the exit handlers must survive that."""
    import json
    import subprocess
    import sys

    code = (
        "import atexit, sys, labelaudit.cli as c; sys.argv = ['labelaudit', *sys.argv[1:]]\n"
        "atexit.register(lambda: print('exit handler ran'))\n"
        "c.main()"
    )
    data = str(SAMPLE / "digits_noisy.parquet")
    args = ["scan", data, "--model", "logreg", "--fail-above", "label=0.001", "--format", "json", "--out"]
    out = subprocess.run([sys.executable, "-c", code, *args, str(tmp_path / "a")], capture_output=True, text=True)
    assert out.returncode == 1, out.stderr  # the gate failed
    body, last = out.stdout.rsplit("\n", 2)[0], out.stdout.splitlines()[-1]
    assert json.loads(body)["exit_code"] == 1 and last == "exit handler ran"
    out = subprocess.run(
        [sys.executable, "-c", code, "scan", str(tmp_path / "nope.csv")], capture_output=True, text=True
    )
    assert out.returncode == 2 and out.stderr.startswith("error: ") and out.stdout == "exit handler ran\n"
