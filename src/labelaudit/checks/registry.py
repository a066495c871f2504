"""The data checks as a registry: what each one needs, why it would be skipped, and how it runs.

A scan asks every requested check for a skip reason right after reading (so a gate on a check that
cannot run fails before any training), builds the shared KNN graph once if any check that runs needs
it, and then calls each check with the same :class:`CheckInputs`. Adding a check is one entry here
and its function in ``data.py``; the label check is not in the registry: it always runs, and the
suggested labels and the ranking come from it (``label.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from labelaudit.checks import data as ck
from labelaudit.checks.knn import KnnGraph
from labelaudit.checks.label import confident_thresholds


@dataclass
class CheckInputs:
    """Everything a data check may use; a check reads only what its entry says it needs."""

    labels: np.ndarray
    pred_probs: np.ndarray
    n_classes: int
    class_names: list[Any]
    seed: int
    graph: KnnGraph | None = None
    null_fraction: np.ndarray | None = None


@dataclass(frozen=True)
class Check:
    """One data check: ``needs_graph`` (the shared KNN graph), ``needs_features`` (any feature columns)."""

    name: str
    run: Callable[[CheckInputs], ck.CheckResult]
    needs_graph: bool = False
    needs_features: bool = False
    #: runs without features from another input (the outlier check falls back to pred_probs)
    fallback: bool = False

    def skip_reason(self, has_features: bool, n_rows: int, streamed: bool) -> str | None:
        """Why this check cannot run on this data (None: it runs). Known right after reading."""
        if streamed and self.needs_graph:
            return "needs the feature matrix in memory (--low-memory streams it); run it where the features fit"
        if self.needs_graph and not self.fallback and (not has_features or n_rows <= 2):
            return "needs feature columns (none given)" if not has_features else "needs at least 3 rows"
        if self.needs_features and not has_features:
            return "needs feature columns (none given)"
        return None


def _outlier(x: CheckInputs) -> ck.CheckResult:
    if x.graph is not None:
        return ck.outlier_from_knn(x.graph)
    return ck.outlier_from_pred_probs(x.labels, x.pred_probs, confident_thresholds(x.labels, x.pred_probs))


REGISTRY: dict[str, Check] = {
    c.name: c
    for c in (
        Check("outlier", _outlier, needs_graph=True, fallback=True),
        Check("near_duplicate", lambda x: ck.near_duplicate(x.graph), needs_graph=True),
        Check("non_iid", lambda x: ck.non_iid(x.graph, x.seed), needs_graph=True),
        Check("class_imbalance", lambda x: ck.class_imbalance(x.labels, x.n_classes, x.class_names)),
        Check("null", lambda x: ck.null_check(x.null_fraction), needs_features=True),
        Check(
            "underperforming_group",
            lambda x: ck.underperforming_group(x.graph, x.labels, x.pred_probs, x.class_names),
            needs_graph=True,
        ),
        Check("data_valuation", lambda x: ck.data_valuation(x.graph, x.labels), needs_graph=True),
    )
}


def skip_reason(name: str, has_features: bool, n_rows: int, streamed: bool) -> str | None:
    """The registry's skip reason for ``name`` (None for the label check, which always runs)."""
    check = REGISTRY.get(name)
    return check.skip_reason(has_features, n_rows, streamed) if check is not None else None
