"""labelaudit report: every format, the JSON schema, escaping, review round trip, JUnit, step summary, browser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import labelaudit
from labelaudit.report import ReportFormat
from tests.conftest import ROOT, invoke, make_frame

XSS = "<script>document.title='pwned'</script>"
IMG = "<img src=x onerror=\"document.title='pwned'\">"


@pytest.fixture
def hostile(runner, workdir):
    """An audit whose data holds script tags, formula cells and markdown in ids and values."""
    df, _ = make_frame(n=240, noise=0.15)
    df.insert(1, "note", "")
    df["note"] = [XSS if i % 3 == 0 else (IMG if i % 3 == 1 else '=HYPERLINK("http://x")') for i in range(len(df))]
    df["id"] = [f"|r{i}|[x](javascript:alert(1))" if i % 2 else f"=cmd{i}" for i in range(len(df))]
    p = workdir / "hostile.csv"
    df.to_csv(p, index=False)
    res = invoke(
        runner,
        ["scan", p, "--model", "logreg", "--id", "id", "--features", "a,b,c,d,colour", "-q", "--fail-above", "0.01"],
    )
    assert res.exit_code == 1, res.output
    return workdir / "hostile.labelaudit"


def shape(doc):
    """Keys and value types, recursively (lists by their first element): the schema's golden form."""
    if isinstance(doc, dict):
        return {k: shape(v) for k, v in sorted(doc.items())}
    if isinstance(doc, list):
        return [shape(doc[0])] if doc else []
    return type(doc).__name__


def test_every_format_maps_to_a_renderer(runner, hostile):
    for fmt in ReportFormat:
        res = invoke(runner, ["report", hostile, "--format", fmt.value, "--top", "5"])
        assert res.exit_code == 0, (fmt, res.output)  # a report that renders exits 0 unless asked to gate
        assert res.stdout.strip(), fmt


