"""labelaudit scan vs the plain cleanlab + scikit-learn pipeline, side by side in one run.

    pip install . -r benchmarks/requirements.txt
    python benchmarks/scan_vs_plain.py --rows 100000 --features 128

The plain pipeline is what a user writes from cleanlab's docs: 5-fold
``cross_val_predict(LogisticRegression())`` and ``Datalab.find_issues(pred_probs=, features=)`` with
defaults (every default check). labelaudit runs ``labelaudit scan data.parquet`` with defaults (every
check). Each runs in its own process so peak RSS is its own. Data: ``make_classification``
(n_informative = D/2, 10 classes, one cluster per class), 10 % of labels flipped uniformly at random,
float32 Parquet. Detection is scored against the flipped rows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from measure import measured

PLAIN = r"""
import sys, time, json, warnings, resource
import numpy as np, pandas as pd
warnings.filterwarnings("ignore")
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from cleanlab import Datalab
df = pd.read_parquet(sys.argv[1])
y = df.pop("label").to_numpy(); X = df.to_numpy()
t0 = time.perf_counter()
pp = cross_val_predict(LogisticRegression(), X, y, cv=5, method="predict_proba")
t1 = time.perf_counter()
lab = Datalab(data={"label": y}, label_name="label", verbosity=0)
lab.find_issues(pred_probs=pp, features=X)
t2 = time.perf_counter()
flag = lab.get_issues("label")["is_label_issue"].to_numpy()
np.save(sys.argv[2], flag)
print(json.dumps({"oof_s": t1 - t0, "datalab_s": t2 - t1}))
"""


def pr(flag: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    tp = (flag & truth).sum()
    return tp / max(flag.sum(), 1), tp / max(truth.sum(), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--features", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-plain", action="store_true", help="only time labelaudit")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--repeats", type=int, default=3, help="labelaudit runs (the median is reported)")
    ap.add_argument("--plain-repeats", type=int, default=1, help="plain-pipeline runs (median)")
    args = ap.parse_args()

    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=args.rows,
        n_features=args.features,
        n_informative=args.features // 2,
        n_classes=10,
        n_clusters_per_class=1,
        random_state=args.seed,
    )
    rng = np.random.default_rng(args.seed)
    flip = rng.random(len(y)) < 0.10
    noisy = y.copy()
    noisy[flip] = (y[flip] + rng.integers(1, 10, flip.sum())) % 10
    truth = noisy != y
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "data.parquet"
        df = pd.DataFrame(X.astype(np.float32), columns=[f"f{i}" for i in range(X.shape[1])])
        df["label"] = noisy
        df.to_parquet(data, index=False)
        res: dict[str, object] = {"rows": args.rows, "features": args.features, "cores": os.cpu_count()}
        runs = []
        for i in range(args.repeats):
            out_dir = tmp / f"a{i}.labelaudit"
            wall, rss, _ = measured(
                [sys.executable, "-m", "labelaudit", "scan", str(data), "--out", str(out_dir), "-q"]
            )
            runs.append((wall, rss, out_dir))
        runs.sort(key=lambda r: r[0])
        la_wall, la_rss, out_dir = runs[len(runs) // 2]
        manifest = json.loads((out_dir / "manifest.json").read_text())
        flag = pd.read_parquet(out_dir / "issues.parquet")["is_label_issue"].to_numpy()
        p, r = pr(flag, truth)
        stages = manifest["timings"]
        res["labelaudit"] = {
            "wall_s": round(la_wall, 2),
            "wall_s_runs": [round(r[0], 2) for r in runs],
            "peak_rss_mb": round(la_rss),
            "precision": round(p, 3),
            "recall": round(r, 3),
            "model": manifest["model"]["used"],
            "knn": manifest["knn"],
            "stages_s": stages,
            "stages_cover": round(sum(stages.values()) / la_wall, 3),
        }
        print(json.dumps(res["labelaudit"], indent=1), flush=True)
        if not args.skip_plain:
            script = tmp / "plain.py"
            script.write_text(PLAIN)
            plain_runs = sorted(
                (
                    measured([sys.executable, str(script), str(data), str(tmp / "flag.npy")])
                    for _ in range(args.plain_repeats)
                ),
                key=lambda r: r[0],
            )
            pl_wall, pl_rss, out = plain_runs[len(plain_runs) // 2]
            stages = json.loads(out.strip().splitlines()[-1])
            p, r = pr(np.load(tmp / "flag.npy"), truth)
            res["plain"] = {
                "wall_s": round(pl_wall, 2),
                "peak_rss_mb": round(pl_rss),
                "precision": round(p, 3),
                "recall": round(r, 3),
                "stages_s": {k: round(v, 2) for k, v in stages.items()},
            }
            res["speedup"] = round(pl_wall / la_wall, 2)
    print(json.dumps(res, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
