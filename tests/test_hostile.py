"""Hostile and careless input: no data destroyed, no code run, no crash where a one-line error belongs.

The table below is the contract: each case sets up files in a fresh folder, runs one command, and must
exit 2 with one ``error:`` line holding the expected words, no traceback, every file that was there
before unchanged (same bytes) and nothing new left behind. Add a case by adding a row.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT, invoke, make_frame


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A folder with b.csv (240 rows, ids r0..) and its audit, copied into each case's own folder."""
    d = tmp_path_factory.mktemp("hostile-template")
    df, _ = make_frame(n=240, seed=2)
    df.to_csv(d / "b.csv", index=False)
    cwd = os.getcwd()
    os.chdir(d)
    try:
        from typer.testing import CliRunner

        res = invoke(CliRunner(), ["scan", "b.csv", "--model", "logreg", "-q", "--checks", "label,outlier"])
        assert res.exit_code == 0, res.output
    finally:
        os.chdir(cwd)
    return d


def snapshot(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
    return out


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def ls_task(i: int, annotations) -> dict:
    return {"id": i, "data": {"text": f"item {i}", "labelaudit_id": f"r{i}"}, "annotations": annotations}


def ls_export(tasks: list) -> str:
    return json.dumps(tasks)


def tamper(audit: Path, edit: Callable[[dict], object]) -> None:
    m = json.loads((audit / "manifest.json").read_text())
    out = edit(m)
    (audit / "manifest.json").write_text(json.dumps(m if out is None else out))


def good_ann(label="cat", who=1):
    return {"completed_by": who, "result": [{"from_name": "l", "to_name": "t", "value": {"choices": [label]}}]}


@dataclass
class Case:
    name: str
    setup: Callable[[Path], list]
    """Creates what the case needs in the folder and returns the CLI arguments."""
    expect: str
    """Words the one error line must hold."""


def _scan_out_is_input(d: Path):
    return ["scan", "b.csv", "--out", "b.csv", "--force"]


def _scan_out_holds_input(d: Path):
    (d / "proj").mkdir()
    shutil.move(d / "b.csv", d / "proj" / "b.csv")
    write(d / "proj" / "notes.md", "my notes")
    return ["scan", "proj/b.csv", "--out", "proj", "--force"]


def _scan_out_not_an_audit(d: Path):
    write(d / "results" / "keep.txt", "precious")
    return ["scan", "b.csv", "--out", "results", "--force"]


def _scan_out_is_a_file(d: Path):
    write(d / "x.labelaudit", "a file, not an audit")
    return ["scan", "b.csv", "--out", "x.labelaudit", "--force"]


def _simulate_out_is_input(d: Path):
    return ["simulate", "b.csv", "--out", "b.csv", "--force"]


def _filter_output_is_input(d: Path):
    return ["filter", "b.labelaudit", "--output", "b.csv", "--force"]


def _report_output_is_input(d: Path):
    return ["report", "b.labelaudit", "--format", "markdown", "--output", "b.csv", "--force"]


def _report_output_is_audit(d: Path):
    return ["report", "b.labelaudit", "--format", "json", "--output", "b.labelaudit", "--force"]


def _label_config_exists(d: Path):
    write(d / "tasks.label_config.xml", "<View>mine</View>")
    return ["report", "b.labelaudit", "--format", "label-studio", "--output", "tasks.json"]


def _retrain_out_not_a_model(d: Path):
    write(d / "models" / "notes.txt", "mine")
    return ["retrain", "b.labelaudit", "--learner", "sklearn", "--out", "models", "--force", "--bootstrap", "0"]


def _ls(d: Path, tasks) -> Path:
    return write(d / "export.json", tasks if isinstance(tasks, str) else ls_export(tasks))


def _ls_scan(tasks):
    return lambda d: ["scan", _ls(d, tasks).name]


def _ls_decisions(tasks):
    return lambda d: ["filter", "b.labelaudit", "--decisions", _ls(d, tasks).name]


def _tampered(edit):
    def setup(d: Path):
        tamper(d / "b.labelaudit", edit)
        return ["report", "b.labelaudit"]

    return setup


def _raw_manifest(text: str):
    def setup(d: Path):
        write(d / "b.labelaudit" / "manifest.json", text)
        return ["report", "b.labelaudit"]

    return setup


def _issues_wrong_columns(d: Path):
    pd.DataFrame({"x": [1, 2]}).to_parquet(d / "b.labelaudit" / "issues.parquet")
    return ["report", "b.labelaudit"]


def _pred_probs_wrong_shape(d: Path):
    np.save(d / "b.labelaudit" / "pred_probs.npy", np.zeros((3, 2)))
    return ["report", "b.labelaudit", "--format", "json"]


def _issues_not_parquet(d: Path):
    write(d / "b.labelaudit" / "issues.parquet", b"PAR1 not really")
    return ["filter", "b.labelaudit"]


def _crowd_items_corrupt(d: Path):
    rows = [(f"i{i}", f"w{w}", "cat" if (i + w) % 4 else "dog") for i in range(30) for w in range(3)]
    pd.DataFrame(rows, columns=["item", "annotator", "label"]).to_csv(d / "ann.csv", index=False)
    from typer.testing import CliRunner

    assert (
        invoke(
            CliRunner(),
            ["scan", d / "ann.csv", "--item", "item", "--annotator", "annotator", "-q", "--out", d / "ann.labelaudit"],
        ).exit_code
        == 0
    )
    write(d / "ann.labelaudit" / "items.parquet", b"garbage")
    return ["report", "ann.labelaudit"]


def _ragged_csv(d: Path):
    write(d / "r.csv", "a,b,label\n1,2,x\n3,4,y,9\n5,6,x\n")
    return ["scan", "r.csv"]


def _short_row_csv(d: Path):
    write(d / "r.csv", "a,b,label\n1,2,x\n3,4\n5,6,x\n")
    return ["scan", "r.csv"]


def _duplicate_ids(d: Path):
    df = pd.read_csv(d / "b.csv")
    df.loc[7, "id"] = "r4"
    df.to_csv(d / "dup.csv", index=False)
    return ["scan", "dup.csv", "--id", "id"]


def _duplicate_columns(d: Path):
    write(d / "dup.csv", "f0,f0,label\n1,2,x\n3,4,y\n")
    return ["scan", "dup.csv"]


def _pred_probs_misnamed(d: Path):
    df = pd.read_csv(d / "b.csv")[["id", "label"]]
    df.to_csv(d / "labels.csv", index=False)
    pd.DataFrame(np.full((len(df), 3), 1 / 3), columns=["cat", "dgo", "bird"]).to_csv(d / "pp.csv", index=False)
    return ["scan", "labels.csv", "--pred-probs", "pp.csv"]


def _many_classes(d: Path):
    pd.DataFrame({"x": np.arange(10_000.0), "label": [f"c{i}" for i in range(10_000)]}).to_csv(d / "m.csv", index=False)
    return ["scan", "m.csv"]


def _config_type_error(d: Path):
    write(d / "labelaudit.toml", 'folds = "five"\n')
    return ["scan", "b.csv"]


def _config_unknown_key(d: Path):
    write(d / "labelaudit.toml", "bogus = 1\n")
    return ["scan", "b.csv"]


def _write_frame(d: Path, name: str, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> str:
    df = edit(pd.read_csv(d / "b.csv"))
    path = d / name
    if name.endswith(".parquet"):
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return name


CASES = [
    # --- data destroyed ------------------------------------------------------------------------
    Case("scan --out is the input", _scan_out_is_input, "is an input of this command"),
    Case("scan --out holds the input", _scan_out_holds_input, "holds an input of this command"),
    Case("scan --out is a folder that is not an audit", _scan_out_not_an_audit, "is not a labelaudit audit"),
    Case("scan --out is a file", _scan_out_is_a_file, "is not a labelaudit audit"),
    Case("simulate --out is the input", _simulate_out_is_input, "is an input of this command"),
    Case("filter --output is the input", _filter_output_is_input, "is an input of this command"),
    Case("report --output is the input", _report_output_is_input, "is an input of this command"),
    Case("report --output is the audit", _report_output_is_audit, "is an input of this command"),
    Case("label config beside the tasks exists", _label_config_exists, "tasks.label_config.xml already exists"),
    Case("retrain --out is not a model directory", _retrain_out_not_a_model, "is not a labelaudit model directory"),
    # --- Label Studio exports: scan and filter --decisions ---------------------------------------
    Case("LS annotations is a string", _ls_scan([ls_task(0, "cat")]), "has 'annotations' as a JSON string"),
    Case("LS annotations holds null", _ls_scan([ls_task(0, [None])]), "annotation 0 is a JSON null"),
    Case(
        "LS result value is a list",
        _ls_scan([ls_task(0, [{"completed_by": 1, "result": [{"value": ["cat"]}]}])]),
        "result 'value' that is a JSON list",
    ),
    Case("LS data is a list", _ls_scan([{"id": 0, "data": [1], "annotations": []}]), "has 'data' as a JSON list"),
    Case("LS export is an object", _ls_scan('{"tasks": []}'), "holds a JSON object"),
    Case("LS task is a number", _ls_scan("[1, 2]"), "task 0 is a JSON number"),
    Case("LS result is a string", _ls_scan([ls_task(0, [{"result": "cat"}])]), "has 'result' as a JSON string"),
    Case(
        "LS choices hold objects",
        _ls_scan([ls_task(0, [{"result": [{"value": {"choices": [{"a": 1}]}}]}])]),
        "'choices' that are not a list of labels",
    ),
    Case("decisions: annotations is a string", _ls_decisions([ls_task(0, "cat")]), "as a JSON string"),
    Case(
        "decisions: value is a list",
        _ls_decisions([ls_task(0, [{"result": [{"value": ["cat"]}]}])]),
        "result 'value' that is a JSON list",
    ),
    Case("decisions: data is a list", _ls_decisions([{"id": 0, "data": ["r0"], "annotations": []}]), "as a JSON list"),
    Case("decisions: not JSON", _ls_decisions("[{"), "is not valid JSON"),
    Case("decisions: unknown task id", _ls_decisions([{**ls_task(0, [good_ann()]), "data": {}}]), "is not a row"),
    # --- tampered audits -----------------------------------------------------------------------------
    Case("manifest summary deleted", _tampered(lambda m: m.pop("summary") and None), "lacks 'summary'"),
    Case("manifest is null", _raw_manifest("null"), "holds a JSON null, not an audit manifest"),
    Case("manifest is a list", _raw_manifest("[1, 2]"), "holds a JSON list, not an audit manifest"),
    Case("manifest rows a string", _tampered(lambda m: m["summary"].update(rows="240")), "'summary.rows' is a str"),
    Case("manifest classes wrong", _tampered(lambda m: m.update(classes=[1, 2])), "'classes' entries need a 'name'"),
    Case("manifest newer schema", _tampered(lambda m: m.update(schema_version=99)), "schema version 99"),
    Case("issues.parquet wrong columns", _issues_wrong_columns, "issues.parquet lacks the column(s)"),
    Case("pred_probs.npy wrong shape", _pred_probs_wrong_shape, "pred_probs.npy has shape (3, 2)"),
    Case("issues.parquet not Parquet", _issues_not_parquet, "issues.parquet is damaged"),
    Case("crowd items.parquet corrupt", _crowd_items_corrupt, "items.parquet is damaged"),
    # --- careless data -------------------------------------------------------------------------------
    Case("CSV row with an extra field", _ragged_csv, "a row has 4 fields but the header has 3"),
    Case("CSV row with a missing field", _short_row_csv, "a row has 2 fields but the header has 3"),
    Case("duplicated --id values", _duplicate_ids, "--id column 'id' has duplicate values: 'r4' (rows 4, 7)"),
    Case("duplicated column names", _duplicate_columns, "duplicate column names ('f0')"),
    Case("pred_probs CSV columns misnamed", _pred_probs_misnamed, "columns 'dgo' are not class names"),
    Case("10 000 classes of one row", _many_classes, "(10000 in all)"),
    Case("options file type error", _config_type_error, "labelaudit.toml: scan option 'folds' = 'five' is not valid"),
    Case("options file unknown key", _config_unknown_key, "unknown scan option 'bogus'"),
    Case("non-integer option", lambda d: ["scan", "b.csv", "--folds", "five"], "Invalid value for '--folds'"),
    Case("--config is a directory", lambda d: ["--config", str(d), "scan", "b.csv"], "is a directory"),
    Case("scan --top -5", lambda d: ["scan", "b.csv", "--top", "-5"], "--top must be 0 or more (got -5)"),
    Case("missing data argument", lambda d: ["scan"], "Missing argument"),
    Case("unknown command", lambda d: ["scna", "b.csv"], "No such command 'scna'"),
    Case("no such file", lambda d: ["scan", "nope.csv"], "no such file"),
    Case("empty file", lambda d: ["scan", write(d / "e.csv", "").name], "is empty (0 bytes)"),
    Case("header only", lambda d: ["scan", write(d / "h.csv", "a,label\n").name], "has a header but no rows"),
    Case(
        "latin-1 bytes as utf-8",
        lambda d: ["scan", write(d / "l.csv", "a,label\n1,caf\xe9\n".encode("latin-1")).name],
        "is not valid utf-8",
    ),
    Case("JSON Lines broken", lambda d: ["scan", write(d / "j.jsonl", '{"a": 1}\n{"a": \n').name], "JSON Lines"),
    Case(
        "NPY of pickled objects",
        lambda d: [
            "scan",
            (np.save(d / "o.npy", np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True), "o.npy")[1],
            "--labels",
            write(d / "y.txt", "a\nb\na\n").name,
        ],
        "holds pickled Python objects",
    ),
    Case("one class only", lambda d: ["scan", _write_frame(d, "one.csv", lambda f: f.assign(label="cat"))], "single"),
    Case(
        "--label not a column",
        lambda d: ["scan", "b.csv", "--label", "nope", "--out", "n.labelaudit"],
        "--label column 'nope' not found",
    ),
    Case("--folds 1", lambda d: ["scan", "b.csv", "--folds", "1"], "--folds must be an integer of at least 2"),
    Case("--fail-above 5", lambda d: ["scan", "b.csv", "--fail-above", "5"], "between 0 and 1"),
    Case("--checks bogus", lambda d: ["scan", "b.csv", "--checks", "bogus"], "--checks must be one of"),
    Case("--model bogus", lambda d: ["scan", "b.csv", "--model", "bogus"], "--model must be one of"),
    Case("--jobs 0", lambda d: ["scan", "b.csv", "--jobs", "0"], "--jobs must be a positive integer"),
    Case("--batch-rows 0", lambda d: ["scan", "b.csv", "--batch-rows", "0"], "--batch-rows must be a positive"),
    Case("report --format pdf", lambda d: ["report", "b.labelaudit", "--format", "pdf"], "--format must be one of"),
    Case("report no audit", lambda d: ["report", "nope.labelaudit"], "is not an audit directory"),
    Case(
        "filter --max-class-fraction 2",
        lambda d: ["filter", "b.labelaudit", "--max-class-fraction", "2"],
        "between 0 and 1",
    ),
    Case("filter --decisions missing", lambda d: ["filter", "b.labelaudit", "--decisions", "no.csv"], "not found"),
    Case("simulate --rate 2", lambda d: ["simulate", "b.csv", "--rate", "2"], "rate"),
    Case(
        "retrain --bootstrap -1",
        lambda d: ["retrain", "b.labelaudit", "--learner", "sklearn", "--bootstrap", "-1"],
        "--bootstrap must be 0 or more",
    ),
    Case(
        "retrain --coteach mlp,mlp",
        lambda d: ["retrain", "b.labelaudit", "--coteach", "mlp,mlp"],
        "co-teaching needs two different models",
    ),
]


def copy_template(template: Path, d: Path) -> Path:
    """The template folder copied to ``d``, its audit pointing at the copy of b.csv (same bytes)."""
    shutil.copytree(template, d)
    tamper(d / "b.labelaudit", lambda m: m["input"].update(path=str(d / "b.csv")))
    return d


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_exit_2_and_destroys_nothing(case: Case, template, tmp_path, monkeypatch, runner):
    d = copy_template(template, tmp_path / "case")
    monkeypatch.chdir(d)
    args = case.setup(d)
    before = snapshot(d)
    res = invoke(runner, args)
    assert res.exit_code == 2, (res.exit_code, res.output)
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, res.stderr
    assert case.expect in lines[0], lines[0]
    assert len(lines[0]) < 1200, "an error line must stay readable"
    assert "Traceback" not in res.output and "internal error" not in res.output
    assert snapshot(d) == before, "the command changed or added files although it failed"


def test_single_row_class_and_a_huge_label_work(runner, template, tmp_path, monkeypatch):
    """Not errors at all: the class is reported as not assessed, the label is shortened in messages."""
    monkeypatch.chdir(tmp_path)
    df = pd.read_csv(template / "b.csv")
    df.loc[3, "label"] = "x" * 2_000_000
    df.to_csv("big.csv", index=False)
    res = invoke(runner, ["scan", "big.csv", "-q"])
    assert res.exit_code == 0, res.output[:500]
    assert "not assessed" in res.stderr and "(2000000 characters)" in res.stderr and len(res.stderr) < 1000
    # gradient boosting's early stopping splits off a stratified validation set: a class of one row broke it
    frame, _ = make_frame(n=600, seed=4)
    frame.loc[5, "label"] = "eleven"
    frame.to_parquet("one.parquet")
    for model in ("auto", "hgb"):
        res = invoke(runner, ["scan", "one.parquet", "--model", model, "--checks", "label", "-q", "--force"])
        assert res.exit_code == 0, res.output
        assert "not assessed: 'eleven'" in res.stderr


def test_unwritable_step_summary_is_a_warning(runner, template, tmp_path, monkeypatch):
    d = copy_template(template, tmp_path / "case")
    monkeypatch.chdir(d)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(d / "missing" / "summary.md"))
    res = invoke(runner, ["scan", "b.csv", "--model", "logreg", "--checks", "label", "-q", "--out", "s.labelaudit"])
    assert res.exit_code == 0, res.output
    assert "warning: could not append the summary to GITHUB_STEP_SUMMARY" in res.stderr
    res = invoke(runner, ["report", "s.labelaudit", "--format", "json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["schema"] == "labelaudit.report"
    assert "warning: could not append the summary" in res.stderr


def test_review_sheet_header_cells_are_neutralised(runner, template, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = pd.read_csv(template / "b.csv").rename(columns={"a": "=evilcol()"})
    df.to_csv("e.csv", index=False)
    assert invoke(runner, ["scan", "e.csv", "--model", "logreg", "--checks", "label", "-q"]).exit_code == 0
    sheet = invoke(runner, ["report", "e.labelaudit", "--format", "review-csv"]).stdout
    header = sheet.splitlines()[0].split(",")
    assert "'=evilcol()" in header and "=evilcol()" not in header


# --- --force replaces only audits, and never a target that appeared meanwhile --------------------


def test_force_replaces_an_audit_and_the_input_survives_every_refusal(runner, template, tmp_path, monkeypatch):
    d = copy_template(template, tmp_path / "case")
    monkeypatch.chdir(d)
    data_sha = hashlib.sha256((d / "b.csv").read_bytes()).hexdigest()
    res = invoke(runner, ["scan", "b.csv", "--model", "logreg", "--checks", "label", "-q", "--force"])
    assert res.exit_code == 0, res.output  # an audit is replaced
    res = invoke(runner, ["filter", "b.labelaudit", "--output", "b.labelaudit/cleaned.csv", "--force"])
    assert res.exit_code == 0, res.output  # a file inside the audit is not the audit
    assert hashlib.sha256((d / "b.csv").read_bytes()).hexdigest() == data_sha


def test_two_scans_into_one_out_never_replace_each_other(tmp_path):
    """Both start before either writes; the one that renames second is refused, whatever the timing."""
    for name, seed in (("a.csv", 1), ("b.csv", 2)):
        make_frame(n=600, seed=seed)[0].to_csv(tmp_path / name, index=False)
    cmd = [sys.executable, "-m", "labelaudit.cli", "scan"]
    common = ["--out", "shared.labelaudit", "--model", "logreg", "-q"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    procs = [
        subprocess.Popen([*cmd, n, *common], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
        for n in ("a.csv", "b.csv")
    ]
    results = []
    for p in procs:
        _, err = p.communicate(timeout=300)
        results.append((p.returncode, err))
    codes = sorted(c for c, _ in results)
    assert codes == [0, 2], results
    loser = next(err for c, err in results if c == 2)
    assert "already exists" in loser or "appeared while this command ran" in loser
    winner = ("a.csv", "b.csv")[[c for c, _ in results].index(0)]
    manifest = json.loads((tmp_path / "shared.labelaudit" / "manifest.json").read_text())
    assert manifest["input"]["name"] == winner
    assert not list(tmp_path.glob(".labelaudit-tmp-*"))


def test_noreplace_rename_refuses_an_existing_target(tmp_path):
    from labelaudit.io.atomic import _rename_noreplace

    (tmp_path / "src").mkdir()
    (tmp_path / "dst").mkdir()  # even an empty directory, which a plain rename would replace
    with pytest.raises(FileExistsError):
        _rename_noreplace(tmp_path / "src", tmp_path / "dst")
    _rename_noreplace(tmp_path / "src", tmp_path / "new")
    assert (tmp_path / "new").is_dir()


# --- stale temporary files after SIGKILL ---------------------------------------------------------


@pytest.mark.slow
def test_a_killed_scan_leaves_a_temp_folder_that_the_next_run_removes(tmp_path):
    rng = np.random.default_rng(0)
    n = 150_000
    df = pd.DataFrame(rng.normal(size=(n, 8)).astype(np.float32), columns=[f"f{i}" for i in range(8)])
    df["label"] = rng.integers(0, 3, n).astype(str)
    df.to_parquet(tmp_path / "big.parquet")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "labelaudit.cli", "scan", "big.parquet", "--model", "logreg", "--checks", "label"]
    leftovers: list[Path] = []
    for _ in range(3):  # the save window is short: try a few times to kill it inside
        proc = subprocess.Popen([*cmd, "-q", "--force"], cwd=tmp_path, env=env, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            leftovers = list(tmp_path.glob(".labelaudit-tmp-*"))
            if leftovers:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
        proc.wait()
        if leftovers:
            break
    if not leftovers:
        pytest.skip("the scan finished before its temporary folder could be seen; timing only")
    time.sleep(0.05)
    assert list(tmp_path.glob(".labelaudit-tmp-*")), "SIGKILL should have left the temporary folder"
    res = subprocess.run([*cmd, "-q", "--force"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "left by an interrupted labelaudit run" in res.stderr
    assert not list(tmp_path.glob(".labelaudit-tmp-*"))


def test_temp_entries_of_live_processes_are_kept(tmp_path):
    from labelaudit.io import atomic

    mine = tmp_path / f"{atomic.TMP_PREFIX}{os.getpid()}-abc"
    mine.mkdir()
    dead_pid = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    dead = tmp_path / f"{atomic.TMP_PREFIX}{dead_pid}-xyz"
    dead.mkdir()
    old = time.time() - 3600
    os.utime(dead, (old, old))
    os.utime(mine, (old, old))
    assert atomic.remove_stale_temps(tmp_path) == [dead]
    assert mine.exists() and not dead.exists()


# --- loading a crafted skops file runs nothing ----------------------------------------------------


def test_a_crafted_skops_model_is_refused_and_runs_nothing(tmp_path):
    import zipfile

    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    from labelaudit.errors import AuditFormatError
    from labelaudit.retrain.model_io import MODEL_JSON, MODEL_SCHEMA, SKOPS_FILE, load_model

    marker = tmp_path / "pwned"
    model = LogisticRegression().fit(np.random.default_rng(0).random((20, 3)), np.arange(20) % 2)
    model.extra_ = ("x",)
    d = tmp_path / "model"
    d.mkdir()
    sio.dump(model, d / "plain.skops")
    with zipfile.ZipFile(d / "plain.skops") as z:
        schema = json.loads(z.read("schema.json"))
        files = {i.filename: z.read(i.filename) for i in z.infolist()}
    node = schema["content"]["content"]["extra_"]  # a tuple node ("x",) becomes exec("open(marker)...")
    args = {**node, "content": [{**node["content"][0], "content": json.dumps(f"open({str(marker)!r}, 'w')")}]}
    schema["content"]["content"]["extra_"] = {
        "__class__": "exec",
        "__module__": "builtins",
        "__loader__": "ConstructorFromReduceNode",
        "content": args,
        "__id__": node["__id__"],
    }
    files["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(d / SKOPS_FILE, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    (d / MODEL_JSON).write_text(json.dumps({"schema": MODEL_SCHEMA, "weights": SKOPS_FILE}))
    assert sio.get_untrusted_types(file=d / SKOPS_FILE) == ["builtins.exec"]
    with pytest.raises(AuditFormatError, match=r"types labelaudit does not trust \(builtins\.exec\)"):
        load_model(d)
    assert not marker.exists()
    # a real model directory still loads (the allow-list is not too strict)
    shutil.copy(d / "plain.skops", d / SKOPS_FILE)
    assert load_model(d).predict_proba(np.zeros((1, 3))).shape == (1, 2)


# --- fuzz: malformed files never crash --------------------------------------------------------------

FUZZ = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["id", "data", "annotations", "result", "value", "choices", "completed_by", "was_cancelled"]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


def _run_fuzz(runner, args) -> None:
    res = invoke(runner, args)
    assert res.exit_code in (0, 1, 2), (res.exit_code, res.output[-500:])
    assert "Traceback" not in res.output and "internal error" not in res.output, res.output[-500:]


@FUZZ
@given(body=st.text(alphabet=st.sampled_from(list('ab,;"\n1.-x\t')), max_size=120))
def test_fuzz_malformed_csv(body, tmp_path_factory):
    from typer.testing import CliRunner

    d = tmp_path_factory.mktemp("fz")
    write(d / "f.csv", "a,b,label\n" + body)
    _run_fuzz(
        CliRunner(),
        ["scan", str(d / "f.csv"), "--model", "logreg", "--checks", "label", "-q", "--out", str(d / "o.labelaudit")],
    )


@FUZZ
@given(lines=st.lists(json_values, max_size=6))
def test_fuzz_json_lines(lines, tmp_path_factory):
    from typer.testing import CliRunner

    d = tmp_path_factory.mktemp("fz")
    write(d / "f.jsonl", "\n".join(json.dumps(v) for v in lines) + "\n")
    _run_fuzz(CliRunner(), ["scan", str(d / "f.jsonl"), "--checks", "label", "-q", "--out", str(d / "o.labelaudit")])


@FUZZ
@given(tasks=json_values)
def test_fuzz_label_studio_exports(tasks, tmp_path_factory, template):
    from typer.testing import CliRunner

    d = tmp_path_factory.mktemp("fz")
    write(d / "export.json", json.dumps(tasks if isinstance(tasks, list) else [tasks]))
    runner = CliRunner()
    _run_fuzz(runner, ["scan", str(d / "export.json"), "-q", "--out", str(d / "o.labelaudit")])
    _run_fuzz(
        runner,
        ["filter", str(template / "b.labelaudit"), "--decisions", str(d / "export.json"), "--output", str(d / "c.csv")],
    )


@FUZZ
@given(
    path=st.lists(
        st.sampled_from(
            ["summary", "checks", "label", "input", "gates", "classes", "rows", "count", "per_class", "results", "0"]
        ),
        min_size=1,
        max_size=4,
    ),
    value=json_values,
    delete=st.booleans(),
)
def test_fuzz_tampered_manifest(path, value, delete, template, tmp_path_factory):
    from typer.testing import CliRunner

    d = tmp_path_factory.mktemp("fz")
    audit = d / "b.labelaudit"
    shutil.copytree(template / "b.labelaudit", audit)
    m = json.loads((audit / "manifest.json").read_text())
    node = m
    for key in path[:-1]:
        nxt = node.get(key) if isinstance(node, dict) else None
        if not isinstance(nxt, dict):
            break
        node = nxt
    if isinstance(node, dict):
        if delete:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    (audit / "manifest.json").write_text(json.dumps(m))
    runner = CliRunner()
    for fmt in ("table", "json", "markdown"):
        _run_fuzz(runner, ["report", str(audit), "--format", fmt, "--data", str(template / "b.csv")])
    _run_fuzz(runner, ["filter", str(audit), "--data", str(template / "b.csv"), "--output", str(d / "c.csv")])


@pytest.mark.parametrize(
    ("keys", "value"),
    [(("gates", "results"), [None]), (("gates", "results"), [{"check": "label"}]), (("summary", "per_class"), [1])],
)
def test_tampered_manifest_list_entries_are_exit_2(keys, value, template, tmp_path):
    """Found by the fuzzer: gates.results = [None] crashed the summary table (exit 3)."""
    from typer.testing import CliRunner

    audit = tmp_path / "b.labelaudit"
    shutil.copytree(template / "b.labelaudit", audit)
    m = json.loads((audit / "manifest.json").read_text())
    m[keys[0]][keys[1]] = value
    (audit / "manifest.json").write_text(json.dumps(m))
    res = invoke(CliRunner(), ["report", str(audit), "--data", str(template / "b.csv")])
    assert res.exit_code == 2, res.output
    assert f"an entry of '{'.'.join(keys)}' is not what labelaudit wrote" in res.output


@pytest.mark.parametrize("value", [None, {"count": 1}, {"count": "1", "rate": 0.1}])
def test_tampered_check_summaries_are_exit_2(value, template, tmp_path):
    """Found by the fuzzer: summary.checks.<name> = null crashed the summary table (exit 3)."""
    from typer.testing import CliRunner

    audit = tmp_path / "b.labelaudit"
    shutil.copytree(template / "b.labelaudit", audit)
    m = json.loads((audit / "manifest.json").read_text())
    m["summary"]["checks"]["summary"] = value
    (audit / "manifest.json").write_text(json.dumps(m))
    res = invoke(CliRunner(), ["report", str(audit), "--data", str(template / "b.csv")])
    assert res.exit_code == 2, res.output
    assert "'summary.checks.summary' is not what labelaudit wrote" in res.output


def test_a_target_that_appears_while_writing_is_not_replaced(tmp_path):
    from labelaudit.errors import OutputError
    from labelaudit.io.atomic import atomic_directory, atomic_file

    target = tmp_path / "out.labelaudit"
    with (
        pytest.raises(OutputError, match="appeared while this command ran"),
        atomic_directory(target, force=False) as tmp,
    ):
        (tmp / "manifest.json").write_text("{}")
        target.mkdir()  # another scan finished first
        (target / "theirs.txt").write_text("theirs")
    assert (target / "theirs.txt").read_text() == "theirs" and not (target / "manifest.json").exists()
    report = tmp_path / "r.md"
    with pytest.raises(OutputError, match="appeared while this command ran"), atomic_file(report, force=False) as tmp:
        tmp.write_text("mine")
        report.write_text("theirs")
    assert report.read_text() == "theirs"
    assert not list(tmp_path.glob(".labelaudit-tmp-*"))
