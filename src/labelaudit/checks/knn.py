"""One K-nearest-neighbour graph, built once and shared by the outlier, near-duplicate and non-iid checks.

Metric as in cleanlab's Datalab: cosine for more than three feature columns (vectors are
L2-normalised and compared by inner product), euclidean otherwise. Exact search is a blocked
matrix product (faiss ``knn``); above :data:`EXACT_MAX_COST` (rows² x dims) an IVF index replaces it,
because exact search is quadratic in rows. ``--knn exact|approx`` forces either.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from labelaudit.dataset import FeatureSet
from labelaudit.names import KnnMethod

if TYPE_CHECKING:
    from scipy import sparse

#: exact search while rows² x dims stays under this (50 000 x 50 000 x 128: ~6 s on 2 cores)
EXACT_MAX_COST = 3.3e11
DEFAULT_K = 10


@dataclass(frozen=True)
class KnnGraph:
    indices: np.ndarray
    """(rows x k) int64 neighbour rows, nearest first; never the row itself."""
    distances: np.ndarray
    """(rows x k) float32 distances, ascending."""
    metric: str
    method: str
    """``exact`` or ``approx:ivf(nlist=..,nprobe=..)``."""
    unverified_far: int = 0
    """Rows above the outlier check's cutoff whose neighbours were not searched exactly (an approximate
    graph over its exact-search budget): their outlier flags may be false."""

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])

    def to_csr(self) -> sparse.csr_matrix:
        """The graph in cleanlab's ``knn_graph`` format (CSR, k entries per row, ascending)."""
        from scipy import sparse

        n, k = self.indices.shape
        return sparse.csr_matrix(
            (self.distances.ravel().astype(np.float64), self.indices.ravel(), np.arange(0, n * k + 1, k)),
            shape=(n, n),
        )


#: tabular columns whose largest standard deviation is at most this many times the median one share one
#: scale (pixels, counts, one unit throughout) and are searched as given, as Datalab does
ONE_SCALE_RATIO = 10.0


def one_scale(M: np.ndarray) -> bool:
    """Do the columns share one scale? (largest column sd <= ONE_SCALE_RATIO x the median column sd)"""
    sd = M.std(axis=0)
    positive = sd[sd > 0]
    return not len(positive) or float(positive.max()) <= ONE_SCALE_RATIO * float(np.median(positive))


def _is_sparse(X) -> bool:
    """``scipy.sparse.issparse`` without importing scipy: a sparse matrix exists only once it is loaded."""
    mod = sys.modules.get("scipy.sparse")
    return mod is not None and mod.issparse(X)


def knn_matrix(fs: FeatureSet, *, standardize: bool, seed: int, reuse: bool = False) -> tuple[np.ndarray, str]:
    """A dense, finite float32 matrix to search, and the metric.

    ``reuse``: the caller needs ``fs.X`` no more, so a float32 C-ordered ``X`` is transformed in place
    instead of copied (512 MB at 1M x 128); ``fs.X`` then holds the searched matrix.

    Missing values take the column median. Tabular columns (``standardize``) in different units are
    standardised so that no single column dominates the distance, each column's scale floored at the
    median column scale so that near-constant columns do not dominate either; columns that already
    share one scale (:func:`one_scale`: pixels, counts) are searched as given, as Datalab does, because
    centring them hid corrupted rows (benchmarks/checks.py: outlier AUPRC 0.78 with this rule vs 0.63
    standardising everything and 0.77 never standardising, near duplicates 0.94 vs 0.93 and 0.90).
    Text is reduced to 100 SVD components.
    """
    X = fs.X
    if _is_sparse(X):
        from sklearn.decomposition import TruncatedSVD

        n_comp = max(1, min(100, X.shape[1] - 1, X.shape[0] - 1))
        M = TruncatedSVD(n_components=n_comp, random_state=seed).fit_transform(X).astype(np.float32)
    else:
        in_place = reuse and X.dtype == np.float32 and X.flags.c_contiguous and X.flags.writeable
        M = X if in_place else np.array(X, dtype=np.float32, copy=True)
        if np.isnan(M).any():
            med = np.nanmedian(M, axis=0)
            med = np.where(np.isnan(med), 0.0, med)
            rows, cols = np.nonzero(np.isnan(M))
            M[rows, cols] = med[cols]
        if standardize and not one_scale(M):
            # each column on a common scale, but a near-constant column is not blown up to unit variance:
            # its scale is floored at the median column scale (on pixel-like data the edge pixels otherwise
            # dominate every distance and hide corrupted rows and copies: benchmarks/checks.py)
            sd = M.std(axis=0)
            M -= M.mean(axis=0)
            positive = sd[sd > 0]
            floor = float(np.median(positive)) if len(positive) else 1.0
            M /= np.maximum(sd, floor)
    if M.shape[1] > 3:
        norms = np.linalg.norm(M, axis=1, keepdims=True)
        M /= np.where(norms > 0, norms, 1.0)
        return np.ascontiguousarray(M), "cosine"
    return np.ascontiguousarray(M), "euclidean"


