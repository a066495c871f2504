"""Values from the data inside one-line messages: shortened, so a 2 MB label or 10 000 classes stay one line."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

VALUE_CHARS = 60
LIST_ITEMS = 10


def short(value: Any, limit: int = VALUE_CHARS) -> str:
    """``repr`` of a value, cut to ``limit`` characters with the full length said."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(str(value))} characters)"


def listing(values: Iterable[Any], limit: int = LIST_ITEMS, *, quote: bool = True) -> str:
    """``'a', 'b', … (10 000 in all)``: at most ``limit`` shortened values."""
    items = list(values)
    shown = [short(v) if quote else str(v)[:VALUE_CHARS] for v in items[:limit]]
    return ", ".join(shown) + (f", … ({len(items)} in all)" if len(items) > limit else "")
