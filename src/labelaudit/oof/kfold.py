"""Stratified K-fold out-of-fold predicted probabilities.

Rows of classes with fewer rows than folds ("rare" classes) still take part in training, but they
are spread over folds by hand (StratifiedKFold cannot stratify them) and are marked not assessable
later: a model that saw one or two examples of a class cannot judge them. Rows with a missing label
are never trained on; they get the mean prediction of the fold models, so they still receive a
suggested label.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from labelaudit.dataset import Dataset
from labelaudit.errors import ConfigError, ModelError, SchemaError
from labelaudit.names import ModelName
from labelaudit.progress import Reporter


@dataclass(frozen=True)
class OOFResult:
    pred_probs: np.ndarray
    """(rows x classes) float32 out-of-fold probabilities; class order of ``Dataset.class_names``."""
    fold: np.ndarray
    """Fold of each row (-1 for unlabeled rows)."""
    rare_classes: list[int]
    """Codes of classes with fewer labeled rows than folds."""
    seconds_per_fold: list[float]
    warnings: list[str]
    ensemble_weights: dict[str, float] = field(default_factory=dict)
    """``--model ensemble``: each member's weight (likelihood of the given labels, :mod:`labelaudit.oof.ensemble`)."""


def rare_classes(ds: Dataset, folds: int) -> list[int]:
    counts = ds.class_counts
    return [int(c) for c in np.flatnonzero(counts < folds)]


def check_assessable(ds: Dataset, folds: int) -> list[int]:
    """Codes of rare classes; an error when fewer than two classes can be assessed."""
    rare = rare_classes(ds, folds)
    ok = [ds.class_names[c] for c in range(ds.n_classes) if c not in rare]
    if len(ok) < 2:
        from labelaudit.messages import listing, short

        counts = listing((f"{short(ds.class_names[c])}: {n}" for c, n in enumerate(ds.class_counts)), quote=False)
        raise SchemaError(
            f"{len(ok)} of {ds.n_classes} classes have at least {folds} labeled rows ({counts}); an audit needs two "
            "such classes: add rows or lower --folds"
        )
    return rare


def assign_folds(labels: np.ndarray, rare: list[int], folds: int, seed: int) -> np.ndarray:
    """Fold id per row: StratifiedKFold(shuffle, seed) for common classes, round-robin for rare ones."""
    from sklearn.model_selection import StratifiedKFold

    fold = np.full(len(labels), -1, dtype=np.int64)
    labeled = np.flatnonzero(labels >= 0)
    is_rare = np.isin(labels[labeled], rare)
    common = labeled[~is_rare]
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for f, (_, test) in enumerate(skf.split(np.zeros(len(common)), labels[common])):
        fold[common[test]] = f
    rng = np.random.default_rng(seed)
    for c in rare:
        rows = np.flatnonzero(labels == c)
        fold[rows] = (rng.permutation(len(rows)) + rng.integers(folds)) % folds
    return fold


#: rows a leading StandardScaler reads at a time when it is fitted (its one-shot fit upcasts the whole fold)
SCALER_CHUNK_ROWS = 65_536


