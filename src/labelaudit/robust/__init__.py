"""Noise-robust training: robust losses (GCE, SCE), label smoothing, MixUp and co-teaching.

torch is an optional dependency (``pip install 'labelaudit[torch]'``). Importing this package never
imports torch; the estimators do when they are fitted, and raise
:class:`~labelaudit.errors.ExtraMissingError` naming the extra when it is missing.
"""

from __future__ import annotations

from labelaudit.errors import ExtraMissingError

TORCH_HINT = (
    "this needs PyTorch: pip install 'labelaudit[torch]' "
    "(CPU-only build: pip install torch --index-url https://download.pytorch.org/whl/cpu)"
)


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def require_torch():
    """Return the torch module or raise :class:`ExtraMissingError` naming the extra."""
    try:
        import torch
    except ImportError:
        raise ExtraMissingError(TORCH_HINT) from None
    return torch


def __getattr__(name: str):
    if name in {"RobustClassifier", "CoTeachingClassifier"}:
        from labelaudit.robust import estimators

        return getattr(estimators, name)
    raise AttributeError(name)


__all__ = ["CoTeachingClassifier", "RobustClassifier", "require_torch", "torch_available", "TORCH_HINT"]
