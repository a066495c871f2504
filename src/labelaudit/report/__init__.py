"""``labelaudit report``: one audit, many formats, chosen through :class:`ReportFormat`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

from labelaudit.audit import Audit
from labelaudit.errors import ConfigError, InputError
from labelaudit.report.context import build_context, try_load_data


class ReportFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    html = "html"
    review_csv = "review-csv"
    label_studio = "label-studio"
    argilla = "argilla"


#: how many top issues each format shows when --top is not given (None = every flagged row)
DEFAULT_TOP = {
    ReportFormat.table: 10,
    ReportFormat.json: 50,
    ReportFormat.markdown: 20,
    ReportFormat.html: 50,
    ReportFormat.review_csv: None,
    ReportFormat.label_studio: None,
    ReportFormat.argilla: None,
}
NEEDS_ROW_DATA = {ReportFormat.review_csv, ReportFormat.label_studio, ReportFormat.argilla}


def report_context(
    audit: Audit, fmt: ReportFormat, *, top: int | None = None, data: Path | None = None, budget: int | None = None
) -> dict[str, Any]:
    if budget is not None and fmt not in NEEDS_ROW_DATA:
        raise ConfigError(
            f"--budget picks rows for reviewers: use it with --format review-csv, label-studio or argilla "
            f"(not {fmt.value})"
        )
    if budget is not None and budget < 1:
        raise ConfigError(f"--budget must be at least 1 (got {budget})")
    loaded, note = try_load_data(audit, data)
    if loaded is None and fmt in NEEDS_ROW_DATA:
        raise InputError(f"the {fmt.value} export needs the audited rows: {note}")
    n = top if top is not None else DEFAULT_TOP[fmt]
    ctx = build_context(audit, top=n, data=loaded, data_note=note, all_columns=fmt in NEEDS_ROW_DATA, budget=budget)
    if fmt is ReportFormat.html:
        from labelaudit.report.context import html_extras

        ctx["html"] = html_extras(audit, loaded)
    if fmt in (ReportFormat.html, ReportFormat.label_studio, ReportFormat.argilla):
        from labelaudit.report.context import add_images

        add_images(audit, loaded, ctx)
    return ctx


def render(audit: Audit, fmt: ReportFormat, ctx: dict[str, Any]) -> dict[str, str]:
    """Text outputs of one format: ``main`` plus, for label-studio, ``config`` (the labeling config)."""
    import json

    if fmt is ReportFormat.json:
        return {"main": json.dumps(ctx, indent=2, default=str) + "\n"}
    if fmt is ReportFormat.markdown:
        from labelaudit.report.markdown import render_markdown

        return {"main": render_markdown(ctx)}
    if fmt is ReportFormat.html:
        from labelaudit.report.html import render_html

        return {"main": render_html(ctx, audit)}
    if fmt is ReportFormat.review_csv:
        from labelaudit.report.review import render_review_csv

        return {"main": render_review_csv(ctx, "id" if "id" in audit.issues.columns else "row")}
    if fmt is ReportFormat.label_studio:
        from labelaudit.report.review import render_label_studio

        tasks, config = render_label_studio(ctx, audit.class_names)
        return {"main": tasks, "config": config}
    if fmt is ReportFormat.argilla:
        from labelaudit.report.review import render_argilla

        files = render_argilla(ctx, audit.class_names, name=f"labelaudit-{Path(ctx['input']['name']).stem}")
        return {"main": files["records.json"], "files": files}
    raise ValueError(f"{fmt} is rendered by the console")  # table
