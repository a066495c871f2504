"""Save and load a retrained model without bare pickles.

A model directory holds ``model.json`` (classes, features, strategy, parameters, metrics, versions,
input and test hashes), the weights — ``model.pt`` (a torch state dict, read back with
``torch.load(weights_only=True)``) or ``model.skops`` (scikit-learn, loaded trusting only
scikit-learn/numpy/scipy types) — ``predictions.parquet`` (the evaluation rows' given label,
prediction and class probabilities) and ``comparison.json`` (every strategy's scores).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelaudit._version import __version__
from labelaudit.errors import AuditFormatError, ExtraMissingError
from labelaudit.io.atomic import atomic_directory
from labelaudit.retrain.strategies import RetrainResult

MODEL_JSON = "model.json"
TORCH_WEIGHTS = "model.pt"
SKOPS_FILE = "model.skops"
PREDICTIONS = "predictions.parquet"
COMPARISON = "comparison.json"
MODEL_SCHEMA = "labelaudit.model/1"
#: the types (beyond skops' own defaults) that the scikit-learn models labelaudit saves consist of, by exact
#: name: a prefix such as "builtins." would let a crafted file call ``builtins.exec`` while loading
TRUSTED_TYPES = frozenset(
    {
        "functools.partial",
        "numpy.dtype",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.tree._tree.Tree",
        "sklearn.utils._bunch.Bunch",
        "sklearn.utils.validation.check_array",
    }
)


def _versions() -> dict[str, str]:
    from labelaudit.manifest import library_versions

    out = library_versions()
    out["labelaudit"] = __version__
    try:
        from importlib.metadata import version

        out["torch"] = version("torch")
    except Exception:  # noqa: BLE001 - torch is optional
        out["torch"] = "not installed"
    return out


def _torch_state(est) -> dict[str, Any]:
    import torch

    state: dict[str, Any] = {
        "median": torch.from_numpy(est.median_),
        "mean": torch.from_numpy(est.mean_),
        "scale": torch.from_numpy(est.scale_),
        "classes": torch.from_numpy(np.asarray(est.classes_, dtype=np.int64)),
    }
    if hasattr(est, "nets_"):
        for i, (net, view) in enumerate(zip(est.nets_, est.views_, strict=True)):
            state.update({f"net{i}.{k}": v for k, v in net.state_dict().items()})
            state[f"view{i}"] = torch.from_numpy(np.asarray(view, dtype=np.int64))
    else:
        state.update({f"net.{k}": v for k, v in est.net_.state_dict().items()})
    return state


def predictions_frame(result: RetrainResult) -> pd.DataFrame:
    r = result.chosen_result
    classes = [str(c) for c in result.data.classes]
    proba = r.proba
    assert proba is not None
    frame = pd.DataFrame(
        {
            "row": result.eval_rows.astype(np.int64),
            "given_label": [classes[i] for i in result.y_eval],
            "predicted_label": [classes[i] for i in proba.argmax(1)],
            "confidence": proba.max(1).astype(np.float32),
        }
    )
    for j, c in enumerate(classes):
        frame[f"p[{c}]"] = proba[:, j].astype(np.float32)
    return frame


def save_model(result: RetrainResult, out: Path, *, force: bool = False) -> Path:
    """Write the chosen strategy's model, metadata, evaluation predictions and the comparison (atomically)."""
    r = result.chosen_result
    est = r.estimator
    m = result.audit.manifest
    meta: dict[str, Any] = {
        "schema": MODEL_SCHEMA,
        "strategy": r.strategy.to_json(),
        "estimator": type(est).__name__,
        "estimator_params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in est.get_params().items()},
        "classes": [c if isinstance(c, (int, str, bool)) else str(c) for c in result.data.classes],
        "features": result.data.feature_names,
        "n_features": len(result.data.feature_names),
        "feature_columns": m.get("feature_columns"),
        "label_column": m.get("label_column"),
        "metrics": r.metrics,
        "evaluation": result.evaluation,
        "trained_on": {"input": m.get("input"), "rows": r.train_rows, "seed": result.seed},
        "versions": _versions(),
    }
    inputs = [*result.audit.input_paths(), result.audit.path, getattr(result.data, "test_path", None)]
    with atomic_directory(Path(out), force=force, inputs=inputs, kind="model") as tmp:
        if type(est).__name__ in {"RobustClassifier", "CoTeachingClassifier"}:
            import torch

            torch.save(_torch_state(est), tmp / TORCH_WEIGHTS)
            meta["weights"] = TORCH_WEIGHTS
        else:
            import skops.io as sio

            sio.dump(est, tmp / SKOPS_FILE)
            meta["weights"] = SKOPS_FILE
        (tmp / MODEL_JSON).write_text(json.dumps(meta, indent=2, default=str) + "\n")
        predictions_frame(result).to_parquet(tmp / PREDICTIONS, index=False)
        (tmp / COMPARISON).write_text(json.dumps(result.to_json(), indent=2, default=str) + "\n")
    return Path(out)


