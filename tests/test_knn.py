"""The approximate KNN graph (PCA projection, IVF of 8-bit codes, exact re-ranking) against exact search."""

from __future__ import annotations

import numpy as np
import pytest

from labelaudit.checks.knn import KnnMethod, build_knn_graph


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_approximate_index_finds_the_same_neighbours_with_exact_distances(metric):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 32))
    M = (centres[rng.integers(0, 20, 8000)] + 0.3 * rng.normal(size=(8000, 32))).astype(np.float32)
    M[1] = M[0]  # an exact duplicate must stay at distance 0 (the near-duplicate check depends on it)
    if metric == "cosine":
        M /= np.linalg.norm(M, axis=1, keepdims=True)
    k = 10
    ref = build_knn_graph(M, metric, k=k, method=KnnMethod.exact)
    got = build_knn_graph(M, metric, k=k, method=KnnMethod.approx, seed=0)
    assert got.method.startswith("approx:ivf-sq8")
    recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(ref.indices, got.indices, strict=True)])
    assert recall >= 0.9, recall
    # distances of the pairs found are the exact float32 ones, not the 8-bit codes'
    nb = M[got.indices]
    if metric == "cosine":
        exact = np.clip(1.0 - (nb * M[:, None, :]).sum(-1), 0.0, 2.0)
    else:
        exact = np.sqrt(((nb - M[:, None, :]) ** 2).sum(-1))
    np.testing.assert_allclose(got.distances, exact, atol=1e-5)
    assert got.indices[0, 0] == 1 and got.distances[0, 0] <= 1e-6
