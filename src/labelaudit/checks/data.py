"""The data checks besides label issues: outlier, near_duplicate, non_iid, class_imbalance, null,
underperforming_group, data_valuation.

Each follows the definition of the matching cleanlab Datalab issue manager (cleanlab 2.9), computed
from labelaudit's one shared KNN graph, with every score in [0, 1] and LOWER = more severe. They are
re-implemented here rather than called through Datalab because Datalab swallows exceptions inside
a check, seeds numpy's global RNG (non_iid), copies the data into a HuggingFace dataset and builds
its own brute-force KNN graph per call (see the README's design section).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labelaudit.checks.knn import KnnGraph, outlier_cutoff

EPS = 1e-12
#: Datalab's defaults (the outlier check's, OUTLIER_IQR_THRESHOLD, is in checks.knn: its far-row search serves it)
OUTLIER_PRED_PROBS_THRESHOLD = 0.13
NEAR_DUPLICATE_THRESHOLD = 0.13
NON_IID_PERMUTATIONS = 25
NON_IID_SIGNIFICANCE = 0.05
CLASS_IMBALANCE_THRESHOLD = 0.1
DATA_VALUATION_THRESHOLD = 0.5
#: labelaudit's underperforming-group rule (Datalab's differs: see underperforming_group)
GROUP_SKILL_THRESHOLD = 0.5
GROUP_MIN_SIZE = 5
GROUP_MIN_Z = 3.0
#: groups listed in the manifest's summary (all are in the ``underperforming_group`` column)
GROUPS_LISTED = 20


@dataclass
class CheckResult:
    """Per-row scores (LOWER = more severe) and flags of one check, and a summary."""

    name: str
    scores: np.ndarray
    is_issue: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    extra_columns: dict[str, Any] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return int(self.is_issue.sum())


def outlier_from_knn(graph: KnnGraph) -> CheckResult:
    """Average distance to the k neighbours; flagged above Q3 + (1/0.37037 - 1) x IQR (Datalab's rule)."""
    avg = graph.distances.astype(np.float64).mean(axis=1)
    scale = max(float(np.median(avg)), 100 * np.finfo(np.float64).eps)
    scores = np.exp(-avg / scale)
    cutoff = outlier_cutoff(avg)
    is_issue = avg > cutoff
    return CheckResult("outlier", scores, is_issue, {"method": "knn", "distance_cutoff": float(cutoff)})


#: cleanlab's floor on a confident threshold (``CONFIDENT_THRESHOLDS_LOWER_BOUND``) and its value for a class
#: no row is labelled with (``BIG_VALUE`` in ``get_confident_thresholds``)
_THRESHOLD_FLOOR = 2e-6
_ABSENT_CLASS_THRESHOLD = 2.0
#: rows scored at a time (a memory-mapped pred_probs file is never read whole)
_OOD_CHUNK = 262_144


def outlier_from_pred_probs(labels: np.ndarray, pred_probs: np.ndarray, thresholds: np.ndarray) -> CheckResult:
    """Without features: cleanlab's pred_probs-based out-of-distribution score, in closed form.

    ``cleanlab.outlier.OutOfDistribution().fit_score(pred_probs=, labels=)`` with its defaults: each row's
    probabilities minus the per-class confident thresholds (``thresholds``: the mean self-confidence per
    class over the labelled rows, :func:`labelaudit.checks.label.confident_thresholds`), shifted by the
    largest threshold and renormalised, scored 1 - normalised entropy. Computed here in chunks rather than
    through cleanlab, whose import alone took 0.7 s of a 1M-row ``--pred-probs`` scan; the scores equal
    cleanlab's (test).
    """
    k = pred_probs.shape[1]
    present = np.bincount(labels[labels >= 0], minlength=k) > 0
    thresholds = np.clip(np.where(present, thresholds, _ABSENT_CLASS_THRESHOLD), _THRESHOLD_FLOOR, None)
    scores = np.empty(len(labels), dtype=np.float64)
    shift = thresholds.max() - thresholds
    for start in range(0, len(labels), _OOD_CHUNK):
        adj = np.asarray(pred_probs[start : start + _OOD_CHUNK], dtype=np.float64) + shift
        adj /= adj.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            plogp = np.where(adj > 0, adj * np.log(adj), 0.0)
        scores[start : start + len(adj)] = 1.0 + plogp.sum(axis=1) / np.log(k)
    cutoff = OUTLIER_PRED_PROBS_THRESHOLD * float(np.median(scores))
    info = {"method": "pred_probs", "score_cutoff": cutoff}
    return CheckResult("outlier", scores, scores < cutoff, info)


def _weak_components(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Component label per row of the graph with edges ``src -> dst`` (weakly connected)."""
    from scipy import sparse  # here, not at import: a --pred-probs scan never builds a graph
    from scipy.sparse.csgraph import connected_components

    adj = sparse.coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n)).tocsr()
    return connected_components(adj, directed=True, connection="weak")[1]


def near_duplicate(graph: KnnGraph) -> CheckResult:
    """Rows closer than 0.13 x the median nearest-neighbour distance; sets are connected components."""
    n = graph.indices.shape[0]
    nn = graph.distances[:, 0].astype(np.float64)
    median = max(float(np.median(nn)), EPS)
    radius = NEAR_DUPLICATE_THRESHOLD * median
    close = graph.distances < radius
    rows, cols = np.nonzero(close)
    cols = graph.indices[rows, cols]
    in_pair = np.zeros(n, dtype=bool)
    in_pair[rows] = True
    in_pair[cols] = True
    set_id = np.full(n, -1, dtype=np.int64)
    if in_pair.any():
        comp = _weak_components(n, rows, cols)
        # number sets 0.. in order of their first row, so ids are stable and readable
        comps = comp[in_pair]
        _, first = np.unique(comps, return_index=True)
        order = np.argsort(first, kind="stable")
        remap = {int(c): i for i, c in enumerate(np.unique(comps)[order])}
        set_id[in_pair] = [remap[int(c)] for c in comps]
    scores = 1.0 - np.exp(-nn / median)
    info = {"radius": radius, "sets": int(set_id.max() + 1) if in_pair.any() else 0}
    return CheckResult("near_duplicate", scores, in_pair, info, {"near_duplicate_set": set_id})


def _ks_statistic(index_distances: np.ndarray, n: int, bg: np.ndarray | None = None) -> float:
    """Largest gap between the CDF of neighbour index distances and that of random pairs (``bg``)."""
    hist = np.bincount(index_distances.ravel(), minlength=n)[1:n]
    fg = np.cumsum(hist) / max(hist.sum(), 1)
    return float(np.max(np.abs(fg - (_random_pair_cdf(n) if bg is None else bg))))


def _random_pair_cdf(n: int) -> np.ndarray:
    d = np.arange(1, n, dtype=np.float64)
    return np.cumsum(2.0 * (n - d) / (n * (n - 1.0)))


def non_iid(graph: KnnGraph, seed: int) -> CheckResult:
    """Are neighbours in feature space also neighbours in file order? (Datalab's KS permutation test.)

    Dataset-level: a p-value from a KS statistic against ``NON_IID_PERMUTATIONS`` random orders
    (own ``numpy.random.Generator``, never the global RNG). Per row: the mean index distance to its
    neighbours relative to what random order would give (1 = as expected, lower = suspiciously close).
    Like Datalab, only the lowest-scoring row is flagged, and only when p < 0.05.
    """
    n, k = graph.indices.shape
    pos = np.arange(n)
    dist = np.abs(pos[:, None] - graph.indices)
    bg = _random_pair_cdf(n)
    observed = _ks_statistic(dist, n, bg)
    rng = np.random.default_rng(seed)
    stats = []
    # int32 positions, differenced in place: a third of the int64 version's time at 1M rows, same counts
    small = n < 2**31
    neighbours = graph.indices.astype(np.int32 if small else np.int64)
    for _ in range(NON_IID_PERMUTATIONS):
        perm = rng.permutation(n).astype(neighbours.dtype)
        moved = perm[neighbours]
        np.subtract(perm[:, None], moved, out=moved)
        np.abs(moved, out=moved)
        stats.append(_ks_statistic(moved, n, bg))
    stats_arr = np.array(stats)
    from scipy.stats import gaussian_kde  # scipy.stats costs ~1 s to import: only when this check runs

    if np.ptp(stats_arr) > 0:
        p_value = float(gaussian_kde(stats_arr).integrate_box_1d(observed, np.inf))
    else:
        p_value = float((stats_arr >= observed).mean())
    expected = (pos * (pos + 1) / 2.0 + (n - 1 - pos) * (n - pos) / 2.0) / max(n - 1, 1)
    scores = np.clip(dist.mean(axis=1) / np.maximum(expected, EPS), 0.0, 1.0)
    is_issue = np.zeros(n, dtype=bool)
    if p_value < NON_IID_SIGNIFICANCE:
        is_issue[int(np.argmin(scores))] = True
    return CheckResult(
        "non_iid",
        scores,
        is_issue,
        {"p_value": p_value, "significant": p_value < NON_IID_SIGNIFICANCE, "permutations": NON_IID_PERMUTATIONS},
    )


def class_imbalance(labels: np.ndarray, n_classes: int, class_names: list[Any]) -> CheckResult:
    """Rows of every class whose share is under 0.1 x 1/K (Datalab flags only the rarest one)."""
    labeled = labels >= 0
    counts = np.bincount(labels[labeled], minlength=n_classes)
    share = counts / max(labeled.sum(), 1)
    rel = np.minimum(share * n_classes, 1.0)
    scores = np.ones(len(labels), dtype=np.float64)
    scores[labeled] = rel[labels[labeled]]
    rare = np.flatnonzero(rel < CLASS_IMBALANCE_THRESHOLD)
    is_issue = labeled & np.isin(labels, rare)
    return CheckResult(
        "class_imbalance",
        scores,
        is_issue,
        {"rare_classes": [class_names[c] for c in rare], "threshold": CLASS_IMBALANCE_THRESHOLD},
    )


def null_check(null_fraction: np.ndarray) -> CheckResult:
    """Rows whose features are all missing are flagged; score = 1 - fraction missing."""
    scores = 1.0 - null_fraction.astype(np.float64)
    is_issue = null_fraction >= 1.0
    return CheckResult("null", scores, is_issue, {"rows_with_any_missing": int((null_fraction > 0).sum())})


def _self_confidence(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Probability of the given label (NaN for unlabelled rows)."""
    sc = np.full(len(labels), np.nan)
    labeled = labels >= 0
    sc[labeled] = pred_probs[np.flatnonzero(labeled), labels[labeled]]
    return sc


def _components(graph: KnnGraph, member: np.ndarray, min_size: int) -> list[np.ndarray]:
    """Rows of each connected component (weak, along graph edges between members) with >= min_size rows."""
    n, k = graph.indices.shape
    if member.sum() < min_size:
        return []
    src = np.repeat(np.arange(n), k)
    dst = graph.indices.ravel()
    keep = member[src] & member[dst]
    comp = _weak_components(n, src[keep], dst[keep])
    rows = np.flatnonzero(member)
    order = rows[np.argsort(comp[rows], kind="stable")]
    cuts = np.flatnonzero(np.diff(comp[order])) + 1
    return [g for g in np.split(order, cuts) if len(g) >= min_size]


def underperforming_group(
    graph: KnnGraph, labels: np.ndarray, pred_probs: np.ndarray, class_names: list[Any] | None = None
) -> CheckResult:
    """Connected regions of the KNN graph where the model is close to chance while it is good elsewhere.

    Performance is the self-confidence (probability of the given label), as in Datalab, measured as
    *skill above chance*: ``(p - 1/K) / (overall - 1/K)``. Each row's local skill is that of the mean
    over the row and its k neighbours; rows whose local skill is under ``GROUP_SKILL_THRESHOLD`` are
    joined along the graph's edges into groups, and a group is flagged when it has at least
    ``GROUP_MIN_SIZE`` rows, its own skill is under the threshold too, and its mean is at least
    ``GROUP_MIN_Z`` standard errors below the overall mean. Score per row: the local skill, in [0, 1].

    Datalab instead runs DBSCAN (eps 0.5) on the graph and flags only the worst cluster, and only when
    its mean self-confidence is under 0.1 x the overall mean: on planted slices that almost never fires
    (benchmarks/checks.py), and eps 0.5 has no meaning across metrics and scales. Cost: O(rows x k).
    """
    n, k = graph.indices.shape
    n_classes = pred_probs.shape[1]
    sc = _self_confidence(labels, pred_probs)
    labeled = ~np.isnan(sc)
    chance = 1.0 / n_classes
    overall = float(np.nanmean(sc)) if labeled.any() else chance
    info: dict[str, Any] = {
        "overall_self_confidence": overall,
        "overall_accuracy": float((pred_probs[labeled].argmax(axis=1) == labels[labeled]).mean())
        if labeled.any()
        else None,
        "skill_threshold": GROUP_SKILL_THRESHOLD,
        "groups": [],
    }
    group_id = np.full(n, -1, dtype=np.int64)
    if overall - chance <= EPS:
        info["note"] = "the model is no better than chance overall: no group can be worse"
        return CheckResult(
            "underperforming_group", np.ones(n), np.zeros(n, bool), info, {"underperforming_group": group_id}
        )
    filled = np.where(labeled, sc, 0.0)
    near = np.column_stack([np.arange(n), graph.indices])
    local = (filled[near].sum(axis=1)) / np.maximum(labeled[near].sum(axis=1), 1)
    # smoothed once more over the same neighbourhoods: a region, not a chance run of a few wrong labels
    # (one hop left groups of ~20 rows in data with 20 % random flips and no region at all)
    local = local[near].mean(axis=1)
    skill = (local - chance) / (overall - chance)
    scores = np.clip(skill, 0.0, 1.0)
    candidate = (skill < GROUP_SKILL_THRESHOLD) & labeled
    sd = float(np.nanstd(sc)) or EPS
    groups = []
    for rows in _components(graph, candidate, GROUP_MIN_SIZE):
        mean = float(sc[rows].mean())
        z = (overall - mean) / (sd / np.sqrt(len(rows)))
        if (mean - chance) / (overall - chance) < GROUP_SKILL_THRESHOLD and z >= GROUP_MIN_Z:
            groups.append((rows, mean))
    groups.sort(key=lambda g: (-len(g[0]), int(g[0][0])))
    for gid, (rows, mean) in enumerate(groups):
        group_id[rows] = gid
        given = np.bincount(labels[rows], minlength=n_classes)
        top = np.argsort(-given, kind="stable")[: min(3, n_classes)]
        if gid < GROUPS_LISTED:
            info["groups"].append(
                {
                    "group": gid,
                    "size": int(len(rows)),
                    "accuracy": float((pred_probs[rows].argmax(axis=1) == labels[rows]).mean()),
                    "self_confidence": mean,
                    "classes": [
                        {"class": class_names[c] if class_names else int(c), "rows": int(given[c])}
                        for c in top
                        if given[c]
                    ],
                }
            )
    info["n_groups"] = len(groups)
    return CheckResult("underperforming_group", scores, group_id >= 0, info, {"underperforming_group": group_id})


def data_valuation(graph: KnnGraph, labels: np.ndarray) -> CheckResult:
    """KNN-Shapley value of each row as a neighbour (Datalab's ``data_valuation``, same formula and threshold).

    For each labelled row a with neighbours n_1..n_k (nearest first), neighbour n_j receives
    ``match_j - match_k`` (match: same label as a), the closed form of cleanlab's recursion; a row's
    value is the sum it receives over N x k, mapped to ``0.5 x (value + 1)``. Flagged under 0.5, i.e.
    rows whose label, as a neighbour, disagrees with the rows it is near more than the farthest
    neighbour does: they hurt a nearest-neighbour model. O(rows x k) with the shared graph, where
    cleanlab allocates an N x N matrix.
    """
    n, k = graph.indices.shape
    labeled = labels >= 0
    match = (labels[graph.indices] == labels[:, None]) & labeled[:, None]
    gain = match.astype(np.float64) - match[:, -1:].astype(np.float64)
    gain[~labeled] = 0.0
    value = np.bincount(graph.indices.ravel(), weights=gain.ravel(), minlength=n) / (n * k)
    scores = 0.5 * (value + 1.0)
    is_issue = (scores < DATA_VALUATION_THRESHOLD) & labeled
    return CheckResult(
        "data_valuation",
        scores,
        is_issue,
        {"threshold": DATA_VALUATION_THRESHOLD, "mean_score": float(scores.mean()), "k": int(k)},
    )
