"""Typed rows through the review loop: review CSV -> a person's decisions -> filter --decisions.

Negative numbers stay numbers (no formula quote), labels such as -1 / +1 survive, formula-like text is
neutralised in the sheet and restored when read back, and the cleaned file holds the input's cells.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from labelaudit.cli import app

FORMULA_TEXT = ["=SUM(A1:A2)", "+cmd|' /C calc'!A0", "-2+3", "@import", "plain", "a,b", 'say "hi"']

rows_st = st.lists(
    st.tuples(
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False).map(lambda v: round(v, 3)),
        st.sampled_from(FORMULA_TEXT),
    ),
    min_size=24,
    max_size=40,
)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_st, seed=st.integers(0, 1000))
def test_review_csv_round_trips_typed_values_and_decisions(rows, seed, tmp_path_factory):
    d = tmp_path_factory.mktemp("rt")
    n = len(rows)
    frame = pd.DataFrame(rows, columns=["x", "note"])
    # half -1, half +1, written as the text "-1" / "+1"
    frame["label"] = [("-1", "+1")[(i + seed) % 2] for i in range(n)]
    frame.insert(0, "row_id", [f"r{i}" for i in range(n)])
    raw = d / "data.csv"
    frame.to_csv(raw, index=False)
    original = raw.read_bytes()
    # probabilities that flag many rows: the review sheet has something to review
    rng = np.random.default_rng(seed)
    p = rng.dirichlet([0.5, 0.5], size=n).astype(np.float32)
    np.save(d / "pp.npy", p)
    runner = CliRunner()

    def run(*args):
        res = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        assert res.exit_code in (0, 1), res.output
        return res

    run(
        "scan",
        raw,
        "--pred-probs",
        d / "pp.npy",
        "--id",
        "row_id",
        "--features",
        "x",
        "--checks",
        "label",
        "--out",
        d / "a.labelaudit",
        "-q",
        "--no-clean",
    )
    sheet_text = run("report", d / "a.labelaudit", "--format", "review-csv", "--top", str(n)).stdout
    sheet = pd.read_csv(io.StringIO(sheet_text), dtype=str, keep_default_na=False)
    if sheet.empty:
        return
    by_id = frame.set_index("row_id")
    for _, r in sheet.iterrows():
        src = by_id.loc[r["id"]]
        # numbers are written as numbers: never a formula quote on a negative value
        assert not r["x"].startswith("'") and float(r["x"]) == float(src["x"])
        assert r["given_label"] in ("-1", "1")  # the class (-1 or +1, read as numbers), no quote
        # text that a spreadsheet would run is quoted, other text is as it was
        assert r["note"] == ("'" + src["note"] if src["note"][0] in "=+-@" else src["note"])
    # a person decides: drop the first, relabel the second to the other class, keep the rest
    decisions = [""] * len(sheet)
    decisions[0] = "drop"
    if len(sheet) > 1:
        other = "1" if sheet["given_label"].iloc[1] == "-1" else "-1"
        decisions[1] = f"relabel:{other}"
    sheet["decision"] = decisions
    sheet.to_csv(d / "review.csv", index=False)
    res = run(
        "filter", d / "a.labelaudit", "--decisions", d / "review.csv", "--output", d / "clean.csv", "--format", "json"
    )
    out = json.loads(res.stdout)
    assert raw.read_bytes() == original  # the input is never modified
    cleaned = pd.read_csv(d / "clean.csv", dtype=str, keep_default_na=False).set_index("row_id")
    removed = pd.read_csv(out["outputs"]["removed"], dtype=str, keep_default_na=False, sep=None, engine="python")
    assert len(cleaned) + int((removed["labelaudit_action"] == "drop").sum()) == n
    text = frame.astype(str).set_index("row_id")
    for rid, r in cleaned.iterrows():
        # every kept cell is the input's text, formula-like notes included (the quote is undone)
        assert r["x"] == text.loc[rid, "x"] and r["note"] == text.loc[rid, "note"]
    dropped = sheet["id"].iloc[0]
    assert dropped not in cleaned.index
    if len(sheet) > 1:
        rid = sheet["id"].iloc[1]
        want = "1" if sheet["given_label"].iloc[1] == "-1" else "-1"
        assert int(float(cleaned.loc[rid, "label"])) == int(want)


def test_json_row_data_has_the_same_types_for_csv_and_parquet(tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame(
        {"x": rng.normal(size=n).round(3) - 1.0, "k": rng.integers(-5, 5, n), "label": ["a", "b"] * 30}
    )
    frame["note"] = ["-x", "=1+1"] * 30
    np.save(tmp_path / "pp.npy", rng.dirichlet([0.5, 0.5], size=n).astype(np.float32))
    runner = CliRunner()
    docs = {}
    for fmt in ("csv", "parquet"):
        p = tmp_path / f"d.{fmt}"
        frame.to_csv(p, index=False) if fmt == "csv" else frame.to_parquet(p, index=False)
        args = ["scan", str(p), "--pred-probs", str(tmp_path / "pp.npy"), "--features", "x,k", "-q"]
        assert runner.invoke(app, [*args, "--out", str(tmp_path / f"{fmt}.labelaudit")]).exit_code in (0, 1)
        res = runner.invoke(app, ["report", str(tmp_path / f"{fmt}.labelaudit"), "--format", "json"])
        docs[fmt] = [t["data"] for t in json.loads(res.stdout)["top_issues"]]
    assert docs["csv"] and docs["csv"] == docs["parquet"]
    assert all(
        isinstance(d["x"], float) and isinstance(d["k"], int) and isinstance(d["note"], str) for d in docs["csv"]
    )
