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
    assert got.method.startswith("approx:ivf-blas")
    recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(ref.indices, got.indices, strict=True)])
    assert recall >= 0.9, recall
    # distances of the pairs found are the exact float32 ones, not the PCA projection's
    nb = M[got.indices]
    if metric == "cosine":
        exact = np.clip(1.0 - (nb * M[:, None, :]).sum(-1), 0.0, 2.0)
    else:
        exact = np.sqrt(((nb - M[:, None, :]) ** 2).sum(-1))
    np.testing.assert_allclose(got.distances, exact, atol=1e-5)
    assert got.indices[0, 0] == 1 and got.distances[0, 0] <= 1e-6


@pytest.mark.parametrize("d", [16, 64])
def test_approximate_graph_gives_the_exact_graphs_verdicts(d):
    """Outlier and near-duplicate flags and the non-iid verdict, from the approximate graph as from the exact one
    (64 dimensions go through the PCA projection; 16 do not)."""
    from labelaudit.checks import data as ck

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(30, d))
    labels = rng.integers(0, 30, 6000)
    M = (centres[labels] + 0.4 * rng.normal(size=(6000, d))).astype(np.float32)
    M[:40] = M[40:80] + 1e-4  # near duplicates
    M[100:130] = 6.0 * rng.normal(size=(30, d))  # far from every cluster: outliers
    M /= np.linalg.norm(M, axis=1, keepdims=True)
    order = np.argsort(labels, kind="stable")  # a drifting file: neighbours sit close in file order
    for drift, rows in ((False, np.arange(len(M))), (True, order)):
        X = np.ascontiguousarray(M[rows])
        ex = build_knn_graph(X, "cosine", method=KnnMethod.exact)
        ap = build_knn_graph(X, "cosine", method=KnnMethod.approx, seed=0)
        assert ap.method.startswith("approx")
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ex.indices, ap.indices, strict=True)])
        assert recall >= 0.9, recall
        for check in (ck.outlier_from_knn, ck.near_duplicate):
            a, b = check(ex).is_issue, check(ap).is_issue
            assert (a & b).sum() / max((a | b).sum(), 1) >= 0.9, check.__name__
        assert ck.non_iid(ex, 0).info["significant"] == ck.non_iid(ap, 0).info["significant"] == drift
        if not drift:  # the injected rows are what both graphs flag
            assert ck.outlier_from_knn(ap).is_issue[100:130].mean() >= 0.9
            assert ck.near_duplicate(ap).is_issue[:80].all()


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("projected", [True, False])
def test_list_by_list_scan_gives_the_same_graph_in_chunks_and_on_one_thread(metric, projected, monkeypatch):
    """The scan's row chunks and thread ranges only split the work: the neighbours found are the same, in
    the PCA projection (re-ordered by list) and without it."""
    import labelaudit.checks.knn as knn

    rng = np.random.default_rng(2)
    if projected:  # rows on a 16-dimensional subspace of 40: the projection keeps what ranks neighbours
        M = rng.normal(size=(5000, 16)) @ rng.normal(size=(16, 40)) + 0.01 * rng.normal(size=(5000, 40))
    else:  # tight clusters: neighbours differ only in the dimensions a projection would drop
        M = rng.normal(size=(12, 40))[rng.integers(0, 12, 5000)] + 0.1 * rng.normal(size=(5000, 40))
    M = M.astype(np.float32)
    if metric == "cosine":
        M /= np.linalg.norm(M, axis=1, keepdims=True)
    whole = build_knn_graph(M, metric, method=KnnMethod.approx, seed=0, threads=2)
    monkeypatch.setattr(knn, "SEARCH_CHUNK", 777)  # 7 chunks, the last one short
    chunked = build_knn_graph(M, metric, method=KnnMethod.approx, seed=0, threads=2)
    single = build_knn_graph(M, metric, method=KnnMethod.approx, seed=0, threads=1)
    for other in (chunked, single):
        np.testing.assert_array_equal(other.indices, whole.indices)
        np.testing.assert_array_equal(other.distances, whole.distances)
    assert ("pca" in whole.method) == projected


def test_one_long_list_of_copies_does_not_break_the_scan():
    """Many copies of one row make one IVF list far longer than the others: the copies are each other's
    neighbours at distance 0 and the other rows still find theirs."""
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(10, 40))
    M = (centres[rng.integers(0, 10, 6000)] + 0.1 * rng.normal(size=(6000, 40))).astype(np.float32)
    M[:2500] = M[2500]  # 2 501 identical rows
    M /= np.linalg.norm(M, axis=1, keepdims=True)
    ex = build_knn_graph(M, "cosine", method=KnnMethod.exact)
    ap = build_knn_graph(M, "cosine", method=KnnMethod.approx, seed=0)
    assert np.isin(ap.indices[:2500], np.arange(2501)).all() and ap.distances[:2500].max() <= 1e-6
    rest = slice(2501, None)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ex.indices[rest], ap.indices[rest], strict=True)])
    assert recall >= 0.9, recall


def _graph_with_false_far_rows(n_bad: int):
    """An exact graph in which ``n_bad`` rows got neighbours from other clusters: rows an approximate
    search left far from their true neighbours, so the outlier check sees them as outliers."""
    import faiss

    from labelaudit.checks.knn import KnnGraph

    rng = np.random.default_rng(3)
    centres = rng.normal(size=(10, 16))
    labels = rng.integers(0, 10, 6000)
    M = (centres[labels] + 0.3 * rng.normal(size=(6000, 16))).astype(np.float32)
    M /= np.linalg.norm(M, axis=1, keepdims=True)
    ex = build_knn_graph(M, "cosine", method=KnnMethod.exact)
    idx, dist = ex.indices.copy(), ex.distances.copy()
    bad = rng.choice(6000, n_bad, replace=False)
    for r in bad:
        others = rng.choice(np.flatnonzero(labels != labels[r]), ex.k, replace=False)
        d = 1.0 - M[others] @ M[r]
        idx[r], dist[r] = others[np.argsort(d)], np.sort(d)
    return M, ex, KnnGraph(idx, dist, "cosine", "approx:test"), faiss.METRIC_INNER_PRODUCT


def test_far_rows_over_the_base_budget_are_searched_when_the_outlier_check_would_flag_them(monkeypatch):
    from labelaudit.checks import data as ck
    from labelaudit.checks import knn

    M, ex, ap, fmetric = _graph_with_false_far_rows(60)
    want = ck.outlier_from_knn(ex).is_issue  # the IQR rule flags the clusters' own tails too
    assert ck.outlier_from_knn(ap).count >= want.sum() + 30
    per_row = M.shape[0] * M.shape[1]
    monkeypatch.setattr(knn, "FAR_MAX_COST", 50 * per_row)  # the base budget: 50 rows
    fixed = knn.exact_far_rows(ap, M, fmetric)
    assert fixed.unverified_far == 0 and "unverified" not in fixed.method
    np.testing.assert_array_equal(ck.outlier_from_knn(fixed).is_issue, want)
    # over the candidates' budget too: what stays approximate is counted and named, not hidden
    monkeypatch.setattr(knn, "FAR_FLAG_MAX_COST", 80 * per_row)
    part = knn.exact_far_rows(ap, M, fmetric)
    assert part.method.startswith("approx:test+exact-far(80)+unverified-far(")
    assert 0 < part.unverified_far <= ck.outlier_from_knn(part).count