def _split_scaler(estimator):
    """(the pipeline's leading StandardScaler, the rest of the pipeline), or (None, the estimator)."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if (
        isinstance(estimator, Pipeline)
        and len(estimator.steps) > 1
        and isinstance(estimator.steps[0][1], StandardScaler)
    ):
        return estimator.steps[0][1], estimator[1:]
    return None, estimator


def _scaled_rows(X, rows, scaler, fit: bool):
    """``X[rows]`` (a fresh copy) scaled in place by ``scaler``, fitted first on chunks of it when ``fit``.

    scikit-learn's StandardScaler.fit computes the statistics on a float64 copy of all its rows (820 MB of
    each fold worker at 1M x 128 float32) and transform copies again; partial_fit over chunks and an
    in-place transform keep a fold to the one copy its rows need.
    """
    part = X[rows]
    if scaler is None:
        return part
    if fit:
        for s in range(0, len(part), SCALER_CHUNK_ROWS):
            scaler.partial_fit(part[s : s + SCALER_CHUNK_ROWS])
    return scaler.transform(part, copy=False)


def _fit_predict(estimator, X, y, train_idx, pred_idx, n_classes, members: bool):
    """The fit and predictions of one fold, under whatever thread limits and warning filters the caller set."""
    start = time.perf_counter()
    if "threads" in estimator.get_params():
        estimator.set_params(threads=1)
    scaler, model = _split_scaler(estimator)
    model.fit(_scaled_rows(X, train_idx, scaler, fit=True), y[train_idx])
    if members:
        probas = [m.predict_proba(_scaled_rows(X, pred_idx, scaler, fit=False)) for m in estimator.estimators_]
    else:
        probas = [model.predict_proba(_scaled_rows(X, pred_idx, scaler, fit=False))]
    seconds = time.perf_counter() - start
    cols = np.asarray(estimator.classes_, dtype=np.int64)
    fulls = []
    for proba in probas:
        full = np.zeros((len(pred_idx), n_classes), dtype=np.float32)
        # a voting ensemble's members see the labels encoded 0..k'-1, in the order of its classes_
        full[:, cols] = proba
        fulls.append(full)
    return (fulls if members else fulls[0]), seconds


class _OneThreadAndWarnings:
    """Every fit on one thread (BLAS, OpenMP), its ConvergenceWarnings collected in ``caught``.

    Both are process-wide state, so fold threads share one of these, entered by the thread that runs them.
    A multi-threaded BLAS sums in another order (--jobs 1 and 2 would give different bits), and on a busy
    machine OpenMP's spinning threads made gradient boosting 3x slower on the sample (measured with both
    cores loaded: 5.1 s vs 1.7 s per fold), while idle one thread was as fast as two.
    """

    def __enter__(self):
        from sklearn.exceptions import ConvergenceWarning
        from threadpoolctl import threadpool_limits

        self._category = ConvergenceWarning
        self._warnings = warnings.catch_warnings(record=True)
        self._records = self._warnings.__enter__()
        # in this order: a filter added later is matched first, and ConvergenceWarning is a UserWarning
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("always", ConvergenceWarning)
        self._limits = threadpool_limits(limits=1)
        self._limits.__enter__()
        return self

    def messages(self) -> list[str]:
        """The first line of each distinct ConvergenceWarning caught so far."""
        return sorted({str(w.message).splitlines()[0] for w in self._records if issubclass(w.category, self._category)})

    def __exit__(self, *exc):
        self.caught = self.messages()
        self._limits.__exit__(*exc)
        self._warnings.__exit__(*exc)
        return False


def fit_predict_fold(estimator, X, y, train_idx, pred_idx, n_classes, members: bool = False):
    """Fit on ``train_idx``, predict ``pred_idx``: (rows x n_classes float32 probabilities, seconds, warnings).

    ``members``: for a soft-voting ensemble, a list with each member's probabilities instead of their mean
    (the members are combined afterwards by :mod:`labelaudit.oof.ensemble`).
    """
    with _OneThreadAndWarnings() as guard:
        proba, seconds = _fit_predict(estimator, X, y, train_idx, pred_idx, n_classes, members)
    return proba, seconds, guard.caught


#: models whose fold takes seconds even on small data (trees per class, an SVC, a torch net)
#: (not the torch MLP: each worker process would import torch, which costs more than it saves here)
EXPENSIVE_MODELS = {ModelName.hgb, ModelName.rf, ModelName.ensemble}

#: models whose folds run in threads of this process rather than worker processes: logistic regression's
#: work is BLAS and scikit-learn's nogil loss, so two threads keep two cores busy, without the ~1 s a worker
#: takes to start and import scikit-learn or the copy of the features it is sent (100 000 x 128, 5 folds:
#: 2.0 s vs 3.7 s for the folds). On sparse TF-IDF rows scipy's products hold the GIL for part of the work,
#: and threads still kept up with processes (synthetic, 5 folds: 60 000 documents 1.45 vs 4.76 s, 200 000:
#: 4.84 vs 5.82 s, 600 000: 10.3 vs 10.8 s; one after the other 2.2 / 4.6 / 13.6 s)
THREADED_MODELS = {ModelName.logreg}


def default_jobs(n_rows: int, n_features: int, folds: int, model: ModelName = ModelName.logreg) -> int:
    """Parallel folds pay off once a fold takes longer than starting a worker process (~1 s) or a thread."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cells = n_rows * max(n_features, 1)
    floor = 50_000 if model in EXPENSIVE_MODELS else 200_000 if model in THREADED_MODELS else 2_000_000
    if cells < floor:
        return 1
    return max(1, min(cores, folds))


