"""scikit-learn compatible torch classifiers for noisy labels.

:class:`RobustClassifier` is a small MLP (or a linear model) trained with a robust loss (GCE, SCE),
label smoothing and/or MixUp. :class:`CoTeachingClassifier` trains two *different* networks that
pick small-loss rows for each other (Han et al., 2018). Both have ``fit``/``predict_proba``/
``predict`` and ``random_state``; on CPU the same seed gives the same model. They run on CUDA when
``device="auto"`` finds one. The global RNGs of numpy and torch are left as they were.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin

from labelaudit.errors import ConfigError
from labelaudit.extras import require_torch

#: hidden-layer sizes of the named architectures
ARCHITECTURES: dict[str, tuple[int, ...]] = {"linear": (), "mlp": (256,), "mlp2": (256, 128)}

#: dense inputs are required; sparse text features are densified up to this many cells
MAX_DENSE_CELLS = 60_000_000


def resolve_device(device: str) -> str:
    torch = require_torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is visible to torch; use --device cpu or auto")
    if device not in {"cpu", "cuda"}:
        raise ConfigError(f"--device must be auto, cpu or cuda (got '{device}')")
    return device


def _dense(X) -> np.ndarray:
    if sparse.issparse(X):
        if X.shape[0] * X.shape[1] > MAX_DENSE_CELLS:
            raise ConfigError(
                f"the torch models need dense features; {X.shape[0]} x {X.shape[1]} sparse text features are too "
                "large to densify; use --model logreg for text"
            )
        X = X.toarray()
    return np.asarray(X, dtype=np.float32)


@contextmanager
def _seeded(seed: int, device: str, threads: int | None):
    """Seed torch inside a fork of its RNG state (restored on exit) and cap its threads."""
    torch = require_torch()
    prev_threads = torch.get_num_threads()
    devices = [torch.cuda.current_device()] if device == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        if threads:
            torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(prev_threads)


def _auto_epochs(n_rows: int, batch_size: int) -> int:
    """About 4 000 optimiser steps, between 20 and 100 epochs."""
    steps_per_epoch = max(1, math.ceil(n_rows / batch_size))
    return int(min(100, max(20, math.ceil(4000 / steps_per_epoch))))


class _TorchBase(ClassifierMixin, BaseEstimator):
    """Shared preprocessing (median imputation, standardisation), label encoding and prediction."""

    def _prepare_fit(self, X, y):
        X = _dense(X)
        y = np.asarray(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ConfigError("training needs at least two classes in the training rows")
        med = np.nanmedian(X, axis=0) if np.isnan(X).any() else np.zeros(X.shape[1], np.float32)
        med = np.nan_to_num(med, nan=0.0).astype(np.float32)
        Xf = np.where(np.isnan(X), med, X)
        mean = Xf.mean(axis=0)
        std = Xf.std(axis=0)
        std[std < 1e-8] = 1.0
        self.median_, self.mean_, self.scale_ = med, mean.astype(np.float32), std.astype(np.float32)
        self.n_features_in_ = X.shape[1]
        return self._transform(X), codes.astype(np.int64)

    def _transform(self, X) -> np.ndarray:
        X = _dense(X)
        if X.shape[1] != self.n_features_in_:
            raise ConfigError(f"the model was trained on {self.n_features_in_} features; got {X.shape[1]}")
        X = np.where(np.isnan(X), self.median_, X)
        return ((X - self.mean_) / self.scale_).astype(np.float32)

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def make_net(n_in: int, n_out: int, hidden: tuple[int, ...], dropout: float):
    torch = require_torch()
    nn = torch.nn
    layers: list[Any] = []
    prev = n_in
    for h in hidden:
        layers += [nn.Linear(prev, h), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        prev = h
    layers.append(nn.Linear(prev, n_out))
    return nn.Sequential(*layers)


def _lr(lr: float | None, architecture: str) -> float:
    """Adam's step size: 1e-3 for MLPs; a linear model learns slowly at that rate, so 1e-2."""
    if lr is not None:
        return lr
    return 1e-2 if architecture == "linear" else 1e-3


def _hidden(architecture: str) -> tuple[int, ...]:
    if architecture not in ARCHITECTURES:
        raise ConfigError(f"architecture must be one of {', '.join(ARCHITECTURES)} (got '{architecture}')")
    return ARCHITECTURES[architecture]


