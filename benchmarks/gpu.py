"""The GPU path (`--device cuda`) against the CPU path on the same machine: the KNN graph and the whole scan.

    python benchmarks/gpu.py [--rows 100000,1000000] [--features 128] [--json FILE]

Needs torch with CUDA (`--device cpu` runs the same steps on the CPU, to try the script without a GPU).
Data as scale.py: make_classification (D/2 informative, 10 classes), 10 % uniform label noise, float32
Parquet. For each size:

1. The KNN graph on the matrix the scan searches (``knn_matrix``: standardised, L2-normalised), built the
   two ways a scan builds it: exact on the GPU (torch: chunked matrix products + top-k; after a warm-up)
   and the CPU default (faiss IVF with exact re-ranking). Reported: seconds, the CPU graph's neighbour
   recall@10 against the GPU's exact one, and the verdicts computed from each graph (outlier,
   near-duplicate and data-valuation flags: Jaccard; the non-iid p-value). Up to 100 000 rows, faiss
   exact on the CPU too: the GPU graph's agreement with it (ties aside, both are exact). The matrix has
   50 exact duplicates and 0.5 % spiked rows injected (as knn_agreement.py), so the flags have work to do.
2. The whole scan as a user runs it (`python -m labelaudit scan ... --device cuda`, then `--device cpu`),
   each in a fresh process: wall seconds, peak RSS, the manifest's stage timings, label-issue
   precision/recall against the flipped rows, and how many rows' flags differ between the two audits.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from measure import measured
from scale import make_data

FLAGS = ["is_label_issue", "is_outlier_issue", "is_near_duplicate_issue", "is_data_valuation_issue"]


def _recall(ref: np.ndarray, got: np.ndarray) -> float:
    """Mean share of each row's reference neighbours that ``got`` also has (rows in blocks, vectorised)."""
    hits = 0
    for s in range(0, len(ref), 100_000):
        a, b = ref[s : s + 100_000], got[s : s + 100_000]
        hits += int((a[:, :, None] == b[:, None, :]).any(axis=2).sum())
    return hits / ref.size