def _fold_results(tasks, X, y, n_classes: int, members: bool, n_jobs: int, threaded: bool):
    """(probabilities, seconds, warnings) of each fold in task order, from threads or worker processes."""
    from joblib import Parallel, delayed

    runner = Parallel(n_jobs=n_jobs, return_as="generator", prefer="threads" if threaded else "processes")
    if not threaded:
        yield from runner(
            delayed(fit_predict_fold)(est, X, y, tr, pr, n_classes, members) for (_, est, tr, pr, _) in tasks
        )
        return
    with _OneThreadAndWarnings() as guard:
        for proba, seconds in runner(
            delayed(_fit_predict)(est, X, y, tr, pr, n_classes, members) for (_, est, tr, pr, _) in tasks
        ):
            # the threads share the process's warning filters: a fold reports what was caught so far
            yield proba, seconds, guard.messages()


def out_of_fold(
    ds: Dataset,
    model: ModelName,
    *,
    folds: int,
    seed: int,
    jobs: int | None,
    reporter: Reporter,
) -> OOFResult:
    """Fit one model per fold and collect each row's prediction from the model that did not see it."""
    from labelaudit.oof.models import make_model

    if folds < 2:
        raise ConfigError(f"--folds must be at least 2 (got {folds})")
    fs = ds.features
    if fs is None or fs.n_features == 0:
        raise ConfigError(
            "no feature columns to train on; pass --features, or give --pred-probs FILE from your own model"
        )
    rare = check_assessable(ds, folds)
    fold = assign_folds(ds.labels, rare, folds, seed)
    unlabeled = np.flatnonzero(ds.labels < 0)
    K = ds.n_classes
    n_jobs = jobs or default_jobs(ds.n_rows, fs.n_features, folds, model)
    tasks = []
    for f in range(folds):
        train = np.flatnonzero((fold != f) & (fold >= 0))
        test = np.flatnonzero(fold == f)
        pred = np.concatenate([test, unlabeled])
        est = make_model(model, ds, seed)
        tasks.append((f, est, train, pred, len(test)))
    n_members = len(tasks[0][1].estimators) if model is ModelName.ensemble else 0
    slots = max(n_members, 1)
    member_pp = [np.zeros((ds.n_rows, K), dtype=np.float32) for _ in range(slots)]
    unl_sum = [np.zeros((len(unlabeled), K), dtype=np.float64) for _ in range(slots)]
    seconds: list[float] = [0.0] * folds
    all_warnings: set[str] = set()
    reporter.start("folds", total=folds, message=f"training {folds} folds")
    try:
        results = _fold_results(tasks, fs.X, ds.labels, K, n_members > 0, n_jobs, model in THREADED_MODELS)
        for done, ((f, _, _, _, n_test), (proba, secs, warns)) in enumerate(zip(tasks, results, strict=True), 1):
            test = np.flatnonzero(fold == f)
            for slot, p in enumerate(proba if n_members else [proba]):
                member_pp[slot][test] = p[:n_test]
                unl_sum[slot] += p[n_test:]
            seconds[f] = secs
            all_warnings.update(warns)
            reporter.advance("folds", done, folds, message=f"fold {f + 1}/{folds} ({secs:.1f}s)")
    except (ValueError, ArithmeticError, RuntimeError, MemoryError, TypeError) as err:
        raise ModelError(
            f"training the {model.value} model failed: {str(err).splitlines()[0][:200]}; try another --model"
        ) from err
    reporter.end("folds")
    for slot in range(slots):
        if len(unlabeled):
            member_pp[slot][unlabeled] = (unl_sum[slot] / folds).astype(np.float32)
        # renormalise against float32 rounding so every row sums to 1
        member_pp[slot] /= member_pp[slot].sum(axis=1, keepdims=True)
    weights: dict[str, float] = {}
    if n_members:
        # the plain mean of labelaudit's own members: they are chosen to be regularised and diverse, and
        # likelihood weights (used for the user's --pred-probs) would favour the member that fits learnable
        # noise best (measured on the detection benchmark's 45 tabular cases: mean F1 0.860 vs 0.858 weighted,
        # breast_cancer with 40 % instance noise 0.717 vs 0.694: the weights dropped the linear member)
        names = [name for name, _ in tasks[0][1].estimators]
        pred_probs = np.mean(member_pp, axis=0).astype(np.float32)
        pred_probs /= pred_probs.sum(axis=1, keepdims=True)
        weights = {name: round(1.0 / n_members, 6) for name in names}
    else:
        pred_probs = member_pp[0]
    for w in sorted(all_warnings):
        reporter.warning(f"model: {w}")
    return OOFResult(pred_probs, fold, rare, seconds, sorted(all_warnings), weights)
