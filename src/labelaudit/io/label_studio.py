"""Label Studio JSON exports, read defensively: every shape error is one clear line (exit 2), never a crash.

An export is a JSON list of tasks ``{"id", "data": {...}, "annotations": [{"completed_by", "lead_time",
"was_cancelled", "result": [{"value": {"choices": [...]}}]}]}``. Used by crowd audits (every answer) and
by ``filter --decisions`` (the reviewer's choice per task).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelaudit.errors import InputError

#: the review choices beside the classes: a reviewer can remove a row, or say they cannot tell
DROP_CHOICE = "drop this row (labelaudit)"
UNSURE_CHOICE = "unsure (labelaudit)"

SHAPE = "a JSON list of tasks, each with 'data' and 'annotations' (Label Studio's JSON export)"


def load_tasks(path: Path) -> list[dict[str, Any]]:
    """The tasks of a Label Studio JSON export; an :class:`InputError` for anything else."""
    try:
        tasks = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path.name} is not valid JSON ({err}); give {SHAPE}") from None
    except OSError as err:
        raise InputError(f"cannot read {path} ({err.strerror}); check the path") from None
    if not isinstance(tasks, list):
        raise InputError(f"{path.name} holds a JSON {_kind(tasks)}; expected {SHAPE}")
    for i, task in enumerate(tasks):
        if not isinstance(task, dict):
            raise InputError(f"{path.name}: task {i} is a JSON {_kind(task)}, not an object; expected {SHAPE}")
        data = task.get("data")
        if data is not None and not isinstance(data, dict):
            raise InputError(
                f"{path.name}: task {_name(task, i)} has 'data' as a JSON {_kind(data)}; expected an object"
            )
    return tasks


@dataclass(frozen=True)
class Answer:
    """One annotation's first choice."""

    annotator: str
    choice: str
    lead_time: Any


def answers(task: dict[str, Any], index: int, path: Path) -> Iterator[Answer]:
    """The first choice of every annotation of ``task`` that was not cancelled."""
    anns = task.get("annotations")
    if anns is None:
        return
    where = f"{path.name}: task {_name(task, index)}"
    if not isinstance(anns, list):
        raise InputError(f"{where} has 'annotations' as a JSON {_kind(anns)}; expected a list of annotations")
    for j, ann in enumerate(anns):
        if not isinstance(ann, dict):
            raise InputError(f"{where}: annotation {j} is a JSON {_kind(ann)}, not an object")
        if ann.get("was_cancelled"):
            continue
        results = ann.get("result")
        if results is None:
            continue
        if not isinstance(results, list):
            raise InputError(f"{where}: annotation {j} has 'result' as a JSON {_kind(results)}; expected a list")
        for res in results:
            if not isinstance(res, dict):
                raise InputError(f"{where}: annotation {j} has a result that is a JSON {_kind(res)}, not an object")
            value = res.get("value")
            if value is None:
                continue
            if not isinstance(value, dict):
                raise InputError(
                    f"{where}: annotation {j} has a result 'value' that is a JSON {_kind(value)}; expected an "
                    "object with 'choices' (a Choices control)"
                )
            choices = value.get("choices")
            if not choices:
                continue
            if not isinstance(choices, list) or not all(isinstance(c, (str, int, float, bool)) for c in choices):
                raise InputError(
                    f"{where}: annotation {j} has 'choices' that are not a list of labels: {choices!r:.80}"
                )
            who = ann.get("completed_by")
            if isinstance(who, dict):
                who = who.get("email") or who.get("id")
            yield Answer(str(who), str(choices[0]), ann.get("lead_time"))
            break


def _name(task: dict[str, Any], index: int) -> str:
    tid = task.get("id")
    return repr(tid) if isinstance(tid, (str, int)) else f"#{index}"


def _kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number" if isinstance(value, (int, float)) else type(value).__name__
    )
