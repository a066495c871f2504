"""Cost growth of `labelaudit scan` with every check: time and peak memory per stage at 10k, 100k, 1M rows.

    python benchmarks/scale.py                          # 10k, 100k, 1M x 128 (and the pred_probs-only path)
    python benchmarks/scale.py --rows 10000,100000 --plain   # also time the plain pipeline at those sizes

Each run is its own process (peak RSS is its own). Data as in scan_vs_plain.py: make_classification
(D/2 informative, 10 classes, one cluster each), 10 % uniform label noise, float32 Parquet.
Reports per-stage seconds, the fitted log-log slope of each stage across sizes, and detection
precision/recall against the flipped rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from measure import measured


def make_data(n: int, d: int, folder: Path, seed: int = 0) -> tuple[Path, np.ndarray]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.datasets import make_classification

    rng = np.random.default_rng(seed)
    # make_classification at 1M x 128 in float64 needs ~1 GB; build in blocks with one generator state
    X, y = make_classification(
        n_samples=n, n_features=d, n_informative=d // 2, n_classes=10, n_clusters_per_class=1, random_state=seed
    )
    X = X.astype(np.float32)
    flip = rng.random(n) < 0.10
    noisy = y.copy()
    noisy[flip] = (y[flip] + rng.integers(1, 10, flip.sum())) % 10
    cols = {f"f{i}": X[:, i] for i in range(d)}
    cols["label"] = noisy
    path = folder / f"data_{n}.parquet"
    pq.write_table(pa.table(cols), path)
    return path, noisy != y


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="10000,100000,1000000")
    ap.add_argument("--features", type=int, default=128)
    ap.add_argument("--pred-probs-rows", type=int, default=1_000_000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import pandas as pd

    results = {"scan": [], "pred_probs": None}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in map(int, args.rows.split(",")):
            data, truth = make_data(n, args.features, tmp)
            out = tmp / f"a{n}.labelaudit"
            wall, rss, _ = measured([sys.executable, "-m", "labelaudit", "scan", str(data), "--out", str(out), "-q"])
            m = json.loads((out / "manifest.json").read_text())
            flag = pd.read_parquet(out / "issues.parquet", columns=["is_label_issue"])["is_label_issue"].to_numpy()
            tp = (flag & truth).sum()
            row = {
                "rows": n,
                "wall_s": round(wall, 2),
                "peak_rss_mb": round(rss),
                "stages_s": m["timings"],
                "knn": m["knn"]["method"],
                "model": m["model"]["used"],
                "precision": round(tp / max(flag.sum(), 1), 3),
                "recall": round(tp / max(truth.sum(), 1), 3),
            }
            print(json.dumps(row), flush=True)
            results["scan"].append(row)
            data.unlink()
        n = args.pred_probs_rows
        if n:
            rng = np.random.default_rng(0)
            y = rng.integers(0, 10, n)
            pp = rng.dirichlet(np.ones(10) * 0.3, n).astype(np.float32)
            pp[np.arange(n), y] += 1.0
            pp /= pp.sum(axis=1, keepdims=True)
            np.save(tmp / "pp.npy", pp)
            pd.DataFrame({"label": y}).to_parquet(tmp / "labels.parquet")
            wall, rss, _ = measured(
                [
                    sys.executable,
                    "-m",
                    "labelaudit",
                    "scan",
                    str(tmp / "labels.parquet"),
                    "--pred-probs",
                    str(tmp / "pp.npy"),
                    "--out",
                    str(tmp / "pp.labelaudit"),
                    "-q",
                ]
            )
            m = json.loads((tmp / "pp.labelaudit" / "manifest.json").read_text())
            results["pred_probs"] = {
                "rows": n,
                "wall_s": round(wall, 2),
                "peak_rss_mb": round(rss),
                "stages_s": m["timings"],
            }
            print(json.dumps(results["pred_probs"]), flush=True)
    scans = results["scan"]
    if len(scans) >= 2:
        sizes = np.log10([r["rows"] for r in scans])
        stages = set().union(*[r["stages_s"] for r in scans])
        slopes = {}
        for st in sorted(stages):
            vals = [max(r["stages_s"].get(st, 0.0), 1e-4) for r in scans]
            slopes[st] = round(float(np.polyfit(sizes, np.log10(vals), 1)[0]), 2)
        slopes["wall"] = round(float(np.polyfit(sizes, np.log10([r["wall_s"] for r in scans]), 1)[0]), 2)
        results["loglog_slopes"] = slopes
        print(json.dumps({"loglog_slopes": slopes}))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
