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
        elif names == [str(i) for i in range(k)]:
            notes.append(f"{path.name}: columns 0..{k - 1} taken as the classes in sorted order")
        else:
            unknown = [n for n in names if n not in wanted]
            absent = [w for w in wanted if w not in names]
            raise InputError(
                f"{path.name}: columns {', '.join(repr(n[:40]) for n in unknown[:5])} are not class names "
                f"(missing: {', '.join(repr(a[:40]) for a in absent[:5])}); name one column after each class "
                "(or 0..K-1 for sorted class order), or give an NPY in sorted class order"
            )
    else:
        notes.append(f"{path.name}: NPY columns taken in sorted class order ({', '.join(map(str, class_names[:10]))})")
    # one pass each for the smallest and largest value (NaN propagates); the rows are found only on failure
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        row = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise InputError(f"{path.name} has NaN or infinite values (first in row {row}); give probabilities")
    if lo < 0 or hi > 1 + SUM_TOLERANCE:
        row = int(np.flatnonzero(((arr < 0) | (arr > 1 + SUM_TOLERANCE)).any(axis=1))[0])
        raise InputError(
            f"{path.name} has values outside [0, 1] (first in row {row}); give probabilities, "
            "not logits: apply a softmax first"
        )
    sums = arr.sum(axis=1, dtype=np.float64)
    bad = np.abs(sums - 1.0) > SUM_TOLERANCE
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{path.name}: rows must sum to 1, but {int(bad.sum())} do not (row {row} sums to {sums[row]:.4g}); "
            "give probabilities, not logits or scores: apply a softmax first"
        )
    # divided in float64 (the inputs' widest type), stored as float32: as (arr / sums).astype(float32)
    out = np.divide(arr, sums[:, None], out=np.empty(arr.shape, dtype=np.float32), casting="unsafe")
    return out, notes


#: pred_probs look column-permuted when the most likely class agrees with the given label on fewer than
#: half the rows while some reordering of the columns would add at least this much agreement
PERMUTED_MIN_GAIN = 0.25


def permuted_columns_warning(path: Path, pred_probs: np.ndarray, labels: np.ndarray, class_names: list[Any]) -> str:
    """A warning when reordering the columns would make the model agree with the labels far more."""
    ok = labels >= 0
    k = pred_probs.shape[1]
    if ok.sum() == 0 or k < 2:
        return ""
    counts = np.bincount(labels[ok] * k + pred_probs[ok].argmax(axis=1), minlength=k * k).reshape(k, k)
    n = int(ok.sum())
    agree = np.trace(counts) / n
    if agree >= 0.5:
        return ""
    from scipy.optimize import linear_sum_assignment  # 0.4 s to import: only when the columns look wrong

    given, column = linear_sum_assignment(-counts)
    best = counts[given, column].sum() / n
    if agree >= 0.5 or best < agree + PERMUTED_MIN_GAIN:
        return ""
    moved = [(class_names[g], c) for g, c in zip(given, column, strict=True) if g != c]
    shown = ", ".join(f"{name!r} in column {c}" for name, c in moved[:6]) + (" ..." if len(moved) > 6 else "")
    return (
        f"{path.name}: the columns look permuted: the most likely class differs from the given label on "
        f"{1 - agree:.0%} of rows, but with {shown} it would on {1 - best:.0%}. labelaudit reads NPY columns in "
        f"sorted class order ({', '.join(map(str, class_names[:10]))}{', ...' if k > 10 else ''}): reorder the "
        "columns, or give a CSV/Parquet file with one column named after each class"
    )
