"""The report's content, built once from an audit and shared by every format (JSON schema v1)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelaudit._version import __version__
from labelaudit.audit import Audit
from labelaudit.errors import LabelAuditError
from labelaudit.io.audited_data import AuditedData, load_audited_data
from labelaudit.report.recommend import recommendations

REPORT_SCHEMA_VERSION = 1
#: columns of the row data shown beside each issue in tables (all of them go to review exports)
ROW_PREVIEW_COLUMNS = 12


def try_load_data(audit: Audit, data: Path | None) -> tuple[AuditedData | None, str | None]:
    """The audited data when it can be found and verified; else None and why."""
    if audit.manifest.get("kind") == "crowd":
        from labelaudit.clean.filtering import crowd_items_data

        return crowd_items_data(audit), None
    try:
        return load_audited_data(audit, data), None
    except LabelAuditError as err:
        if data is not None:
            raise
        return None, str(err)


def _clean(v: Any) -> Any:
    if v is None or v is pd.NA:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, (pd.Timestamp,)):
        return v.isoformat()
    if isinstance(v, (list, tuple, np.ndarray)):
        return f"<vector of {len(v)}>"
    return v


def row_data(
    data: AuditedData | None, rows: list[int], preview: bool, id_column: str | None = None
) -> dict[int, dict[str, Any]]:
    """Values of the given rows, without the label and id columns (they have their own fields)."""
    if data is None:
        return {}
    cols = [c for c in data.frame.columns if c not in (data.label_column, id_column)]
    if preview:
        cols = cols[:ROW_PREVIEW_COLUMNS]
    sub = data.typed(cols).iloc[rows]
    return {
        r: {str(c): _clean(v) for c, v in zip(cols, vals, strict=True)}
        for r, vals in zip(rows, sub.itertuples(index=False, name=None), strict=True)
    }


def issue_reasons(rec: pd.Series, columns: list[str]) -> list[str]:
    return [c[3:-6] for c in columns if c.startswith("is_") and c.endswith("_issue") and bool(rec[c])]


def top_issues(
    audit: Audit, n: int | None, data: AuditedData | None, *, preview: bool = True, budget: int | None = None
) -> list[dict[str, Any]]:
    """The flagged rows by rank (``n`` of them), or with ``budget`` the rows worth a look first."""
    iss = audit.issues
    if budget is not None:
        from labelaudit.crowd.active import review_order

        flagged = iss.iloc[review_order(audit, budget)]
    else:
        flagged = iss[iss["is_label_issue"]].sort_values("rank")
    if n is not None:
        flagged = flagged.head(n)
    rows = [int(r) for r in flagged["row"]]
    datas = row_data(data, rows, preview, audit.manifest.get("id_column"))
    names = {str(c): i for i, c in enumerate(audit.class_names)}
    out = []
    cols = list(iss.columns)
    for r, rec in zip(rows, (flagged.loc[i] for i in flagged.index), strict=True):
        sug = rec["suggested_label"]
        prob = float(audit.pred_probs[r, names[str(sug)]]) if str(sug) in names else None
        item = {
            "row": r,
            "id": _clean(rec["id"]) if "id" in cols else None,
            "rank": int(rec["rank"]),
            "given_label": _clean(rec["given_label"]),
            "suggested_label": _clean(sug),
            "label_quality": _clean(float(rec["label_quality"])),
            "suggested_probability": prob,
            "issues": issue_reasons(rec, cols),
        }
        if data is not None:
            item["data"] = datas[r]
        out.append(item)
    return out


WORST_ANNOTATORS = 10


def worst_annotators(audit: Audit) -> list[dict[str, Any]]:
    """Crowd audits: the lowest-quality annotators (an empty list otherwise)."""
    table = audit.tables.get("annotators")
    if table is None:
        return []
    worst = table.sort_values(["quality", "annotator"]).head(WORST_ANNOTATORS)
    return [{k: _clean(v) for k, v in rec.items()} for rec in worst.to_dict(orient="records")]


def quality_interval(a: dict) -> str:
    """An annotator's 95 % interval on quality, as text (empty for audits made before it existed)."""
    lo, hi = a.get("quality_low"), a.get("quality_high")
    return f"{lo:.2f}–{hi:.2f}" if isinstance(lo, float) and isinstance(hi, float) else ""


def text_column(manifest: dict[str, Any]) -> str | None:
    """The column of a text audit (given with --text, or inferred), else None."""
    if manifest.get("data_kind") != "text":
        return None
    cols = manifest.get("feature_columns") or []
    return (manifest.get("options") or {}).get("text") or (cols[0] if cols else None)


