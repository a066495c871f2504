"""Validation of user-supplied predicted probabilities (``--pred-probs``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from labelaudit.errors import InputError
from labelaudit.io.readers import read_pred_probs

SUM_TOLERANCE = 1e-3


def load_pred_probs(path: Path, n_rows: int, class_names: list[Any]) -> tuple[np.ndarray, list[str]]:
    """pred_probs as float32 in class-name order, and notes; clear errors for any mismatch."""
    arr, names = read_pred_probs(path)
    notes: list[str] = []
    k = len(class_names)
    if arr.shape[0] != n_rows:
        raise InputError(
            f"{path.name} has {arr.shape[0]} rows but the data has {n_rows}; give one row of probabilities "
            "per data row, in the same order"
        )
    if arr.shape[1] != k:
        raise InputError(
            f"{path.name} has {arr.shape[1]} columns but the labels have {k} classes "
            f"({', '.join(map(str, class_names[:10]))}); give one column per class"
        )
    if names is not None:
        wanted = [str(c) for c in class_names]
        if set(names) == set(wanted):
            order = [names.index(w) for w in wanted]
            arr = arr[:, order]
            notes.append(f"{path.name}: columns matched to classes by name")
        else:
            notes.append(
                f"{path.name}: column names {names[:5]} are not the class names; columns taken in sorted class order"
            )
    else:
        notes.append(f"{path.name}: NPY columns taken in sorted class order ({', '.join(map(str, class_names[:10]))})")
    finite = np.isfinite(arr)
    if not finite.all():
        row = int(np.flatnonzero(~finite.all(axis=1))[0])
        raise InputError(f"{path.name} has NaN or infinite values (first in row {row}); give probabilities")
    if (arr < 0).any() or (arr > 1 + SUM_TOLERANCE).any():
        row = int(np.flatnonzero(((arr < 0) | (arr > 1 + SUM_TOLERANCE)).any(axis=1))[0])
        raise InputError(
            f"{path.name} has values outside [0, 1] (first in row {row}); give probabilities, "
            "not logits: apply a softmax first"
        )
    sums = arr.sum(axis=1)
    bad = np.abs(sums - 1.0) > SUM_TOLERANCE
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{path.name}: rows must sum to 1, but {int(bad.sum())} do not (row {row} sums to {sums[row]:.4g}); "
            "give probabilities, not logits or scores: apply a softmax first"
        )
    out = (arr / sums[:, None]).astype(np.float32)
    return out, notes
