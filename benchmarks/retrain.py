"""Retrain strategies x noise kind x noise rate on real datasets: clean-test accuracy of each strategy.

    python benchmarks/retrain.py [--datasets digits,wine,breast_cancer] [--seeds 0,1] [--rates 0.1,0.3,0.5]

For every dataset (bundled with scikit-learn), seed, noise kind (symmetric, asymmetric, instance) and
rate: a stratified 70/30 split; the training part gets simulated noise (labelaudit.simulate_noise;
asymmetric and instance noise use a logistic regression's out-of-fold probabilities on the clean
labels as the noise model); labelaudit scans it with its defaults; every retrain strategy is scored
on the untouched clean 30 %. Writes benchmarks/results/retrain.csv and retrain.md (means over seeds,
the winner of each case, and how often each strategy wins or beats the baseline).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def load(name: str):
    from sklearn import datasets

    d = getattr(datasets, f"load_{name}")()
    return d.data.astype(np.float32), d.target.astype(np.int64)


def noise_model_probs(X, y, seed):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return cross_val_predict(model, X, y, cv=cv, method="predict_proba")


def run_case(name, X, y, kind, rate, seed, workdir: Path):
    from sklearn.model_selection import train_test_split

    import labelaudit
    from labelaudit.noise import simulate_noise
    from labelaudit.retrain.strategies import retrain

    k = int(y.max()) + 1
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
    pp = noise_model_probs(Xtr, ytr, seed) if kind != "symmetric" else None
    noisy = simulate_noise(ytr, k, kind, rate, seed, pred_probs=pp)
    cols = [f"f{i}" for i in range(X.shape[1])]
    train = pd.DataFrame(Xtr, columns=cols).assign(label=noisy.noisy)
    test = pd.DataFrame(Xte, columns=cols).assign(label=yte)
    tag = f"{name}-{kind}-{rate}-{seed}"
    train.to_parquet(workdir / f"{tag}.train.parquet")
    test.to_parquet(workdir / f"{tag}.test.parquet")
    t0 = time.perf_counter()
    audit = labelaudit.scan(workdir / f"{tag}.train.parquet", label="label", seed=seed)
    scan_s = time.perf_counter() - t0
    res = retrain(audit, test=workdir / f"{tag}.test.parquet", strategies=["all"], n_boot=0, seed=seed)
    rows = []
    for r in res.results:
        rows.append(
            {
                "dataset": name,
                "noise": kind,
                "rate": rate,
                "realised_rate": round(noisy.realised_rate, 4),
                "seed": seed,
                "strategy": r.strategy.name,
                "accuracy": r.metrics["accuracy"]["value"],
                "macro_f1": r.metrics["macro_f1"]["value"],
                "train_rows": r.train_rows,
                "seconds": round(r.seconds, 2),
                "scan_seconds": round(scan_s, 2),
            }
        )
    return rows


def markdown(df: pd.DataFrame) -> str:
    strategies = list(dict.fromkeys(df["strategy"]))
    mean = df.groupby(["dataset", "noise", "rate", "strategy"], sort=False)["accuracy"].mean().unstack("strategy")
    mean = mean[strategies]
    lines = [
        "| dataset | noise | rate | " + " | ".join(strategies) + " |",
        "|---|---|---:|" + "---:|" * len(strategies),
    ]
    wins = dict.fromkeys(strategies, 0)
    beats = dict.fromkeys(strategies, 0)
    for (ds, kind, rate), row in mean.iterrows():
        best = row.max()
        cells = []
        for s in strategies:
            v = row[s]
            cells.append(f"**{v:.3f}**" if v == best else f"{v:.3f}")
            if v == best:
                wins[s] += 1
            if v > row["baseline"] + 0.005:
                beats[s] += 1
        lines.append(f"| {ds} | {kind} | {rate} | " + " | ".join(cells) + " |")
    n = len(mean)
    lines += [
        "",
        f"| strategy | best in (of {n} cases) | beats baseline by > 0.005 in | mean accuracy gain over baseline |",
        "|---|---:|---:|---:|",
    ]
    for s in strategies:
        gain = (mean[s] - mean["baseline"]).mean()
        lines.append(f"| {s} | {wins[s]} | {beats[s]} | {gain:+.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="digits,wine,breast_cancer")
    ap.add_argument("--noise", default="symmetric,asymmetric,instance")
    ap.add_argument("--rates", default="0.1,0.3,0.5")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets.split(","):
            X, y = load(name)
            for kind in args.noise.split(","):
                for rate in (float(r) for r in args.rates.split(",")):
                    for seed in (int(s) for s in args.seeds.split(",")):
                        t = time.perf_counter()
                        rows += run_case(name, X, y, kind, rate, seed, Path(tmp))
                        last = {r["strategy"]: r["accuracy"] for r in rows[-8:]}
                        print(f"{name} {kind} {rate} seed {seed}: {last} ({time.perf_counter() - t:.0f} s)", flush=True)
                        pd.DataFrame(rows).to_csv(out / "retrain.csv", index=False)
    df = pd.DataFrame(rows)
    md = markdown(df)
    (out / "retrain.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