def _drop_self(idx: np.ndarray, dist: np.ndarray, k: int, self_rows=None) -> tuple[np.ndarray, np.ndarray]:
    n = idx.shape[0]
    own = idx == (np.arange(n) if self_rows is None else np.asarray(self_rows))[:, None]
    # rows where the search did not return the row itself: drop the farthest instead
    missing = ~own.any(axis=1)
    own[missing, -1] = True
    keep = ~own
    out_i = idx[keep].reshape(n, k)
    out_d = dist[keep].reshape(n, k)
    return out_i, out_d


def choose_method(n: int, d: int, method: KnnMethod) -> str:
    if method is KnnMethod.auto:
        return "exact" if float(n) * n * d <= EXACT_MAX_COST else "approx"
    return method.value


#: the approximate search: rows in a PCA projection holding this share of the variance (when that
#: drops at least a quarter of the dimensions) are grouped into IVF lists; each row's best candidates in
#: the lists it probes (rerank_depth of them) are re-ranked with exact float32 distances
PCA_VARIANCE = 0.97
EPS_VAR = 1e-30
PCA_SAMPLE = 20_000
#: candidates re-ranked per row: how deep in the projection's ranking the exact k + 1 nearest of DEPTH_SAMPLE
#: sampled rows lie (DEPTH_QUANTILE of them covered), between 2 and 10 x (k + 1); deeper than that, the
#: projection is not used. Measured: scan_vs_plain's rows 15 deep (64 of 128 dimensions kept); clusters
#: whose rows differ only in the dropped dimensions 121-190 deep (24 of 32 and 16 of 40 kept)
MIN_FACTOR, MAX_FACTOR = 2, 10
DEPTH_SAMPLE = 100
DEPTH_QUANTILE = 95
#: lists probed per query: 24 of 1.6 x sqrt(N) up to 500 000 rows; above, fewer lists' worth (see ivf_params)
NPROBE = 24
BIG_ROWS = 500_000
#: query rows whose candidates are held at a time (a heap of rerank_depth candidates per row)
SEARCH_CHUNK = 131_072


