"""The names a scan is configured with (checks, models, KNN methods, where its audit goes), importable without
numpy or scikit-learn.

``ScanOptions`` validates against these while the CLI parses its arguments, before the heavy modules
load: the time from the command to its first progress line stays under half a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from labelaudit.errors import ConfigError


class CheckName(str, Enum):
    label = "label"
    outlier = "outlier"
    near_duplicate = "near_duplicate"
    non_iid = "non_iid"
    class_imbalance = "class_imbalance"
    null = "null"
    underperforming_group = "underperforming_group"
    data_valuation = "data_valuation"


ALL_CHECKS = [c.value for c in CheckName]


class ModelName(str, Enum):
    """Models for out-of-fold probabilities."""

    auto = "auto"
    hgb = "hgb"
    logreg = "logreg"
    knn = "knn"
    rf = "rf"
    ensemble = "ensemble"
    mlp = "mlp"
    """torch MLP trained with Generalized Cross Entropy (needs labelaudit[torch])."""


class KnnMethod(str, Enum):
    auto = "auto"
    exact = "exact"
    approx = "approx"


class Consensus(str, Enum):
    """How a crowd audit reaches each item's consensus label."""

    auto = "auto"
    majority = "majority"
    dawid_skene = "dawid-skene"
    crowdlab = "crowdlab"


class ExportFormat(str, Enum):
    auto = "auto"
    long = "long"
    label_studio = "label-studio"
    label_studio_csv = "label-studio-csv"
    mturk = "mturk"
    toloka = "toloka"


@dataclass(frozen=True)
class FlagSize:
    """How many rows to flag: ``auto``, ``conservative``, a number of rows or a rate (share of assessed rows)."""

    mode: str = "auto"
    value: float | None = None

    @classmethod
    def parse(cls, value: Any) -> FlagSize:
        if isinstance(value, FlagSize):
            return value
        text = str(value).strip().lower()
        if text in ("auto", "conservative"):
            return cls(text)
        try:
            if text.endswith("%"):
                rate = float(text[:-1]) / 100
            elif text.isdigit():
                return cls("count", float(int(text)))
            else:
                rate = float(text)
        except ValueError:
            raise ConfigError(
                f"--flag-size must be auto, conservative, a number of rows (500) or a rate (0.05 or 5%) (got '{value}')"
            ) from None
        if not 0.0 <= rate <= 1.0:
            raise ConfigError(f"--flag-size rate must be between 0 and 1 (got {rate:g}); 5 % is 0.05")
        return cls("rate", rate)

    def to_json(self) -> str:
        if self.mode == "count":
            return str(int(self.value or 0))
        if self.mode == "rate":
            return f"{self.value:g}"
        return self.mode


def default_audit_dir(data: Path, cwd: Path | None = None) -> Path:
    """``<input stem>.labelaudit`` in ``cwd`` (default: the current directory)."""
    return (cwd or Path.cwd()) / f"{Path(data).stem}.labelaudit"