def build_context(
    audit: Audit,
    *,
    top: int | None,
    data: AuditedData | None,
    data_note: str | None,
    all_columns: bool = False,
    budget: int | None = None,
) -> dict[str, Any]:
    m = audit.manifest
    s = m["summary"]
    return {
        "schema": "labelaudit.report",
        "schema_version": REPORT_SCHEMA_VERSION,
        "tool_version": __version__,
        "audit": str(audit.path) if audit.path else None,
        "input": m["input"],
        "model": m["model"],
        "summary": {
            "rows": s["rows"],
            "classes": s["classes"],
            "labeled_rows": s["labeled_rows"],
            "assessed_rows": s["assessed_rows"],
            "label_issues": s["checks"]["label"]["count"],
            "label_issue_rate": s["checks"]["label"]["rate"],
            "estimated_noise_rate": s["checks"]["label"]["estimated_noise_rate"],
            "estimated_label_errors": s["checks"]["label"].get("estimated_errors"),
            "not_assessed": s["not_assessed"],
        },
        "per_class": s["per_class"],
        "checks": s["checks"],
        "skipped_checks": s["skipped_checks"],
        "gates": m["gates"],
        "exit_code": m["exit_code"],
        "recommendations": recommendations(audit),
        "top_issues": top_issues(audit, top, data, preview=not all_columns, budget=budget),
        "row_data": "included" if data is not None else f"unavailable: {data_note}",
        "selection": f"--budget {budget}: the rows worth a look first"
        if budget is not None
        else "flagged rows by rank",
        "annotators": worst_annotators(audit),
        "text_column": text_column(m),
        "run": {
            "command": m.get("command"),
            "created": m.get("created"),
            "libraries": m["libraries"],
            "folds": m["folds"],
            "seed": m["seed"],
            "knn": m.get("knn"),
            "timings": m["timings"],
            "options": m["options"],
            "config_file": m.get("config_file"),
        },
    }


#: how many outliers and near-duplicate sets the HTML report lists
HTML_LISTED = 20


def html_extras(audit: Audit, data: AuditedData | None) -> dict[str, Any]:
    """What only the HTML report shows: the outliers and near-duplicate sets themselves, and how many data
    columns exist (tables show the first ``ROW_PREVIEW_COLUMNS``; the review-csv export holds them all)."""
    iss = audit.issues
    id_col = audit.manifest.get("id_column")
    out: dict[str, Any] = {"outlier_rows": [], "duplicate_sets": [], "data_columns_total": 0}
    if data is not None:
        out["data_columns_total"] = len([c for c in data.frame.columns if c not in (data.label_column, id_col)])

    def rows_of(rows: list[int]) -> list[dict[str, Any]]:
        datas = row_data(data, rows, True, id_col)
        given = iss["given_label"].to_numpy(dtype=object)
        ids = iss["id"].to_numpy(dtype=object) if "id" in iss.columns else None
        return [
            {
                "row": r,
                "id": _clean(ids[r]) if ids is not None else None,
                "given_label": _clean(given[r]),
                "data": datas.get(r, {}),
            }
            for r in rows
        ]

    if "is_outlier_issue" in iss.columns:
        flagged = iss[iss["is_outlier_issue"].astype(bool)]
        worst = flagged.sort_values(["outlier_score", "row"]).head(HTML_LISTED)["row"].astype(int).tolist()
        out["outlier_rows"] = rows_of(worst)
        for rec, r in zip(out["outlier_rows"], worst, strict=True):
            rec["score"] = _clean(iss["outlier_score"].iat[r])
    if "near_duplicate_set" in iss.columns:
        sets = iss.loc[iss["near_duplicate_set"].fillna(-1).astype(int) >= 0, ["row", "near_duplicate_set"]]
        for sid, grp in list(sets.groupby("near_duplicate_set", sort=True))[:HTML_LISTED]:
            out["duplicate_sets"].append({"set": int(sid), "rows": rows_of(grp["row"].astype(int).tolist())})
        out["duplicate_sets_total"] = int(sets["near_duplicate_set"].nunique())
    return out


def row_images(audit: Audit, data: AuditedData | None, rows: list[int]) -> dict[int, str | None]:
    """Rows as image data URIs when the scan named images (``--image COL`` or ``--image-shape``); else {}."""
    facts = audit.manifest.get("image")
    if not facts or data is None or not rows:
        return {}
    from labelaudit.images import data_uri, file_uri, png_bytes, to_pixels

    if "column" in facts:
        base = Path(audit.manifest["input"]["path"]).parent
        col = data.frame[facts["column"]]
        out: dict[int, str | None] = {}
        for r in rows:
            v = col.iat[r]
            if v is None or v is pd.NA or str(v) == "":
                out[r] = None
                continue
            p = Path(str(v))
            out[r] = file_uri(p if p.is_absolute() else base / p)
        return out
    shape = tuple(facts["shape"])
    cols = facts.get("columns") or [c for c in data.frame.columns if c != data.label_column]
    values = data.typed(list(cols)).iloc[rows].to_numpy(dtype=np.float64)
    return {r: data_uri(png_bytes(to_pixels(v, shape))) for r, v in zip(rows, values, strict=True)}


def add_images(audit: Audit, data: AuditedData | None, ctx: dict[str, Any]) -> None:
    """Put each listed row's image (or None) into the context, for the HTML report and review exports."""
    if not audit.manifest.get("image"):
        return
    extras = ctx.get("html") or {}
    listed = [*ctx["top_issues"], *extras.get("outlier_rows", [])]
    listed += [r for d in extras.get("duplicate_sets", []) for r in d["rows"]]
    images = row_images(audit, data, sorted({int(item["row"]) for item in listed}))
    for item in listed:
        item["image"] = images.get(int(item["row"]))
    ctx["images"] = True
