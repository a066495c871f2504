"""The torch KNN path (what --device cuda runs) matches faiss's exact neighbours; run here on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

from labelaudit.checks.knn import KnnMethod, _finish_graph, build_knn_graph, resolve_knn_device, torch_knn
from labelaudit.errors import ConfigError, ExtraMissingError

torch = pytest.importorskip("torch", reason="the torch KNN path needs torch: pip install 'labelaudit[torch]'")


@pytest.mark.parametrize("block", [7, 128, 4096])  # partial last block; whole blocks; top-k without blocks
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_torch_knn_agrees_with_faiss_exact(metric, block):
    rng = np.random.default_rng(0)
    M = rng.normal(size=(3000, 32)).astype(np.float32)
    if metric == "cosine":
        M /= np.linalg.norm(M, axis=1, keepdims=True)
    k = 10
    ref = build_knn_graph(M, metric, k=k, method=KnnMethod.exact)
    # small chunks: the chunking is exercised
    D, I = torch_knn(M, metric, k + 1, device="cpu", max_cells=3000 * 257, block=block)
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


def test_half_candidates_rescored_exactly():
    """The GPU's default for cosine: float16 candidates, re-scored in float32 (run here on the CPU)."""
    rng = np.random.default_rng(1)
    # clustered rows, so neighbour scores crowd together where float16 rounding could reorder them
    centres = rng.normal(size=(20, 32))
    M = (centres[rng.integers(0, 20, 4000)] + 0.3 * rng.normal(size=(4000, 32))).astype(np.float32)
    M[:30] = M[30:60]  # exact copies: ties the re-ranking must keep
    M /= np.linalg.norm(M, axis=1, keepdims=True)
    k = 10
    ref = build_knn_graph(M, "cosine", k=k, method=KnnMethod.exact)
    D, I = torch_knn(M, "cosine", k + 1, device="cpu", max_cells=4000 * 300, half=True, block=16)
    got = _finish_graph(D, I, "cosine", k, "exact:torch-cpu")
    same = np.mean([len(set(a) & set(b)) / k for a, b in zip(ref.indices, got.indices, strict=True)])
    assert same >= 0.999, same
    # the kept scores are float32's, not float16's
    assert np.allclose(ref.distances, got.distances, atol=1e-5)
    half_only = (torch.from_numpy(M).half() @ torch.from_numpy(M).half().T).float().numpy()
    assert not np.allclose(np.sort(half_only, axis=1)[:, -2], 1 - ref.distances[:, 0], atol=1e-5)


def test_block_maxima_top_k_is_top_k():
    """Top-k through block maxima returns top-k's scores, also with ties and a partial last block."""
    from labelaudit.checks.knn import _topk_rows

    g = torch.Generator().manual_seed(0)
    S = torch.randint(0, 50, (64, 1000), generator=g).float()  # many ties
    S[:, 990:] += 100.0  # the best scores in the partial last block
    S[0] = 1.0  # a row of one value
    for c in (1, 5, 11):
        want, _ = torch.topk(S, c, dim=1)
        got, cols = _topk_rows(torch, S, c, block=32)
        assert torch.equal(got, want)
        assert torch.equal(torch.gather(S, 1, cols), got)  # the columns hold those scores


def test_auto_does_not_import_torch_without_a_gpu_driver():
    """`--device auto` on a machine with no GPU driver answers cpu without importing torch (1.5 s, ~190 MB)."""
    import subprocess
    import sys

    code = (
        "import sys; from labelaudit.checks.knn import gpu_driver_present, resolve_knn_device; "
        "print(gpu_driver_present(), resolve_knn_device('auto', 10**6), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    if out[0] == "False":
        assert out[1:] == ["cpu", "False"]
    else:  # a GPU machine: auto asks torch
        assert out[2] == "True"