def test_report_gates_only_when_asked(runner, hostile, workdir):
    # --gate: the scan's recorded gate (--fail-above 0.01 failed); named on stderr even with nothing else printed
    res = invoke(runner, ["report", hostile, "--format", "json", "--gate"])
    assert res.exit_code == 1
    assert "gate failed: label-issue rate" in res.stderr and "(--fail-above 0.01)" in res.stderr
    # --fail-above: a new gate on the saved audit, without re-scanning; it replaces the scan's
    res = invoke(runner, ["report", hostile, "--format", "json", "--fail-above", "0.99"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["gates"]["thresholds"] == {"label": 0.99} and doc["gates"]["passed"] and doc["exit_code"] == 0
    res = invoke(runner, ["report", hostile, "--fail-above", "outlier=0.0", "--junit", workdir / "j.xml"])
    doc_rate = labelaudit.load_audit(hostile).summary["checks"]["outlier"]["rate"]
    assert res.exit_code == (1 if doc_rate > 0 else 0)
    assert "outlier" in (workdir / "j.xml").read_text()
    res = invoke(runner, ["report", hostile, "--fail-above", "bogus=0.1"])
    assert res.exit_code == 2 and "--fail-above CHECK=RATE must be one of" in res.stderr


def test_table_shows_per_class_ids_and_values(runner, hostile):
    res = invoke(runner, ["report", hostile, "--top", "3"])
    assert "Per class" in res.stdout and "Top 3 suspected label errors" in res.stdout
    assert "What to do next" in res.stdout and "a=" in res.stdout


def test_json_schema_is_stable(runner, hostile):
    doc = json.loads(invoke(runner, ["report", hostile, "--format", "json", "--top", "2"]).stdout)
    assert doc["schema"] == "labelaudit.report" and doc["schema_version"] == 1
    golden_path = ROOT / "tests" / "golden" / "report_json_shape.json"
    got = shape(doc)
    # values that vary in type with the data are normalised before comparing
    for key in ("run",):
        got[key] = sorted(got[key]) if isinstance(got[key], dict) else got[key]
    if os.environ.get("LABELAUDIT_UPDATE_GOLDEN"):
        golden_path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    assert got == json.loads(golden_path.read_text())


def test_markdown_escapes_untrusted_values(runner, hostile):
    md = invoke(runner, ["report", hostile, "--format", "markdown", "--top", "20"]).stdout
    assert "<script>" not in md and "<img" not in md
    assert "](javascript" not in md
    assert "gates **FAILED**" in md


def test_review_csv_neutralises_formulas_and_roundtrips_into_filter(runner, hostile, workdir):
    res = invoke(runner, ["report", hostile, "--format", "review-csv", "--output", workdir / "review.csv"])
    assert res.exit_code == 0
    review = pd.read_csv(workdir / "review.csv", dtype=str, keep_default_na=False)
    assert {"id", "row", "given_label", "suggested_label", "label_quality", "reason", "decision", "note"} <= set(
        review.columns
    )
    assert not review["note"].str.startswith(("=", "+", "-", "@")).any()
    assert not review["id"].str.startswith(("=", "+", "-", "@")).any()
    assert (review["decision"] == "").all()
    audit = labelaudit.load_audit(hostile)
    assert len(review) == int(audit.issues["is_label_issue"].sum())
    # a reviewer keeps the first, relabels the second, drops the third
    other = next(c for c in audit.class_names if c != review.loc[1, "given_label"])
    review.loc[0, "decision"], review.loc[1, "decision"], review.loc[2, "decision"] = "keep", f"relabel:{other}", "drop"
    review.to_csv(workdir / "review.csv", index=False)
    res = invoke(runner, ["filter", hostile, "--decisions", workdir / "review.csv", "--format", "json"])
    assert res.exit_code == 0, res.output
    plan = labelaudit.load_audit(hostile)  # unchanged audit
    removed = pd.read_csv(json.loads(res.stdout)["outputs"]["removed"], dtype=str, keep_default_na=False)
    rows = removed.set_index("labelaudit_row")
    r0, r1, r2 = (str(int(review.loc[i, "row"])) for i in range(3))
    assert r0 not in rows.index
    assert rows.loc[r1, "labelaudit_action"] == "relabel" and rows.loc[r1, "labelaudit_new_label"] == other
    assert rows.loc[r2, "labelaudit_reason"] == "human decision: drop"
    assert plan.issues["is_label_issue"].sum() > 3


def test_label_studio_export_is_valid(runner, hostile, workdir):
    out = workdir / "ls.json"
    res = invoke(runner, ["report", hostile, "--format", "label-studio", "--output", out])
    assert res.exit_code == 0
    tasks = json.loads(out.read_text())
    ids = [t["id"] for t in tasks]
    pred_ids = [p["id"] for t in tasks for p in t["predictions"]]
    result_ids = [r["id"] for t in tasks for p in t["predictions"] for r in p["result"]]
    assert len(set(ids)) == len(ids) and len(set(pred_ids)) == len(pred_ids) and len(set(result_ids)) == len(result_ids)
    for t in tasks:
        assert {"labelaudit_id", "given_label", "suggested_label", "label_quality", "text"} <= set(t["data"])
        assert "label" not in t["data"]
        (p,) = t["predictions"]
        (r,) = p["result"]
        assert r["from_name"] == "label" and r["to_name"] == "text" and r["type"] == "choices"
        assert r["value"]["choices"] == [t["data"]["suggested_label"]] and 0 <= p["score"] <= 1
    from labelaudit.io.label_studio import DROP_CHOICE, UNSURE_CHOICE

    config_text = (workdir / "ls.label_config.xml").read_text()
    config = ET.fromstring(config_text)
    choices = [c.get("value") for c in config.iter("Choice")]
    classes = [str(c) for c in labelaudit.load_audit(hostile).class_names]
    assert choices == [*classes, DROP_CHOICE, UNSURE_CHOICE]
    _validate_with_label_studio_sdk(config_text, tasks)
    # a Label Studio export of those tasks feeds filter --decisions
    export = [
        {
            "id": t["id"],
            "data": t["data"],
            "annotations": [
                {
                    "result": [
                        {
                            "from_name": "label",
                            "to_name": "text",
                            "type": "choices",
                            "value": {"choices": [t["data"]["given_label"]]},
                        }
                    ]
                }
            ],
        }
        for t in tasks
    ]
    (workdir / "export.json").write_text(json.dumps(export))
    res = invoke(runner, ["filter", hostile, "--decisions", workdir / "export.json", "--format", "json"])
    assert json.loads(res.stdout)["counts"]["dropped"] == 0  # reviewers confirmed every given label
    # each kind of decision: drop, unsure (kept unchanged), another class (relabel)
    assert len(export) >= 3
    other = next(c for c in classes if c != export[2]["data"]["given_label"])
    for task, choice in zip(export, [DROP_CHOICE, UNSURE_CHOICE, other], strict=False):
        task["annotations"][0]["result"][0]["value"]["choices"] = [choice]
    (workdir / "export2.json").write_text(json.dumps(export))
    out = workdir / "clean2.csv"
    res = invoke(
        runner, ["filter", hostile, "--decisions", workdir / "export2.json", "--format", "json", "--output", out]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["counts"]["dropped"] == 1 and doc["counts"]["relabelled"] == 1, doc["counts"]
    changes = pd.read_csv(doc["outputs"]["removed"], sep=None, engine="python", dtype=str).set_index("labelaudit_row")
    rows = [str(t["data"]["labelaudit_row"]) for t in export[:3]]
    assert changes.loc[rows[0], "labelaudit_reason"] == "human decision: drop"
    assert rows[1] not in changes.index  # unsure: kept as it was
    assert (
        changes.loc[rows[2], "labelaudit_action"] == "relabel" and changes.loc[rows[2], "labelaudit_new_label"] == other
    )


def _validate_with_label_studio_sdk(config_text: str, tasks: list[dict]) -> None:
    """Label Studio's own parser (label-studio-sdk, an optional test dependency) accepts config, tasks, predictions."""
    try:
        from label_studio_sdk.label_interface import LabelInterface
    except ImportError:
        return  # the hand checks above still ran; CI installs label-studio-sdk with the test extra
    li = LabelInterface(config_text)
    assert set(li.get_control("label").labels) >= {c.get("value") for c in ET.fromstring(config_text).iter("Choice")}
    for t in tasks:
        # the task's data without its predictions: sdk 2.1's validate_task calls validate_prediction() with no
        # argument when a task has predictions (a TypeError), so those are validated one by one below
        assert li.validate_task({k: v for k, v in t.items() if k != "predictions"}), t
        for p in t["predictions"]:
            assert li.validate_prediction(p), p


def test_argilla_records(runner, hostile, workdir):
    """Without --output: the records, each loadable by rg.Record.from_dict (suggestions keyed by question)."""
    res = invoke(runner, ["report", hostile, "--format", "argilla"])
    records = json.loads(res.stdout)
    assert records
    for r in records:
        assert {"id", "fields", "metadata", "suggestions", "responses"} <= set(r)
        assert {"label_quality", "given_label", "issue_type", "rank", "row"} <= set(r["metadata"])
        s = r["suggestions"]["label"]
        assert s["agent"].startswith("labelaudit") and 0 <= s["score"] <= 1


def _offline_argilla(monkeypatch):
    """The real argilla package (an optional test dependency), with no server: its client checks the
    connection when made, which is the one call patched out; every parser below is Argilla's own."""
    rg = pytest.importorskip("argilla", reason="the Argilla round trip needs the argilla package (pip install argilla)")
    import argilla._api._client as api_client

    monkeypatch.setattr(api_client.APIClient, "_validate_connection", lambda self: None)
    rg.Argilla(api_url="http://127.0.0.1:6900", api_key="offline")
    return rg


def test_argilla_folder_loads_with_argilla_and_decisions_come_back(runner, hostile, workdir, monkeypatch):
    folder = workdir / "review.argilla"
    res = invoke(runner, ["report", hostile, "--format", "argilla", "--output", folder])
    assert res.exit_code == 0, res.output
    assert "rg.Dataset.from_disk" in res.stderr
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*.json")) == [
        ".argilla/dataset.json",
        ".argilla/settings.json",
        "records.json",
    ]
    # not replaced without --force; with --force only because labelaudit wrote it
    assert invoke(runner, ["report", hostile, "--format", "argilla", "--output", folder]).exit_code == 2
    rg = _offline_argilla(monkeypatch)
    from argilla._models import DatasetModel
    from argilla.records._io._json import JsonIO

    from labelaudit.io.label_studio import DROP_CHOICE, UNSURE_CHOICE

    # what rg.Dataset.from_disk reads, read by Argilla's own code
    settings = rg.Settings.from_json(folder / ".argilla" / "settings.json")
    classes = [str(c) for c in labelaudit.load_audit(hostile).class_names]
    assert settings.questions[0].name == "label" and settings.questions[0].labels == [
        *classes,
        DROP_CHOICE,
        UNSURE_CHOICE,
    ]
    assert [f.name for f in settings.fields] == ["text"]
    assert {m.name for m in settings.metadata} == {"given_label", "label_quality", "rank", "row", "issue_type"}
    assert DatasetModel(**json.loads((folder / ".argilla" / "dataset.json").read_text())).name.startswith("labelaudit")
    records = JsonIO._records_from_json(folder / "records.json")
    assert records and all(r.suggestions["label"].value in classes for r in records)
    # reviewers answer in Argilla: drop, unsure, another class; the export comes back to filter --decisions
    other = next(c for c in classes if c != records[2].metadata["given_label"])
    user = __import__("uuid").uuid4()
    for rec, value in zip(records, [DROP_CHOICE, UNSURE_CHOICE, other], strict=False):
        rec.responses.add(rg.Response(question_name="label", value=value, user_id=user, status="submitted"))
    exported = workdir / "answered.json"
    exported.write_text(json.dumps([r.to_dict() for r in records], default=str))
    res = invoke(
        runner, ["filter", hostile, "--decisions", exported, "--format", "json", "--output", workdir / "c.csv"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["counts"]["dropped"] == 1 and doc["counts"]["relabelled"] == 1, doc["counts"]
    changes = pd.read_csv(doc["outputs"]["removed"], sep=None, engine="python", dtype=str).set_index("labelaudit_row")
    rows = [str(r.metadata["row"]) for r in records[:3]]
    assert changes.loc[rows[0], "labelaudit_reason"] == "human decision: drop"
    assert rows[1] not in changes.index
    assert changes.loc[rows[2], "labelaudit_new_label"] == other


def test_junit_one_testcase_per_gate(runner, hostile, workdir):
    res = invoke(runner, ["report", hostile, "--format", "json", "--junit", workdir / "gates.xml", "--gate"])
    assert res.exit_code == 1
    root = ET.parse(workdir / "gates.xml").getroot()
    cases = list(root.iter("testcase"))
    assert len(cases) == 1 and cases[0].find("failure") is not None
    assert root.find("testsuite").get("failures") == "1"
    # the name carries no threshold: a changed threshold is the same test in the CI's history
    assert cases[0].get("name") == "label issue rate"
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert "threshold:label" in props and "rate:label" in props


def _junit_cases(path):
    """Parsed by junitparser (what CI plugins use) when installed, else by the stdlib against the same shape."""
    try:
        from junitparser import JUnitXml
    except ImportError:
        root = ET.parse(path).getroot()
        out = []
        for suite in root.iter("testsuite"):
            for c in suite.iter("testcase"):
                kind = next((k for k in ("failure", "error") if c.find(k) is not None), "passed")
                out.append((suite.get("name"), c.get("name"), kind, c.findtext("system-out") or ""))
        return out
    xml = JUnitXml.fromfile(str(path))
    out = []
    for suite in xml:
        for c in suite:
            kind = "passed" if c.is_passed else type(c.result[0]).__name__.lower()
            out.append((suite.name, c.name, kind, c.system_out or ""))
    return out


def test_scan_writes_junit_with_a_testcase_even_without_gates(runner, csv_file, workdir):
    res = invoke(runner, ["scan", csv_file, "--model", "logreg", "-q", "--junit", workdir / "scan.xml"])
    assert res.exit_code == 0, res.output
    cases = _junit_cases(workdir / "scan.xml")
    assert len(cases) == 1
    suite, name, kind, out = cases[0]
    rate = labelaudit.load_audit(workdir / "data.labelaudit").label_issue_rate
    assert (suite, name, kind) == ("labelaudit:data.csv", "label issue rate", "passed")
    assert f"{rate:.4f}" in out and "no gate set" in out
    root = ET.parse(workdir / "scan.xml").getroot()
    assert root.get("tests") == "1" and root.get("failures") == "0"
    # a second scan does not replace it without --force
    res = invoke(runner, ["scan", csv_file, "--model", "logreg", "-q", "--junit", workdir / "scan.xml", "--out", "b"])
    assert res.exit_code == 2 and "already exists" in res.stderr


def test_batch_scan_junit_has_a_suite_per_file_and_an_error_for_a_bad_one(runner, csv_file, workdir, monkeypatch):
    bad = workdir / "bad.csv"
    bad.write_text("a,b\n1\n")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    res = invoke(
        runner,
        [
            "scan",
            csv_file,
            bad,
            "--model",
            "logreg",
            "-q",
            "--out",
            "audits",
            "--fail-above",
            "0.0001",
            "--junit",
            "j.xml",
        ],
    )
    assert res.exit_code == 2
    cases = _junit_cases(workdir / "j.xml")
    assert [(s, n, k) for s, n, k, _ in cases] == [
        ("labelaudit:data.csv", "label issue rate", "failure"),
        ("labelaudit:bad.csv", "scan", "error"),
    ]
    # GitHub Actions: the failed gate is an ::error annotation on stderr (stdout stays machine-readable)
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("::error ")]
    assert len(lines) == 1 and "title=labelaudit gate%3A data.csv::label issue rate" in lines[0]


def test_step_summary_appended_by_scan_and_report(runner, workdir, monkeypatch, csv_file):
    summary = workdir / "summary.md"
    summary.write_text("previous step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert invoke(runner, ["scan", csv_file, "--model", "logreg", "-q"]).exit_code == 0
    assert invoke(runner, ["report", "data.labelaudit", "--format", "json"]).exit_code == 0
    text = summary.read_text()
    assert text.startswith("previous step\n") and text.count("## labelaudit: data.csv") == 2
    assert len(text.encode()) < 1024 * 1024


def test_output_not_overwritten_without_force(runner, hostile, workdir):
    (workdir / "r.md").write_text("keep me")
    res = invoke(runner, ["report", hostile, "--format", "markdown", "--output", workdir / "r.md"])
    assert res.exit_code == 2 and "already exists; pass --force" in res.stderr
    assert (workdir / "r.md").read_text() == "keep me"


def test_bad_format_and_missing_audit(runner, hostile, workdir):
    res = invoke(runner, ["report", hostile, "--format", "pdf"])
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        "error: --format must be one of table, json, markdown, html, review-csv, label-studio, argilla (got 'pdf')"
    )
    res = invoke(runner, ["report", workdir / "none.labelaudit"])
    assert res.exit_code == 2 and "is not an audit directory" in res.stderr


def test_review_export_needs_the_data(runner, hostile, workdir):
    (workdir / "hostile.csv").rename(workdir / "moved.csv")
    res = invoke(runner, ["report", hostile, "--format", "review-csv"])
    assert res.exit_code == 2 and "the review-csv export needs the audited rows" in res.stderr
    res = invoke(runner, ["report", hostile, "--format", "review-csv", "--data", workdir / "moved.csv"])
    assert res.exit_code == 0
    res = invoke(runner, ["report", hostile, "--format", "markdown"])  # degrades without row data
    assert res.exit_code == 0


def test_html_needs_extra_message(runner, hostile, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_mpl(name, *a, **k):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_mpl)
    res = invoke(runner, ["report", hostile, "--format", "html"])
    assert res.exit_code == 2
    assert res.stderr.strip() == "error: the HTML report needs matplotlib and jinja2: pip install 'labelaudit[html]'"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_html_in_a_real_browser(runner, hostile, workdir):
    out = workdir / "report.html"
    assert invoke(runner, ["report", hostile, "--format", "html", "--output", out, "--top", "60"]).exit_code == 0
    html = out.read_text()
    assert "http://" not in html.replace("http://x", "") and "https://" not in html  # nothing fetched at view time
    base = [CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={workdir / 'profile'}"]
    dom = subprocess.run([*base, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert "<title>labelaudit report: hostile.csv</title>" in dom  # no script changed the title
    assert "pwned" not in dom.split("<body>")[0]
    assert dom.count("<img") == 4  # the four plots, and no injected image
    assert "&lt;script&gt;document.title" in dom
    shot = workdir / "shot.png"
    subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=1200,1600", out.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)[:, :, :3]
    # the plots are visible: a good share of the page is neither white nor near-white
    assert (pixels.mean(axis=2) < 0.9).mean() > 0.05
    # red bars / flagged bins from the plots are on screen
    red = (pixels[:, :, 0] > 0.7) & (pixels[:, :, 1] < 0.4) & (pixels[:, :, 2] < 0.4)
    assert red.sum() > 500


def test_recommendations_follow_the_noise_level():
    from labelaudit.report import recommend

    class Fake:
        def __init__(self, rate, count):
            self.summary = {
                "checks": {"label": {"estimated_noise_rate": rate, "count": count}},
                "not_assessed": {"rare_classes": []},
            }
            self.issues = pd.DataFrame({"is_label_issue": [False], "given_label": ["a"], "suggested_label": ["a"]})
            import numpy as np

            self.pred_probs = np.array([[1.0, 0.0]])

    ids = lambda rate, count: [r["id"] for r in recommend.recommendations(Fake(rate, count))]  # noqa: E731
    assert ids(0.0, 0)[0] == "clean"
    # a clean set with a few flags is not "light noise (~0 %)"
    assert ids(0.0, 3)[:2] == ["nearly-clean", "review"]
    assert ids(0.05, 10)[:2] == ["light-noise", "review"]
    assert ids(0.2, 10)[0] == "moderate-noise"
    assert ids(0.4, 10)[0] == "heavy-noise"
    assert ids(0.4, 10)[-1] == "clean-test"


def test_an_unsure_model_is_named_as_a_reason_the_estimate_may_be_too_high():
    from labelaudit.report import recommend

    class Fake:
        def __init__(self, top, kind="scan"):
            n = 10
            self.manifest = {"kind": kind}
            self.summary = {
                "checks": {"label": {"estimated_noise_rate": 0.4, "count": 4}},
                "not_assessed": {"rare_classes": []},
            }
            given = ["a"] * n
            suggested = ["a"] * 6 + ["b"] * 4
            self.issues = pd.DataFrame(
                {"is_label_issue": [False] * 6 + [True] * 4, "given_label": given, "suggested_label": suggested}
            )
            self.pred_probs = np.tile([top, 1 - top], (n, 1))
            self.pred_probs[6:] = self.pred_probs[6:, ::-1]

    weak = [r for r in recommend.recommendations(Fake(0.55)) if r["id"] == "weak-model"]
    assert len(weak) == 1
    assert "mean top probability 55%; it agrees with 60% of the given labels" in weak[0]["text"]
    assert "several times too many" in weak[0]["text"] and "are flagged" not in weak[0]["text"]
    capped = Fake(0.55)
    capped.summary["checks"]["label"]["flag_count_capped_by"] = "confident disagreements only"
    text = next(r["text"] for r in recommend.recommendations(capped) if r["id"] == "weak-model")
    assert "Only the 4 confident disagreements are flagged" in text
    assert "weak-model" not in [r["id"] for r in recommend.recommendations(Fake(0.9))]
    # a crowd audit's probabilities are its consensus posterior: no model to blame
    assert "weak-model" not in [r["id"] for r in recommend.recommendations(Fake(0.55, kind="crowd"))]


def test_report_module_paths_exist():
    assert (Path(labelaudit.__file__).parent / "report" / "templates" / "report.html.j2").exists()


def test_negative_top_is_refused(runner, hostile):
    res = invoke(runner, ["report", hostile, "--top", "-1"])
    assert res.exit_code == 2 and res.stderr.strip() == "error: --top must be 0 or more (got -1)"


def _wide_audit(runner, workdir):
    """15 data columns, 6 injected far outliers and 4 exact copies: something for every HTML list."""
    rng = np.random.default_rng(3)
    n = 300
    y = rng.integers(0, 3, n)
    centres = rng.normal(size=(3, 15)) * 4.0
    X = centres[y] + rng.normal(size=(n, 15)) * 0.8
    X[:6] = rng.normal(size=(6, 15)) * 12.0  # far from every cluster and from each other
    X[10:14] = X[20:24]  # exact copies
    df = pd.DataFrame(X.round(4), columns=[f"f{i:02d}" for i in range(15)])
    df["label"] = np.array(["ant", "bee", "cat"])[y]
    df.loc[rng.choice(np.arange(30, n), 30, replace=False), "label"] = "bee"
    p = workdir / "wide.csv"
    df.to_csv(p, index=False)
    res = invoke(runner, ["scan", p, "--model", "logreg", "-q"])
    assert res.exit_code == 0, res.output
    return workdir / "wide.labelaudit"


def _dom(html_path, workdir):
    if CHROMIUM is None:
        return html_path.read_text()  # the HTML as written; CI checks it as Chromium parses it
    base = [CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={workdir / 'profile2'}"]
    return subprocess.run([*base, "--dump-dom", html_path.as_uri()], capture_output=True, text=True, timeout=120).stdout


def test_html_lists_outliers_and_duplicate_sets_and_keeps_wide_tables_in_their_box(runner, workdir):
    audit_dir = _wide_audit(runner, workdir)
    audit = labelaudit.load_audit(audit_dir)
    out = workdir / "wide.html"
    assert invoke(runner, ["report", audit_dir, "--format", "html", "--output", out]).exit_code == 0
    dom = _dom(out, workdir)
    import html.parser

    class Walk(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack, self.tables, self.cells, self.current = [], {}, {}, None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            self.stack.append((tag, a))
            if tag == "table":
                parent = self.stack[-2] if len(self.stack) > 1 else ("", {})
                self.tables[a.get("id", "")] = parent[0] == "div" and parent[1].get("class") == "scroll"
                self.current = a.get("id", "")
                self.cells[self.current] = []

        def handle_endtag(self, tag):
            while self.stack and self.stack.pop()[0] != tag:
                pass

        def handle_data(self, data):
            if self.current is not None and self.stack and self.stack[-1][0] == "td":
                self.cells[self.current].append(data.strip())

    w = Walk()
    w.feed(dom)
    iss = audit.issues
    # outliers: listed, the injected far rows among them
    assert "outliers" in w.tables
    outlier_rows = set(iss.loc[iss["is_outlier_issue"], "row"].astype(str))
    assert {str(r) for r in range(6)} <= outlier_rows
    assert set(w.cells["outliers"]) & {str(r) for r in range(6)}
    # near-duplicate sets: each copy sits in a set table beside its original
    dup_tables = [t for t in w.tables if t.startswith("duplicate-set-")]
    assert dup_tables
    listed = {c for t in dup_tables for c in w.cells[t]}
    assert {"10", "20"} <= listed
    # every table with data columns keeps its width inside its own scroll box; the cut is said
    assert all(w.tables[t] for t in ["top-issues", "outliers", "per-class", *dup_tables] if t in w.tables)
    assert 'id="columns-cut"' in dom and "of 15 data columns" in dom and "overflow-x: auto" in dom
    # classes by issue rate, highest first
    per = audit.summary["per_class"]
    want = [str(c["class"]) for c in sorted(per, key=lambda c: -c["rate"])]
    import re

    table = dom.split('id="per-class"', 1)[1].split("</table>", 1)[0]
    got = [c.strip() for c in re.findall(r"<tr>\s*<td>([^<]*)</td>", table)]
    assert got == want
