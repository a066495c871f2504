"""Named estimator factories and the ``auto`` choice.

Every factory returns a fresh, unfitted scikit-learn estimator seeded with ``seed``. Dense
features carry NaN for missing values: HistGradientBoosting and RandomForest take them as they are;
the linear and neighbour models get median imputation, one-hot categories and standardisation.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier, VotingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from labelaudit.dataset import Dataset
from labelaudit.errors import ConfigError
from labelaudit.names import ModelName

#: ``auto`` ensembles diverse models (scaled logistic regression + gradient boosting + kNN) while
#: rows x features x classes stays under this (the sample: 1 797 x 64 x 10 = 1.2e6, ~6 s); gradient
#: boosting's cost grows with all three, and at 10 000 x 128 x 10 the ensemble took 47 s
ENSEMBLE_MAX_COST = 5_000_000


#: tabular data with at least this many continuous columns and no categories is treated as an embedding
EMBEDDING_LIKE_MIN_COLUMNS = 64


def resolve_auto(ds: Dataset) -> tuple[ModelName, str]:
    """The model ``auto`` picks for this data, and why (see the README's detection benchmark)."""
    if ds.kind == "text":
        return ModelName.logreg, "text (TF-IDF): a linear model is accurate and fast on sparse terms"
    n_feat = ds.features.n_features if ds.features is not None else 0
    if ds.n_rows * max(n_feat, 1) * ds.n_classes <= ENSEMBLE_MAX_COST:
        return ModelName.ensemble, (
            "small data: mean of regularised logistic regression, SVC (or gradient boosting) and 30-NN probabilities "
            "(best in the detection benchmark)"
        )
    if ds.kind == "embedding":
        return ModelName.logreg, "embedding vectors: a linear probe is the standard, fast choice"
    fs = ds.features
    if fs is not None and fs.n_features >= EMBEDDING_LIKE_MIN_COLUMNS and not fs.categorical.any():
        X = fs.X
        sample = np.asarray(X[: min(len(X), 2000)])
        nonint = np.nanmean(sample != np.round(sample)) if sample.size else 0.0
        if nonint > 0.9:
            return ModelName.logreg, (
                f"{fs.n_features} continuous columns look like an embedding: a linear probe is fast here"
            )
    return ModelName.hgb, "tabular columns: gradient-boosted trees handle mixed types and missing values"


def _linear_preprocessing(ds: Dataset) -> list[object]:
    fs = ds.features
    assert fs is not None
    if ds.kind == "text":
        return []
    cat = np.flatnonzero(fs.categorical)
    num = np.flatnonzero(~fs.categorical)
    has_nan = bool(np.isnan(fs.X).any()) if ds.kind == "tabular" else False
    if cat.size == 0:
        steps: list[object] = []
        if has_nan:
            steps.append(SimpleImputer(strategy="median", keep_empty_features=True))
        steps.append(StandardScaler())
        return steps
    ct = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()), num),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent", keep_empty_features=True),
                    OneHotEncoder(handle_unknown="ignore", min_frequency=5, dtype=np.float32),
                ),
                cat,
            ),
        ],
        sparse_threshold=0.0,
    )
    return [ct]


HGB_MAX_BINS = 32

#: the ensemble's SVC (RBF kernel, Platt-scaled probabilities) costs O(rows²): above this many rows
#: gradient boosting takes its place
ENSEMBLE_SVC_MAX_ROWS = 5000
ENSEMBLE_SVC_MIN_CLASS_ROWS = 20