def knn_part(data: Path, device: str, n: int) -> dict:
    import pandas as pd

    from labelaudit.checks import data as ck
    from labelaudit.checks.knn import KnnMethod, _finish_graph, build_knn_graph, knn_matrix, torch_knn
    from labelaudit.dataset import FeatureSet

    X = np.array(pd.read_parquet(data).drop(columns="label").to_numpy(np.float32))
    y = pd.read_parquet(data, columns=["label"])["label"].to_numpy()
    # as knn_agreement.py: 50 exact duplicates and 0.5 % of rows replaced by spikes (outliers)
    rng = np.random.default_rng(0)
    X[:50] = X[50:100]
    bad = rng.choice(np.arange(100, n), n // 200, replace=False)
    X[bad] = 0.05 * rng.normal(size=(len(bad), X.shape[1]))
    X[bad[:, None], rng.integers(0, X.shape[1], (len(bad), 3))] = 5.0
    fs = FeatureSet(X, [], np.zeros(X.shape[1], bool), np.zeros(n), [])
    M, metric = knn_matrix(fs, standardize=True, seed=0)
    del X, fs
    torch_knn(M[:2000], metric, 11, device=device)  # warm-up: CUDA context, kernels
    t = time.perf_counter()
    D, I = torch_knn(M, metric, 11, device=device)  # what build_knn_graph(device="cuda") runs
    gpu_s = time.perf_counter() - t
    gpu = _finish_graph(D, I, metric, 10, f"exact:torch-{device}")
    t = time.perf_counter()
    cpu = build_knn_graph(M, metric, seed=0)  # the CPU default at this size
    cpu_s = time.perf_counter() - t
    out = {
        "gpu_exact_s": round(gpu_s, 2),
        "cpu_default_s": round(cpu_s, 2),
        "cpu_method": cpu.method,
        "cpu_recall_at_10_vs_gpu_exact": round(_recall(gpu.indices, cpu.indices), 4),
    }
    for name, fn in (
        ("outlier", ck.outlier_from_knn),
        ("near_duplicate", ck.near_duplicate),
        ("data_valuation", lambda g: ck.data_valuation(g, y)),
    ):
        a, b = fn(gpu).is_issue, fn(cpu).is_issue
        union = int((a | b).sum())
        jac = float((a & b).sum() / union) if union else 1.0
        out[name] = {"gpu": int(a.sum()), "cpu": int(b.sum()), "jaccard": round(jac, 4)}
    out["non_iid_p_value"] = {"gpu": ck.non_iid(gpu, 0).info["p_value"], "cpu": ck.non_iid(cpu, 0).info["p_value"]}
    if n <= 100_000:
        t = time.perf_counter()
        ex = build_knn_graph(M, metric, method=KnnMethod.exact)
        out["cpu_exact_s"] = round(time.perf_counter() - t, 2)
        out["gpu_agreement_with_faiss_exact"] = round(_recall(ex.indices, gpu.indices), 5)
        out["max_abs_distance_diff"] = float(np.abs(ex.distances - gpu.distances).max())
    return out


def scan_part(data: Path, truth: np.ndarray, tmp: Path, n: int, devices: list[str]) -> dict:
    import pandas as pd

    res, issues = {}, {}
    for dev in devices:
        out = tmp / f"a{n}-{dev}.labelaudit"
        cmd = [sys.executable, "-m", "labelaudit", "scan", str(data), "--out", str(out), "-q", "--device", dev]
        wall, rss, _ = measured(cmd)
        m = json.loads((out / "manifest.json").read_text())
        iss = pd.read_parquet(out / "issues.parquet", columns=["row", *FLAGS]).sort_values("row")
        issues[dev] = iss
        flagged = iss["is_label_issue"].to_numpy()
        tp = int((flagged & truth).sum())
        res[dev] = {
            "wall_s": round(wall, 2),
            "peak_rss_mb": round(rss),
            "knn_method": m["knn"]["method"],
            "stages_s": {k: round(v, 2) for k, v in m["timings"].items() if v >= 0.05},
            "stages_share_of_wall": round(sum(m["timings"].values()) / wall, 3),
            "label_precision": round(tp / max(int(flagged.sum()), 1), 4),
            "label_recall": round(tp / max(int(truth.sum()), 1), 4),
            "non_iid_p_value": m["summary"]["checks"]["non_iid"]["p_value"],
        }
    if len(devices) == 2:
        a, b = (issues[d] for d in devices)
        res["rows_whose_flag_differs"] = {f: int((a[f].to_numpy() != b[f].to_numpy()).sum()) for f in FLAGS}
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="100000,1000000")
    ap.add_argument("--features", type=int, default=128)
    ap.add_argument("--device", default="cuda", help="cuda (the GPU path) or cpu (a dry run of this script)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible to torch")
    env = {
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
        "torch": torch.__version__,
        "cpu_cores": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(json.dumps(env), flush=True)
    results = {"env": env, "sizes": {}}
    devices = [args.device, "cpu"] if args.device != "cpu" else ["cpu"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in map(int, args.rows.split(",")):
            t = time.perf_counter()
            data, truth = make_data(n, args.features, tmp)
            row = {"data_s": round(time.perf_counter() - t, 1)}
            row["knn"] = knn_part(data, args.device, n)
            print(n, json.dumps(row), flush=True)
            row["scan"] = scan_part(data, truth, tmp, n, devices)
            print(n, json.dumps(row["scan"]), flush=True)
            results["sizes"][n] = row
            if args.json:  # after every size: a run cut short keeps what it measured
                args.json.write_text(json.dumps(results, indent=1))
            data.unlink()


if __name__ == "__main__":
    main()