def _predict_net(net, X: np.ndarray, device: str, batch: int = 8192) -> np.ndarray:
    torch = require_torch()
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(X), batch):
            xb = torch.from_numpy(X[i : i + batch]).to(device)
            out.append(torch.softmax(net(xb), dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


class RobustClassifier(_TorchBase):
    """An MLP trained with a robust loss, label smoothing and/or MixUp.

    Parameters
    ----------
    loss: ``ce`` (plain cross entropy), ``gce`` or ``sce``.
    q: GCE's exponent (0 < q <= 1). alpha, beta: SCE's weights of CE and reverse CE.
    label_smoothing: epsilon in ``[0, 1)``. mixup: the Beta(a, a) parameter; 0 turns MixUp off.
    architecture: ``linear``, ``mlp`` (one hidden layer of 256) or ``mlp2`` (256 -> 128).
    epochs: passes over the data; ``None`` picks about 4 000 optimiser steps (20 to 100 epochs: longer
    training lets cross entropy memorise the noise — on digits with 40 % noise, 300 epochs lost 10 points).
    lr: Adam's step size; ``None``: 1e-3 for MLPs, 1e-2 for the linear model.
    """

    def __init__(
        self,
        loss: str = "gce",
        q: float = 0.7,
        alpha: float = 0.1,
        beta: float = 1.0,
        label_smoothing: float = 0.0,
        mixup: float = 0.0,
        architecture: str = "mlp",
        dropout: float = 0.0,
        epochs: int | None = None,
        batch_size: int = 128,
        lr: float | None = None,
        weight_decay: float = 1e-4,
        device: str = "auto",
        threads: int | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.loss = loss
        self.q = q
        self.alpha = alpha
        self.beta = beta
        self.label_smoothing = label_smoothing
        self.mixup = mixup
        self.architecture = architecture
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.device = device
        self.threads = threads
        self.random_state = random_state

    def _validate(self) -> None:
        from labelaudit.robust.losses import LossName

        try:
            LossName(self.loss)
        except ValueError:
            raise ConfigError(f"loss must be ce, gce or sce (got '{self.loss}')") from None
        if not 0.0 < self.q <= 1.0:
            raise ConfigError(f"GCE's q must be in (0, 1] (got {self.q})")
        if self.alpha < 0 or self.beta < 0 or self.alpha + self.beta == 0:
            raise ConfigError(f"SCE's alpha and beta must be >= 0 and not both 0 (got {self.alpha}, {self.beta})")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label smoothing must be in [0, 1) (got {self.label_smoothing})")
        if self.mixup < 0:
            raise ConfigError(f"the MixUp parameter must be >= 0 (got {self.mixup})")
        _hidden(self.architecture)

    def fit(self, X, y):
        torch = require_torch()
        from labelaudit.robust import losses as L

        self._validate()
        Xs, codes = self._prepare_fit(X, y)
        device = resolve_device(self.device)
        seed = 0 if self.random_state is None else int(self.random_state)
        K = len(self.classes_)
        rng = np.random.default_rng(seed)
        epochs = self.epochs or _auto_epochs(len(Xs), self.batch_size)
        with _seeded(seed, device, self.threads):
            net = make_net(Xs.shape[1], K, _hidden(self.architecture), self.dropout).to(device)
            opt = torch.optim.Adam(net.parameters(), lr=_lr(self.lr, self.architecture), weight_decay=self.weight_decay)
            Xt = torch.from_numpy(Xs).to(device)
            T = L.smooth_targets(torch.from_numpy(codes), K, self.label_smoothing).to(device)

            def loss_fn(logits, targets):
                return L.per_sample_loss(self.loss, logits, targets, q=self.q, alpha=self.alpha, beta=self.beta)

            net.train()
            n = len(Xs)
            for _ in range(epochs):
                order = torch.from_numpy(rng.permutation(n)).to(device)
                for i in range(0, n, self.batch_size):
                    idx = order[i : i + self.batch_size]
                    xb, tb = Xt[idx], T[idx]
                    if self.mixup > 0 and len(idx) > 1:
                        lam = float(rng.beta(self.mixup, self.mixup))
                        perm = torch.from_numpy(rng.permutation(len(idx))).to(device)
                        loss = L.mixup_loss(loss_fn, net(L.mixup_inputs(xb, lam, perm)), tb, lam, perm).mean()
                    else:
                        loss = loss_fn(net(xb), tb).mean()
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
            self.net_ = net.cpu()
        self.epochs_ = epochs
        return self

    def predict_proba(self, X) -> np.ndarray:
        return _predict_net(self.net_, self._transform(X), "cpu")


class CoTeachingClassifier(_TorchBase):
    """Co-teaching: two different networks each train on the rows the *other* finds small-loss.

    The forget rate ramps from 0 to ``forget_rate`` over ``gradual_epochs`` (set it to the estimated
    noise rate, e.g. the audit's label-issue rate). The two networks must differ — in architecture
    (``models``) or in the features each sees (``views="split"``: disjoint random halves) — because
    two identical networks make the same mistakes and co-teaching then degenerates to self-training;
    identical choices raise :class:`~labelaudit.errors.ConfigError`. Predictions average both.
    """

    def __init__(
        self,
        models: tuple[str, str] = ("mlp", "mlp2"),
        views: str = "same",
        forget_rate: float = 0.2,
        gradual_epochs: int = 10,
        loss: str = "ce",
        epochs: int | None = None,
        batch_size: int = 128,
        lr: float | None = None,
        weight_decay: float = 1e-4,
        device: str = "auto",
        threads: int | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.models = models
        self.views = views
        self.forget_rate = forget_rate
        self.gradual_epochs = gradual_epochs
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.device = device
        self.threads = threads
        self.random_state = random_state

    def _validate(self) -> tuple[str, str]:
        models = tuple(self.models)
        if len(models) != 2:
            raise ConfigError(f"co-teaching trains exactly two models (got {len(models)})")
        for m in models:
            _hidden(m)
        if self.views not in {"same", "split"}:
            raise ConfigError(f"co-teaching views must be 'same' or 'split' (got '{self.views}')")
        if models[0] == models[1] and self.views == "same":
            raise ConfigError(
                f"co-teaching needs two different models: two identical '{models[0]}' networks on the same "
                "features give no diversity; pick two architectures (e.g. mlp,mlp2) or split the features"
            )
        if not 0.0 <= self.forget_rate < 1.0:
            raise ConfigError(f"the co-teaching forget rate must be in [0, 1) (got {self.forget_rate})")
        return models  # type: ignore[return-value]

    def fit(self, X, y):
        torch = require_torch()
        from labelaudit.robust import losses as L

        models = self._validate()
        Xs, codes = self._prepare_fit(X, y)
        device = resolve_device(self.device)
        seed = 0 if self.random_state is None else int(self.random_state)
        rng = np.random.default_rng(seed)
        K = len(self.classes_)
        d = Xs.shape[1]
        if self.views == "split":
            if d < 2:
                raise ConfigError("co-teaching views='split' needs at least two features")
            perm = rng.permutation(d)
            self.views_ = (np.sort(perm[: d // 2]), np.sort(perm[d // 2 :]))
        else:
            self.views_ = (np.arange(d), np.arange(d))
        epochs = self.epochs or _auto_epochs(len(Xs), self.batch_size)
        with _seeded(seed, device, self.threads):
            nets = [make_net(len(v), K, _hidden(m), 0.0).to(device) for m, v in zip(models, self.views_, strict=True)]
            opts = [
                torch.optim.Adam(n.parameters(), lr=_lr(self.lr, m), weight_decay=self.weight_decay)
                for n, m in zip(nets, models, strict=True)
            ]
            Xt = torch.from_numpy(Xs).to(device)
            views = [torch.from_numpy(v).to(device) for v in self.views_]
            T = L.smooth_targets(torch.from_numpy(codes), K).to(device)
            n = len(Xs)
            for net in nets:
                net.train()
            for epoch in range(epochs):
                rate = self.forget_rate * min(1.0, epoch / max(1, self.gradual_epochs))
                order = torch.from_numpy(rng.permutation(n)).to(device)
                for i in range(0, n, self.batch_size):
                    idx = order[i : i + self.batch_size]
                    xb, tb = Xt[idx], T[idx]
                    logits = [net(xb[:, v]) for net, v in zip(nets, views, strict=True)]
                    with torch.no_grad():
                        ranks = [L.per_sample_loss(self.loss, lg, tb).argsort() for lg in logits]
                    keep = max(1, int(round((1.0 - rate) * len(idx))))
                    # each network learns from the rows its peer finds small-loss
                    for net_i, peer in ((0, 1), (1, 0)):
                        sel = ranks[peer][:keep]
                        loss = L.per_sample_loss(self.loss, logits[net_i][sel], tb[sel]).mean()
                        opts[net_i].zero_grad()
                        loss.backward()
                        opts[net_i].step()
            self.nets_ = [net.cpu() for net in nets]
        self.epochs_ = epochs
        return self

    def predict_proba(self, X) -> np.ndarray:
        Xs = self._transform(X)
        probs = [_predict_net(net, Xs[:, v], "cpu") for net, v in zip(self.nets_, self.views_, strict=True)]
        return (probs[0] + probs[1]) / 2.0
