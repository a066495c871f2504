"""``retrain``: train with noise-robust strategies and compare them honestly on clean labels.

Every strategy trains the same learner on the same rows (same seed, same split); only the strategy
changes: which rows and labels it trains on (all, or cleaned as ``filter`` would clean them) and how
it learns (loss, label smoothing, MixUp, co-teaching). Scores come from a clean test set, or — with
a loud warning — from a held-out split of rows the audit did not flag. ``rounds`` re-audits the data
with the chosen strategy's out-of-fold probabilities until the flagged set stops changing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from labelaudit.audit import Audit
from labelaudit.clean.plan import plan_actions
from labelaudit.errors import ConfigError
from labelaudit.extras import TORCH_HINT, require_torch, torch_available
from labelaudit.progress import ProgressCallback, Reporter
from labelaudit.retrain.data import TrainTest, encode_classes, load_train_test
from labelaudit.retrain.evaluate import Resamples, score, summarise

#: the comparison a plain ``labelaudit retrain AUDIT`` runs (``--strategy all`` adds smoothing and mixup)
DEFAULT_STRATEGIES = ("baseline", "cleaned", "gce", "sce", "coteaching", "recipe")
ALL_STRATEGIES = ("baseline", "cleaned", "gce", "sce", "smoothing", "mixup", "coteaching", "recipe")
SKLEARN_STRATEGIES = ("baseline", "cleaned")
#: the held-out share of unflagged rows scored when no clean test set is given
HOLDOUT_FRACTION = 0.2
#: rounds stop when at most this share of the rows flagged in either round changed (Jaccard >= 0.98):
#: retraining is stochastic, so a few borderline rows keep swapping at high noise rates
ROUNDS_STABLE_FRACTION = 0.02
NOISY_EVAL_WARNING = (
    "no clean test set (--test FILE): scores below come from a held-out split of the rows the audit did "
    "not flag; those labels are still noisy, so every score is biased. Score on a clean, human-checked test set"
)


@dataclass(frozen=True)
class Strategy:
    """One way to train: which rows (``all`` or ``cleaned``), which learner and its parameters."""

    name: str
    description: str
    rows: str = "all"
    learner: str = "robust"
    """``robust`` (torch RobustClassifier), ``coteaching`` (torch) or ``sklearn`` (the audit's model)."""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def needs_torch(self) -> bool:
        return self.learner in {"robust", "coteaching"}

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "rows": self.rows,
            "learner": self.learner,
            "params": self.params,
        }


def builtin_strategies(noise_rate: float, use_torch: bool) -> dict[str, Strategy]:
    """The named strategies. ``noise_rate`` (the audit's estimate) sets co-teaching's forget rate."""
    forget = float(np.clip(noise_rate, 0.05, 0.5))
    if not use_torch:
        return {
            "baseline": Strategy("baseline", "all rows, the audit's model", "all", "sklearn"),
            "cleaned": Strategy(
                "cleaned", "flagged rows removed (filter's default), the audit's model", "cleaned", "sklearn"
            ),
        }
    ce = {"loss": "ce"}
    return {
        "baseline": Strategy("baseline", "all rows, plain cross entropy", "all", "robust", ce),
        "cleaned": Strategy(
            "cleaned", "flagged rows removed (filter's default), cross entropy", "cleaned", "robust", ce
        ),
        "gce": Strategy("gce", "all rows, Generalized Cross Entropy q=0.7", "all", "robust", {"loss": "gce", "q": 0.7}),
        "sce": Strategy(
            "sce",
            "all rows, Symmetric Cross Entropy a=0.1 b=1",
            "all",
            "robust",
            {"loss": "sce", "alpha": 0.1, "beta": 1.0},
        ),
        "smoothing": Strategy(
            "smoothing",
            "all rows, cross entropy with label smoothing 0.1",
            "all",
            "robust",
            {"loss": "ce", "label_smoothing": 0.1},
        ),
        "mixup": Strategy(
            "mixup", "all rows, cross entropy with MixUp a=0.2", "all", "robust", {"loss": "ce", "mixup": 0.2}
        ),
        "coteaching": Strategy(
            "coteaching",
            f"all rows, co-teaching mlp + mlp2, forget rate {forget:.2f} (the audit's noise estimate)",
            "all",
            "coteaching",
            {"models": ["mlp", "mlp2"], "forget_rate": round(forget, 4)},
        ),
        "recipe": Strategy(
            "recipe",
            "flagged rows removed + GCE + label smoothing 0.1 (the field's default recipe)",
            "cleaned",
            "robust",
            {"loss": "gce", "q": 0.7, "label_smoothing": 0.1},
        ),
    }


