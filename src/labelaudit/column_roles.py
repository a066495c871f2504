"""What a column probably is, from its name and values: a row id, free text, or a feature.

Used twice, before any model trains: to infer roles the user did not give (a unique ``doc_id`` is
the row id; a lone free-text column is the text to featurise) and to warn about columns that are
probably a mistake as features (free text frequency-encoded, an all-unique counter). Every
inference and warning names the flag that changes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: column names taken as a row id when their values are unique (any case)
ID_NAMES = ("id", "row_id", "uid", "uuid", "guid")
_ID_SUFFIX = re.compile(r"(?:[_\-\s.]id|[a-z0-9]Id|[a-z0-9]ID)$")
#: a string column is free text when most values are long and hold several words, and few repeat
TEXT_MIN_MEAN_CHARS = 20
TEXT_MIN_SPACED_SHARE = 0.5
TEXT_MIN_DISTINCT_SHARE = 0.5
#: below this many rows "every value is distinct" says little
UNIQUE_MIN_ROWS = 20


def looks_like_id_name(name: str) -> bool:
    """``id``, ``row_id``, ``doc_id``, ``taskId``, ``Image ID`` ... (not ``valid`` or ``paid``)."""
    return name.lower() in ID_NAMES or bool(_ID_SUFFIX.search(name))


@dataclass(frozen=True)
class ColumnFacts:
    name: str
    rows: int
    distinct: int
    nulls: int
    kind: str
    """``string``, ``integer`` or ``other``."""
    mean_chars: float = 0.0
    spaced_share: float = 0.0

    @property
    def all_unique(self) -> bool:
        return self.nulls == 0 and self.distinct == self.rows

    @property
    def is_text(self) -> bool:
        non_null = max(self.rows - self.nulls, 1)
        return (
            self.kind == "string"
            and self.mean_chars >= TEXT_MIN_MEAN_CHARS
            and self.spaced_share >= TEXT_MIN_SPACED_SHARE
            and self.distinct >= TEXT_MIN_DISTINCT_SHARE * non_null
        )


def column_facts(col: pa.ChunkedArray, name: str) -> ColumnFacts:
    typ = col.type
    if pa.types.is_dictionary(typ):
        col = col.cast(typ.value_type)
        typ = col.type
    rows = len(col)
    nulls = col.null_count
    is_string = pa.types.is_string(typ) or pa.types.is_large_string(typ)
    if not (is_string or pa.types.is_integer(typ)):
        return ColumnFacts(name, rows, 0, nulls, "other")
    distinct = int(pc.count_distinct(col, mode="only_valid").as_py())
    if is_string:
        valid = pc.drop_null(col)
        stripped = pc.utf8_trim_whitespace(valid)
        if len(valid):
            lengths = pc.utf8_length(stripped).to_numpy(zero_copy_only=False)
            spaced = pc.match_substring_regex(stripped, r"\S\s+\S").to_numpy(zero_copy_only=False)
            mean_chars, spaced_share = float(np.mean(lengths)), float(np.mean(spaced))
        else:
            mean_chars = spaced_share = 0.0
        return ColumnFacts(name, rows, distinct, nulls, "string", mean_chars, spaced_share)
    return ColumnFacts(name, rows, distinct, nulls, "integer")


def pick_id_column(table: pa.Table, candidates: list[str]) -> str | None:
    """The first id-named column among ``candidates`` whose values are all present and unique."""
    for name in candidates:
        if looks_like_id_name(name):
            col = table.column(name)
            if col.null_count == 0 and pc.count_distinct(col).as_py() == table.num_rows:
                return name
    return None


def duplicate_ids(values: pa.ChunkedArray | pa.Array) -> str | None:
    """``"'r4' (rows 4 and 9), 'r7' (rows 7 and 8)"`` for the first duplicated ids, or None when all are unique."""
    col = values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])
    if pc.count_distinct(col, mode="all").as_py() == len(col):
        return None
    import pandas as pd

    s = pd.Series(col.to_pylist(), dtype=object)
    dup = s[s.duplicated(keep=False)]
    shown = []
    for value, rows in list(dup.groupby(dup.astype(str), sort=False).groups.items())[:3]:
        idx = [int(r) for r in rows[:3]]
        shown.append(f"{value[:40]!r} (rows {', '.join(map(str, idx))}{', ...' if len(rows) > 3 else ''})")
    more = dup.astype(str).nunique() - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def feature_warnings(facts: list[ColumnFacts]) -> list[str]:
    """Columns that are probably a mistake as features, each with the flag that fixes it."""
    out = []
    for f in facts:
        if f.is_text:
            out.append(
                f"feature column '{f.name}' looks like free text ({f.distinct} distinct values, "
                f"{f.mean_chars:.0f} characters on average): as a feature it is only encoded as a category "
                f"or a frequency, which carries no meaning; pass --text {f.name} to featurise it with TF-IDF, "
                "or leave it out with --features"
            )
        elif f.all_unique and f.rows >= UNIQUE_MIN_ROWS and f.kind in ("string", "integer"):
            what = "a row id or counter" if f.kind == "integer" else "an identifier"
            out.append(
                f"feature column '{f.name}' has a different value in every row, like {what}: as a feature it "
                f"teaches the model nothing true (or the file order); pass --id {f.name} if it is the row id, "
                "or leave it out with --features"
            )
    return out
