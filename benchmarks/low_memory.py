"""Streaming (--low-memory) scan vs the in-memory scan vs the plain pipeline: time, peak RSS, precision/recall.

    python benchmarks/low_memory.py [--rows 1000000] [--features 128]

Writes an embedding Parquet file (one fixed-size-list column, row groups of 65 536 rows, 10 classes,
10 % of labels flipped) without ever holding it in memory, then runs, each in its own process:
(a) `labelaudit scan --low-memory --checks label,class_imbalance,null`;
(b) `labelaudit scan --in-memory --checks label,class_imbalance,null` (the model auto picks);
(c) the plain pipeline: read the file, 5-fold cross_val_predict(LogisticRegression) + cleanlab
find_label_issues. Peak RSS is each child's own ru_maxrss (os.wait4).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]

PLAIN = """
import sys, numpy as np, pyarrow.parquet as pq
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from cleanlab.filter import find_label_issues
t = pq.read_table(sys.argv[1])
X = np.asarray(t.column("emb").combine_chunks().flatten().to_numpy()).reshape(t.num_rows, -1)
y = t.column("label").to_numpy()
pp = cross_val_predict(LogisticRegression(max_iter=200), X, y, cv=5, method="predict_proba")
np.save(sys.argv[2], find_label_issues(y, pp))
"""


def write(path: Path, n: int, d: int, seed: int = 0, k: int = 10, rg: int = 65_536) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)).astype(np.float32) * 0.6
    schema = pa.schema([("emb", pa.list_(pa.float32(), d)), ("label", pa.int64())])
    flips = []
    with pq.ParquetWriter(path, schema) as w:
        for s in range(0, n, rg):
            m = min(rg, n - s)
            y = rng.integers(0, k, m)
            X = centers[y] + rng.normal(size=(m, d)).astype(np.float32)
            f = rng.random(m) < 0.1
            y[f] = (y[f] + 1 + rng.integers(0, k - 1, f.sum())) % k
            flips.append(f)
            w.write_table(pa.table({"emb": pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), d), "label": y}))
    return np.concatenate(flips)


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and the child's own peak RSS (MB), from os.wait4."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    secs = time.perf_counter() - t
    if status != 0:
        raise SystemExit(f"{cmd[:4]} failed with status {status}")
    return secs, usage.ru_maxrss / 1024


def pr(flagged: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    tp = (flagged & truth).sum()
    return tp / max(flagged.sum(), 1), tp / truth.sum()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=128)
    args = ap.parse_args()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "emb.parquet"
        truth = write(data, args.rows, args.features)
        print(f"file: {data.stat().st_size / 2**20:.0f} MB", flush=True)
        la = [sys.executable, "-m", "labelaudit", "scan", str(data), "-q", "--no-clean", "--force"]
        checks = ["--checks", "label,class_imbalance,null"]
        for name, cmd in (
            ("labelaudit --low-memory", [*la, "--low-memory", *checks, "--out", str(tmp / "lm.labelaudit")]),
            ("labelaudit in memory", [*la, "--in-memory", *checks, "--out", str(tmp / "im.labelaudit")]),
            ("plain pipeline", [sys.executable, "-c", PLAIN, str(data), str(tmp / "plain.npy")]),
        ):
            secs, peak = run(cmd)
            if name == "plain pipeline":
                flagged = np.load(tmp / "plain.npy")
            else:
                d = tmp / ("lm.labelaudit" if "low" in name else "im.labelaudit")
                flagged = pq.read_table(d / "issues.parquet", columns=["is_label_issue"]).column(0).to_numpy()
            p, r = pr(flagged, truth)
            out[name] = {
                "seconds": round(secs, 1),
                "peak_rss_mb": round(peak),
                "precision": round(p, 3),
                "recall": round(r, 3),
            }
            print(name, out[name], flush=True)
    res = ROOT / "benchmarks" / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / f"low_memory_{args.rows}x{args.features}.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
