"""Consensus accuracy and time on simulated crowds: majority vote vs Dawid-Skene vs CROWDLAB.

    python benchmarks/crowd.py

Crowds: items with K=4 classes, each labelled by 3-5 random annotators; annotators' accuracy is
uniform in [0.5, 0.95], 10 % are spammers (uniform random answers), mistakes go to a class-dependent
look-alike (i -> i+1) 70 % of the time. CROWDLAB gets item features (4 informative dimensions,
moderately separable) and out-of-fold probabilities computed as scan does.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def crowd(n_items, n_ann, seed):
    rng = np.random.default_rng(seed)
    k = 4
    truth = rng.integers(0, k, n_items)
    skill = rng.uniform(0.5, 0.95, n_ann)
    spam = rng.random(n_ann) < 0.1
    per = rng.integers(3, 6, n_items)
    item = np.repeat(np.arange(n_items), per)
    ann = np.concatenate([rng.choice(n_ann, p, replace=False) for p in per])
    t = truth[item]
    correct = rng.random(len(item)) < skill[ann]
    lookalike = np.where(rng.random(len(item)) < 0.7, (t + 1) % k, rng.integers(0, k, len(item)))
    label = np.where(correct, t, lookalike)
    label = np.where(spam[ann], rng.integers(0, k, len(item)), label)
    feats = rng.normal(size=(n_items, 4)) + np.eye(4)[truth] * 1.5
    return item, ann, label, truth, feats, k


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000:100,30000:300,100000:1000")
    ap.add_argument(
        "--crowdlab-max",
        type=int,
        default=30000,
        help="CROWDLAB's dense items x annotators matrix grows fast; skip it above this many items",
    )
    args = ap.parse_args()
    from labelaudit.consensus import dawid_skene, majority_vote
    from labelaudit.crowd import _crowdlab
    from labelaudit.dataset import Dataset, FeatureSet
    from labelaudit.models import ModelName
    from labelaudit.oof import out_of_fold
    from labelaudit.progress import Reporter

    rows = []
    for spec in args.sizes.split(","):
        n_items, n_ann = map(int, spec.split(":"))
        item, ann, label, truth, feats, k = crowd(n_items, n_ann, 0)
        t0 = time.perf_counter()
        mv, _ = majority_vote(item, label, n_items, k)
        t_mv = time.perf_counter() - t0
        t0 = time.perf_counter()
        ds = dawid_skene(item, ann, label, n_items, n_ann, k, tol=1e-5)
        t_ds = time.perf_counter() - t0
        row = {
            "items": n_items,
            "annotators": n_ann,
            "annotations": len(item),
            "majority_vote": {"accuracy": round(float((mv == truth).mean()), 4), "seconds": round(t_mv, 3)},
            "dawid_skene": {
                "accuracy": round(float((ds.labels == truth).mean()), 4),
                "seconds": round(t_ds, 3),
                "iterations": ds.iterations,
            },
        }
        if n_items <= args.crowdlab_max:
            t0 = time.perf_counter()
            fs = FeatureSet(
                X=feats.astype(np.float32),
                names=list("abcd"),
                categorical=np.zeros(4, bool),
                null_fraction=np.zeros(n_items, np.float32),
                source_columns=list("abcd"),
            )
            d = Dataset(
                n_rows=n_items, labels=mv.astype(np.int64), class_names=list(range(k)), features=fs, kind="tabular"
            )
            pp = out_of_fold(d, ModelName.logreg, folds=5, seed=0, jobs=None, reporter=Reporter(None)).pred_probs
            cons, _, _ = _crowdlab(item, ann, label, n_items, n_ann, pp.astype(float))
            row["crowdlab"] = {
                "accuracy": round(float((cons == truth).mean()), 4),
                "seconds": round(time.perf_counter() - t0, 3),
            }
        print(json.dumps(row), flush=True)
        rows.append(row)


if __name__ == "__main__":
    main()
