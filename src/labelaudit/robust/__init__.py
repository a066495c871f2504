"""Noise-robust training: robust losses (GCE, SCE), label smoothing, MixUp and co-teaching.

torch is an optional dependency (``pip install 'labelaudit[torch]'``). Importing this package never
imports torch; the estimators do when they are fitted, and raise
:class:`~labelaudit.errors.ExtraMissingError` naming the extra when it is missing.
"""

from __future__ import annotations

from labelaudit.extras import TORCH_HINT, require_torch, torch_available

__all__ = ["TORCH_HINT", "require_torch", "torch_available", "RobustClassifier", "CoTeachingClassifier"]


def __getattr__(name: str):
    if name in {"RobustClassifier", "CoTeachingClassifier"}:
        from labelaudit.robust import estimators

        return getattr(estimators, name)
    raise AttributeError(name)


__all__ = ["CoTeachingClassifier", "RobustClassifier", "require_torch", "torch_available", "TORCH_HINT"]
