"""Escaping untrusted values from the data for Markdown and CSV (HTML is escaped by the template engine)."""

from __future__ import annotations

import html
import re
from typing import Any

#: what can start markup inside a GFM table cell: emphasis, code, links/images (brackets), cell breaks
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|])")
#: cells that start with these run as formulas in spreadsheets (OWASP CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def md(value: Any) -> str:
    """One Markdown table cell: HTML entities, Markdown punctuation escaped, no line breaks."""
    text = "" if value is None else str(value)
    text = html.escape(text, quote=False)  # < > & as entities: no raw HTML, no autolinks
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = text.replace("\\](", "\\]\\(")  # an escaped bracket followed by ( never reads as a link target
    if text.count("~") > 1:  # a pair of tildes would strike through (GFM)
        text = text.replace("~", "\\~")
    return text.replace("\r", " ").replace("\n", " ")


def csv_cell(value: Any) -> Any:
    """Neutralise a text cell that a spreadsheet would run as a formula (prefix a single quote)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
