"""Score an audit against a truth file (which rows really are mislabelled)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelaudit.audit import Audit
from labelaudit.errors import InputError


def read_truth(path: Path, n_rows: int) -> np.ndarray:
    """Boolean is-noisy per row from a truth file (``row`` plus ``is_noisy`` or original/noisy labels)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"truth file {path} not found; check the path")
    try:
        df = pd.read_parquet(path) if path.suffix.lower() in {".parquet", ".pq"} else pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise InputError(f"{path.name} is not a readable truth file ({err})") from None
    if "row" not in df.columns:
        raise InputError(f"{path.name} needs a 'row' column (0-based row of the audited data)")
    if "is_noisy" in df.columns:
        noisy = df["is_noisy"].astype(str).str.lower().isin({"true", "1"}).to_numpy()
    elif {"original_label", "noisy_label"} <= set(df.columns):
        noisy = (df["original_label"].astype(str) != df["noisy_label"].astype(str)).to_numpy()
    else:
        raise InputError(f"{path.name} needs 'is_noisy', or 'original_label' and 'noisy_label' columns")
    rows = df["row"].to_numpy()
    if len(rows) != n_rows or set(rows.tolist()) != set(range(n_rows)):
        raise InputError(
            f"{path.name} describes {len(rows)} rows but the audit has {n_rows}; use the truth file "
            "written with this data"
        )
    out = np.zeros(n_rows, dtype=bool)
    out[rows] = noisy
    return out


def detection_scores(flagged: np.ndarray, quality: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Precision, recall, F1 of the flagged set and AUPRC of the ranking (lower quality = more suspect)."""
    from sklearn.metrics import average_precision_score

    tp = int((flagged & truth).sum())
    precision = tp / max(int(flagged.sum()), 1)
    recall = tp / max(int(truth.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    score = -np.where(np.isnan(quality), np.inf, quality)
    auprc = float(average_precision_score(truth, score)) if truth.any() and not truth.all() else float("nan")
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "auprc": round(auprc, 4),
        "true_errors": int(truth.sum()),
        "flagged": int(flagged.sum()),
        "true_positives": tp,
    }


def score_audit(audit: Audit, truth_path: Path) -> dict[str, Any]:
    truth = read_truth(truth_path, len(audit.issues))
    scores = detection_scores(
        audit.issues["is_label_issue"].to_numpy(), audit.issues["label_quality"].to_numpy(dtype=float), truth
    )
    scores["truth_file"] = str(truth_path)
    return scores
