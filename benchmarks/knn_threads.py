"""The CPU KNN graph's time by thread count, part by part (does it scale past 2 cores?).

    python benchmarks/knn_threads.py [--rows 1000000] [--threads 2,4,8]

Data as scale.py (make_classification, the matrix the scan searches). For each thread count:
build_knn_graph's wall time and the seconds of its parts (the PCA basis, the re-rank depth, the k-means
lists, the list-by-list scan, the exact re-scoring, the exact search of far rows).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from scale import make_data


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=128)
    ap.add_argument("--threads", default="2,4,8")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import pandas as pd

    from labelaudit.checks import ivf, knn
    from labelaudit.dataset import FeatureSet

    spent: dict[str, float] = defaultdict(float)

    def timed(mod, name):
        fn = getattr(mod, name)

        def wrapper(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent[name] += time.perf_counter() - t

        setattr(mod, name, wrapper)

    for mod, name in ((knn, "pca_basis"), (knn, "rerank_depth"), (ivf, "ivf_lists"), (knn, "_exact_scores_rows")):
        timed(mod, name)
    timed(knn, "exact_far_rows")
    scan = ivf.ListScanner.scan

    def scan_timed(self, *a):
        t = time.perf_counter()
        scan(self, *a)
        spent["scan (summed over threads)"] += time.perf_counter() - t

    ivf.ListScanner.scan = scan_timed
    with tempfile.TemporaryDirectory() as tmp:
        data, _ = make_data(args.rows, args.features, Path(tmp))
        X = pd.read_parquet(data).drop(columns="label").to_numpy(np.float32)
    fs = FeatureSet(X, [], np.zeros(X.shape[1], bool), np.zeros(len(X)), [])
    M, metric = knn.knn_matrix(fs, standardize=True, seed=0)
    del fs
    del X
    out = {}
    for threads in map(int, args.threads.split(",")):
        spent.clear()
        t = time.perf_counter()
        g = knn.build_knn_graph(M, metric, seed=0, threads=threads)
        out[threads] = {"wall_s": round(time.perf_counter() - t, 2), "method": g.method}
        out[threads].update({k: round(v, 2) for k, v in spent.items()})
        print(threads, json.dumps(out[threads]), flush=True)
        if args.json:
            args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
