"""Test-set scores with bootstrap 95 % intervals: accuracy, macro-F1 and log loss.

All strategies of one comparison are scored on the *same* bootstrap resamples (one seeded
multinomial weight matrix), so differences between strategies get paired intervals too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

METRICS = ("accuracy", "macro_f1", "log_loss")
#: lower is better for these
LOWER_IS_BETTER = {"log_loss"}
EPS = 1e-15


@dataclass
class Resamples:
    """Bootstrap weights: ``weights[b, i]`` = how often row ``i`` is drawn in resample ``b``."""

    weights: np.ndarray

    @classmethod
    def draw(cls, n_rows: int, n_boot: int, seed: int) -> Resamples:
        rng = np.random.default_rng(seed)
        if n_boot <= 0:
            return cls(np.zeros((0, n_rows), dtype=np.float32))
        w = rng.multinomial(n_rows, np.full(n_rows, 1.0 / n_rows), size=n_boot).astype(np.float32)
        return cls(w)


def _row_stats(y: np.ndarray, proba: np.ndarray, k: int):
    pred = proba.argmax(axis=1)
    correct = (pred == y).astype(np.float32)
    p_true = np.clip(proba[np.arange(len(y)), y], EPS, 1.0)
    nll = -np.log(p_true).astype(np.float64)
    # one-hot of (true, predicted) pairs, for weighted confusion matrices
    pairs = sparse.csr_matrix((np.ones(len(y), np.float32), (np.arange(len(y)), y * k + pred)), shape=(len(y), k * k))
    return correct, nll, pairs


def _macro_f1(conf: np.ndarray, k: int) -> np.ndarray:
    """Macro-F1 of confusion counts ``conf`` (... x k*k), over classes seen in truth or predictions."""
    c = conf.reshape(*conf.shape[:-1], k, k)
    tp = np.diagonal(c, axis1=-2, axis2=-1)
    fp = c.sum(axis=-2) - tp
    fn = c.sum(axis=-1) - tp
    denom = 2 * tp + fp + fn
    present = denom > 0
    f1 = np.where(present, 2 * tp / np.where(present, denom, 1), 0.0)
    return f1.sum(axis=-1) / np.maximum(present.sum(axis=-1), 1)


def score(y: np.ndarray, proba: np.ndarray, resamples: Resamples) -> dict[str, np.ndarray | float]:
    """Point scores and the per-resample values (for intervals and paired differences)."""
    k = proba.shape[1]
    y = np.asarray(y, dtype=np.int64)
    correct, nll, pairs = _row_stats(y, np.asarray(proba, dtype=np.float64), k)
    n = len(y)
    conf = np.asarray(pairs.sum(axis=0)).ravel()
    out: dict[str, np.ndarray | float] = {
        "accuracy": float(correct.mean()),
        "macro_f1": float(_macro_f1(conf, k)),
        "log_loss": float(nll.mean()),
    }
    W = resamples.weights
    if len(W):
        out["boot:accuracy"] = W @ correct / n
        out["boot:log_loss"] = W @ nll / n
        out["boot:macro_f1"] = _macro_f1(np.asarray(pairs.T.dot(W.T).T), k)
    return out


def interval(values: np.ndarray) -> list[float]:
    lo, hi = np.percentile(values, [2.5, 97.5])
    return [round(float(lo), 4), round(float(hi), 4)]


def summarise(scores: dict[str, np.ndarray | float], baseline: dict[str, np.ndarray | float] | None) -> dict:
    """JSON-ready metrics: value, 95 % interval and (with a baseline) the paired difference and its interval."""
    out = {}
    for m in METRICS:
        entry: dict[str, object] = {"value": round(float(scores[m]), 4)}
        boot = scores.get(f"boot:{m}")
        if isinstance(boot, np.ndarray) and len(boot):
            entry["ci95"] = interval(boot)
            if baseline is not None:
                diff = boot - baseline[f"boot:{m}"]  # type: ignore[operator]
                entry["diff_vs_baseline"] = round(float(scores[m]) - float(baseline[m]), 4)  # type: ignore[arg-type]
                entry["diff_ci95"] = interval(diff)
        out[m] = entry
    return out
