"""What the approximate KNN graph (IVF) changes against the exact one, on a size where both run.

    python benchmarks/knn_agreement.py --rows 50000 --features 128

Reports neighbour recall@k, the time of each, and the agreement (Jaccard) of the outlier,
near-duplicate and data-valuation flagged sets and the non-iid p-value computed from each graph, on the
file as generated (shuffled) and sorted by class (drift: both graphs must call it non-iid). Injected:
50 exact duplicates and 0.5 % of rows replaced by spikes (three large coordinates: outliers).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--features", type=int, default=128)
    args = ap.parse_args()
    from sklearn.datasets import make_classification

    from labelaudit.checks import data as ck
    from labelaudit.checks.knn import KnnGraph, KnnMethod, build_knn_graph

    X, y = make_classification(
        n_samples=args.rows,
        n_features=args.features,
        n_informative=args.features // 2,
        n_classes=10,
        n_clusters_per_class=1,
        random_state=0,
    )
    X = X.astype(np.float32)
    X[:50] = X[50:100]  # some exact duplicates
    rng = np.random.default_rng(0)
    bad = rng.choice(np.arange(100, args.rows), args.rows // 200, replace=False)
    # outliers: rows from another distribution (three large coordinates, the rest near zero)
    X[bad] = 0.05 * rng.normal(size=(len(bad), X.shape[1]))
    for r in bad:
        X[r, rng.choice(X.shape[1], 3, replace=False)] = 5.0
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    graphs, secs = {}, {}
    for m in (KnnMethod.exact, KnnMethod.approx):
        t0 = time.perf_counter()
        graphs[m.value] = build_knn_graph(X, "cosine", method=m)
        secs[m.value] = round(time.perf_counter() - t0, 2)
    ex, ap_ = graphs["exact"], graphs["approx"]
    recall = float(np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(ex.indices, ap_.indices, strict=True)]))

    def jaccard(a, b):
        return float((a & b).sum() / max((a | b).sum(), 1))

    out = {
        "rows": args.rows,
        "features": args.features,
        "seconds": secs,
        "method": ap_.method,
        "neighbour_recall_at_10": round(recall, 4),
    }
    for name, fn in (
        ("outlier", ck.outlier_from_knn),
        ("near_duplicate", ck.near_duplicate),
        ("data_valuation", lambda g: ck.data_valuation(g, y)),
    ):
        a, b = fn(ex), fn(ap_)
        out[name] = {
            "exact_flagged": a.count,
            "approx_flagged": b.count,
            "jaccard": round(jaccard(a.is_issue, b.is_issue), 4),
        }
    out["non_iid_p_value"] = {
        "exact": round(ck.non_iid(ex, 0).info["p_value"], 4),
        "approx": round(ck.non_iid(ap_, 0).info["p_value"], 4),
    }
    # sorted by class: reorder rows and relabel the graphs' indices (same neighbours, new positions)
    order = np.argsort(y, kind="stable")
    where = np.empty_like(order)
    where[order] = np.arange(len(order))

    def reorder(g):
        return KnnGraph(where[g.indices[order]], g.distances[order], g.metric, g.method)

    out["non_iid_p_value_sorted_by_class"] = {
        "exact": round(ck.non_iid(reorder(ex), 0).info["p_value"], 4),
        "approx": round(ck.non_iid(reorder(ap_), 0).info["p_value"], 4),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
