"""One self-contained HTML file: inline PNG plots (matplotlib) rendered into a Jinja2 template.

No scripts and no network at view time. Every value from the data is escaped by Jinja2's autoescape.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from labelaudit.errors import ConfigError
from labelaudit.report.recommend import flagged_matrix

EXTRA_HINT = "the HTML report needs matplotlib and jinja2: pip install 'labelaudit[html]'"


def _imports():
    try:
        import jinja2
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError(EXTRA_HINT) from None
    return jinja2, plt


def _png(fig, plt) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(audit, plt) -> list[dict[str, str]]:
    iss = audit.issues
    plots = []
    q = iss["label_quality"].to_numpy(dtype=float)
    flagged = iss["is_label_issue"].to_numpy()
    ok = ~np.isnan(q)
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    bins = np.linspace(0, 1, 41)
    ax.hist(
        [q[ok & ~flagged], q[ok & flagged]],
        bins=bins,
        stacked=True,
        color=["#9aa5b1", "#d64545"],
        label=["not flagged", "flagged"],
    )
    if flagged.any():
        thr = float(np.nanmax(q[flagged]))
        ax.axvline(thr, color="black", ls="--", lw=1)
        ax.text(thr, ax.get_ylim()[1] * 0.9, f" highest flagged: {thr:.2f}", fontsize=8)
    ax.set_xlabel("label quality (lower = more likely wrong)")
    ax.set_ylabel("rows")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    plots.append({"title": "Label-quality score distribution", "png": _png(fig, plt)})

    per = sorted(audit.summary["per_class"], key=lambda c: -c["rate"])
    names = [str(c["class"]) for c in per]
    rates = [100 * c["rate"] for c in per]
    fig, ax = plt.subplots(figsize=(6.4, max(2.0, 0.3 * len(names) + 1)))
    ax.barh(names, rates, color="#d64545")
    ax.invert_yaxis()
    ax.set_xlabel("flagged rows in class (%)")
    plots.append({"title": "Issue rate per class", "png": _png(fig, plt)})

    classes, m = flagged_matrix(audit)
    k = len(classes)
    fig, ax = plt.subplots(figsize=(min(1.0 + 0.5 * k, 12), min(1.0 + 0.45 * k, 11)))
    im = ax.imshow(m, cmap="Reds")
    labels = [str(c) for c in classes]
    ax.set_xticks(range(k), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), labels, fontsize=8)
    ax.set_xlabel("suggested label")
    ax.set_ylabel("given label")
    if k <= 15:
        for i in range(k):
            for j in range(k):
                if m[i, j]:
                    ax.text(
                        j,
                        i,
                        str(m[i, j]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if m[i, j] > m.max() / 2 else "black",
                    )
    fig.colorbar(im, ax=ax, shrink=0.8)
    plots.append({"title": "Flagged rows: given → suggested label", "png": _png(fig, plt)})

    if "outlier_score" in iss.columns:
        o = iss["outlier_score"].to_numpy(dtype=float)
        out = iss["is_outlier_issue"].to_numpy()
        fig, ax = plt.subplots(figsize=(6.4, 3.0))
        ax.hist([o[~out], o[out]], bins=40, stacked=True, color=["#9aa5b1", "#e08a1e"], label=["typical", "outlier"])
        ax.set_xlabel("outlier score (lower = more unusual)")
        ax.set_ylabel("rows")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
        plots.append({"title": "Outlier score distribution", "png": _png(fig, plt)})
    return plots


def render_html(ctx: dict[str, Any], audit) -> str:
    jinja2, plt = _imports()
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("labelaudit.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    columns = []
    extras = ctx.get("html") or {}
    listed = [*ctx["top_issues"], *extras.get("outlier_rows", [])]
    listed += [r for d in extras.get("duplicate_sets", []) for r in d["rows"]]
    for item in listed:
        for k in item.get("data", {}):
            if k not in columns:
                columns.append(k)
    return env.get_template("report.html.j2").render(ctx=ctx, plots=_plots(audit, plt), data_columns=columns)
