"""What to label next: the rows (or crowd items) where one more look is worth most.

* Crowd audits: for each item, the expected gain in the consensus's probability of being right from
  one more answer by a typical annotator of this crowd (its pooled confusion P(answer | true class)):
  ``E_answer[max_k P(k | answers + answer)] - max_k P(k | answers)``. An item whose consensus one more
  answer would likely change or firm up scores high; a settled item scores near zero.
* Single-label audits: the label-quality ranking (the rows most likely mislabelled first).
"""

from __future__ import annotations

import numpy as np


def expected_gain(posterior: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """Per item: expected increase of max posterior after one more answer drawn through ``confusion``."""
    post = np.asarray(posterior, dtype=np.float64)
    conf = np.asarray(confusion, dtype=np.float64)
    p_answer = post @ conf  # (items x K): probability of each answer
    gain = np.zeros(len(post))
    for label in range(conf.shape[1]):
        joint = post * conf[None, :, label]  # unnormalised posterior after that answer
        gain += joint.max(axis=1)  # = P(answer) * max posterior after it
    return gain - post.max(axis=1) * p_answer.sum(axis=1)


def pooled_confusion(item: np.ndarray, label: np.ndarray, consensus: np.ndarray, k: int) -> np.ndarray:
    """P(answer | consensus class) over every answer, lightly smoothed: the crowd's typical annotator."""
    conf = np.full((k, k), 0.5)
    np.add.at(conf, (consensus[item], label), 1.0)
    return conf / conf.sum(axis=1, keepdims=True)


def review_order(audit, budget: int) -> list[int]:
    """The ``budget`` rows worth a look first (see the module docstring)."""
    iss = audit.issues
    if audit.manifest.get("kind") == "crowd" and audit.manifest.get("model", {}).get("pooled_confusion"):
        gain = expected_gain(audit.pred_probs, np.asarray(audit.manifest["model"]["pooled_confusion"]))
        order = np.lexsort((np.arange(len(gain)), -gain))
        return [int(r) for r in order[:budget]]
    ranked = iss[iss["rank"].notna()].sort_values("rank")
    return [int(r) for r in ranked["row"].head(budget)]
