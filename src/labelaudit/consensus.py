"""Consensus labels from several annotators: majority vote and Dawid-Skene EM.

Annotations are three aligned integer arrays: ``item`` (0..N-1), ``annotator`` (0..M-1) and
``label`` (0..K-1). Everything is vectorised over annotations (``np.add.at``), so a 100k-item crowd
takes seconds. CROWDLAB (features or pred_probs available) lives in :mod:`labelaudit.crowd`, through
``cleanlab.multiannotator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SMOOTHING = 0.01


def vote_counts(item: np.ndarray, label: np.ndarray, n_items: int, k: int) -> np.ndarray:
    counts = np.zeros((n_items, k))
    np.add.at(counts, (item, label), 1.0)
    return counts


def majority_vote(
    item: np.ndarray, label: np.ndarray, n_items: int, k: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(label per item, share of votes it got). Ties are broken at random with ``seed``, not by class order."""
    counts = vote_counts(item, label, n_items, k)
    rng = np.random.default_rng(seed)
    jitter = rng.random(counts.shape) * 1e-6
    winner = (counts + jitter).argmax(axis=1)
    total = counts.sum(axis=1)
    share = np.where(total > 0, counts[np.arange(n_items), winner] / np.maximum(total, 1), 0.0)
    return winner, share


@dataclass(frozen=True)
class DawidSkene:
    posterior: np.ndarray
    """(items x K) probability of each true class."""
    confusion: np.ndarray
    """(annotators x K x K) P(annotator says l | true class k)."""
    priors: np.ndarray
    iterations: int
    converged: bool

    @property
    def labels(self) -> np.ndarray:
        return self.posterior.argmax(axis=1)

    def annotator_accuracy(self) -> np.ndarray:
        """Expected accuracy of each annotator under the class priors: sum_k prior_k * confusion[a, k, k]."""
        diag = np.einsum("akk->ak", self.confusion)
        return diag @ self.priors


def dawid_skene(
    item: np.ndarray,
    annotator: np.ndarray,
    label: np.ndarray,
    n_items: int,
    n_annotators: int,
    k: int,
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    init: np.ndarray | None = None,
) -> DawidSkene:
    """Dawid & Skene (1979) EM over per-annotator confusion matrices, initialised from the vote shares.

    ``init`` (items x K) can fix the starting posterior, e.g. one-hot rows for gold items.
    """
    counts = vote_counts(item, label, n_items, k)
    t = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-12) if init is None else init.copy()
    t[counts.sum(axis=1) == 0] = 1.0 / k
    converged = False
    conf = np.zeros((n_annotators, k, k))
    priors = np.full(k, 1.0 / k)
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        priors = (t.sum(axis=0) + SMOOTHING) / (t.sum() + SMOOTHING * k)
        conf = np.full((n_annotators, k, k), SMOOTHING)
        np.add.at(conf, (annotator, slice(None), label), t[item])
        conf /= conf.sum(axis=2, keepdims=True)
        log_t = np.tile(np.log(priors), (n_items, 1))
        np.add.at(log_t, item, np.log(conf[annotator, :, label]))
        log_t -= log_t.max(axis=1, keepdims=True)
        new = np.exp(log_t)
        new /= new.sum(axis=1, keepdims=True)
        delta = float(np.abs(new - t).max())
        t = new
        if delta < tol:
            converged = True
            break
    return DawidSkene(t, conf, priors, iterations, converged)
