"""Crowd audits on realistic simulated crowds: consensus accuracy, annotator-quality ranking, what to label next.

    python benchmarks/crowd.py                       # K=10 x 10 000 items and K=4 x 3 000 items, 3 seeds each
    python benchmarks/crowd.py --sizes 10:20000 --seeds 2
    python benchmarks/crowd.py --sizes 10:5000,4:3000 --seeds 6 --no-crowdkit   # more seeds, labelaudit only

Crowds from ``labelaudit.crowd.simulate.simulate_crowd``: 3 labels per item, long-tailed activity (log-normal,
median ~100 answers, a quarter with ~40 or fewer), 20 % hard items that pull even good annotators
towards chance and mostly towards one look-alike class, 3 % spammers and 1 % adversarial annotators.

Side by side on the same answers: majority vote, classic Dawid-Skene, labelaudit's consensus
(hierarchical Dawid-Skene, shrinkage chosen by held-out likelihood) and crowd-kit's DawidSkene,
OneCoinDawidSkene, GLAD and MACE (``pip install crowd-kit``: a benchmark requirement only; skipped
with a note when missing). Annotator quality: Spearman correlation with each annotator's true accuracy
(on the items they labelled) for the share of answers agreeing with the majority vote (the baseline),
its leave-one-out form, classic Dawid-Skene's expected accuracy and labelaudit's ``quality``.
What to label next: one more answer for 10 % of the items, chosen by labelaudit's expected gain, at
random, or by the lowest agreement; consensus accuracy after re-auditing.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

warnings.filterwarnings("ignore")


def encode(sim):
    a = sim.annotations
    items, item_idx = np.unique(a["item"].to_numpy(dtype=str), return_inverse=True)
    anns, ann_idx = np.unique(a["annotator"].to_numpy(dtype=str), return_inverse=True)
    labels = a["label"].str[1:].astype(int).to_numpy()
    truth = sim.truth.loc[items].str[1:].astype(int).to_numpy()
    return items, anns, item_idx, ann_idx, labels, truth


def labelaudit_consensus(item_idx, ann_idx, labels, n, m, k, seed=0):
    from labelaudit.crowd.consensus import choose_strength, dawid_skene, one_coin
    from labelaudit.crowd.scan import _subsample

    strength, _ = choose_strength(*_subsample(item_idx, ann_idx, labels, n, seed), m, k, seed=seed)
    ds = dawid_skene(item_idx, ann_idx, labels, n, m, k, strength=strength, tol=1e-5)
    one_coin_posterior, q = one_coin(item_idx, ann_idx, labels, n, m, k, ds.posterior)
    return ds, q, strength, one_coin_posterior


def crowdkit_methods(sim, items, k):
    try:
        from crowdkit.aggregation import GLAD, MACE, DawidSkene, OneCoinDawidSkene
    except ImportError as err:
        print(f"crowd-kit not installed ({err}): pip install crowd-kit to compare", file=sys.stderr)
        return {}
    df = sim.annotations.rename(columns={"item": "task", "annotator": "worker"})
    index = {f"c{j}": j for j in range(k)}
    out = {}
    for name, make in (
        ("crowd-kit DawidSkene", lambda: DawidSkene(n_iter=100)),
        ("crowd-kit OneCoinDawidSkene", lambda: OneCoinDawidSkene(n_iter=100)),
        ("crowd-kit GLAD", lambda: GLAD(n_iter=100)),
        ("crowd-kit MACE", lambda: MACE(n_iter=100, random_state=0)),
    ):
        t0 = time.perf_counter()
        try:
            pred = make().fit_predict(df)
        except Exception as err:  # noqa: BLE001 - a third-party method failing is reported, not fatal
            print(f"{name} failed: {err}", file=sys.stderr)
            continue
        out[name] = (pred.reindex(items).map(index).fillna(-1).to_numpy(dtype=int), time.perf_counter() - t0)
    return out


def one_crowd(k: int, n_items: int, seed: int, budget_share: float, crowdkit: bool = True):
    from labelaudit.crowd.active import expected_gain, pooled_confusion
    from labelaudit.crowd.consensus import annotator_quality, dawid_skene, majority_vote, vote_counts
    from labelaudit.crowd.simulate import simulate_crowd

    sim = simulate_crowd(n_items, k, 3, seed=seed)
    items, anns, item_idx, ann_idx, labels, truth = encode(sim)
    n, m = len(items), len(anns)
    acc = sim.annotator_accuracy.loc[anns].to_numpy()
    row = {"K": k, "items": n, "annotators": m, "seed": seed}
    mv, _ = majority_vote(item_idx, labels, n, k, seed=seed)
    row["consensus: majority vote"] = (mv == truth).mean()
    t0 = time.perf_counter()
    classic = dawid_skene(item_idx, ann_idx, labels, n, m, k, tol=1e-5)
    row["consensus: Dawid-Skene (classic)"] = (classic.labels == truth).mean()
    t0 = time.perf_counter()
    ds, q, strength, one_coin_posterior = labelaudit_consensus(item_idx, ann_idx, labels, n, m, k, seed)
    row["seconds: labelaudit"] = time.perf_counter() - t0
    row["consensus: labelaudit"] = (ds.labels == truth).mean()
    row["consensus: labelaudit's one-coin (quality model)"] = (one_coin_posterior.argmax(1) == truth).mean()
    row["shrinkage strength"] = strength
    for name, (pred, secs) in (crowdkit_methods(sim, items, k) if crowdkit else {}).items():
        row[f"consensus: {name}"] = (pred == truth).mean()
        row[f"seconds: {name}"] = secs
    agree = pd.Series(labels == mv[item_idx]).groupby(ann_idx).mean().to_numpy()
    counts = vote_counts(item_idx, labels, n, k)
    loo = counts[item_idx] - np.eye(k)[labels]
    loo_agree = pd.Series((loo.argmax(1) == labels) & (loo.max(1) > 0)).groupby(ann_idx).mean().to_numpy()
    row["quality: agreement with majority vote"] = spearmanr(agree, acc).statistic
    row["quality: leave-one-out agreement"] = spearmanr(loo_agree, acc).statistic
    row["quality: Dawid-Skene expected accuracy"] = spearmanr(classic.annotator_accuracy(), acc).statistic
    row["quality: labelaudit (one-coin)"] = spearmanr(q.mean, acc).statistic
    dsq = annotator_quality(ann_idx, ds.posterior[item_idx, labels], m)
    row["quality: Dawid-Skene credit, shrunk (before)"] = spearmanr(dsq.mean, acc).statistic
    # what the credit costs and what the shrinkage costs: the same shrinkage on the answers' true correctness
    # (an upper bound no method reaches), and the one-coin credit's plain mean (no shrinkage)
    true_credit = annotator_quality(ann_idx, (labels == truth[item_idx]).astype(float), m)
    row["quality: true correctness, shrunk (upper bound)"] = spearmanr(true_credit.mean, acc).statistic
    raw = np.bincount(ann_idx, weights=one_coin_posterior[item_idx, labels], minlength=m) / np.bincount(ann_idx)
    row["quality: labelaudit's credit, unshrunk"] = spearmanr(raw, acc).statistic
    row["quality interval coverage"] = float(np.mean((q.low <= acc) & (acc <= q.high)))
    # the ceiling given the answers: the simulation's own model (every annotator's skill and kind, the
    # confusable classes, the difficulty law), which no method is given; its consensus is Bayes-optimal
    # and its mean posterior correctness per annotator the best estimate of their accuracy
    own = sim.model_posterior()[np.array([int(i[1:]) for i in items])]
    row["consensus: the simulation's own model (ceiling)"] = (own.argmax(1) == truth).mean()
    own_credit = np.bincount(ann_idx, weights=own[item_idx, labels], minlength=m) / np.bincount(ann_idx)
    row["quality: the simulation's own model (ceiling)"] = spearmanr(own_credit, acc).statistic
    # what to label next: one more answer for budget_share of the items
    budget = int(round(budget_share * n))
    rng = np.random.default_rng(seed)
    agreement = np.bincount(item_idx, weights=(labels == ds.labels[item_idx]), minlength=n) / 3
    choices = {
        "expected gain": np.argsort(-expected_gain(ds.posterior, pooled_confusion(item_idx, labels, ds.labels, k)))[
            :budget
        ],
        "random": rng.choice(n, budget, replace=False),
        "lowest agreement": np.lexsort((rng.random(n), agreement))[:budget],
    }
    for name, chosen in choices.items():
        more = sim.more_answers(list(items[chosen]), seed=seed + 1)
        i2, a2_names, ii2, aa2, l2, t2 = encode(more)
        ds2, _, _, _ = labelaudit_consensus(ii2, aa2, l2, len(i2), len(a2_names), k, seed)
        row[f"next labels ({budget}): {name}"] = (ds2.labels == t2).mean()
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10:10000,4:3000", help="K:items pairs")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds are first-seed, first-seed + 1, ...")
    ap.add_argument("--budget", type=float, default=0.1, help="share of items that get one more answer")
    ap.add_argument("--no-crowdkit", action="store_true", help="skip crowd-kit's methods (minutes per crowd)")
    args = ap.parse_args()
    rows = []
    for spec in args.sizes.split(","):
        k, n = map(int, spec.split(":"))
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            rows.append(one_crowd(k, n, seed, args.budget, crowdkit=not args.no_crowdkit))
            print(f"K={k} items={n} seed={seed} done", file=sys.stderr, flush=True)
    df = pd.DataFrame(rows)
    summary = df.groupby(["K", "items"]).mean(numeric_only=True).drop(columns=["seed"]).T
    print(summary.round(4).to_string())


if __name__ == "__main__":
    main()
