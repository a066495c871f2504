"""How well can *any* method rank annotators on the realistic simulated crowd? Ceilings for issue 16's target.

    python benchmarks/crowd_ceiling.py                        # K=4 x 3 000 items, seeds 0-13
    python benchmarks/crowd_ceiling.py --sizes 10:5000 --seeds 14

The target is Spearman(quality, each annotator's true accuracy on the items they labelled) >= the
agreement-with-majority-vote baseline + 0.10, with a ``quality`` that shrinks (an annotator with 5 perfect
answers is not ranked above one with 500 at 95 %). This script asks what is reachable, by giving a
Bayesian model pieces of the simulation's truth that no method has and sampling the rest.

The model: a one-coin annotator model (each annotator's answer is right with their skill, else a wrong
class drawn from a K x K structure W), a Beta prior on skill fitted across annotators (method of moments,
as ``crowd.consensus._population_prior``), sampled by Gibbs (the true class of every item, then every
skill from its conjugate Beta, then W from its Dirichlet when W is not given), started from labelaudit's
consensus. Two read-outs per run, averaged over the kept sweeps:

* **realized**: the mean over an annotator's answers of P(answer right | all answers), the Bayes
  estimate of the very accuracy the target ranks by. It does not shrink: 5 answers that agree with
  everyone score near 1.
* **shrunk**: the posterior mean of the annotator's skill, the Bayes estimate of how good they are
  (what "a quality that shrinks" is).

What the model is given, per row: W (the simulation's true look-alike structure, or sampled), and the
annotators' kinds (spammers' answers ignored and adversaries' answers modelled as the simulation draws
them; or none given, with labelaudit's rule silencing annotators confidently no better than always the
commonest class). Beside them: the baseline, labelaudit's ``quality`` and its credit unshrunk, and the
simulation's own model (true skills and kinds too: not reachable). Item difficulty is left out (the
simulation's own model with and without it ranks 0.927 / 0.926).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd
from crowd import encode, labelaudit_consensus
from scipy.stats import beta as beta_dist
from scipy.stats import spearmanr

CONFIGS = (  # (W, kinds)
    ("true", "known"),
    ("sampled", "known"),
    ("true", "rule"),
    ("sampled", "rule"),
)


def gibbs(item, ann, label, n, m, k, start, kinds, w_true, sweeps, rng):
    """(realized credit per answer, posterior mean skill per annotator) under the one-coin + W model."""
    from labelaudit.crowd.consensus import _population_prior, _posterior
    from labelaudit.crowd.simulate import ADVERSARY_CONFUSABLE

    answers = np.arange(len(label))
    c, count, mu, strength = _population_prior(ann, start[item, label], m)
    a0, b0 = strength * mu, strength * (1 - mu)
    skill = (c + a0) / (count + a0 + b0)
    if w_true is not None:
        w = w_true
    else:
        w = np.stack([np.bincount(label, weights=start[item, j], minlength=k) for j in range(k)]) + 0.01
        np.fill_diagonal(w, 0.0)
        w /= w.sum(axis=1, keepdims=True)
    if isinstance(kinds, tuple):  # given: (spammer mask, adversary mask, each class's look-alike)
        silenced, adversary, neighbour = kinds
    else:  # labelaudit's rule: confidently no better than always the commonest class
        silenced = beta_dist.ppf(0.95, 1 + c, 1 + count - c) < start.mean(axis=0).max()
        adversary, neighbour = np.zeros(m, bool), None
    priors = np.full(k, 1.0 / k)
    credit, skill_sum, kept = np.zeros(len(label)), np.zeros(m), 0
    for sweep in range(sweeps):
        s = skill[ann]
        lik = (1 - s)[:, None] * w[:, label].T
        lik[answers, label] = s
        if adversary.any():
            adv = adversary[ann]
            classes = np.arange(k)[None]
            lik[adv] = (1 - ADVERSARY_CONFUSABLE) * (label[adv, None] == classes) + ADVERSARY_CONFUSABLE * (
                neighbour[classes] == label[adv, None]
            )
        lik[silenced[ann]] = 1.0
        post = _posterior(item, n, priors, np.clip(lik, 1e-300, None))
        if sweep >= sweeps // 5:
            credit += post[item, label]
            skill_sum += skill
            kept += 1
        truth = np.minimum((post.cumsum(axis=1) < rng.random(n)[:, None]).sum(axis=1), k - 1)
        right = (label == truth[item]).astype(float)
        _, _, mu, strength = _population_prior(ann, right, m)
        hits = np.bincount(ann, weights=right, minlength=m)
        skill = rng.beta(strength * mu + hits, strength * (1 - mu) + count - hits)
        if w_true is None:
            wrong = np.zeros((k, k))
            np.add.at(wrong, (truth[item], label), (1 - right) * ~silenced[ann])
            w = np.stack([rng.dirichlet(np.where(np.arange(k) == j, 1e-9, 1 + wrong[j])) for j in range(k)])
            np.fill_diagonal(w, 0.0)
    return credit / kept, skill_sum / kept


def one_crowd(k: int, n_items: int, seed: int, sweeps: int, chain: int = 0) -> dict:
    from labelaudit.crowd.consensus import majority_vote
    from labelaudit.crowd.simulate import TO_CONFUSABLE, simulate_crowd

    sim = simulate_crowd(n_items, k, 3, seed=seed)
    items, anns, item_idx, ann_idx, labels, _ = encode(sim)
    n, m = len(items), len(anns)
    acc = sim.annotator_accuracy.loc[anns].to_numpy()
    answers = np.bincount(ann_idx, minlength=m)
    rho = lambda est: spearmanr(est, acc).statistic  # noqa: E731
    row = {"K": k, "items": n, "seed": seed}
    mv, _ = majority_vote(item_idx, labels, n, k, seed=seed)
    row["agreement with majority vote (baseline)"] = rho(pd.Series(labels == mv[item_idx]).groupby(ann_idx).mean())
    _, quality, _, start = labelaudit_consensus(item_idx, ann_idx, labels, n, m, k, seed)
    row["labelaudit quality (shrunk)"] = rho(quality.mean)
    row["labelaudit credit, unshrunk (realized)"] = rho(np.bincount(ann_idx, start[item_idx, labels], m) / answers)
    p = sim._params
    ids = np.array([int(a[1:]) for a in anns])
    kind = p["kind"][ids]
    w_true = np.full((k, k), (1 - TO_CONFUSABLE) / (k - 1))
    w_true[np.arange(k), p["neighbour"]] += TO_CONFUSABLE
    np.fill_diagonal(w_true, 0.0)
    given = (kind == "spammer", kind == "adversarial", p["neighbour"])
    for w_name, kinds_name in CONFIGS:
        rng = np.random.default_rng([chain, seed])
        credit, skill = gibbs(
            item_idx,
            ann_idx,
            labels,
            n,
            m,
            k,
            start,
            given if kinds_name == "known" else "rule",
            w_true if w_name == "true" else None,
            sweeps,
            rng,
        )
        tag = f"W {w_name}, kinds {'given' if kinds_name == 'known' else 'by rule'}"
        row[f"Gibbs, {tag}: realized"] = rho(np.bincount(ann_idx, credit, m) / answers)
        row[f"Gibbs, {tag}: shrunk"] = rho(skill)
    own = sim.model_posterior()[np.array([int(i[1:]) for i in items])]
    row["the simulation's own model (true skills too)"] = rho(np.bincount(ann_idx, own[item_idx, labels], m) / answers)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="4:3000", help="K:items pairs")
    ap.add_argument("--seeds", type=int, default=14)
    ap.add_argument("--sweeps", type=int, default=1500, help="Gibbs sweeps (the first fifth are burn-in)")
    ap.add_argument("--chain", type=int, default=0, help="the samplers' random stream (to see their own noise)")
    args = ap.parse_args()
    rows = []
    for spec in args.sizes.split(","):
        k, n = map(int, spec.split(":"))
        for seed in range(args.seeds):
            rows.append(one_crowd(k, n, seed, args.sweeps, args.chain))
            print(f"K={k} items={n} seed={seed} done", file=sys.stderr, flush=True)
    df = pd.DataFrame(rows)
    mean = df.groupby(["K", "items"]).mean(numeric_only=True).drop(columns=["seed"])
    base = mean["agreement with majority vote (baseline)"]
    out = pd.DataFrame(index=mean.columns)
    for (k, n), values in mean.iterrows():
        out[f"K={k} items={n}"] = values
        out[f"K={k}: - baseline"] = values - base.loc[(k, n)]
    print(out.round(4).to_string())


if __name__ == "__main__":
    main()
