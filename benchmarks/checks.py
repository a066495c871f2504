"""The data checks against Datalab, with injected truth: outliers and near duplicates (a first cut of issue 19).

    python benchmarks/checks.py                  # digits sample, iris, wine, breast_cancer; 3 seeds

Per dataset and seed: 5 % of the rows are replaced by uniform random values in each column's range
(corrupted rows: true outliers) and 5 % jittered copies of other rows are appended (true near
duplicates). labelaudit scans the file (every check; its out-of-fold probabilities are saved), and
cleanlab's ``Datalab.find_issues`` runs on the same pred_probs and on the raw feature matrix (its own
KNN graph, its defaults). Reported per check: rows flagged, Jaccard overlap of the two flagged sets,
precision and recall against the injected truth.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]


def datasets():
    from sklearn.datasets import load_breast_cancer, load_iris, load_wine

    out = {}
    d = pd.read_parquet(ROOT / "sample_data" / "digits_noisy.parquet")
    out["digits sample"] = (d[[c for c in d.columns if c.startswith("px")]].to_numpy(float), d["label"].to_numpy())
    for name, loader in (("iris", load_iris), ("wine", load_wine), ("breast_cancer", load_breast_cancer)):
        b = loader()
        out[name] = (b.data.astype(float), np.asarray(b.target_names)[b.target])
    return out


def inject(X, y, seed):
    rng = np.random.default_rng(seed)
    n = len(X)
    k = max(2, n // 20)
    X = X.copy()
    bad = rng.choice(n, k, replace=False)
    lo, hi = X.min(axis=0), X.max(axis=0)
    X[bad] = rng.uniform(lo, hi, size=(k, X.shape[1]))
    src = rng.choice(np.setdiff1d(np.arange(n), bad), k, replace=False)
    copies = X[src] + rng.normal(size=(k, X.shape[1])) * 1e-3 * (hi - lo + 1e-9)
    X2 = np.vstack([X, copies])
    y2 = np.concatenate([y, y[src]])
    outlier = np.zeros(len(X2), bool)
    outlier[bad] = True
    dup = np.zeros(len(X2), bool)
    dup[src] = True
    dup[n:] = True
    return X2, y2, outlier, dup


def pr(flag, truth):
    tp = int((flag & truth).sum())
    return (tp / flag.sum() if flag.sum() else float("nan")), tp / max(truth.sum(), 1)


def jaccard(a, b):
    u = (a | b).sum()
    return float((a & b).sum() / u) if u else 1.0


def run_one(name, X, y, seed):
    from cleanlab import Datalab

    import labelaudit

    X2, y2, outlier, dup = inject(X, y, seed)
    cols = [f"f{i}" for i in range(X2.shape[1])]
    df = pd.DataFrame(X2, columns=cols)
    df["label"] = y2
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "d.parquet"
        df.to_parquet(p, index=False)
        audit = labelaudit.scan(p, seed=seed)
    iss = audit.issues
    lab = Datalab(data={"label": y2}, label_name="label", verbosity=0)
    lab.find_issues(
        pred_probs=audit.pred_probs,
        features=X2.astype(np.float32),
        issue_types={"outlier": {}, "near_duplicate": {}},
    )
    dl = lab.get_issues()
    rows = []
    for check, truth in (("outlier", outlier), ("near_duplicate", dup)):
        la = iss[f"is_{check}_issue"].to_numpy(bool)
        da = dl[f"is_{check}_issue"].to_numpy(bool)
        (lp, lr), (dp, dr) = pr(la, truth), pr(da, truth)
        rows.append(
            {
                "dataset": name,
                "seed": seed,
                "check": check,
                "labelaudit_flagged": int(la.sum()),
                "datalab_flagged": int(da.sum()),
                "jaccard": round(jaccard(la, da), 3),
                "labelaudit_precision": lp,
                "labelaudit_recall": lr,
                "datalab_precision": dp,
                "datalab_recall": dr,
                "true": int(truth.sum()),
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    try:
        import cleanlab.datalab  # noqa: F401
    except ImportError as err:
        sys.exit(f"needs cleanlab[datalab] ({err}): pip install -r benchmarks/requirements.txt")
    rows = []
    for name, (X, y) in datasets().items():
        for seed in range(args.seeds):
            rows += run_one(name, X, y, seed)
            print(f"{name} seed {seed} done", file=sys.stderr, flush=True)
    df = pd.DataFrame(rows)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "checks.csv", index=False)
    summary = df.groupby(["check", "dataset"]).mean(numeric_only=True).drop(columns="seed").round(3)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary)
        print(df.groupby("check").mean(numeric_only=True).drop(columns="seed").round(3))


if __name__ == "__main__":
    main()