def ivf_params(n: int) -> tuple[int, int]:
    """(nlist, nprobe) for n rows, measured on make_classification rows x 128 (2 cores).

    Up to BIG_ROWS: 1.6 sqrt(N) lists, 24 probed (100 000 rows: recall@10 0.91). Above: 2 sqrt(N)
    lists, 6 probed (1 000 000 rows: recall@10 0.58 on 2 000 sampled rows; 4 probed 0.48; 4 sqrt(N) lists
    with 16 probed took the whole KNN stage to 185 s): at that size the scan of candidates dominates, and
    the outlier check's rows are searched exactly again anyway (exact_far_rows).
    """
    # faiss wants >= 39 training points per list (it prints a warning otherwise)
    if n > BIG_ROWS:
        return max(16, min(int(2 * math.sqrt(n)), n // 39)), 6
    nlist = max(16, min(int(1.6 * math.sqrt(n)), n // 39))
    return nlist, max(4, min(nlist, NPROBE))


def pca_basis(M: np.ndarray, seed: int) -> np.ndarray | None:
    """(dims x kept) float32 principal axes holding PCA_VARIANCE of the energy, or None (not worth it).

    Not centred (the axes of the second-moment matrix): inner products in the projection then
    approximate the full inner products, which rank neighbours for cosine, and differences of rows
    are projected as they are, so L2 ranks as in the full space too.
    """
    n, d = M.shape
    if d < 32:
        return None
    rng = np.random.default_rng(seed)
    sample = M[np.sort(rng.choice(n, min(n, PCA_SAMPLE), replace=False))].astype(np.float64)
    w, V = np.linalg.eigh(sample.T @ sample / len(sample))
    w, V = w[::-1], V[:, ::-1]
    keep = int(np.searchsorted(np.cumsum(w) / max(w.sum(), EPS_VAR), PCA_VARIANCE) + 1)
    keep = min(d, -(-keep // 8) * 8)  # a multiple of 8 for the SIMD code paths
    if keep > 0.75 * d:
        return None
    return np.ascontiguousarray(V[:, :keep], dtype=np.float32)


def project(M: np.ndarray, basis: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """``M[rows] @ basis`` (all rows by default), 65 536 rows at a time (no full-size temporary)."""
    n = len(M) if rows is None else len(rows)
    P = np.empty((n, basis.shape[1]), dtype=np.float32)
    for s in range(0, n, 65536):
        part = M[s : s + 65536] if rows is None else M[rows[s : s + 65536]]
        P[s : s + 65536] = part @ basis
    return P


def pca_projection(M: np.ndarray, seed: int) -> np.ndarray | None:
    """Rows projected on :func:`pca_basis`'s axes, or None (not worth it)."""
    basis = pca_basis(M, seed)
    return None if basis is None else project(M, basis)


def rerank_depth(M: np.ndarray, P: np.ndarray, metric: str, k1: int, seed: int) -> int:
    """How deep in the projection ``P``'s ranking the exact k1 nearest rows of sampled rows lie.

    For each of DEPTH_SAMPLE rows: the number of rows the projection scores above the worst-placed of
    its exact k1 nearest (found with BLAS). Returns the DEPTH_QUANTILE-th percentile.
    """
    import faiss

    n = len(M)
    rows = np.sort(np.random.default_rng(seed + 1).choice(n, min(n, DEPTH_SAMPLE), replace=False))
    fmetric = faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2
    nearest = _blas_knn_ids(M[rows], M, k1, fmetric)
    half_sq = None if metric == "cosine" else 0.5 * np.einsum("ij,ij->i", P, P, dtype=np.float32)
    depth = np.empty(len(rows), dtype=np.int64)
    for a in range(0, len(rows), 10):  # 10 rows x all rows of scores at a time
        scores = P[rows[a : a + 10]] @ P.T
        if half_sq is not None:
            scores -= half_sq
        worst = np.take_along_axis(scores, nearest[a : a + 10], axis=1).min(axis=1)
        depth[a : a + 10] = (scores > worst[:, None]).sum(axis=1) + 1
    return int(np.ceil(np.percentile(depth, DEPTH_QUANTILE)))


#: threads of the list-by-list scan. It does not scale past four: at 1M x 128 on a 16-core Xeon (the GPU
#: machine, benchmarks/knn_threads.py) the threads' summed scan time was 23, 36, 143 and 861 s at 2, 4, 8
#: and 16 threads (each list's numpy calls and heap pushes contend for the interpreter), so the graph
#: took 34.1, 23.4, 28.7 and 62.6 s; the k-means lists keep every thread (14.3, 7.8, 4.6, 3.0 s)
SCAN_MAX_THREADS = 4


def approx_search(
    M: np.ndarray, metric: str, k1: int, seed: int, threads: int = 0
) -> tuple[np.ndarray, np.ndarray, str]:
    """IVF candidates (in a PCA projection when one holds PCA_VARIANCE), re-ranked exactly: faiss-style scores.

    The lists are scanned list by list (``checks.ivf``): at 100 000 x 128 the same candidates as faiss's
    IVF-SQ8 search in half the time, scored exactly in the projection rather than from 8-bit codes.
    """
    from concurrent.futures import ThreadPoolExecutor

    import faiss
    from threadpoolctl import threadpool_limits

    from labelaudit.checks.ivf import ListScanner, ivf_lists

    n, d = M.shape
    basis = pca_basis(M, seed)
    space = M if basis is None else project(M, basis)
    c = min(n, MIN_FACTOR * k1)
    if basis is not None:
        depth = rerank_depth(M, space, metric, k1, seed)
        if depth > MAX_FACTOR * k1:  # the projection drops what ranks neighbours: search the rows as given
            basis, space = None, M
        else:
            c = min(n, max(c, depth))
    dp = space.shape[1]
    nlist, nprobe = ivf_params(n)
    cosine = metric == "cosine"
    lists = ivf_lists(space, cosine, seed, nlist, nprobe)
    at = None
    if basis is not None:
        # members contiguous: the projection made again in list order (freed first: a re-ordered copy
        # beside it was 256 MB more at a 1M x 128 scan's peak)
        del space
        space = project(M, basis, lists.order)
        at = np.empty(n, dtype=np.int64)
        at[lists.order] = np.arange(n)
    # the k-means above uses every thread; the list scan at most SCAN_MAX_THREADS (see there)
    nthreads = min(SCAN_MAX_THREADS, max(1, threads or faiss.omp_get_max_threads()))
    scanner = ListScanner(lists, space, at, cosine, c, nthreads)
    # one chunk's heaps in buffers made once, re-ranked on this thread (temporaries made on the workers
    # stayed in glibc's per-thread arenas: +140 MB resident for the rest of a 1M-row scan)
    HD = np.empty((min(n, SEARCH_CHUNK), c), np.float32)
    HI = np.empty((min(n, SEARCH_CHUNK), c), np.int64)
    I = np.empty((n, k1), dtype=np.int64)
    D = np.empty((n, k1), dtype=np.float32)
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(nthreads) as pool:
        for s in range(0, n, SEARCH_CHUNK):
            e = min(n, s + SEARCH_CHUNK)
            cut = np.linspace(s, e, nthreads + 1).astype(np.int64).tolist()
            parts = [
                (cut[t], cut[t + 1], HD[cut[t] - s : cut[t + 1] - s], HI[cut[t] - s : cut[t + 1] - s], t)
                for t in range(nthreads)
            ]
            list(pool.map(lambda p: scanner.scan(*p), parts))
            exact = _exact_scores_rows(M, HI[: e - s], metric, s)
            # ties broken by row number, so neither chunking nor threads decide between equal scores
            best = np.lexsort((HI[: e - s], -exact if cosine else exact), axis=-1)[:, :k1]
            I[s:e] = np.take_along_axis(HI[: e - s], best, axis=1)
            D[s:e] = np.take_along_axis(exact, best, axis=1)
            del exact, best
    D[I < 0] = 0.0
    label = f"approx:ivf-blas{f'-pca{dp}' if dp < d else ''}(nlist={nlist},nprobe={nprobe},rerank={c})"
    return D, I, label


def build_knn_graph(
    M: np.ndarray,
    metric: str,
    *,
    k: int = DEFAULT_K,
    method: KnnMethod = KnnMethod.auto,
    seed: int = 0,
    threads: int = 0,
    device: str = "cpu",
) -> KnnGraph:
    """Neighbours of every row among all other rows (``device="cuda"``: exact, torch on the GPU)."""
    n, d = M.shape
    k = min(k, n - 1)
    if k < 1:
        raise ValueError("a KNN graph needs at least two rows")
    if device == "cuda":
        D, I = torch_knn(M, metric, k + 1, device="cuda")
        label = "exact:torch-cuda" + ("(fp16 candidates, fp32 re-rank)" if metric == "cosine" else "")
        return _finish_graph(D, I, metric, k, label)
    chosen = choose_method(n, d, method)
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss-cpu is a dependency; keep a slow exact fallback
        return _sklearn_graph(M, metric, k)
    if threads:
        faiss.omp_set_num_threads(threads)
    fmetric = faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2
    if chosen == "exact" or n < 2000:
        D, I = faiss.knn(M, M, k + 1, metric=fmetric)
        return _finish_graph(D, I, metric, k, "exact", M=M, fmetric=fmetric)
    D, I, label = approx_search(M, metric, k + 1, seed, threads)
    graph = _finish_graph(D, I, metric, k, label, M=M, fmetric=fmetric)
    return exact_far_rows(graph, M, fmetric)


#: Datalab's outlier rule on the mean distance to the k neighbours: flagged above Q3 + (1/0.37037 - 1) x IQR
#: (checks.data.outlier_from_knn; here because the exact search of far rows serves its verdict)
OUTLIER_IQR_THRESHOLD = 0.37037


def _iqr_cut(avg: np.ndarray, factor: float) -> float:
    """Q3 + factor x IQR of the rows' mean neighbour distances."""
    q1, q3 = np.percentile(avg, [25, 75])
    return float(q3 + factor * (q3 - q1))


def outlier_cutoff(avg: np.ndarray) -> float:
    return _iqr_cut(avg, 1.0 / OUTLIER_IQR_THRESHOLD - 1.0)


#: rows of an approximate graph whose mean neighbour distance is above Q3 + FAR_IQR x IQR are searched
#: exactly again (at most FAR_MAX_SHARE of the rows): an approximate search finds far rows' neighbours
#: worst, and they are the rows the outlier check's verdict (Q3 + 1.7 x IQR) is about
FAR_IQR = 1.0
FAR_MAX_SHARE = 0.05
#: and at most this many rows x rows x dims of exact search (~3 s on 2 cores): 390 far rows at 1M x 128
#: (1 562 took 13 s there)
FAR_MAX_COST = 5e10
#: ... unless more rows than that are above the outlier check's own cutoff: they are all searched, up to
#: this cost (~1 170 rows at 1M x 128, ~10 s on 2 cores). At 1M with 0.5 % spiked rows, 685 rows were
#: above it on the approximate graph (recall@10 0.58); the 390 farthest were searched and 295 of the
#: others stayed flagged, none of them above the cutoff by exact search (the exact graph flagged 16)
FAR_FLAG_MAX_COST = 1.5e11


def exact_far_rows(graph: KnnGraph, M: np.ndarray, fmetric) -> KnnGraph:
    """The graph with its far rows' neighbours searched exactly (see FAR_IQR .. FAR_FLAG_MAX_COST).

    First the rows above Q3 + FAR_IQR x IQR, farthest first, within FAR_MAX_COST (or the outlier
    check's candidates' cost, if more); then, while FAR_FLAG_MAX_COST allows, the rows still above the
    outlier check's cutoff, recomputed on the corrected distances (fixing the far rows lowers it). What
    is left above the cutoff unsearched is counted in ``unverified_far``.
    """
    n, k = graph.indices.shape
    per_row = n * M.shape[1]
    idx, dist = graph.indices, graph.distances
    searched = np.zeros(n, dtype=bool)
    avg = dist.astype(np.float64).mean(axis=1)
    far = np.flatnonzero(avg > _iqr_cut(avg, FAR_IQR))
    candidates = int((avg > outlier_cutoff(avg)).sum())
    flag_rows = FAR_FLAG_MAX_COST / per_row
    room = int(min(FAR_MAX_SHARE * n, max(FAR_MAX_COST / per_row, min(flag_rows, candidates))))
    flag_room = int(min(FAR_MAX_SHARE * n, flag_rows))
    for _ in range(4):  # the first pass, then the cutoff's moves
        rows = far[np.argsort(-avg[far], kind="stable")[: max(room, 0)]]  # the farthest first
        if not len(rows):
            break
        Q = M[rows]
        I = _blas_knn_ids(Q, M, k + 1, fmetric)
        # the pairs' scores again one at a time: a BLAS product's last bits depend on the thread count
        D = _pair_scores(Q, M, I, graph.metric)
        sub = _finish_graph(D, I, graph.metric, k, "", self_rows=rows)
        if not searched.any():
            idx, dist = idx.copy(), dist.copy()
        idx[rows], dist[rows] = sub.indices, sub.distances
        searched[rows] = True
        avg = dist.astype(np.float64).mean(axis=1)
        far = np.flatnonzero((avg > outlier_cutoff(avg)) & ~searched)
        room = flag_room - int(searched.sum())
    unverified = int(((avg > outlier_cutoff(avg)) & ~searched).sum())
    if not searched.any() and not unverified:
        return graph
    label = graph.method + (f"+exact-far({int(searched.sum())})" if searched.any() else "")
    label += f"+unverified-far({unverified})" if unverified else ""
    return KnnGraph(idx, dist, graph.metric, label, unverified_far=unverified)


def _blas_knn_ids(Q: np.ndarray, M: np.ndarray, k: int, fmetric) -> np.ndarray:
    """The k best rows of M for each row of Q (ids only), through faiss's BLAS path.

    faiss >= 1.13 scores fewer than 128 000 query rows one pair at a time (distance_compute_blas_threshold):
    for a few hundred rows against all rows, streaming the whole matrix once per row, that was 10 s at
    1M x 128 where its BLAS path takes 2.6 s.
    """
    import faiss

    before = faiss.cvar.distance_compute_blas_threshold
    faiss.cvar.distance_compute_blas_threshold = 20
    try:
        return faiss.knn(Q, M, k, metric=fmetric)[1]
    finally:
        faiss.cvar.distance_compute_blas_threshold = before


def _exact_scores_rows(M: np.ndarray, I: np.ndarray, metric: str, start: int) -> np.ndarray:
    """faiss-style scores of the pairs (row start + i of M, each of I[i]): see :func:`_pair_scores`."""
    return _pair_scores(M[start : start + len(I)], M, I, metric)


def _pair_scores(X: np.ndarray, Y: np.ndarray, I: np.ndarray, metric: str) -> np.ndarray:
    """faiss-style scores of the pairs (X[i], each Y[I[i]]): inner products, or squared L2.

    faiss's ``fvec_*_by_idx`` (multithreaded C++; 0.13 s for 100 000 x 33 pairs x 128 dims where a numpy
    gather took 3.7 s), one pair at a time, so a score never depends on the thread count. ``-1`` (no
    candidate) scores -inf (cosine) or +inf (euclidean).
    """
    import faiss

    X = np.ascontiguousarray(X, dtype=np.float32)
    Y = np.ascontiguousarray(Y, dtype=np.float32)
    ids = np.ascontiguousarray(I, dtype=np.int64)
    out = np.empty(ids.shape, dtype=np.float32)
    fn = faiss.fvec_inner_products_by_idx if metric == "cosine" else faiss.fvec_L2sqr_by_idx
    fn(
        faiss.swig_ptr(out),
        faiss.swig_ptr(X),
        faiss.swig_ptr(Y),
        faiss.swig_ptr(ids),
        Y.shape[1],
        len(ids),
        ids.shape[1],
    )
    out[ids < 0] = -np.inf if metric == "cosine" else np.inf
    return out


def _finish_graph(D, I, metric: str, k: int, label: str, M=None, fmetric=None, self_rows=None) -> KnnGraph:
    """Raw search output (inner products or squared L2, self included) -> sorted distances without self."""
    if metric == "cosine":
        D = np.clip(1.0 - D, 0.0, 2.0)
    else:
        D = np.sqrt(np.maximum(D, 0.0))
    # IVF can return -1 when too few candidates were probed: fall back to exact for those rows
    bad = (I < 0).any(axis=1)
    if bad.any() and M is not None:
        import faiss

        D2, I2 = faiss.knn(M[bad], M, k + 1, metric=fmetric)
        D2 = np.clip(1.0 - D2, 0.0, 2.0) if metric == "cosine" else np.sqrt(np.maximum(D2, 0.0))
        D[bad], I[bad] = D2, I2
    idx, dist = _drop_self(I.astype(np.int64), D.astype(np.float32), k, self_rows)
    order = np.lexsort((idx, dist), axis=-1)  # equal distances: the lower row first
    idx = np.take_along_axis(idx, order, axis=1)
    dist = np.take_along_axis(dist, order, axis=1)
    return KnnGraph(idx, dist, metric, label)


def torch_knn(
    M: np.ndarray,
    metric: str,
    k: int,
    *,
    device: str,
    max_cells: int | None = None,
    half: bool | None = None,
    block: int = 128,
):
    """Exact KNN as chunked matrix products + top-k in torch: (scores, indices), self included.

    Scores follow faiss's conventions: inner products for cosine (rows are L2-normalised), squared
    L2 distances otherwise. Each chunk of rows against all rows is at most ``max_cells`` floats
    (default: a quarter of the GPU's free memory in float32 cells, at most 2**30; 2**27 on the CPU).

    ``half`` (default: on a GPU, for cosine): each chunk's scores are computed in float16, which halves
    the bytes top-k reads (its passes over the chunk are most of the time at 1M rows) and runs the
    product on tensor cores; the best ``max(8k, 32)`` of them per row are then scored again exactly in
    float32 and the best ``k`` kept, so a neighbour is lost only when more than 8k rows lie within
    float16's rounding (~1e-3) of the k-th score. Euclidean scores stay float32 (no unit scale).

    Top-k goes through maxima of ``block`` columns (:func:`_topk_rows`): exact, and one pass over the
    chunk instead of top-k's several.
    """
    from labelaudit.extras import require_torch

    torch = require_torch()
    X = torch.from_numpy(np.ascontiguousarray(M, dtype=np.float32)).to(device)
    n = X.shape[0]
    if max_cells is None:
        max_cells = _torch_chunk_cells(torch, device)
    if half is None:
        half = metric == "cosine" and str(device).startswith("cuda")
    half = half and metric == "cosine" and n > k
    cand = min(n, max(8 * k, 32))
    chunk = max(1, min(n, max_cells // max(n, 1)))
    sq = None if metric == "cosine" else (X * X).sum(dim=1)
    Xh = X.half() if half else None
    D = np.empty((n, k), dtype=np.float32)
    I = np.empty((n, k), dtype=np.int64)
    with torch.no_grad():
        for s in range(0, n, chunk):
            if half:
                _, cidx = _topk_rows(torch, Xh[s : s + chunk] @ Xh.T, cand, block)
                exact = torch.einsum("bd,bcd->bc", X[s : s + chunk], X[cidx])
                vals, pos = torch.topk(exact, k, dim=1)
                idx = torch.gather(cidx, 1, pos)
            elif metric == "cosine":
                vals, idx = _topk_rows(torch, X[s : s + chunk] @ X.T, k, block)
            else:
                # |a-b|^2 = |a|^2 - (2 a.b - |b|^2): the row's own |a|^2 does not change its order, so
                # top-k runs on 2 a.b - |b|^2 in place, without a second chunk-sized buffer
                S = X[s : s + chunk] @ X.T
                vals, idx = _topk_rows(torch, S.mul_(2.0).sub_(sq[None, :]), k, block)
                vals = sq[s : s + chunk, None] - vals
            D[s : s + chunk] = vals.cpu().numpy()
            I[s : s + chunk] = idx.cpu().numpy()
    return D, I


def _topk_rows(torch, S, c: int, block: int):
    """The ``c`` largest scores of each row of ``S`` and their columns, exactly (ties aside), in about one
    pass over ``S``: the maximum of each block of ``block`` columns, the ``c`` blocks with the largest
    maxima, then top-``c`` among their columns (and the last, partial block's).

    Why it is exact: the ``c`` chosen maxima are ``c`` distinct scores at least as large as the ``c``-th
    largest maximum ``T``, so the row's ``c``-th largest score is >= ``T``; every score in a block not
    chosen is <= its block's maximum <= ``T``. torch.topk on a million-wide row makes several radix
    passes; on an H200 at 1M x 1M it was ~90 % of the graph's time (float16 products 0.8 s, top-k ~8 s).
    """
    b, n = S.shape
    nb = n // block
    if nb <= c:  # too few blocks to skip any
        return torch.topk(S, c, dim=1)
    full = nb * block
    maxima = S[:, :full].view(b, nb, block).amax(dim=2)
    _, best = torch.topk(maxima, c, dim=1)
    cols = (best[:, :, None] * block + torch.arange(block, device=S.device)).reshape(b, c * block)
    if full < n:
        cols = torch.cat([cols, torch.arange(full, n, device=S.device).expand(b, n - full)], dim=1)
    vals, pos = torch.topk(torch.gather(S, 1, cols), c, dim=1)
    return vals, torch.gather(cols, 1, pos)


def _torch_chunk_cells(torch, device: str) -> int:
    """Cells of one chunk's score block: on a GPU a quarter of its free memory (the block, top-k's
    workspace and the allocator's slack fit), so a large card takes ~1 000 rows of a million at once."""
    if str(device).startswith("cuda"):
        free, _total = torch.cuda.mem_get_info()
        return int(max(1 << 22, min(1 << 30, free // 16)))
    return 1 << 27


#: ``--device auto`` considers the GPU from this many rows: below it exact KNN on the CPU takes well under
#: a second, while importing torch to ask for a GPU takes seconds
GPU_MIN_ROWS = 20_000


def gpu_driver_present() -> bool:
    """Whether a GPU driver answers, asked without importing torch (1.5 s and ~190 MB of resident memory
    with its CPU build: a 1M-row scan's peak went from 1.92 to 2.10 GB when ``--device auto`` imported it
    only to hear there is no GPU). CUDA: ``cuInit`` and ``cuDeviceGetCount`` from the driver library
    (``CUDA_VISIBLE_DEVICES`` applies); ROCm, whose torch answers as ``torch.cuda``: ``/dev/kfd``."""
    import ctypes

    if os.path.exists("/dev/kfd"):
        return True
    names = ["nvcuda.dll"] if sys.platform == "win32" else ["libcuda.so.1", "libcuda.so"]
    for name in names:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        count = ctypes.c_int(0)
        return lib.cuInit(0) == 0 and lib.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0
    return False


def resolve_knn_device(device: str, n_rows: int | None = None) -> str:
    """``auto`` -> ``cuda`` when a GPU driver answers (:func:`gpu_driver_present`), torch is installed and
    sees the GPU (from :data:`GPU_MIN_ROWS` rows), else ``cpu``."""
    if device not in {"auto", "cpu", "cuda"}:
        from labelaudit.errors import ConfigError

        raise ConfigError(f"--device must be auto, cpu or cuda (got '{device}')")
    if device == "cpu" or (device == "auto" and n_rows is not None and n_rows < GPU_MIN_ROWS):
        return "cpu"
    if device == "auto" and not gpu_driver_present():
        return "cpu"
    try:
        import torch
    except ImportError:
        if device == "cuda":
            from labelaudit.errors import ExtraMissingError
            from labelaudit.extras import TORCH_HINT

            raise ExtraMissingError("--device cuda: " + TORCH_HINT) from None
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        from labelaudit.errors import ConfigError

        raise ConfigError("--device cuda: torch sees no CUDA device; use --device cpu or auto")
    return "cpu"


def _sklearn_graph(M: np.ndarray, metric: str, k: int) -> KnnGraph:  # pragma: no cover
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k + 1, metric="euclidean").fit(M)
    D, I = nn.kneighbors(M)
    if metric == "cosine":
        D = D**2 / 2.0
    idx, dist = _drop_self(I, D.astype(np.float32), k)
    return KnnGraph(idx, dist, metric, "exact:sklearn")