def _ensemble_members(ds: Dataset, seed: int) -> list[tuple[str, BaseEstimator]]:
    """Three diverse, *regularised* models (chosen on the detection benchmark's wine + digits cases).

    Smoother models fit systematic (asymmetric, instance-dependent) noise less, so their out-of-fold
    probabilities disagree with the wrong labels more: logistic regression with C = 0.1 instead of 1,
    30 uniform neighbours instead of 15 distance-weighted ones, and an RBF SVC (gradient boosting above
    5 000 rows, or when a class has fewer than 20 rows). Mean F1 over the benchmark: 0.800 vs 0.772 for
    logreg(C=1) + hgb + 15-NN.
    """

    def pipe(clf):
        pre = _linear_preprocessing(ds)
        return Pipeline([(f"step{i}", st) for i, st in enumerate(pre)] + [("clf", clf)]) if pre else clf

    members: list[tuple[str, BaseEstimator]] = [
        ("logreg", pipe(LogisticRegression(C=0.1, max_iter=500, random_state=seed))),
    ]
    counts = ds.class_counts
    smallest = int(counts[counts > 0].min()) if (counts > 0).any() else 0
    # the SVC's 5-fold Platt calibration needs a few rows of every class in each training fold
    if ds.n_rows <= ENSEMBLE_SVC_MAX_ROWS and smallest >= ENSEMBLE_SVC_MIN_CLASS_ROWS:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import SVC

        # Platt-scaled probabilities (what SVC(probability=True) did before its deprecation)
        svc = CalibratedClassifierCV(SVC(C=1.0, random_state=seed), method="sigmoid", cv=5, ensemble=False)
        members.append(("svc", pipe(svc)))
    else:
        members.append(("hgb", make_model(ModelName.hgb, ds, seed)))
    k = max(1, min(30, ds.n_rows // 3))
    members.append(("knn", pipe(KNeighborsClassifier(n_neighbors=k, weights="uniform"))))
    return members


def make_model(name: ModelName, ds: Dataset, seed: int) -> BaseEstimator:
    """A fresh estimator for one fold."""
    fs = ds.features
    if fs is None:
        raise ConfigError("training a model needs feature columns; pass --features or --pred-probs FILE")
    if name is ModelName.auto:
        name = resolve_auto(ds)[0]
    if name is ModelName.ensemble:
        if ds.kind == "text":
            raise ConfigError("--model ensemble needs dense features; use --model logreg for --text")
        return VotingClassifier(_ensemble_members(ds, seed), voting="soft")
    if name is ModelName.hgb:
        cat = fs.categorical if fs.categorical.any() else None
        if ds.kind == "text":
            raise ConfigError("--model hgb needs dense features; use --model logreg for --text")
        # early stopping on a 10 % split: 3x faster than 100 fixed rounds on the sample data, and more precise
        # (its 10 % validation split needs a few rows per class, so tiny data trains the 100 default rounds)
        # (and a stratified split: every class needs two training rows, so a class of one or two rows turns it off)
        counts = ds.class_counts
        early = ds.n_rows >= 50 * ds.n_classes and int(counts[counts > 0].min()) >= 3
        # 32 bins instead of 255: measured 1.3-1.6x faster (the histograms are scanned per node), with equal
        # or better detection F1 on the sample, breast_cancer and make_classification at 8k, 30k and 100k rows
        # (coarser splits fit the noise less); see the README's speed notes
        bins = HGB_MAX_BINS
        if cat is not None:  # a categorical column needs a bin per category
            cards = np.nanmax(np.asarray(fs.X[:, cat]), axis=0, initial=0) + 1
            bins = int(min(255, max(bins, np.max(cards))))
        return HistGradientBoostingClassifier(
            random_state=seed, categorical_features=cat, early_stopping=early, max_bins=bins
        )
    if name is ModelName.mlp:
        from labelaudit.extras import require_torch
        from labelaudit.robust.estimators import RobustClassifier

        require_torch()
        # GCE: a model that does not memorise the noisy labels gives out-of-fold probabilities closer to the truth
        return RobustClassifier(loss="gce", q=0.7, random_state=seed)
    if name is ModelName.rf:
        if ds.kind == "text":
            raise ConfigError("--model rf needs dense features; use --model logreg for --text")
        return RandomForestClassifier(n_estimators=200, min_samples_leaf=1, random_state=seed, n_jobs=1)
    pre = _linear_preprocessing(ds)
    if name is ModelName.logreg:
        clf = LogisticRegression(C=1.0, max_iter=500, random_state=seed)
    elif name is ModelName.knn:
        # at most a third of the rows, so a fold's training part always has enough neighbours
        clf = KNeighborsClassifier(n_neighbors=max(1, min(15, ds.n_rows // 3)), weights="distance")
    else:  # pragma: no cover - enum is exhaustive
        raise ValueError(f"unknown model {name}")
    return Pipeline([(f"step{i}", s) for i, s in enumerate(pre)] + [("clf", clf)]) if pre else clf
