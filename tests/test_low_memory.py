"""scan --low-memory: streamed out-of-fold probabilities, independence of batching, and a real memory limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import labelaudit
from labelaudit.oof.stream import fold_of
from tests.conftest import ROOT, invoke


def _write_embeddings(path, n, d, k=10, noise=0.1, seed=0, row_group=8192):
    """An embedding column of n x d float32 written one row group at a time (never n x d in memory)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)).astype(np.float32)
    flips = []
    schema = pa.schema([("emb", pa.list_(pa.float32(), d)), ("label", pa.int64())])
    with pq.ParquetWriter(path, schema) as w:
        for start in range(0, n, row_group):
            m = min(row_group, n - start)
            y = rng.integers(0, k, m)
            X = centers[y] + rng.normal(size=(m, d)).astype(np.float32)
            flip = rng.random(m) < noise
            y[flip] = (y[flip] + 1 + rng.integers(0, k - 1, flip.sum())) % k
            flips.append(flip)
            emb = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), d)
            w.write_table(pa.table({"emb": emb, "label": y}, schema=schema))
    return np.concatenate(flips)


def test_fold_hash_is_balanced_and_seeded():
    rows = np.arange(100_000)
    f0, f1 = fold_of(rows, 0, 5), fold_of(rows, 1, 5)
    assert np.array_equal(f0, fold_of(rows, 0, 5)) and not np.array_equal(f0, f1)
    counts = np.bincount(f0, minlength=5)
    assert counts.min() > 19_000 and counts.max() < 21_000


def test_low_memory_scan_finds_the_noise_and_ignores_batching(tmp_path, runner):
    p = tmp_path / "emb.parquet"
    flips = _write_embeddings(p, 20_000, 32, noise=0.1, row_group=3000)
    a = labelaudit.scan(p, low_memory=True, batch_rows=1000, seed=0)
    b = labelaudit.scan(p, low_memory=True, batch_rows=7777, seed=0)
    assert a.manifest["model"]["used"] == "streaming-lda"
    assert np.allclose(a.pred_probs, b.pred_probs, atol=1e-5)
    assert np.array_equal(a.issues["is_label_issue"], b.issues["is_label_issue"])
    flagged = a.issues["is_label_issue"].to_numpy()
    precision = (flagged & flips).sum() / flagged.sum()
    recall = (flagged & flips).sum() / flips.sum()
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)
    assert set(a.manifest["checks"]["skipped"]) == {
        "outlier",
        "near_duplicate",
        "non_iid",
        "underperforming_group",
        "data_valuation",
    }
    # the CLI: same flags, an audit the other commands read
    res = invoke(runner, ["scan", p, "--low-memory", "--batch-rows", "4096", "-q", "--out", tmp_path / "a.labelaudit"])
    assert res.exit_code == 0, res.output
    c = labelaudit.load_audit(tmp_path / "a.labelaudit")
    assert np.array_equal(c.issues["is_label_issue"], flagged)
    assert invoke(runner, ["report", tmp_path / "a.labelaudit", "--format", "json"]).exit_code == 0


def test_low_memory_refuses_what_it_cannot_stream(tmp_path, runner):
    p = tmp_path / "d.csv"
    pd.DataFrame({"a": [1.0, 2.0, 3.0] * 10, "colour": ["r", "g", "b"] * 10, "label": [0, 1] * 15}).to_csv(p)
    res = invoke(runner, ["scan", p, "--low-memory", "-q"])
    assert res.exit_code == 2
    assert "--low-memory takes numeric feature columns or one vector column; 'colour' is string" in res.stderr
    res = invoke(runner, ["scan", p, "--low-memory", "--model", "hgb", "-q"])
    assert res.exit_code == 2 and "drop --model hgb" in res.stderr


CHILD = """
import resource, sys
import numpy, pandas, pyarrow, pyarrow.parquet, sklearn, cleanlab
import cleanlab.experimental.label_issues_batched, cleanlab.count, cleanlab.filter
import labelaudit, labelaudit.cli, labelaudit.oof.stream, labelaudit.scan, labelaudit.clean.filtering
# thread pools are sized before the limit: a thread that cannot get its stack under the limit would
# leave its pool waiting forever
pyarrow.set_cpu_count(1)
pyarrow.set_io_thread_count(1)
budget = int(sys.argv[1]) * 2**20
vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + budget, vm + budget))
sys.argv = ["labelaudit", *sys.argv[2:]]
labelaudit.cli.main()
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the address-space limit test reads /proc")
def test_a_file_four_times_the_memory_limit_scans(tmp_path):
    """600 000 x 256 float32 (586 MB of features, about 630 MB of Parquet) under a 150 MB address-space limit
    past the imports (numpy, pyarrow, scikit-learn, cleanlab: measured from /proc/self/status in the child)."""
    p = tmp_path / "big.parquet"
    flips = _write_embeddings(p, 600_000, 256, noise=0.1)
    size_mb = p.stat().st_size / 2**20
    budget_mb = 150
    assert size_mb > 3.5 * budget_mb
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MALLOC_ARENA_MAX": "2",
        "MALLOC_MMAP_THRESHOLD_": "1048576",
        "ARROW_DEFAULT_MEMORY_POOL": "system",
        "PYTHONPATH": str(ROOT),
    }
    args = [sys.executable, "-c", CHILD, str(budget_mb), "scan", str(p), "--low-memory", "--batch-rows", "8192"]
    out = subprocess.run(
        [*args, "-q", "--format", "json", "--no-clean", "--out", str(tmp_path / "big.labelaudit")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)["audits"][0]
    assert summary["exit_code"] == 0
    issues = pq.read_table(tmp_path / "big.labelaudit" / "issues.parquet", columns=["is_label_issue"])
    flagged = issues.column(0).to_numpy()
    assert (flagged & flips).sum() / flips.sum() >= 0.9
    # the same run without streaming needs more than the limit: the limit is real
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(budget_mb),
            "scan",
            str(p),
            "--in-memory",
            "-q",
            "--checks",
            "label",
            "--model",
            "logreg",
            "--jobs",
            "1",
            "--no-clean",
            "--out",
            str(tmp_path / "mem.labelaudit"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 3, res.stderr[-2000:]
    assert "out of memory; nothing was written" in res.stderr
    assert not (tmp_path / "mem.labelaudit").exists()
