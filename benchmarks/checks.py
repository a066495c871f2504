"""The data checks against Datalab, with injected truth, on the same features, pred_probs and KNN graph.

    python benchmarks/checks.py                  # 5 datasets x 3 seeds, every scenario (~3 min on 2 cores)
    python benchmarks/checks.py --seeds 5

Datasets: the digits sample's pixels, its 16-d embeddings (``digits_embeddings.npy``: an embedding
input, not standardised), and scikit-learn's bundled iris, wine and breast_cancer. Per dataset and seed:

* **rows**: 5 % of the rows replaced by uniform random values in each column's range (true outliers)
  and 5 % jittered copies of other rows appended (true near duplicates).
* **labels**: 10 % of the labels replaced by another class at random, and a planted slice (the 8 %
  of rows nearest to a random row) whose labels are drawn uniformly: the slice is the true
  underperforming group; every changed label is the truth for data_valuation (rows that hurt).
* **order**: the rows shuffled (an i.i.d. file: a flag is a false alarm) and sorted by the first
  principal component (drift: a flag is a detection), for the non_iid test's power and false-alarm rate.
* **imbalance**: one class cut to 5 % of an even share (its rows are the truth), and the data as it is.

labelaudit scans each file (every check; its out-of-fold probabilities kept). cleanlab's
``Datalab.find_issues`` runs twice on the same pred_probs: with its own KNN graph on the raw feature
matrix (its defaults, as a Datalab user runs it) and with labelaudit's KNN graph (``knn_graph=``), which
isolates the definitions from the graph. Per check and side: rows flagged, Jaccard overlap with
labelaudit, precision, recall, and AUPRC of the score where the score ranks rows.
Results: ``benchmarks/results/checks.csv`` and a summary on stdout.
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
SIDES = ("labelaudit", "datalab", "datalab_same_graph")


def datasets():
    from sklearn.datasets import load_breast_cancer, load_iris, load_wine

    out = {}
    d = pd.read_parquet(ROOT / "sample_data" / "digits_noisy.parquet")
    y = d["label"].to_numpy()
    out["digits pixels"] = (d[[c for c in d.columns if c.startswith("px")]].to_numpy(float), y, "tabular")
    emb = np.load(ROOT / "sample_data" / "digits_embeddings.npy").astype(float)
    out["digits embeddings"] = (emb, y, "embedding")
    for name, loader in (("iris", load_iris), ("wine", load_wine), ("breast_cancer", load_breast_cancer)):
        b = loader()
        out[name] = (b.data.astype(float), np.asarray(b.target_names)[b.target], "tabular")
    return out


def inject_rows(X, y, rng):
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
    return X2, y2, {"outlier": outlier, "near_duplicate": dup}


def inject_labels(X, y, rng):
    classes = np.unique(y)
    n = len(X)
    y2 = y.copy()
    flip = rng.choice(n, n // 10, replace=False)
    for i in flip:
        y2[i] = rng.choice(classes[classes != y[i]])
    # the slice: the rows nearest (standardised euclidean) to a random centre get uniform labels
    Z = (X - X.mean(axis=0)) / np.maximum(X.std(axis=0), 1e-9)
    centre = rng.integers(n)
    near = np.argsort(((Z - Z[centre]) ** 2).sum(axis=1))[: max(10, int(0.08 * n))]
    y2[near] = rng.choice(classes, len(near))
    in_slice = np.zeros(n, bool)
    in_slice[near] = True
    return X, y2, {"underperforming_group": in_slice, "data_valuation": y2 != y, "label": y2 != y}


def write(X, y, kind, path):
    if kind == "embedding":
        df = pd.DataFrame({"embedding": list(X.astype(np.float32)), "label": y})
    else:
        df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
        df["label"] = y
    df.to_parquet(path, index=False)


def labelaudit_graph(X, kind, seed):
    from labelaudit.checks.knn import build_knn_graph, knn_matrix
    from labelaudit.dataset import FeatureSet

    n, d = X.shape
    fs = FeatureSet(X.astype(np.float32), [f"f{i}" for i in range(d)], np.zeros(d, bool), np.zeros(n), [])
    M, metric = knn_matrix(fs, standardize=kind == "tabular", seed=seed)
    return build_knn_graph(M, metric, seed=seed)


def run_datalab(y, pred_probs, X, checks, knn_graph=None):
    from cleanlab import Datalab

    lab = Datalab(data={"label": y}, label_name="label", verbosity=0)
    if knn_graph is not None:
        kwargs = {"knn_graph": knn_graph}
    else:
        kwargs = {"features": X.astype(np.float32)} if X is not None else {}
    lab.find_issues(pred_probs=pred_probs, issue_types={c: {} for c in checks}, **kwargs)
    return lab


def scan(X, y, kind, seed):
    import labelaudit

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "d.parquet"
        write(X, y, kind, p)
        return labelaudit.scan(p, seed=seed)


def pr(flag, truth):
    tp = int((flag & truth).sum())
    return (tp / flag.sum() if flag.sum() else float("nan")), tp / max(truth.sum(), 1)


def auprc(score, truth):
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(truth, -np.asarray(score))) if truth.any() else float("nan")


def jaccard(a, b):
    u = (a | b).sum()
    return float((a & b).sum() / u) if u else 1.0


def score_rows(meta, truths, flags, scores):
    rows = []
    for check, truth in truths.items():
        base = flags["labelaudit"].get(check)
        for side in SIDES:
            if check not in flags[side]:
                continue
            f = flags[side][check]
            p, r = pr(f, truth)
            s = scores[side].get(check)
            rows.append(
                {
                    **meta,
                    "check": check,
                    "side": side,
                    "flagged": int(f.sum()),
                    "true": int(truth.sum()),
                    "jaccard_vs_labelaudit": jaccard(f, base) if base is not None else np.nan,
                    "precision": p,
                    "recall": r,
                    "auprc": auprc(s, truth) if s is not None else np.nan,
                }
            )
    return rows


def sides(audit, y, X, graph, checks):
    iss = audit.issues
    flags = {"labelaudit": {c: iss[f"is_{c}_issue"].to_numpy(bool) for c in checks}}
    scores = {"labelaudit": {c: iss[f"{c}_score" if c != "label" else "label_quality"].to_numpy() for c in checks}}
    dl_checks = [c for c in checks if c != "label"]
    for side, g in (("datalab", None), ("datalab_same_graph", graph.to_csr())):
        try:
            dl = run_datalab(y, audit.pred_probs, X, dl_checks, knn_graph=g).get_issues()
        except Exception as err:  # noqa: BLE001 - a Datalab check failing is reported, not fatal
            print(f"  {side} failed: {err}", file=sys.stderr)
            flags[side], scores[side] = {}, {}
            continue
        flags[side] = {c: dl[f"is_{c}_issue"].to_numpy(bool) for c in dl_checks if f"is_{c}_issue" in dl}
        scores[side] = {c: dl[f"{c}_score"].to_numpy() for c in dl_checks if f"{c}_score" in dl}
    return flags, scores


def scenario_rows(name, X, y, kind, seed):
    rng = np.random.default_rng(seed)
    X2, y2, truth = inject_rows(X, y, rng)
    audit = scan(X2, y2, kind, seed)
    flags, scores = sides(audit, y2, X2, labelaudit_graph(X2, kind, seed), ["outlier", "near_duplicate"])
    return score_rows({"dataset": name, "seed": seed, "scenario": "rows"}, truth, flags, scores)


def scenario_labels(name, X, y, kind, seed):
    rng = np.random.default_rng(1000 + seed)
    X2, y2, truth = inject_labels(X, y, rng)
    audit = scan(X2, y2, kind, seed)
    checks = ["underperforming_group", "data_valuation", "label"]
    flags, scores = sides(audit, y2, X2, labelaudit_graph(X2, kind, seed), checks)
    for side in ("datalab", "datalab_same_graph"):
        flags[side].pop("label", None)
    return score_rows({"dataset": name, "seed": seed, "scenario": "labels"}, truth, flags, scores)


def scenario_order(name, X, y, kind, seed):
    """non_iid on a shuffled file (no drift) and on one sorted by its first principal component (drift)."""
    from sklearn.decomposition import PCA

    from labelaudit.checks import data as ck

    rng = np.random.default_rng(2000 + seed)
    rows = []
    pc = PCA(n_components=1, random_state=0).fit_transform((X - X.mean(0)) / np.maximum(X.std(0), 1e-9))[:, 0]
    for order_name, order in (("shuffled", rng.permutation(len(X))), ("sorted", np.argsort(pc, kind="stable"))):
        Xo, yo = X[order], y[order]
        graph = labelaudit_graph(Xo, kind, seed)
        ours = ck.non_iid(graph, seed)
        pp = np.full((len(yo), len(np.unique(yo))), 1.0 / len(np.unique(yo)))
        codes = np.unique(yo, return_inverse=True)[1]
        out = {"labelaudit": ours.info["p_value"]}
        for side, g in (("datalab", None), ("datalab_same_graph", graph.to_csr())):
            lab = run_datalab(codes, pp, Xo, ["non_iid"], knn_graph=g)
            out[side] = float(lab.get_info("non_iid")["p-value"])
        for side, p in out.items():
            rows.append(
                {
                    "dataset": name,
                    "seed": seed,
                    "scenario": f"order:{order_name}",
                    "check": "non_iid",
                    "side": side,
                    "p_value": p,
                    "flagged": int(p < ck.NON_IID_SIGNIFICANCE),
                }
            )
    return rows


def scenario_imbalance(name, X, y, kind, seed):
    from labelaudit.checks import data as ck

    rng = np.random.default_rng(3000 + seed)
    classes, counts = np.unique(y, return_counts=True)
    rows = []
    rare = classes[np.argmin(counts)]
    keep_rare = max(1, int(0.05 * len(y) / len(classes)))
    idx_rare = rng.choice(np.flatnonzero(y == rare), min(keep_rare, counts.min()), replace=False)
    cut = np.sort(np.concatenate([np.flatnonzero(y != rare), idx_rare]))
    for variant, yy in (("as is", y), ("one class cut", y[cut])):
        codes = np.unique(yy, return_inverse=True)[1]
        truth = (yy == rare) if variant != "as is" else np.zeros(len(yy), bool)
        ours = ck.class_imbalance(codes, len(classes), list(classes)).is_issue
        pp = np.full((len(yy), len(classes)), 1.0 / len(classes))
        dl = run_datalab(codes, pp, None, ["class_imbalance"], knn_graph=None).get_issues()
        for side, f in (("labelaudit", ours), ("datalab", dl["is_class_imbalance_issue"].to_numpy(bool))):
            p, r = pr(f, truth)
            rows.append(
                {
                    "dataset": name,
                    "seed": seed,
                    "scenario": f"imbalance:{variant}",
                    "check": "class_imbalance",
                    "side": side,
                    "flagged": int(f.sum()),
                    "true": int(truth.sum()),
                    "precision": p,
                    "recall": r,
                }
            )
    return rows


def summarize(df: pd.DataFrame) -> None:
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_rows", 200):
        det = df[df["scenario"].isin(["rows", "labels"])]
        cols = ["flagged", "true", "jaccard_vs_labelaudit", "precision", "recall", "auprc"]
        print("\n== detection with injected truth: mean over datasets and seeds")
        print(det.groupby(["check", "side"])[cols].mean().round(3))
        print("\n== per dataset")
        print(det.groupby(["check", "dataset", "side"])[["flagged", "precision", "recall"]].mean().round(3))
        order = df[df["scenario"].str.startswith("order")]
        if len(order):
            print("\n== non_iid: share of runs flagged (sorted = power, shuffled = false alarm)")
            print(order.groupby(["scenario", "side"])["flagged"].mean().unstack().round(3))
        imb = df[df["scenario"].str.startswith("imbalance")]
        if len(imb):
            print("\n== class_imbalance")
            print(imb.groupby(["scenario", "side"])[["flagged", "true", "precision", "recall"]].mean().round(3))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--scenarios", default="rows,labels,order,imbalance")
    args = ap.parse_args()
    try:
        import cleanlab.datalab  # noqa: F401
    except ImportError as err:
        sys.exit(f"needs cleanlab[datalab] ({err}): pip install -r benchmarks/requirements.txt")
    run = {
        "rows": scenario_rows,
        "labels": scenario_labels,
        "order": scenario_order,
        "imbalance": scenario_imbalance,
    }
    rows = []
    for name, (X, y, kind) in datasets().items():
        for seed in range(args.seeds):
            for sc in args.scenarios.split(","):
                rows += run[sc](name, X, y, kind, seed)
            print(f"{name} seed {seed} done", file=sys.stderr, flush=True)
    df = pd.DataFrame(rows)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "checks.csv", index=False)
    summarize(df)


if __name__ == "__main__":
    main()