def custom_strategy(
    *,
    loss: str | None = None,
    q: float = 0.7,
    alpha: float = 0.1,
    beta: float = 1.0,
    label_smoothing: float = 0.0,
    mixup: float = 0.0,
    coteach: str | None = None,
    coteach_views: str = "same",
    train_on: str = "all",
    noise_rate: float = 0.2,
) -> Strategy:
    """A strategy assembled from flags (``--loss gce --label-smoothing 0.1`` ...)."""
    if train_on not in {"all", "cleaned"}:
        raise ConfigError(f"--train-on must be all or cleaned (got '{train_on}')")
    loss = loss or "ce"
    _validate_custom(loss, q, alpha, beta, label_smoothing, mixup, coteach, coteach_views)
    parts = [f"{'cleaned' if train_on == 'cleaned' else 'all'} rows"]
    if coteach:
        models = [m.strip() for m in coteach.split(",") if m.strip()]
        if len(models) != 2:
            raise ConfigError(f"--coteach takes two models separated by a comma, e.g. mlp,mlp2 (got '{coteach}')")
        forget = float(np.clip(noise_rate, 0.05, 0.5))
        parts.append(f"co-teaching {models[0]} + {models[1]} ({coteach_views} features), forget rate {forget:.2f}")
        params: dict[str, Any] = {
            "models": models,
            "views": coteach_views,
            "forget_rate": round(forget, 4),
            "loss": loss,
        }
        if label_smoothing or mixup:
            raise ConfigError("--coteach trains with its own small-loss selection; drop --label-smoothing/--mixup")
        return Strategy("custom", ", ".join(parts + [f"loss {loss}"]), train_on, "coteaching", params)
    params = {"loss": loss}
    desc = {"ce": "cross entropy", "gce": f"GCE q={q}", "sce": f"SCE a={alpha} b={beta}"}.get(loss, loss)
    parts.append(desc)
    if loss == "gce":
        params["q"] = q
    if loss == "sce":
        params.update(alpha=alpha, beta=beta)
    if label_smoothing:
        params["label_smoothing"] = label_smoothing
        parts.append(f"label smoothing {label_smoothing}")
    if mixup:
        params["mixup"] = mixup
        parts.append(f"MixUp a={mixup}")
    return Strategy("custom", ", ".join(parts), train_on, "robust", params)


def _validate_custom(loss, q, alpha, beta, label_smoothing, mixup, coteach, views) -> None:
    """Every flag of a custom strategy checked before anything trains (and without needing torch)."""
    from labelaudit.robust.estimators import ARCHITECTURES

    if loss not in {"ce", "gce", "sce"}:
        raise ConfigError(f"--loss must be ce, gce or sce (got '{loss}')")
    if not 0.0 < q <= 1.0:
        raise ConfigError(f"--q (GCE) must be in (0, 1] (got {q})")
    if alpha < 0 or beta < 0 or alpha + beta == 0:
        raise ConfigError(f"--sce-alpha and --sce-beta must be >= 0 and not both 0 (got {alpha}, {beta})")
    if not 0.0 <= label_smoothing < 1.0:
        raise ConfigError(f"--label-smoothing must be in [0, 1) (got {label_smoothing})")
    if mixup < 0:
        raise ConfigError(f"--mixup must be 0 or more (got {mixup})")
    if views not in {"same", "split"}:
        raise ConfigError(f"--coteach-views must be same or split (got '{views}')")
    if coteach:
        models = [m.strip() for m in coteach.split(",") if m.strip()]
        if len(models) != 2:
            raise ConfigError(f"--coteach takes two models separated by a comma, e.g. mlp,mlp2 (got '{coteach}')")
        for m in models:
            if m not in ARCHITECTURES:
                raise ConfigError(f"--coteach models must be among {', '.join(ARCHITECTURES)} (got '{m}')")
        if models[0] == models[1] and views == "same":
            raise ConfigError(
                f"co-teaching needs two different models: two identical '{models[0]}' networks on the same "
                "features give no diversity; pick two architectures (e.g. mlp,mlp2) or --coteach-views split"
            )


