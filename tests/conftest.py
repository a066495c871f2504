from __future__ import annotations

import hashlib
import os
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):
    # one process per core already (pytest -n auto): a thread pool per process on top of it oversubscribes the
    # cores (with torch, two workers with two threads each took longer than one process)
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from labelaudit.cli import app

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


def make_frame(n: int = 240, seed: int = 0, noise: float = 0.1) -> tuple[pd.DataFrame, np.ndarray]:
    """Three well-separated classes with mixed column types; returns the frame and the flipped-row mask."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n // 3)
    centers = np.array([[0, 0, 0, 0], [4, 4, 0, 0], [0, 4, 4, 4]], dtype=float)
    X = centers[y] + rng.normal(size=(len(y), 4))
    names = np.array(["cat", "dog", "bird"])
    flip = rng.random(len(y)) < noise
    noisy = y.copy()
    noisy[flip] = (y[flip] + 1) % 3
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    df["colour"] = rng.choice(["red", "green", "blue"], size=len(y))
    df["flag"] = rng.random(len(y)) < 0.5
    df["when"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 1000, len(y)), unit="D")
    df.loc[rng.random(len(y)) < 0.05, "a"] = np.nan
    df["label"] = names[noisy]
    df.insert(0, "id", [f"r{i}" for i in range(len(y))])
    return df, flip


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()[0]


@pytest.fixture
def csv_file(workdir, frame) -> Path:
    p = workdir / "data.csv"
    frame.to_csv(p, index=False)
    return p


@pytest.fixture
def parquet_file(workdir, frame) -> Path:
    p = workdir / "data.parquet"
    frame.to_parquet(p, index=False)
    return p


def invoke(runner: CliRunner, args: list[str]):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def leftovers(folder: Path) -> list[str]:
    """Audit directories or temporary files a failed run must not leave."""
    return sorted(
        p.name for p in folder.iterdir() if p.name.endswith(".labelaudit") or p.name.startswith(".labelaudit-tmp")
    )
