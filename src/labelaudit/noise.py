"""Label-noise simulation: symmetric, asymmetric (class-conditional) and instance-dependent.

Lets a user measure how well an audit works on their own data before trusting it: corrupt a clean
copy, scan it, and score the audit against the truth file (``labelaudit report AUDIT --truth``).

* symmetric: ``rate`` of each class's rows flip, each to a uniformly chosen other class.
* asymmetric: ``rate`` of each class's rows flip to the one class a model confuses it with most (the
  largest off-diagonal of the out-of-fold soft confusion matrix: "cat -> dog"), or as a given K x K
  transition matrix says.

  Both flip *exact counts* (class i -> j: T[i, j] x rows of class i, rounded by largest remainder),
  as cleanlab's ``generate_noisy_labels`` does, rather than a coin per row: with 50-row classes a
  coin at 40 % flipped 52 % of one class in the detection benchmark, and a class whose wrong labels
  outnumber its right ones cannot be audited by any method -- the measurement stops measuring.
* instance: harder rows flip more. A row's flip probability is proportional to a model's
  out-of-fold uncertainty about its true label (1 - p(true)), scaled so the mean is ``rate``; it flips
  to the model's second choice.

All randomness comes from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from labelaudit.errors import ConfigError


class NoiseKind(str, Enum):
    symmetric = "symmetric"
    asymmetric = "asymmetric"
    instance = "instance"


@dataclass(frozen=True)
class NoiseResult:
    noisy: np.ndarray
    """Noisy label codes (-1 stays -1)."""
    flipped: np.ndarray
    kind: NoiseKind
    rate: float
    seed: int
    transition: np.ndarray | None
    """K x K row-stochastic matrix used (symmetric/asymmetric), None for instance noise."""

    @property
    def realised_rate(self) -> float:
        labeled = self.noisy >= 0
        return float(self.flipped[labeled].mean()) if labeled.any() else 0.0


def soft_confusion(labels: np.ndarray, pred_probs: np.ndarray, k: int) -> np.ndarray:
    """Mean predicted probabilities per true class (rows: true class, columns: predicted)."""
    c = np.zeros((k, k))
    for i in range(k):
        rows = labels == i
        if rows.any():
            c[i] = pred_probs[rows].mean(axis=0)
    return c


def pair_transition(confusion: np.ndarray, rate: float) -> np.ndarray:
    """Flip each class to its most-confused other class with probability ``rate``."""
    k = confusion.shape[0]
    off = confusion.copy()
    np.fill_diagonal(off, -np.inf)
    target = off.argmax(axis=1)
    t = np.eye(k) * (1.0 - rate)
    t[np.arange(k), target] += rate
    return t


def _scale_to_mean(u: np.ndarray, rate: float) -> np.ndarray:
    """Probabilities min(1, c*u) whose mean is ``rate`` (bisection on c)."""
    if u.sum() <= 0:
        return np.full_like(u, rate)
    lo, hi = 0.0, 1.0
    while np.minimum(1.0, hi * u).mean() < rate and hi < 1e12:
        hi *= 2.0
    for _ in range(100):
        mid = (lo + hi) / 2.0
        if np.minimum(1.0, mid * u).mean() < rate:
            lo = mid
        else:
            hi = mid
    return np.minimum(1.0, hi * u)


def simulate_noise(
    labels: np.ndarray,
    n_classes: int,
    kind: NoiseKind | str,
    rate: float,
    seed: int,
    *,
    pred_probs: np.ndarray | None = None,
    transition: np.ndarray | None = None,
) -> NoiseResult:
    """Corrupt ``labels`` (codes, -1 = missing). ``pred_probs``: out-of-fold probabilities of the clean labels."""
    kind = NoiseKind(kind) if not isinstance(kind, NoiseKind) else kind
    if not 0.0 <= rate < 1.0:
        raise ConfigError(f"--rate must be in [0, 1) (got {rate})")
    if n_classes < 2:
        raise ConfigError("noise needs at least two classes")
    rng = np.random.default_rng(seed)
    y = np.asarray(labels, dtype=np.int64)
    labeled = y >= 0
    noisy = y.copy()
    t_used: np.ndarray | None = None
    if kind in (NoiseKind.asymmetric, NoiseKind.symmetric):
        if transition is None and kind is NoiseKind.symmetric:
            transition = np.full((n_classes, n_classes), rate / (n_classes - 1))
            np.fill_diagonal(transition, 1.0 - rate)
        elif transition is None:
            if pred_probs is None:
                raise ConfigError("asymmetric noise needs a model's pred_probs or a --transition matrix")
            transition = pair_transition(soft_confusion(y, pred_probs, n_classes), rate)
        t_used = _check_transition(transition, n_classes)
        for i in range(n_classes):
            rows = np.flatnonzero(y == i)
            counts = exact_counts(t_used[i], i, rows.size, rng)
            targets = np.repeat(np.arange(n_classes), counts)
            chosen = rng.permutation(rows)[: targets.size]
            noisy[chosen] = targets
    else:
        if pred_probs is None:
            raise ConfigError("instance-dependent noise needs a model's pred_probs")
        idx = np.flatnonzero(labeled)
        pp = np.asarray(pred_probs, dtype=np.float64)
        u = 1.0 - pp[idx, y[idx]]
        p = _scale_to_mean(u, rate)
        flip_idx = idx[rng.random(len(idx)) < p]
        other = pp[flip_idx].copy()
        other[np.arange(len(flip_idx)), y[flip_idx]] = -np.inf
        noisy[flip_idx] = other.argmax(axis=1)
    flipped = noisy != y
    return NoiseResult(noisy, flipped, kind, rate, seed, t_used)


def exact_counts(row: np.ndarray, own: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """How many of ``n`` rows of class ``own`` go to each other class: ``row * n`` by largest remainder.

    The total is ``round((1 - row[own]) * n)``; ties between equal remainders are broken at random, so a
    symmetric matrix spreads a class's few flips over uniformly chosen classes.
    """
    want = np.asarray(row, dtype=np.float64) * n
    want[own] = 0.0
    total = int(np.floor((1.0 - row[own]) * n + 0.5 + 1e-9))
    base = np.floor(want + 1e-9).astype(np.int64)
    short = total - int(base.sum())
    if short > 0:
        frac = want - base
        frac[own] = -np.inf
        order = np.lexsort((rng.random(frac.size), -frac))
        base[order[:short]] += 1
    return base


def _check_transition(t: np.ndarray, k: int) -> np.ndarray:
    t = np.asarray(t, dtype=np.float64)
    if t.shape != (k, k):
        raise ConfigError(f"the transition matrix must be {k} x {k} (one row and column per class); got {t.shape}")
    if (t < 0).any() or not np.allclose(t.sum(axis=1), 1.0, atol=1e-6):
        raise ConfigError("every row of the transition matrix must be probabilities summing to 1")
    return t
