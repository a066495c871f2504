"""A crowd that behaves like a real one, for measuring consensus and annotator quality before trusting them.

What real crowds look like and simple simulations do not (see the README's crowd section):

* **Long-tailed activity**: answers per annotator log-normal (median about 80-100, a quarter with 40 or
  fewer, a few with a thousand and more); each item goes to ``labels_per_item`` different annotators
  drawn by activity.
* **Item difficulty**: most items are easy; a hard item pulls even a good annotator towards chance, and
  mistakes go mostly to one confusable class (a "cat" that looks like a "dog").
* **A few spammers** (uniform answers, or always the same class) and **a few adversarial annotators**
  (the confusable class on purpose).

Every answer's truth is known, so an annotator's true accuracy (on the items they actually labelled)
and the consensus accuracy of any method can be scored; :meth:`SimulatedCrowd.more_answers` asks the
same crowd for more answers (to measure which items are worth another label).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class SimulatedCrowd:
    annotations: pd.DataFrame
    """One row per answer: ``item``, ``annotator``, ``label`` (class names ``c0``..)."""
    truth: pd.Series
    """True class name per item (index: item id)."""
    annotator_kind: pd.Series
    """``normal``, ``spammer`` or ``adversarial`` per annotator (index: annotator id)."""
    _params: dict = field(repr=False, default_factory=dict)

    @property
    def annotator_accuracy(self) -> pd.Series:
        """Each annotator's accuracy on the items they labelled (index: annotator id)."""
        a = self.annotations
        hit = (a["label"].to_numpy() == self.truth.loc[a["item"]].to_numpy()).astype(float)
        return pd.Series(hit).groupby(a["annotator"].to_numpy()).mean()

    def model_posterior(self, grid: int = 20) -> np.ndarray:
        """items x K: each item's true class given its answers under the simulation's *own* model.

        The Bayes-optimal consensus for this crowd, computed with what no method is given: every
        annotator's skill and kind, each class's confusable class and the difficulty law (integrated on
        ``grid`` points per component). Rows in the order of ``truth``'s index, columns c0..c{K-1}. The
        mean of an annotator's answers' posterior correctness under it is the best estimate of their
        accuracy: a ceiling on what any annotator-quality ranking can reach on this crowd.
        """
        p = self._params
        a = self.annotations
        item = np.array([int(x[1:]) for x in a["item"]], dtype=np.int64)
        ann = np.array([int(x[1:]) for x in a["annotator"]], dtype=np.int64)
        label = np.array([int(x[1:]) for x in a["label"]], dtype=np.int64)
        mid = lambda lo, hi: lo + (np.arange(grid) + 0.5) * (hi - lo) / grid  # noqa: E731
        d = np.concatenate([mid(*EASY), mid(*HARD)])
        w = np.concatenate([np.full(grid, (1 - p["hard_share"]) / grid), np.full(grid, p["hard_share"] / grid)])
        n, k = len(p["true"]), p["k"]
        log_lik = np.zeros((n, k, len(d)))
        for t in range(k):
            np.add.at(log_lik[:, t], item, np.log(np.clip(_answer_likelihood(label, ann, t, d, p), 1e-300, None)))
        log_lik -= log_lik.max(axis=(1, 2), keepdims=True)
        post = (np.exp(log_lik) * w).sum(axis=2)  # classes are equally likely a priori
        return post / post.sum(axis=1, keepdims=True)

    def more_answers(self, items: list[str], seed: int = 0) -> SimulatedCrowd:
        """The same crowd with one more answer for each of ``items`` (from an annotator new to the item)."""
        p = self._params
        rng = np.random.default_rng(seed)
        idx = np.array([int(i[1:]) for i in items], dtype=np.int64)
        seen = self.annotations.groupby("item")["annotator"].agg(set)
        who = []
        for name in items:
            taken = {int(w[1:]) for w in seen.get(name, set())}
            weights = p["activity"].copy()
            weights[list(taken)] = 0.0
            who.append(int(rng.choice(len(weights), p=weights / weights.sum())))
        labels = _answers(idx, np.array(who), p, rng)
        extra = pd.DataFrame({"item": items, "annotator": [f"w{a}" for a in who], "label": p["names"][labels]})
        return SimulatedCrowd(
            pd.concat([self.annotations, extra], ignore_index=True), self.truth, self.annotator_kind, p
        )


#: an item's difficulty: uniform on EASY, or on HARD for a ``hard_share`` of the items
EASY, HARD = (0.0, 0.1), (0.3, 0.8)
#: share of a mistake that goes to the item's confusable class (the rest: any other class)
TO_CONFUSABLE = 0.7
#: share of an adversary's answers that are the confusable class on purpose (the rest: the truth)
ADVERSARY_CONFUSABLE = 0.8


