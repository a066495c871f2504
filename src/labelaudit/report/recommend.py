"""What to do next, from the estimated noise rate and its structure. Every threshold lives here.

The decision table follows the field's practice: light noise (~5 %) -> label smoothing (+ MixUp) may
be enough; moderate -> review and filter, then retrain; heavy (> 30 %) -> a robust loss (GCE) plus
filtering; people who can review should get the suspects exported; rows with no confident
alternative may be hard but correct and are not to be deleted blindly.
"""

from __future__ import annotations

import contextlib
import shlex
from pathlib import Path
from typing import Any

import numpy as np

from labelaudit.checks.label import WEAK_MODEL_CONFIDENCE, mean_top_probability

CLEAN_BELOW = 0.02
LIGHT_BELOW = 0.10
HEAVY_ABOVE = 0.30
#: a flagged row whose most likely class has less probability than this has no confident alternative
UNSURE_SUGGESTION = 0.5
#: one (given -> suggested) pair holding at least this share of flagged rows means asymmetric noise
ASYMMETRIC_SHARE = 0.3


def shell_path(path: Path | str | None, placeholder: str = "AUDIT") -> str:
    """``path`` as a user would type it: relative to the working directory when inside it, shell-quoted."""
    if path is None:
        return placeholder
    p = Path(path)
    with contextlib.suppress(ValueError):
        p = p.resolve().relative_to(Path.cwd().resolve())
    return shlex.quote(str(p))


def _rate(rate: float) -> str:
    return f"{rate:.1%}" if rate < 0.1 else f"{rate:.0%}"


def recommendations(audit) -> list[dict[str, str]]:
    """Short, ordered advice; each item has an ``id`` (stable, for scripts) and a ``text``.

    Commands name the audit's real path (``AUDIT`` only for an audit that was never saved).
    """
    s = audit.summary
    lab = s["checks"]["label"]
    out: list[dict[str, str]] = [_noise_level(float(lab["estimated_noise_rate"]), lab["count"])]

    def add(key: str, text: str) -> None:
        out.append({"id": key, "text": text})

    weak = _weak_model(audit, lab)
    if weak and lab["count"]:
        add("weak-model", weak)

    if lab["count"]:
        where = shell_path(getattr(audit, "path", None))
        sheet = shell_path(review_sheet_path(getattr(audit, "path", None)), "review.csv")
        add(
            "review",
            f"People can review the {lab['count']} suspects before anything is deleted: labelaudit report {where} "
            f"--format review-csv --output {sheet} (or label-studio / argilla), fill in its decision column, then "
            f"labelaudit filter {where} --decisions {sheet}.",
        )
    out += _flagged_advice(audit)
    checks = s["checks"]
    if checks.get("non_iid", {}).get("significant"):
        add(
            "non-iid",
            "The data order is not i.i.d. (neighbours in feature space sit close in the file): shuffle "
            "before splitting and check for drift or duplicated batches.",
        )
    if checks.get("near_duplicate", {}).get("count"):
        add(
            "near-duplicates",
            "Near duplicates found: keep one per set before splitting train/test, or the test "
            "score leaks (labelaudit filter --checks near_duplicate).",
        )
    ug = checks.get("underperforming_group", {})
    if ug.get("n_groups"):
        add(
            "underperforming-groups",
            f"The model is close to chance in {ug['n_groups']} region(s) of the data ({ug['count']} rows; see the "
            "report's underperforming groups): relabel them or collect more rows like them, and check whether a "
            "feature that would tell them apart is missing.",
        )
    dv = checks.get("data_valuation", {})
    if dv.get("count"):
        add(
            "low-value-rows",
            f"{dv['count']} rows have a negative KNN-Shapley value (their label disagrees with their neighbours): "
            "they hurt a model more than they help; review them with the label suspects "
            "(labelaudit filter --checks label,data_valuation --action flag marks both).",
        )
    if s["not_assessed"]["rare_classes"]:
        add("rare-classes", "Some classes are too small to assess: collect more rows for them or review them by hand.")
    add(
        "clean-test",
        "Evaluate on a clean, reviewed test set, never on the noisy labels, and re-run the audit "
        "after the model improves.",
    )
    return out


