"""What a new user meets in the first hour: no crash, no silent wrong answer, honest next steps.

One test per point of the first-hour review; each failed before its fix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import invoke, make_frame


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
