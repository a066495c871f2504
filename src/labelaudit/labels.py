"""Label issues with cleanlab's confident learning.

* ``label_quality``: ``cleanlab.rank.get_label_quality_scores`` (self-confidence), in [0, 1],
  LOWER = more likely wrong. With several pred_probs: ``get_label_quality_ensemble_scores``.
* ``is_label_issue``: ``cleanlab.filter.find_label_issues(filter_by="prune_by_noise_rate")`` on the
  (mean) pred_probs, plus -- on small data, see :func:`majority_rule_applies` -- rows where another
  class holds over half the probability. This defines the label-issue rate that ``--fail-above`` gates.
* ``estimated_noise_rate``: off-diagonal mass of the calibrated confident joint.

Rows with a missing label and rows of classes with fewer rows than folds are not assessed:
their score is NaN and they are never flagged.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from labelaudit.checks import CheckResult

LABEL_ISSUE_ESTIMATOR = "cleanlab.filter.find_label_issues(filter_by='prune_by_noise_rate')"
MAJORITY_RULE = "or another class with probability > 0.5"
#: a row is also flagged when one other class holds more than this share of its out-of-fold probability.
#: Confident learning's flagged-set size is conservative with small data and weak models (benchmark
#: recall 0.75 at precision 0.90); adding rows whose model majority names another class raised the
#: tabular mean F1 from 0.800 to 0.843 (chosen on wine + digits, confirmed on iris + breast_cancer;
#: see the README's detection benchmark)
OTHER_CLASS_MAJORITY = 0.5
#: ... but only while the classes are small. With many rows per class the confident joint is well
#: estimated and the rule adds mostly ambiguous rows: measured on make_classification data with 10 %
#: noise (labelaudit defaults, 2 seeds, 20 and 128 features), its F1 change was +0.011 / +0.001 / +0.014
#: at 100 / 200 / 300 rows per class and -0.010 / -0.016 / -0.025 at 500 / 1 000 / 3 000; -0.003 on the
#: CIFAR-10 ensemble (5 000 per class) and -0.002 precision at 100 000 x 128 (10 000 per class)
MAJORITY_RULE_MAX_ROWS_PER_CLASS = 400


def majority_rule_applies(labels: np.ndarray, assessable: np.ndarray) -> bool:
    """Whether the other-class-majority rule joins confident learning: under 400 assessed rows per class."""
    assessed = labels[assessable]
    classes = np.unique(assessed).size
    return classes > 0 and assessed.size / classes < MAJORITY_RULE_MAX_ROWS_PER_CLASS


def estimator_name(majority: bool, base: str = LABEL_ISSUE_ESTIMATOR) -> str:
    return f"{base}, {MAJORITY_RULE}" if majority else base


def other_class_majority(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Rows whose most likely *other* class has more than :data:`OTHER_CLASS_MAJORITY` probability."""
    other = np.array(pred_probs, dtype=np.float64, copy=True)
    ok = labels >= 0
    other[np.flatnonzero(ok), labels[ok]] = -1.0
    return ok & (other.max(axis=1) > OTHER_CLASS_MAJORITY)


QUALITY_METHOD = "self_confidence"


@dataclass
class LabelResult:
    check: CheckResult
    suggested: np.ndarray
    """Code of the most likely class per row."""
    assessable: np.ndarray
    confident_joint: np.ndarray
    """K x K calibrated joint counts of (given, true) labels over assessed rows."""
    estimated_noise_rate: float
    warnings: list[str] = field(default_factory=list)
    """cleanlab's warnings, passed on to the progress callback instead of Python's warning system."""


def find_label_issues(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    rare: list[int],
    pred_probs_list: list[np.ndarray] | None = None,
) -> LabelResult:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _find(labels, pred_probs, rare, pred_probs_list)
    # rare classes are handled (not assessed) by labelaudit; cleanlab's note about them is noise
    result.warnings = sorted({str(w.message) for w in caught if "too few examples" not in str(w.message)})
    return result


def _find(labels, pred_probs, rare, pred_probs_list) -> LabelResult:
    from cleanlab.count import compute_confident_joint
    from cleanlab.filter import find_label_issues as cl_find
    from cleanlab.rank import get_label_quality_ensemble_scores, get_label_quality_scores

    n, k = pred_probs.shape
    labeled = labels >= 0
    assessable = labeled & ~np.isin(labels, rare)
    idx = np.flatnonzero(labeled)
    y = labels[idx]
    pp = np.asarray(pred_probs[idx], dtype=np.float64)
    quality = np.full(n, np.nan)
    if pred_probs_list and len(pred_probs_list) > 1:
        quality[idx] = get_label_quality_ensemble_scores(
            y,
            [np.asarray(p[idx], dtype=np.float64) for p in pred_probs_list],
            method=QUALITY_METHOD,
            verbose=False,
        )
    else:
        quality[idx] = get_label_quality_scores(y, pp, method=QUALITY_METHOD)
    flagged = np.zeros(n, dtype=bool)
    flagged[idx] = cl_find(y, pp, filter_by="prune_by_noise_rate", n_jobs=1, min_examples_per_class=1)
    majority = majority_rule_applies(labels, assessable)
    if majority:
        flagged |= other_class_majority(labels, pred_probs)
    flagged &= assessable
    quality[~assessable] = np.nan
    cj = compute_confident_joint(y, pp, calibrate=True)
    total = cj.sum()
    noise = float((total - np.trace(cj)) / total) if total > 0 else 0.0
    suggested = pred_probs.argmax(axis=1)
    check = CheckResult(
        "label",
        quality,
        flagged,
        {
            "estimator": estimator_name(majority),
            "other_class_majority_rule": majority,
            "score": f"cleanlab.rank.get_label_quality_scores({QUALITY_METHOD})",
            "estimated_noise_rate": noise,
        },
    )
    return LabelResult(check, suggested, assessable, cj, noise)
