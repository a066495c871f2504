"""An IVF scan done list by list: the candidate generator of the approximate KNN graph (``knn.approx_search``).

Rows are grouped into k-means lists (faiss's clustering); each row probes its ``nprobe`` nearest lists.
faiss's own IVF search walks the queries one at a time and scores each candidate with one distance call
(~8 ns a pair on 2 cores at 64 dimensions). Here every list is scored once against all the rows probing
it, as one matrix product, and the scores go into faiss's per-row heaps
(``HeapArray.addn_query_subset_with_ids``): ~3 ns a pair. Each row's own list goes first, so its heap
holds good candidates before the other lists come (the heap's replacements, not its comparisons, are
what it costs). Threads take disjoint ranges of query rows, so no two touch one heap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: query rows scored against one list at a time, and at most this many scores at a time (4 MB: one
#: long list, such as many copies of one row, must not make every thread's buffer long)
QUERY_BLOCK = 1024
SCORE_CELLS = 1 << 20


def group_by_list(lists: np.ndarray, nlist: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``lists`` (a flat array of list numbers) grouped by list, ascending within each, and the
    groups' offsets: group j is ``pos[off[j]:off[j + 1]]``. A radix sort when list numbers fit 16 bits."""
    key = lists.astype(np.uint16) if nlist <= 1 << 16 else lists
    pos = np.argsort(key, kind="stable")
    off = np.concatenate([[0], np.cumsum(np.bincount(lists, minlength=nlist))])
    return pos, off


@dataclass(frozen=True)
class IvfLists:
    order: np.ndarray
    """list j's members are ``order[starts[j]:starts[j + 1]]`` (ascending rows)"""
    starts: np.ndarray
    qid: np.ndarray
    """the rows probing list j second or later are ``qid[ps[j]:ps[j + 1]]`` (ascending rows)"""
    ps: np.ndarray


def ivf_lists(space: np.ndarray, cosine: bool, seed: int, nlist: int, nprobe: int) -> IvfLists:
    import faiss

    dp = space.shape[1]
    quant = faiss.IndexFlatIP(dp) if cosine else faiss.IndexFlatL2(dp)
    cp = faiss.ClusteringParameters()
    cp.seed = int(seed)
    cp.niter = 10  # 25 (faiss's default) cost 4 s more at 100k for 0.008 recall@10
    cp.max_points_per_centroid = 32
    cp.spherical = cosine  # as faiss's IVF index clusters for inner products
    faiss.Clustering(dp, nlist, cp).train(space, quant)
    _, probes = quant.search(space, nprobe)
    order, starts = group_by_list(probes[:, 0], nlist)
    rest = np.ascontiguousarray(probes[:, 1:]).ravel()
    del probes
    pos, ps = group_by_list(rest, nlist)
    return IvfLists(order, starts, (pos // max(1, nprobe - 1)).astype(np.int32), ps)


class ListScanner:
    """The best ``c`` candidates of each row among the members of the lists it probes.

    ``space`` holds the rows in list order when ``at`` (row -> position) is given, in row order otherwise.
    Each thread scores into scratch buffers made here: arrays allocated on worker threads stayed in glibc's
    per-thread arenas after the stage (~90 MB resident for the rest of a scan, its peak included).
    """

    def __init__(self, lists: IvfLists, space: np.ndarray, at: np.ndarray | None, cosine: bool, c: int, threads: int):
        self.lists, self.space, self.at, self.c = lists, space, at, c
        # L2: the best candidates maximise x.y - |y|^2 / 2
        self.half_sq = None if cosine else 0.5 * np.einsum("ij,ij->i", space, space, dtype=np.float32)
        longest = int(np.diff(lists.starts).max())
        dp = space.shape[1]
        self.scratch = [
            (
                np.empty((QUERY_BLOCK, dp), np.float32),
                np.empty(max(SCORE_CELLS, longest), np.float32),
                np.empty((longest, dp), np.float32) if at is None else None,
            )
            for _ in range(threads)
        ]

    def _push(self, heap, t: int, rows: np.ndarray, j: int, r0: int) -> None:
        """Score ``rows`` (ascending, from r0 on) against list j's members into ``heap``."""
        import faiss

        qbuf, sbuf, bbuf = self.scratch[t]
        space, at = self.space, self.at
        a, b = int(self.lists.starts[j]), int(self.lists.starts[j + 1])
        members = self.lists.order[a:b]
        B = space[a:b] if at is not None else np.take(space, members, axis=0, out=bbuf[: b - a])
        step = max(1, min(QUERY_BLOCK, SCORE_CELLS // (b - a)))
        for q0 in range(0, len(rows), step):
            part = rows[q0 : q0 + step]
            Q = np.take(space, at[part] if at is not None else part, axis=0, out=qbuf[: len(part)])
            scores = sbuf[: len(part) * (b - a)].reshape(len(part), b - a)
            np.matmul(Q, B.T, out=scores)
            if self.half_sq is not None:
                scores -= self.half_sq[a:b] if at is not None else self.half_sq[members]
            subset = (part - r0).astype(np.int64)
            heap.addn_query_subset_with_ids(
                len(subset), faiss.swig_ptr(subset), b - a, faiss.swig_ptr(scores), faiss.swig_ptr(members), 0
            )

    def scan(self, r0: int, r1: int, HD: np.ndarray, HI: np.ndarray, t: int) -> None:
        """Rows r0..r1's candidates into ``HD``/``HI`` (``r1 - r0`` x c, best first; id -1 where none)."""
        import faiss

        faiss.omp_set_num_threads(1)  # this thread's own setting: its heap updates stay on it
        L = self.lists
        heap = faiss.float_minheap_array_t()  # keeps the c largest scores of each row
        heap.k, heap.nh = self.c, r1 - r0
        heap.val, heap.ids = faiss.swig_ptr(HD), faiss.swig_ptr(HI)
        heap.heapify()
        for j in range(len(L.starts) - 1):  # each row's own list first
            members = L.order[L.starts[j] : L.starts[j + 1]]
            lo, hi = np.searchsorted(members, (r0, r1))
            if lo < hi:
                self._push(heap, t, members[lo:hi], j, r0)
        for j in range(len(L.starts) - 1):
            rows = L.qid[L.ps[j] : L.ps[j + 1]]
            lo, hi = np.searchsorted(rows, (r0, r1))
            if lo < hi and L.starts[j] < L.starts[j + 1]:
                self._push(heap, t, rows[lo:hi], j, r0)
        heap.reorder()