def load_model(path: str | Path):
    """Load a model directory written by ``retrain --out``: an estimator with ``predict_proba``."""
    path = Path(path)
    try:
        meta = json.loads((path / MODEL_JSON).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise AuditFormatError(
            f"{path} is not a labelaudit model directory ({err}); run 'labelaudit retrain --out'"
        ) from None
    if meta.get("schema") != MODEL_SCHEMA:
        raise AuditFormatError(f"{path}: model schema {meta.get('schema')!r}, expected {MODEL_SCHEMA!r}")
    if meta["weights"] == SKOPS_FILE:
        import skops.io as sio

        try:
            untrusted = sio.get_untrusted_types(file=path / SKOPS_FILE)
        except Exception as err:  # noqa: BLE001 - any damage to the zip or its schema
            raise AuditFormatError(
                f"{path / SKOPS_FILE} is not a readable skops file ({err}); re-run retrain"
            ) from None
        bad = sorted(t for t in untrusted if t not in TRUSTED_TYPES)
        if bad:
            raise AuditFormatError(
                f"{path / SKOPS_FILE} holds types labelaudit does not trust ({', '.join(bad)[:300]}); it was not "
                "loaded, since loading them could run code: load only model directories 'labelaudit retrain --out' "
                "wrote"
            )
        return sio.load(path / SKOPS_FILE, trusted=sorted(untrusted))
    try:
        import torch
    except ImportError:
        raise ExtraMissingError("this model was trained with torch: pip install 'labelaudit[torch]'") from None
    from labelaudit.robust.estimators import ARCHITECTURES, CoTeachingClassifier, RobustClassifier, make_net

    state = torch.load(path / TORCH_WEIGHTS, weights_only=True, map_location="cpu")
    params = dict(meta["estimator_params"])
    cls = CoTeachingClassifier if meta["estimator"] == "CoTeachingClassifier" else RobustClassifier
    if "models" in params:
        params["models"] = tuple(params["models"])
    est = cls(**params)
    est.classes_ = state["classes"].numpy()
    est.median_ = state["median"].numpy()
    est.mean_ = state["mean"].numpy()
    est.scale_ = state["scale"].numpy()
    est.n_features_in_ = len(est.mean_)
    k = len(meta["classes"])

    def _net(prefix: str, arch: str, n_in: int):
        net = make_net(n_in, k, ARCHITECTURES[arch], params.get("dropout", 0.0))
        net.load_state_dict({key[len(prefix) :]: v for key, v in state.items() if key.startswith(prefix)})
        net.eval()
        return net

    if cls is CoTeachingClassifier:
        est.views_ = (state["view0"].numpy(), state["view1"].numpy())
        est.nets_ = [_net(f"net{i}.", params["models"][i], len(est.views_[i])) for i in range(2)]
    else:
        est.net_ = _net("net.", params["architecture"], est.n_features_in_)
    return est