def _answers(item: np.ndarray, ann: np.ndarray, p: dict, rng: np.random.Generator) -> np.ndarray:
    k = p["k"]
    t = p["true"][item]
    c = p["confusable"][item]
    d = p["difficulty"][item]
    correct_p = p["skill"][ann] * (1 - d) + (1 / k) * d  # a hard item pulls even a good annotator towards chance
    other = (t + rng.integers(1, k, len(item))) % k
    towards = np.where(rng.random(len(item)) < TO_CONFUSABLE, c, other)  # mistakes mostly go to the confusable class
    label = np.where(rng.random(len(item)) < correct_p, t, towards)
    kind = p["kind"][ann]
    spam = kind == "spammer"
    label = np.where(spam & p["lazy"][ann], p["always"][ann], label)
    label = np.where(spam & ~p["lazy"][ann], rng.integers(0, k, len(item)), label)
    return np.where(kind == "adversarial", np.where(rng.random(len(item)) < ADVERSARY_CONFUSABLE, c, t), label)


def _answer_likelihood(label: np.ndarray, ann: np.ndarray, t: int, d: np.ndarray, p: dict) -> np.ndarray:
    """answers x len(d): P(each answer | true class t, difficulty d, who gave it), as :func:`_answers` draws it."""
    k = p["k"]
    c = p["neighbour"][t]
    correct_p = p["skill"][ann][:, None] * (1 - d[None]) + d[None] / k
    wrong = TO_CONFUSABLE * (label == c) + (1 - TO_CONFUSABLE) / (k - 1)
    lik = np.where((label == t)[:, None], correct_p, (1 - correct_p) * wrong[:, None])
    kind = p["kind"][ann]
    adversary = ADVERSARY_CONFUSABLE * (label == c) + (1 - ADVERSARY_CONFUSABLE) * (label == t)
    lik = np.where((kind == "adversarial")[:, None], adversary[:, None], lik)
    return np.where((kind == "spammer")[:, None], 1.0, lik)  # a spammer's answer does not depend on the truth


def simulate_crowd(
    n_items: int = 3000,
    n_classes: int = 4,
    labels_per_item: int = 3,
    *,
    n_annotators: int | None = None,
    spammers: float = 0.03,
    adversarial: float = 0.01,
    hard_share: float = 0.2,
    seed: int = 0,
) -> SimulatedCrowd:
    """A long-tailed crowd with item difficulty, spammers and adversaries (see the module docstring)."""
    rng = np.random.default_rng(seed)
    k = n_classes
    m = n_annotators or max(20, int(round(n_items * labels_per_item / 165)))
    activity = rng.lognormal(mean=0.0, sigma=1.2, size=m)
    kind = np.full(m, "normal", dtype=object)
    roles = rng.permutation(m)
    n_spam, n_adv = int(round(spammers * m)), int(round(adversarial * m))
    kind[roles[:n_spam]] = "spammer"
    kind[roles[n_spam : n_spam + n_adv]] = "adversarial"
    neighbour = (np.arange(k) + 1 + rng.integers(0, max(k - 1, 1), k)) % k  # each class's look-alike, never itself
    true = rng.integers(0, k, n_items)
    hard = rng.random(n_items) < hard_share
    params = {
        "k": k,
        "names": np.array([f"c{j}" for j in range(k)]),
        "activity": activity,
        "kind": kind,
        "skill": np.clip(rng.beta(12, 2, size=m), 0.5, 0.99),  # accuracy on an easy item (mean 0.86)
        "always": rng.integers(0, k, m),  # the class a lazy spammer always gives
        "lazy": rng.random(m) < 0.5,
        "true": true,
        "confusable": neighbour[true],
        "difficulty": np.where(hard, rng.uniform(*HARD, n_items), rng.uniform(*EASY, n_items)),
        "neighbour": neighbour,
        "hard_share": hard_share,
    }
    p = activity / activity.sum()
    item = np.repeat(np.arange(n_items), min(labels_per_item, m))
    ann = np.concatenate([rng.choice(m, size=min(labels_per_item, m), replace=False, p=p) for _ in range(n_items)])
    label = _answers(item, ann, params, rng)
    names = params["names"]
    frame = pd.DataFrame({"item": [f"i{x}" for x in item], "annotator": [f"w{a}" for a in ann], "label": names[label]})
    used = sorted(set(ann.tolist()))
    return SimulatedCrowd(
        frame,
        pd.Series(names[true], index=[f"i{x}" for x in range(n_items)]),
        pd.Series(kind[used], index=[f"w{a}" for a in used]),
        params,
    )