def _noise_level(rate: float, count: int) -> dict[str, str]:
    """The one line on how noisy the labels are and what that calls for."""
    if rate < CLEAN_BELOW and count == 0:
        return {
            "id": "clean",
            "text": "Labels look clean: no action beyond spot checks. Re-run the audit when data or model change.",
        }
    if rate < CLEAN_BELOW:
        return {
            "id": "nearly-clean",
            "text": f"Labels look nearly clean (estimated noise ~{_rate(rate)}): review the {count} flagged rows; "
            "no change to training is needed.",
        }
    if rate < LIGHT_BELOW:
        return {
            "id": "light-noise",
            "text": f"Light noise (~{_rate(rate)}): training with label smoothing (0.1) and MixUp may be enough; "
            "review the flagged rows if you can.",
        }
    if rate <= HEAVY_ABOVE:
        return {
            "id": "moderate-noise",
            "text": f"Moderate noise (~{_rate(rate)}): review and remove or relabel the flagged rows "
            "(labelaudit filter), then retrain; a robust loss (GCE) helps with what remains.",
        }
    return {
        "id": "heavy-noise",
        "text": f"Heavy noise (~{_rate(rate)}): train with a robust loss (GCE) plus filtering, and fix the "
        "labelling process; expect the audit itself to be less reliable at this level.",
    }


def _weak_model(audit, lab: dict[str, Any]) -> str:
    """A warning when the model is unsure of a typical row (very noisy labels look the same to it)."""
    if (getattr(audit, "manifest", None) or {}).get("kind") == "crowd":  # a consensus posterior, not a model
        return ""
    iss = audit.issues
    assessed = iss["label_assessed"].to_numpy(dtype=bool) if "label_assessed" in iss else np.ones(len(iss), bool)
    if not assessed.any():
        return ""
    top = mean_top_probability(audit.pred_probs, assessed)
    if top >= WEAK_MODEL_CONFIDENCE:
        return ""
    given = iss["given_label"].astype(str).to_numpy()[assessed]
    agree = float((given == iss["suggested_label"].astype(str).to_numpy()[assessed]).mean())
    text = (
        f"The model is unsure of most rows (mean top probability {top:.0%}; it agrees with {agree:.0%} of the "
        "given labels): either the labels are very noisy or the model is weak, and where it is weak its own "
        "mistakes count as label errors: the estimated errors may be several times too many."
    )
    if lab.get("flag_count_capped_by"):
        text += f" Only the {lab['count']} confident disagreements are flagged."
    return text + " Try better features, another --model or --pred-probs from a stronger model."


def _flagged_advice(audit) -> list[dict[str, str]]:
    """Advice from the flagged rows themselves: no confident alternative, one dominant confusion."""
    iss = audit.issues
    flagged = iss["is_label_issue"].to_numpy()
    out: list[dict[str, str]] = []
    if not flagged.any():
        return out
    unsure = int((audit.pred_probs[flagged].max(axis=1) < UNSURE_SUGGESTION).sum())
    if unsure:
        out.append(
            {
                "id": "hard-examples",
                "text": f"{unsure} flagged rows have no confident alternative label (top probability "
                f"< {UNSURE_SUGGESTION:.0%}): they may be hard but correct; review them rather than delete them.",
            }
        )
    counts = iss.loc[flagged, ["given_label", "suggested_label"]].astype(str).value_counts()
    if len(counts) and counts.iloc[0] / flagged.sum() >= ASYMMETRIC_SHARE and flagged.sum() >= 5:
        (g, sug), n = counts.index[0], int(counts.iloc[0])
        out.append(
            {
                "id": "asymmetric",
                "text": f"Noise is asymmetric: {n} of {int(flagged.sum())} flagged rows are '{g}' that look "
                f"like '{sug}'. Check the labelling guidelines for these two classes.",
            }
        )
    return out


def review_sheet_path(audit_path: Path | str | None) -> Path | None:
    """Where the suggested review sheet goes: ``<audit stem>.review.csv`` beside the audit directory."""
    if audit_path is None:
        return None
    p = Path(audit_path)
    stem = p.name[: -len(".labelaudit")] if p.name.endswith(".labelaudit") else p.name
    return p.with_name(f"{stem}.review.csv")


def flagged_matrix(audit) -> tuple[list[Any], np.ndarray]:
    """Counts of flagged rows by (given, suggested) class: rows given, columns suggested."""
    names = audit.class_names
    index = {str(n): i for i, n in enumerate(names)}
    m = np.zeros((len(names), len(names)), dtype=np.int64)
    iss = audit.issues[audit.issues["is_label_issue"]]
    for g, sug in zip(iss["given_label"].astype(str), iss["suggested_label"].astype(str), strict=True):
        if g in index and sug in index:
            m[index[g], index[sug]] += 1
    return names, m
