"""Optional extras: one place that says whether torch is there and how to install it."""

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
