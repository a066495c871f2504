"""Review exports: suspects go back to people before anything is deleted.

* ``review-csv``: row id, given, suggested, score, reason, the row's data, and an empty ``decision``
  column taking ``keep`` / ``relabel:<label>`` / ``drop`` / ``unsure`` (read back by ``filter --decisions``).
* ``label-studio``: an import-ready task list (suggestion as a prediction with a score) plus the
  matching labeling config: the classes, a "drop this row" and an "unsure" choice.
* ``argilla``: Argilla 2.x records with metadata and one suggestion per record.
"""

from __future__ import annotations

import io
import json
from typing import Any
from xml.sax.saxutils import quoteattr

import pandas as pd

from labelaudit.report.escape import csv_cell


def _reason(item: dict[str, Any]) -> str:
    parts = [f"label issue: given {item['given_label']!r} looks like {item['suggested_label']!r}"]
    parts += [f"also {c}" for c in item["issues"] if c != "label"]
    return "; ".join(parts)


def render_review_csv(ctx: dict[str, Any], id_name: str) -> str:
    rows = []
    for item in ctx["top_issues"]:
        rec = {
            id_name: item["id"] if id_name == "id" else item["row"],
            "row": item["row"],
            "given_label": item["given_label"],
            "suggested_label": item["suggested_label"],
            "label_quality": item["label_quality"],
            "suggested_probability": item["suggested_probability"],
            "reason": _reason(item),
        }
        # the decision column sits beside the reason, before the row's data (which can be 64 pixel columns)
        rec["decision"] = ""
        for k, v in item.get("data", {}).items():
            rec.setdefault(f"data_{k}" if k in rec else k, v)
        # column names come from the data too: a header cell can run as a formula as well
        rows.append({csv_cell(k): csv_cell(v) for k, v in rec.items()})
    cols = [id_name, "row", "given_label", "suggested_label", "label_quality", "suggested_probability", "reason"]
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=[*cols, "decision"])
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue()


def _text_of(item: dict[str, Any], text_column: str | None = None) -> str:
    """What a reviewer reads: the document itself for a text audit, else ``column=value, ...``."""
    data = item.get("data") or {}
    if text_column is not None and text_column in data:
        return "" if data[text_column] is None else str(data[text_column])
    return ", ".join(f"{k}={v}" for k, v in data.items())


def render_label_studio(ctx: dict[str, Any], classes: list[Any]) -> tuple[str, str]:
    """(tasks JSON, labeling config XML)."""
    tasks = []
    version = f"labelaudit-{ctx['tool_version']}"
    for i, item in enumerate(ctx["top_issues"], start=1):
        key = item["id"] if item["id"] is not None else item["row"]
        tasks.append(
            {
                "id": i,
                "data": {
                    "text": _text_of(item, ctx.get("text_column")),
                    "labelaudit_id": str(key),
                    "labelaudit_row": item["row"],
                    "given_label": str(item["given_label"]),
                    "suggested_label": str(item["suggested_label"]),
                    "label_quality": item["label_quality"],
                },
                "predictions": [
                    {
                        "id": i,
                        "model_version": version,
                        "score": item["suggested_probability"],
                        "result": [
                            {
                                "id": f"labelaudit-{i}",
                                "from_name": "label",
                                "to_name": "text",
                                "type": "choices",
                                "value": {"choices": [str(item["suggested_label"])]},
                            }
                        ],
                    }
                ],
            }
        )
    from labelaudit.io.label_studio import DROP_CHOICE, UNSURE_CHOICE

    values = [*map(str, classes), DROP_CHOICE, UNSURE_CHOICE]
    choices = "\n".join(f"    <Choice value={quoteattr(v)}/>" for v in values)
    config = (
        "<View>\n"
        '  <Header value="Given label: $given_label (labelaudit suggests $suggested_label)"/>\n'
        '  <Text name="text" value="$text"/>\n'
        '  <Choices name="label" toName="text" choice="single" showInLine="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>\n"
    )
    return json.dumps(tasks, indent=2, ensure_ascii=False) + "\n", config


def render_argilla(ctx: dict[str, Any]) -> str:
    records = []
    for item in ctx["top_issues"]:
        key = item["id"] if item["id"] is not None else item["row"]
        records.append(
            {
                "id": str(key),
                "fields": {"text": _text_of(item, ctx.get("text_column"))},
                "metadata": {
                    "label_quality": item["label_quality"],
                    "given_label": str(item["given_label"]),
                    "issue_type": ",".join(item["issues"]),
                    "rank": item["rank"],
                    "row": item["row"],
                },
                "suggestions": [
                    {
                        "question_name": "label",
                        "value": str(item["suggested_label"]),
                        "score": item["suggested_probability"],
                        "agent": f"labelaudit-{ctx['tool_version']}",
                    }
                ],
            }
        )
    return json.dumps(records, indent=2, ensure_ascii=False) + "\n"
