"""Exact KNN on the GPU (torch, what `scan --device cuda` runs) vs faiss on the CPU: time and agreement.

    python benchmarks/gpu_knn.py [--rows 100000,1000000] [--features 128] [--k 10]

Needs torch with CUDA. For each size: torch chunked matrix products + top-k on the GPU (after one
warm-up), and at sizes up to 100 000 rows faiss exact on the CPU for the neighbour-set agreement.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    import torch

    from labelaudit.checks.knn import KnnMethod, _finish_graph, build_knn_graph, torch_knn

    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="100000,1000000")
    ap.add_argument("--features", type=int, default=128)
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible to torch")
    print("device:", torch.cuda.get_device_name(0))
    rng = np.random.default_rng(0)
    for n in (int(r) for r in args.rows.split(",")):
        M = rng.normal(size=(n, args.features)).astype(np.float32)
        M /= np.linalg.norm(M, axis=1, keepdims=True)
        torch_knn(M[:1000], "cosine", args.k + 1, device="cuda")  # warm-up
        torch.cuda.synchronize()
        t = time.perf_counter()
        D, I = torch_knn(M, "cosine", args.k + 1, device="cuda", max_cells=1 << 30)
        torch.cuda.synchronize()
        gpu = time.perf_counter() - t
        got = _finish_graph(D, I, "cosine", args.k, "exact:torch-cuda")
        line = f"{n} x {args.features}: torch cuda {gpu:.2f} s"
        if n <= 100_000:
            t = time.perf_counter()
            ref = build_knn_graph(M, "cosine", k=args.k, method=KnnMethod.exact)
            cpu = time.perf_counter() - t
            agree = np.mean([len(set(a) & set(b)) / args.k for a, b in zip(ref.indices, got.indices, strict=True)])
            line += f"; faiss exact cpu {cpu:.2f} s; neighbour-set agreement {agree:.4f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
