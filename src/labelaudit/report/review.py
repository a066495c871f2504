"""Review exports: suspects go back to people before anything is deleted.

* ``review-csv``: row id, given, suggested, score, reason, the row's data, and an empty ``decision``
  column taking ``keep`` / ``relabel:<label>`` / ``drop`` / ``unsure`` (read back by ``filter --decisions``).
* ``label-studio``: an import-ready task list (suggestion as a prediction with a score) plus the
  matching labeling config: the classes, a "drop this row" and an "unsure" choice.
* ``argilla``: an Argilla 2.x dataset folder (``rg.Dataset.from_disk``): settings with the label question,
  records with metadata and one suggestion each; reviewers' responses come back through ``filter --decisions``.
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
                    **({"image": item.get("image") or ""} if ctx.get("images") else {}),
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
                                "to_name": "image" if ctx.get("images") else "text",
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
    # with images the reviewer judges the picture; the row's values stay below it as text
    obj = (
        '  <Image name="image" value="$image" zoom="true"/>\n  <Text name="text" value="$text"/>\n'
        if ctx.get("images")
        else '  <Text name="text" value="$text"/>\n'
    )
    to_name = "image" if ctx.get("images") else "text"
    config = (
        "<View>\n"
        '  <Header value="Given label: $given_label (labelaudit suggests $suggested_label)"/>\n'
        f"{obj}"
        f'  <Choices name="label" toName="{to_name}" choice="single" showInLine="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>\n"
    )
    return json.dumps(tasks, indent=2, ensure_ascii=False) + "\n", config


def render_argilla(ctx: dict[str, Any], classes: list[Any], name: str) -> dict[str, str]:
    """An Argilla 2.x dataset folder, as ``rg.Dataset.to_disk`` writes it and ``rg.Dataset.from_disk`` reads it.

    ``records.json`` (one record per suspect: the row as a text field, the suggestion with its score and
    agent, metadata for given label, label quality, rank and row) and ``.argilla/settings.json`` (the
    text field, a ``label`` LabelQuestion with the classes plus drop / unsure, the metadata properties)
    and ``.argilla/dataset.json``. Returned as relative path -> file text.
    """

    agent = f"labelaudit-{ctx['tool_version']}"
    records = []
    for item in ctx["top_issues"]:
        key = item["id"] if item["id"] is not None else item["row"]
        records.append(
            {
                "id": str(key),
                "fields": {
                    **({"image": item.get("image") or ""} if ctx.get("images") else {}),
                    "text": _text_of(item, ctx.get("text_column")),
                },
                "metadata": {
                    "given_label": str(item["given_label"]),
                    "label_quality": float(item["label_quality"]),
                    "rank": int(item["rank"]),
                    "row": int(item["row"]),
                    "issue_type": ",".join(item["issues"]),
                },
                "suggestions": {
                    "label": {
                        "value": str(item["suggested_label"]),
                        "score": item["suggested_probability"],
                        "agent": agent,
                    }
                },
                "responses": {},
                "vectors": {},
                "status": "pending",
            }
        )
    settings = _argilla_settings(classes, records, images=bool(ctx.get("images")))
    dataset = {"name": name, "status": "draft", "guidelines": None, "allow_extra_metadata": False}
    return {
        "records.json": json.dumps(records, indent=2, ensure_ascii=False) + "\n",
        ".argilla/settings.json": json.dumps(settings, indent=2, ensure_ascii=False) + "\n",
        ".argilla/dataset.json": json.dumps(dataset, indent=2, ensure_ascii=False) + "\n",
    }


def _argilla_settings(classes: list[Any], records: list[dict[str, Any]], *, images: bool) -> dict[str, Any]:
    """Argilla's settings.json: the image and text fields, the label question (classes + drop / unsure), metadata."""
    from labelaudit.io.label_studio import DROP_CHOICE, UNSURE_CHOICE

    labels = [*map(str, classes), DROP_CHOICE, UNSURE_CHOICE]
    issue_types = sorted({r["metadata"]["issue_type"] for r in records}) or ["label"]
    return {
        "guidelines": (
            "labelaudit flagged these rows as probably mislabelled. Pick the right label, "
            f"'{DROP_CHOICE}' to remove the row, or '{UNSURE_CHOICE}' to keep it unchanged. Then export the "
            "records (dataset.records.to_json) and run: labelaudit filter AUDIT --decisions records.json"
        ),
        "questions": [
            {
                "name": "label",
                "title": "The right label",
                "description": None,
                "required": True,
                "type": "label_selection",
                "settings": {
                    "type": "label_selection",
                    "options": [{"text": v, "value": v} for v in labels],
                    "visible_options": min(len(labels), 20),
                },
            }
        ],
        "fields": [
            *(
                [
                    {
                        "name": "image",
                        "title": "Image",
                        "required": True,
                        "description": None,
                        "type": "image",
                        "settings": {"type": "image"},
                    }
                ]
                if images
                else []
            ),
            {
                "name": "text",
                "title": "Row",
                "required": True,
                "description": None,
                "type": "text",
                "settings": {"type": "text", "use_markdown": False},
            },
        ],
        "vectors": [],
        "metadata": [
            _argilla_metadata("given_label", {"type": "terms", "values": [str(c) for c in classes]}),
            _argilla_metadata("label_quality", {"type": "float", "min": None, "max": None}),
            _argilla_metadata("rank", {"type": "integer", "min": None, "max": None}),
            _argilla_metadata("row", {"type": "integer", "min": None, "max": None}),
            _argilla_metadata("issue_type", {"type": "terms", "values": issue_types}),
        ],
        "allow_extra_metadata": False,
        "distribution": {"strategy": "overlap", "min_submitted": 1},
        "mapping": None,
    }


def _argilla_metadata(name: str, settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "title": name,
        "visible_for_annotators": True,
        "settings": {"visible_for_annotators": True, **settings},
    }
