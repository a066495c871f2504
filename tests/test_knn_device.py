"""The torch KNN path (what --device cuda runs) matches faiss's exact neighbours; run here on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

from labelaudit.checks.knn import KnnMethod, _finish_graph, build_knn_graph, resolve_knn_device, torch_knn
from labelaudit.errors import ConfigError, ExtraMissingError

torch = pytest.importorskip("torch", reason="the torch KNN path needs torch: pip install 'labelaudit[torch]'")


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_torch_knn_agrees_with_faiss_exact(metric):
    rng = np.random.default_rng(0)
    M = rng.normal(size=(3000, 32)).astype(np.float32)
    if metric == "cosine":
        M /= np.linalg.norm(M, axis=1, keepdims=True)
    k = 10
    ref = build_knn_graph(M, metric, k=k, method=KnnMethod.exact)
    # small chunks: the chunking is exercised
    D, I = torch_knn(M, metric, k + 1, device="cpu", max_cells=3000 * 257)
    got = _finish_graph(D, I, metric, k, "exact:torch-cpu")
    same = np.mean([len(set(a) & set(b)) / k for a, b in zip(ref.indices, got.indices, strict=True)])
    assert same >= 0.999, same
    assert np.allclose(ref.distances, got.distances, atol=1e-4)


def test_device_choice():
    assert resolve_knn_device("cpu") == "cpu"
    assert resolve_knn_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="--device must be"):
        resolve_knn_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="torch sees no CUDA device"):
            resolve_knn_device("cuda")


def test_cuda_without_torch_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ExtraMissingError, match=r"labelaudit\[torch\]"):
        resolve_knn_device("cuda")
    assert resolve_knn_device("auto") == "cpu"