@dataclass
class StrategyResult:
    strategy: Strategy
    train_rows: int
    seconds: float
    metrics: dict[str, Any]
    estimator: Any = field(repr=False, default=None)
    proba: np.ndarray | None = field(repr=False, default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.strategy.to_json(),
            "train_rows": self.train_rows,
            "seconds": round(self.seconds, 3),
            "metrics": self.metrics,
        }


@dataclass
class RetrainResult:
    """The comparison, the chosen strategy's fitted model and its test predictions, and re-audit rounds."""

    results: list[StrategyResult]
    chosen: str
    winner: str
    evaluation: dict[str, Any]
    rounds: list[dict[str, Any]]
    data: TrainTest = field(repr=False)
    eval_rows: np.ndarray = field(repr=False)
    y_eval: np.ndarray = field(repr=False)
    audit: Audit = field(repr=False)
    seed: int = 0
    learner_note: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def chosen_result(self) -> StrategyResult:
        return next(r for r in self.results if r.strategy.name == self.chosen)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "labelaudit.retrain.strategies/1",
            "audit": str(self.audit.path) if self.audit.path else None,
            "evaluation": self.evaluation,
            "learner": self.learner_note,
            "strategies": [r.to_json() for r in self.results],
            "winner": self.winner,
            "chosen": self.chosen,
            "rounds": self.rounds,
            "warnings": self.warnings,
            "seed": self.seed,
        }


def _estimator(strategy: Strategy, data: TrainTest, audit: Audit, seed: int, device: str):
    if strategy.learner == "sklearn":
        from labelaudit.oof.models import ModelName, make_model, resolve_auto

        used = audit.manifest.get("model", {}).get("used")
        name = ModelName(used) if used in ModelName._value2member_map_ else resolve_auto(data.dataset)[0]
        return make_model(name, data.dataset, seed)
    from labelaudit.robust.estimators import CoTeachingClassifier, RobustClassifier

    params = dict(strategy.params)
    if strategy.learner == "coteaching":
        params["models"] = tuple(params.get("models", ("mlp", "mlp2")))
        return CoTeachingClassifier(**params, device=device, random_state=seed)
    return RobustClassifier(**params, device=device, random_state=seed)


def _cleaned_labels(audit: Audit, data: TrainTest) -> tuple[np.ndarray, np.ndarray]:
    """(keep mask, labels) after filter's default plan: flagged rows dropped (or relabelled)."""
    plan = plan_actions(audit)
    t = plan.table
    keep = ~plan.dropped
    y = data.y.copy()
    rel = plan.relabelled
    if rel.any():
        y[rel] = encode_classes(t.loc[rel, "new_label"].tolist(), data.classes, "the relabel plan")
    return keep, y


def _split(audit: Audit, data: TrainTest, seed: int, holdout: float) -> tuple[np.ndarray, np.ndarray]:
    """Training rows and evaluation rows (a stratified share of the rows the audit did not flag)."""
    labeled = data.y >= 0
    flagged = audit.issues["is_label_issue"].to_numpy(dtype=bool)
    rng = np.random.default_rng(seed)
    eval_rows: list[np.ndarray] = []
    candidates = labeled & ~flagged
    for c in np.unique(data.y[candidates]):
        rows = np.flatnonzero(candidates & (data.y == c))
        take = int(round(len(rows) * holdout))
        if len(rows) >= 5 and take:
            eval_rows.append(rng.choice(rows, size=take, replace=False))
    ev = np.sort(np.concatenate(eval_rows)) if eval_rows else np.zeros(0, np.int64)
    if len(ev) == 0:
        raise ConfigError("too few unflagged rows to hold out for scoring; give a clean test set with --test FILE")
    train = np.flatnonzero(labeled & ~np.isin(np.arange(len(data.y)), ev))
    return train, ev


