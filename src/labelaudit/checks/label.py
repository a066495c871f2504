"""Label issues: how many label errors there are, which rows are flagged, and how they rank.

One rule for every path (in memory, streamed, on Dask, from ``--pred-probs``):

* ``label_quality``: cleanlab's self-confidence (the probability of the given label), in [0, 1],
  LOWER = more likely wrong. The ranking.
* **How many errors** (:func:`estimate_errors`): every *confident* disagreement counts as an error —
  another class j has at least its confident threshold t_j (cleanlab's per-class threshold, the mean
  self-confidence of class j), as confident learning counts them — and every *ambiguous* disagreement
  (the most likely class is another one, but none clears its threshold) counts by the odds of the
  model's preferred class against the given label, ``p_max / (p_max + p_given)``: a half when the
  two are tied, nearly one when the model is sure. Confident learning alone counts only the first
  kind, and real human errors sit mostly on ambiguous examples: on CIFAR-10N (real Mechanical Turk
  mistakes) 43-80 % of the ambiguous disagreements were errors, and cleanlab's default flagged about
  60 % as many rows as there were errors. With a 95 % interval (a bootstrap over rows of the whole
  estimate, thresholds recomputed, plus the Bernoulli variance of the ambiguous rows).
* **Which rows** (``--flag-size``): ``auto`` flags the estimated number of rows with the lowest label
  quality; when the model is unsure of a typical row (mean top probability under
  :data:`WEAK_MODEL_CONFIDENCE`), at most the number of confident disagreements: there the ambiguous
  disagreements are mostly the model's own mistakes (15 % of them were errors on ``make_classification``
  at mean top probability 0.53, where the estimate came to 3.8x the true count; every CIFAR-10 / CIFAR-10N
  model is above 0.67); ``conservative`` is cleanlab's ``find_label_issues(filter_by="prune_by_noise_rate")``
  (precise, flags fewer); a number of rows or a rate flags that many by rank.

Rows with a missing label and rows of classes with fewer rows than folds are not assessed: their
score is NaN and they are never flagged or counted.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labelaudit.checks.data import CheckResult
from labelaudit.names import FlagSize

QUALITY_METHOD = "self_confidence"
#: resamples of the error-count bootstrap, and the rows it resamples at most (larger sets: a subsample, the
#: spread scaled back by sqrt(subsample / rows))
BOOTSTRAP_RESAMPLES = 100
BOOTSTRAP_MAX_ROWS = 100_000
#: rows processed at a time (memory-mapped pred_probs are never read whole)
CHUNK_ROWS = 262_144
#: below this mean top probability (over the assessed rows) the model is unsure of a typical row, and
#: ``auto`` flags at most the confident disagreements (see the module docstring)
WEAK_MODEL_CONFIDENCE = 0.6
CAPPED_BY_CONFIDENT = "confident disagreements only (the model is unsure of a typical row)"
FLAG_RULES = {
    "auto": "the estimated number of label errors, by label quality (a model unsure of a typical row: at most the "
    "number of confident disagreements)",
    "conservative": "cleanlab.filter.find_label_issues(filter_by='prune_by_noise_rate')",
    "count": "a given number of rows, by label quality",
    "rate": "a given share of the assessed rows, by label quality",
}


@dataclass(frozen=True)
class ErrorEstimate:
    """The estimated number of label errors among the assessed rows, and what it is made of."""

    estimate: float
    low: float
    high: float
    confident: int
    """Rows another class claims confidently (what confident learning counts)."""
    ambiguous: int
    """Rows whose most likely class is another one, none confidently."""
    assessed: int

    def to_json(self) -> dict[str, Any]:
        return {
            "estimate": round(self.estimate, 1),
            "interval95": [round(self.low, 1), round(self.high, 1)],
            "rate": round(self.estimate / self.assessed, 6) if self.assessed else 0.0,
            "confident_disagreements": self.confident,
            "ambiguous_disagreements": self.ambiguous,
            "method": "confident disagreements + odds-weighted ambiguous disagreements; 95 % bootstrap over rows",
        }


@dataclass
class LabelResult:
    check: CheckResult
    suggested: np.ndarray
    """Code of the most likely class per row."""
    assessable: np.ndarray
    errors: ErrorEstimate
    warnings: list[str] = field(default_factory=list)
    """cleanlab's warnings, passed on to the progress callback instead of Python's warning system."""

    @property
    def estimated_noise_rate(self) -> float:
        return self.errors.estimate / self.errors.assessed if self.errors.assessed else 0.0


def assessable_rows(labels: np.ndarray, rare: list[int]) -> np.ndarray:
    return (labels >= 0) & ~np.isin(labels, rare)


def confident_thresholds(labels: np.ndarray, pred_probs: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Per class j: the mean probability of j over the rows labelled j (cleanlab's confident threshold)."""
    k = pred_probs.shape[1]
    sums = np.zeros(k)
    counts = np.zeros(k)
    for start in range(0, len(labels), CHUNK_ROWS):
        y = labels[start : start + CHUNK_ROWS]
        ok = y >= 0
        pp = np.asarray(pred_probs[start : start + CHUNK_ROWS][ok], dtype=np.float64)
        w = np.ones(int(ok.sum())) if weights is None else weights[start : start + CHUNK_ROWS][ok]
        sums += np.bincount(y[ok], weights=w * pp[np.arange(len(pp)), y[ok]], minlength=k)
        counts += np.bincount(y[ok], weights=w, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        th = sums / counts
    return np.where(counts > 0, th, 1.0)


def _rival(pp: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row (labels ``y`` >= 0): the given label's probability, the best other class's, and the weight
    of an ambiguous disagreement (the odds of the best other class; 0 where the given label is on top)."""
    rows = np.arange(len(y))
    given = pp[rows, y]
    other = pp.copy()
    other[rows, y] = -1.0
    top = other.max(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        odds = np.where(top + given > 0, top / (top + given), 0.5)
    return given, top, np.where(top > given, odds, 0.0)


def _confident(pp: np.ndarray, y: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Confident learning's count: of the classes at or above their threshold, the most likely one is not ``y``."""
    above = pp >= thresholds[None, :]
    return above.any(axis=1) & (np.where(above, pp, -1.0).argmax(axis=1) != y)


def error_weights(labels: np.ndarray, pred_probs: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: how much it counts as an error (1 confident, odds for ambiguous, 0 agreeing) and which kind."""
    n = len(labels)
    e = np.zeros(n, dtype=np.float64)
    kind = np.zeros(n, dtype=np.int8)  # 0 agreeing, 1 ambiguous, 2 confident
    for start in range(0, n, CHUNK_ROWS):
        y = labels[start : start + CHUNK_ROWS]
        ok = np.flatnonzero(y >= 0)
        pp = np.asarray(pred_probs[start : start + CHUNK_ROWS][ok], dtype=np.float64)
        yy = y[ok]
        given, top, weight = _rival(pp, yy)
        confident = _confident(pp, yy, thresholds)
        ambiguous = ~confident & (top > given)
        rows = start + ok
        e[rows] = np.where(confident, 1.0, weight)
        kind[rows] = np.where(confident, 2, np.where(ambiguous, 1, 0))
    return e, kind


def estimate_errors(
    labels: np.ndarray, pred_probs: np.ndarray, assessable: np.ndarray, *, seed: int = 0
) -> ErrorEstimate:
    """The number of label errors among the assessed rows with a 95 % interval (see the module docstring)."""
    th = confident_thresholds(labels, pred_probs)  # from every labelled row, as cleanlab
    e, kind = error_weights(labels, pred_probs, th)
    e = np.where(assessable, e, 0.0)
    n_assessed = int(assessable.sum())
    total = float(e.sum())
    sd = _bootstrap_sd(labels, pred_probs, assessable, seed)
    ambiguous = kind == 1
    bernoulli = float((e[ambiguous & assessable] * (1 - e[ambiguous & assessable])).sum())
    half = 1.96 * math.sqrt(sd**2 + bernoulli)
    return ErrorEstimate(
        estimate=total,
        low=max(0.0, total - half),
        high=min(float(n_assessed), total + half),
        confident=int(((kind == 2) & assessable).sum()),
        ambiguous=int((ambiguous & assessable).sum()),
        assessed=n_assessed,
    )


def _bootstrap_sd(labels: np.ndarray, pred_probs: np.ndarray, assessable: np.ndarray, seed: int) -> float:
    """Spread of the whole estimate (thresholds recomputed) over resamples of the rows."""
    rng = np.random.default_rng(seed + 7_919)
    n = len(labels)
    rows = np.arange(n) if n <= BOOTSTRAP_MAX_ROWS else np.sort(rng.choice(n, BOOTSTRAP_MAX_ROWS, replace=False))
    m = len(rows)
    if m < 2:
        return 0.0
    y = labels[rows]
    pp = np.asarray(pred_probs[rows], dtype=np.float64)
    ok = assessable[rows]
    # what does not depend on the thresholds, once (error_weights per resample cost 28 ms at 100k rows)
    labelled = y >= 0
    yl = np.where(labelled, y, 0)
    given, _, weight = _rival(pp, yl)
    base = weight * labelled
    k = pp.shape[1]

    # the resamples' row counts (uint8: a row drawn 256 times of m is beyond any bootstrap) and thresholds,
    # drawn once and used twice
    draws = np.empty((BOOTSTRAP_RESAMPLES, m), dtype=np.uint8)
    ths = np.empty((BOOTSTRAP_RESAMPLES, k))
    for b in range(BOOTSTRAP_RESAMPLES):
        counts = np.bincount(rng.integers(0, m, m), minlength=m).astype(np.float64)
        draws[b] = counts
        w = counts * labelled
        sums = np.bincount(yl, weights=w * given, minlength=k)
        n_k = np.bincount(yl, weights=w, minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            ths[b] = np.where(n_k > 0, sums / n_k, 1.0)

    # A row's confident-learning verdict changes between resamples only if one of its probabilities lies
    # within the range the thresholds take over the resamples; every other row's verdict is computed once.
    lo, hi = ths.min(axis=0), ths.max(axis=0)
    moving = ((pp >= lo) & (pp <= hi)).any(axis=1) & labelled
    e_fixed = np.where(labelled & _confident(pp, yl, ths[0]), 1.0, base) * ok * ~moving
    sub = np.flatnonzero(moving)
    pp_s, y_s, base_s, ok_s = pp[sub], yl[sub], base[sub], ok[sub]
    estimates = []
    for counts, th in zip(draws, ths, strict=True):
        e_s = np.where(_confident(pp_s, y_s, th), 1.0, base_s) * ok_s
        estimates.append(float(counts @ e_fixed + counts[sub] @ e_s))
    return float(np.std(estimates, ddof=1)) * (n / m) * math.sqrt(m / n)


def find_label_issues(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    rare: list[int],
    pred_probs_list: list[np.ndarray] | None = None,
    *,
    flag_size: FlagSize | str = "auto",
    seed: int = 0,
) -> LabelResult:
    """Score, count and flag label issues (``pred_probs``: the combined probabilities when there are several)."""
    del pred_probs_list  # the members are combined before (labelaudit.oof.ensemble); kept for callers' signature
    flag_size = FlagSize.parse(flag_size)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _find(labels, pred_probs, rare, flag_size, seed)
    # rare classes are handled (not assessed) by labelaudit; cleanlab's note about them is noise
    result.warnings = sorted({str(w.message) for w in caught if "too few examples" not in str(w.message)})
    return result


def label_quality(labels: np.ndarray, pred_probs: np.ndarray, assessable: np.ndarray) -> np.ndarray:
    """Self-confidence per row, NaN where not assessed (chunked: never the whole of a memory map at once)."""
    quality = np.full(len(labels), np.nan)
    for start in range(0, len(labels), CHUNK_ROWS):
        ok = np.flatnonzero(assessable[start : start + CHUNK_ROWS])
        pp = np.asarray(pred_probs[start : start + CHUNK_ROWS][ok], dtype=np.float64)
        quality[start + ok] = pp[np.arange(len(ok)), labels[start + ok]]
    return quality


def quality_order(quality: np.ndarray) -> np.ndarray:
    """Rows by label quality, lowest first, NaN last, equal qualities by row (a stable sort).

    (An unstable sort with only the tied runs re-sorted by row was tried: 0.15 s against 0.18 s at 1M rows
    with 38 % of rows tied, not worth its code.)
    """
    return np.argsort(np.where(np.isnan(quality), np.inf, quality), kind="stable")


def issue_ranks(quality: np.ndarray, flagged: np.ndarray, assessable: np.ndarray | None = None) -> np.ndarray:
    """The issues table's rank: flagged rows first, then by label quality; 1 = most likely mislabelled,
    0 where the row is not assessed."""
    by_quality = quality_order(quality)
    first = flagged[by_quality]
    order = np.concatenate([by_quality[first], by_quality[~first]])
    if assessable is not None:
        order = order[assessable[order]]
    rank = np.zeros(len(quality), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    return rank


def _by_rank(quality: np.ndarray, n_flag: int) -> np.ndarray:
    """The ``n_flag`` rows of lowest quality (NaN never; at equal quality the lower rows): the first
    ``n_flag`` of :func:`quality_order`, found by a partition instead of a sort."""
    valid = ~np.isnan(quality)
    n_flag = max(0, min(n_flag, int(valid.sum())))
    if n_flag == 0:
        return np.zeros(len(quality), dtype=bool)
    key = np.where(valid, quality, np.inf)
    cut = np.partition(key, n_flag - 1)[n_flag - 1]
    flagged = key < cut
    flagged[np.flatnonzero(key == cut)[: n_flag - int(flagged.sum())]] = True
    return flagged


def mean_top_probability(pred_probs: np.ndarray, assessable: np.ndarray) -> float:
    """The model's mean probability of its most likely class over the assessed rows (chunked)."""
    total, rows = 0.0, 0
    for start in range(0, len(assessable), CHUNK_ROWS):
        ok = assessable[start : start + CHUNK_ROWS]
        total += float(np.asarray(pred_probs[start : start + CHUNK_ROWS][ok]).max(axis=1, initial=0.0).sum())
        rows += int(ok.sum())
    return total / rows if rows else 1.0


def _confident_learning_flags(labels: np.ndarray, pred_probs: np.ndarray, assessable: np.ndarray) -> np.ndarray:
    """cleanlab's ``find_label_issues(filter_by="prune_by_noise_rate")`` over the labelled rows, assessed only."""
    from cleanlab.filter import find_label_issues as cl_find

    idx = np.flatnonzero(labels >= 0)
    flagged = np.zeros(len(labels), dtype=bool)
    flagged[idx] = cl_find(
        labels[idx],
        np.asarray(pred_probs[idx], dtype=np.float64),
        filter_by="prune_by_noise_rate",
        n_jobs=1,
        min_examples_per_class=1,
    )
    return flagged & assessable


def _find(labels, pred_probs, rare, flag_size: FlagSize, seed: int) -> LabelResult:
    n = len(labels)
    assessable = assessable_rows(labels, rare)
    quality = label_quality(labels, pred_probs, assessable)
    errors = estimate_errors(labels, pred_probs, assessable, seed=seed)
    capped_by = None
    if flag_size.mode == "conservative":
        flagged = _confident_learning_flags(labels, pred_probs, assessable)
    else:
        if flag_size.mode == "auto":
            n_flag = int(round(errors.estimate))
            if errors.confident < n_flag and mean_top_probability(pred_probs, assessable) < WEAK_MODEL_CONFIDENCE:
                n_flag, capped_by = errors.confident, CAPPED_BY_CONFIDENT
        elif flag_size.mode == "count":
            n_flag = int(flag_size.value or 0)
        else:
            n_flag = int(round((flag_size.value or 0.0) * errors.assessed))
        flagged = _by_rank(quality, n_flag)
    suggested = np.empty(n, dtype=np.int64)
    for start in range(0, n, CHUNK_ROWS):
        suggested[start : start + CHUNK_ROWS] = np.asarray(pred_probs[start : start + CHUNK_ROWS]).argmax(axis=1)
    check = CheckResult(
        "label",
        quality,
        flagged,
        {
            "estimator": FLAG_RULES[flag_size.mode],
            "flag_size": flag_size.to_json(),
            "score": f"cleanlab.rank.get_label_quality_scores({QUALITY_METHOD})",
            "estimated_errors": errors.to_json(),
            **({"flag_count_capped_by": capped_by} if capped_by else {}),
        },
    )
    return LabelResult(check, suggested, assessable, errors)
