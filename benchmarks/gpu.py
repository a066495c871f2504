"""The GPU path (`--device cuda`) against the CPU path on the same machine: the KNN graph and the whole scan.

    python benchmarks/gpu.py [--rows 100000,1000000] [--features 128] [--json FILE]

Needs torch with CUDA (`--device cpu` runs the same steps on the CPU, to try the script without a GPU).
Data as scale.py: make_classification (D/2 informative, 10 classes), 10 % uniform label noise, float32
Parquet. For each size:

1. The KNN graph on the matrix the scan searches (``knn_matrix``: standardised, L2-normalised), built
   every way a scan can build it, after a warm-up: exact in float32 on the GPU (torch: chunked matrix
   products + top-k; the reference), the GPU default (float16 candidates re-scored in float32), the CPU
   default (faiss IVF with exact re-ranking) and, up to --faiss-exact-max-rows, faiss exact on the CPU.
   Reported: seconds, each graph's neighbour recall@10 against the reference, and the verdicts computed
   from each (outlier, near-duplicate and data-valuation flags: Jaccard; the non-iid p-value), plus the
   seconds of the score products alone (float32, float16), to show what top-k costs. The matrix has
   50 exact duplicates and 0.5 % spiked rows injected (as knn_agreement.py), so the flags have work to do.
2. The whole scan as a user runs it (`python -m labelaudit scan ... --device cuda`, then `--device cpu`),
   each in a fresh process: wall seconds, peak RSS, the manifest's stage timings, label-issue
   precision/recall against the flipped rows, and how many rows' flags differ between the two audits.
   ``--scan-devices auto,cpu --scans-only`` runs only these scans, with ``--device auto`` (which asks the
   GPU driver before importing torch) in place of ``cuda``.
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


def knn_part(data: Path, device: str, n: int, cpu_knn_max_rows: int, faiss_exact_max_rows: int) -> dict:
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
    out: dict = {"seconds": {}}
    graphs = {}

    def timed(name, fn):
        t = time.perf_counter()
        graphs[name] = fn()
        out["seconds"][name] = round(time.perf_counter() - t, 2)

    # the reference: exact in float32 on the GPU (agreed with faiss exact on 0.99995 of neighbour sets at 100k)
    timed("gpu_fp32", lambda: _finish_graph(*torch_knn(M, metric, 11, device=device, half=False), metric, 10, "fp32"))
    # what build_knn_graph(device="cuda") runs: float16 candidates, float32 re-rank
    timed("gpu_default", lambda: _finish_graph(*torch_knn(M, metric, 11, device=device), metric, 10, "default"))
    if n <= cpu_knn_max_rows:
        timed("cpu_default", lambda: build_knn_graph(M, metric, seed=0))
        out["cpu_method"] = graphs["cpu_default"].method
    if n <= faiss_exact_max_rows:
        timed("faiss_exact", lambda: build_knn_graph(M, metric, method=KnnMethod.exact))
    out["products_only_s"] = _products_only(M, device)
    ref = graphs.pop("gpu_fp32")
    p_ref = ck.non_iid(ref, 0).info["p_value"]
    for name, g in graphs.items():
        row = {"recall_at_10_vs_fp32_exact": round(_recall(ref.indices, g.indices), 5)}
        for check, fn in (
            ("outlier", ck.outlier_from_knn),
            ("near_duplicate", ck.near_duplicate),
            ("data_valuation", lambda g: ck.data_valuation(g, y)),
        ):
            a, b = fn(ref).is_issue, fn(g).is_issue
            union = int((a | b).sum())
            jac = float((a & b).sum() / union) if union else 1.0
            row[check] = {"fp32": int(a.sum()), "this": int(b.sum()), "jaccard": round(jac, 4)}
        row["non_iid_p_value"] = {"fp32": p_ref, "this": ck.non_iid(g, 0).info["p_value"]}
        out[name] = row
    return out


def _products_only(M: np.ndarray, device: str) -> dict:
    """Seconds of the chunked score products alone (no top-k), float32 and float16: where the time goes."""
    import torch

    from labelaudit.checks.knn import _torch_chunk_cells

    X = torch.from_numpy(M).to(device)
    chunk = max(1, _torch_chunk_cells(torch, device) // len(M))
    res = {}
    for name, A in (("fp32", X), ("fp16", X.half())):
        torch.cuda.synchronize() if device == "cuda" else None
        t = time.perf_counter()
        acc = 0.0
        for s in range(0, len(M), chunk):
            acc += float((A[s : s + chunk] @ A.T)[0, 0])
        res[name] = round(time.perf_counter() - t, 2)
    return res


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
    ap.add_argument("--cpu-knn-max-rows", type=int, default=10**9, help="the CPU graph only up to this size")
    ap.add_argument("--faiss-exact-max-rows", type=int, default=100_000)
    ap.add_argument("--cpu-scan-max-rows", type=int, default=10**9, help="the --device cpu scan only up to this size")
    ap.add_argument(
        "--scan-devices",
        help="the scans' --device values, comma-separated (default: DEVICE,cpu); auto checks the driver probe",
    )
    ap.add_argument("--scans-only", action="store_true", help="skip part 1 (the KNN graph built every way)")
    args = ap.parse_args()
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible to torch")
    from labelaudit.checks.knn import gpu_driver_present

    env = {
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
        "gpu_driver_present": gpu_driver_present(),
        "torch": torch.__version__,
        "cpu_cores": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(json.dumps(env), flush=True)
    results = {"env": env, "sizes": {}}
    devices = [args.device, "cpu"] if args.device != "cpu" else ["cpu"]
    if args.scan_devices:
        devices = args.scan_devices.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in map(int, args.rows.split(",")):
            t = time.perf_counter()
            data, truth = make_data(n, args.features, tmp)
            row = {"data_s": round(time.perf_counter() - t, 1)}
            if not args.scans_only:
                row["knn"] = knn_part(data, args.device, n, args.cpu_knn_max_rows, args.faiss_exact_max_rows)
                print(n, json.dumps(row), flush=True)
            row["scan"] = scan_part(data, truth, tmp, n, devices if n <= args.cpu_scan_max_rows else devices[:1])
            print(n, json.dumps(row["scan"]), flush=True)
            results["sizes"][n] = row
            if args.json:  # after every size: a run cut short keeps what it measured
                args.json.write_text(json.dumps(results, indent=1))
            data.unlink()


if __name__ == "__main__":
    main()