def retrain(
    audit: Audit,
    *,
    test: str | Path | None = None,
    data: str | Path | None = None,
    strategies: list[str] | None = None,
    custom: Strategy | None = None,
    rounds: int = 0,
    seed: int | None = None,
    device: str = "auto",
    learner: str = "auto",
    n_boot: int = 1000,
    holdout: float = HOLDOUT_FRACTION,
    progress: ProgressCallback | None = None,
) -> RetrainResult:
    """Compare training strategies on the audited data and score them on clean labels.

    ``strategies``: names from :data:`ALL_STRATEGIES` (default :data:`DEFAULT_STRATEGIES`; ``["all"]``
    for every one). ``custom``: one strategy from :func:`custom_strategy`, compared with the baseline
    and chosen. ``learner``: ``auto`` (torch when installed, else the audit's scikit-learn model),
    ``torch`` or ``sklearn``. ``rounds``: re-audits with the chosen strategy (0 = none).
    """
    rep = Reporter(progress)
    seed = int(audit.manifest.get("seed", 0) if seed is None else seed)
    if rounds < 0:
        raise ConfigError(f"--rounds must be 0 or more (got {rounds})")
    if not 0.05 <= holdout <= 0.5:
        raise ConfigError(f"the held-out fraction must be between 0.05 and 0.5 (got {holdout})")
    if n_boot < 0:
        raise ConfigError(f"--bootstrap must be 0 or more (got {n_boot})")
    warnings_out: list[str] = []
    plan_list, use_torch = _plan(audit, strategies, custom, learner, warnings_out)
    rep.start("load", message="reading the audited data" + (" and the test set" if test else ""))
    tt = load_train_test(audit, Path(data) if data else None, Path(test) if test else None)
    rep.end("load", f"{len(tt.y)} training rows" + (f", {len(tt.y_test)} test rows" if tt.y_test is not None else ""))
    train_rows, eval_rows, eval_X, y_eval, evaluation = _evaluation_set(audit, tt, seed, holdout, n_boot, warnings_out)
    keep_clean, y_clean = _cleaned_labels(audit, tt)
    resamples = Resamples.draw(len(y_eval), n_boot, seed)
    results: list[StrategyResult] = []
    baseline_scores = None
    rep.start("strategies", total=len(plan_list), message=f"training {len(plan_list)} strategies")
    for i, strat in enumerate(plan_list):
        if strat.rows == "cleaned":
            rows = train_rows[keep_clean[train_rows]]
            labels = y_clean
        else:
            rows, labels = train_rows, tt.y
        est = _estimator(strat, tt, audit, seed, device)
        rep.advance("strategies", i, len(plan_list), f"training {strat.name} on {len(rows)} rows")
        start = time.perf_counter()
        est.fit(tt.X[rows], labels[rows])
        proba = _full_proba(est, eval_X, len(tt.classes))
        seconds = time.perf_counter() - start
        sc = score(y_eval, proba, resamples)
        if strat.name == "baseline":
            baseline_scores = sc
        metrics = summarise(sc, None if strat.name == "baseline" else baseline_scores)
        results.append(StrategyResult(strat, int(len(rows)), seconds, metrics, est, proba))
        rep.advance("strategies", i + 1, len(plan_list), f"{strat.name}: accuracy {metrics['accuracy']['value']:.3f}")
    rep.end("strategies")
    winner = max(results, key=lambda r: (r.metrics["accuracy"]["value"], -r.metrics["log_loss"]["value"])).strategy.name
    chosen = "custom" if custom is not None else winner
    learner_note = (
        "torch MLP (one hidden layer of 256) for every strategy except co-teaching (mlp + mlp2)"
        if use_torch
        else "the audit's scikit-learn model (install labelaudit[torch] for the robust strategies)"
    )
    result = RetrainResult(
        results, chosen, winner, evaluation, [], tt, eval_rows, y_eval, audit, seed, learner_note, warnings_out
    )
    if rounds:
        result.rounds = reaudit_rounds(
            audit,
            tt,
            result.chosen_result.strategy,
            rounds,
            seed=seed,
            device=device,
            train_rows=train_rows,
            eval_X=eval_X,
            y_eval=y_eval,
            reporter=rep,
        )
    return result


