"""Progress reporting through a callback, so library code never prints.

A callback receives :class:`ProgressEvent` objects. The CLI turns them into rich progress bars on
stderr; library users can pass any callable (or nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

EventKind = Literal["start", "advance", "end", "info", "warning"]


@dataclass(frozen=True)
class ProgressEvent:
    """One progress notification."""

    kind: EventKind
    """``start`` a stage, ``advance`` it, ``end`` it, or an ``info``/``warning`` message."""
    stage: str
    """Short stage name, e.g. ``read``, ``fold``, ``check:outlier``."""
    completed: int = 0
    """Units done so far (for ``advance``/``end``)."""
    total: int | None = None
    """Units in the stage, when known."""
    message: str = ""
    """Human-readable text."""


ProgressCallback = Callable[[ProgressEvent], None]


def null_progress(event: ProgressEvent) -> None:
    """The default callback: ignore every event."""


class Reporter:
    """Small helper around a callback so stages are reported consistently."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self._cb = callback or null_progress

    def start(self, stage: str, total: int | None = None, message: str = "") -> None:
        self._cb(ProgressEvent("start", stage, 0, total, message or stage))

    def advance(self, stage: str, completed: int, total: int | None = None, message: str = "") -> None:
        self._cb(ProgressEvent("advance", stage, completed, total, message))

    def end(self, stage: str, message: str = "") -> None:
        self._cb(ProgressEvent("end", stage, 0, None, message))

    def info(self, message: str, stage: str = "info") -> None:
        self._cb(ProgressEvent("info", stage, 0, None, message))

    def warning(self, message: str, stage: str = "warning") -> None:
        self._cb(ProgressEvent("warning", stage, 0, None, message))