def _plan(audit: Audit, strategies, custom, learner: str, warnings_out: list[str]) -> tuple[list[Strategy], bool]:
    """The strategies to compare (the baseline first) and whether torch trains them; refused before any work."""
    if learner not in {"auto", "torch", "sklearn"}:
        raise ConfigError(f"--learner must be auto, torch or sklearn (got '{learner}')")
    names = list(strategies) if strategies else None
    if names == ["all"]:
        names = list(ALL_STRATEGIES)
    unknown = [n for n in names or () if n not in ALL_STRATEGIES]
    if unknown:
        raise ConfigError(f"unknown strategy {', '.join(unknown)}; choose from {', '.join(ALL_STRATEGIES)} or all")
    have_torch = torch_available()
    wants_torch = learner == "torch" or (custom is not None and custom.needs_torch)
    if names and any(n not in SKLEARN_STRATEGIES for n in names) and learner != "sklearn":
        wants_torch = True
    if wants_torch and not have_torch:
        require_torch()  # raises ExtraMissingError naming the extra
    if learner == "sklearn" and (wants_torch or (names and any(n not in SKLEARN_STRATEGIES for n in names))):
        raise ConfigError("--learner sklearn runs only the baseline and cleaned strategies; drop the torch strategies")
    use_torch = have_torch and learner != "sklearn"
    label_check = audit.summary.get("checks", {}).get("label") or {}
    noise_rate = float(label_check.get("estimated_noise_rate") or audit.label_issue_rate or 0.2)
    catalog = builtin_strategies(noise_rate, use_torch)
    if names is None:
        names = [n for n in DEFAULT_STRATEGIES if n in catalog] if custom is None else ["baseline"]
        if not use_torch:
            warnings_out.append(
                "robust losses, label smoothing, MixUp and co-teaching were not compared: " + TORCH_HINT
            )
    unknown = [n for n in names if n not in catalog]
    if unknown:
        raise ConfigError(f"unknown strategy {', '.join(unknown)}; choose from {', '.join(ALL_STRATEGIES)} or all")
    plan_list = [catalog[n] for n in dict.fromkeys(names)]
    if custom is not None:
        if not use_torch:
            require_torch()
        plan_list.append(custom)
    if "baseline" not in [s.name for s in plan_list]:
        plan_list.insert(0, catalog["baseline"])
    return plan_list, use_torch


def _evaluation_set(audit: Audit, tt, seed: int, holdout: float, n_boot: int, warnings_out: list[str]):
    """Training rows and the rows scored: the clean test set, or (warned) held-out unflagged rows."""
    if tt.y_test is not None:
        train_rows = np.flatnonzero(tt.y >= 0)
        ok = tt.y_test >= 0
        if not ok.all():
            warnings_out.append(f"{int((~ok).sum())} test rows without a label were not scored")
        eval_rows = np.flatnonzero(ok)
        evaluation = {
            "mode": "clean_test",
            "file": str(tt.test_path),
            "sha256": tt.test_sha256,
            "rows": int(ok.sum()),
            "bootstrap": n_boot,
        }
        return train_rows, eval_rows, tt.X_test[eval_rows], tt.y_test[ok], evaluation
    train_rows, eval_rows = _split(audit, tt, seed, holdout)
    warnings_out.insert(0, NOISY_EVAL_WARNING)
    evaluation = {
        "mode": "holdout_unflagged",
        "rows": int(len(eval_rows)),
        "fraction": holdout,
        "bootstrap": n_boot,
        "warning": NOISY_EVAL_WARNING,
    }
    return train_rows, eval_rows, tt.X[eval_rows], tt.y[eval_rows], evaluation


def _full_proba(est, X, k: int) -> np.ndarray:
    """Probabilities over all ``k`` classes (a class absent from the training rows gets 0)."""
    p = est.predict_proba(X)
    out = np.zeros((p.shape[0], k), dtype=np.float64)
    out[:, np.asarray(est.classes_, dtype=np.int64)] = p
    return out


def reaudit_rounds(
    audit: Audit,
    tt: TrainTest,
    strategy: Strategy,
    rounds: int,
    *,
    seed: int,
    device: str,
    train_rows: np.ndarray,
    eval_X,
    y_eval: np.ndarray,
    reporter: Reporter,
) -> list[dict[str, Any]]:
    """Re-audit with the strategy's out-of-fold probabilities, dropping the rows flagged so far, until stable."""
    from labelaudit.checks.label import find_label_issues
    from labelaudit.oof.kfold import assign_folds, fit_predict_fold

    folds = int(audit.manifest.get("folds", 5))
    y = tt.y
    k = len(tt.classes)
    counts = np.bincount(y[y >= 0], minlength=k)
    rare = [c for c in range(k) if counts[c] < folds]
    fold = assign_folds(y, rare, folds, seed)
    flag_size = (audit.manifest.get("options") or {}).get("flag_size") or "auto"
    flagged = audit.issues["is_label_issue"].to_numpy(dtype=bool).copy()
    out: list[dict[str, Any]] = []
    # the model that scores a round is the plain strategy trained on the rows not flagged in that round
    strat = replace(strategy, rows="all")
    steps = rounds * (folds + 1)
    reporter.start("rounds", total=steps, message=f"re-auditing up to {rounds} rounds with {strategy.name}")
    # folds train in this process: a worker process would import torch first, which took longer than the
    # fold itself on the sample (retrain --rounds 3: 54 s with two workers vs 44 s here)
    for r in range(1, rounds + 1):
        pred_probs = np.zeros((len(y), k), dtype=np.float32)
        for f in range(folds):
            fit_rows = np.flatnonzero((fold != f) & (fold >= 0) & ~flagged)
            pred_rows = np.flatnonzero(fold == f)
            est = _estimator(strat, tt, audit, seed, device)
            proba, _, _ = fit_predict_fold(est, tt.X, y, fit_rows, pred_rows, k)
            pred_probs[pred_rows] = proba
            done = (r - 1) * (folds + 1) + f + 1
            reporter.advance("rounds", done, steps, f"round {r}: fold {f + 1}/{folds} trained")
        res = find_label_issues(y, pred_probs, rare, flag_size=flag_size, seed=seed)
        new = res.check.is_issue.astype(bool)
        added = int((new & ~flagged).sum())
        removed = int((~new & flagged).sum())
        union = int((new | flagged).sum())
        jaccard = float((new & flagged).sum() / union) if union else 1.0
        keep = train_rows[~new[train_rows]]
        est = _estimator(strat, tt, audit, seed, device)
        est.fit(tt.X[keep], y[keep])
        acc = float((_full_proba(est, eval_X, k).argmax(1) == y_eval).mean())
        stable = (added + removed) <= ROUNDS_STABLE_FRACTION * max(union, 1)
        out.append(
            {
                "round": r,
                "flagged": int(new.sum()),
                "added": added,
                "removed": removed,
                "jaccard_vs_previous": round(jaccard, 4),
                "oof_accuracy_vs_given": round(float((pred_probs.argmax(1) == y)[y >= 0].mean()), 4),
                "eval_accuracy_without_flagged": round(acc, 4),
                "stable": bool(stable),
            }
        )
        message = f"round {r}: {int(new.sum())} flagged (+{added} / -{removed})"
        reporter.advance("rounds", r * (folds + 1), steps, message)
        flagged = new
        if stable:
            break
    reporter.end("rounds")
    return out
