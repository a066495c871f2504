"""``Dataset``: features, encoded labels with their class names, row ids, and how they were read.

Labels are encoded by labelaudit, not by cleanlab: class names are the sorted unique non-missing
values, codes are positions in that list, and a missing label is code -1. Every later stage
(pred_probs columns, the manifest, reports) uses this one order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from labelaudit.errors import InputError, SchemaError
from labelaudit.io.memory import release_freed_memory
from labelaudit.io.readers import LABEL_HEADER_NAMES, TableSource, read_labels_file
from labelaudit.progress import Reporter

if TYPE_CHECKING:  # scipy is imported where a sparse matrix is made (0.3 s a --pred-probs scan does not need)
    from scipy import sparse

DataKind = Literal["tabular", "embedding", "text", "none"]
MAX_CATEGORIES = 255


@dataclass(frozen=True)
class FeatureSet:
    """Numeric features ready for models and the KNN graph."""

    X: np.ndarray | sparse.csr_matrix
    """float32 (rows x features); NaN marks a missing value. Sparse CSR for TF-IDF text."""
    names: list[str]
    """One name per column of ``X`` (vector columns expand to ``col[i]``)."""
    categorical: np.ndarray
    """Boolean mask over columns of ``X``: ordinal-encoded categories."""
    null_fraction: np.ndarray
    """Per row: fraction of the original feature columns that are missing."""
    source_columns: list[str]
    """The data columns the features came from."""
    notes: list[str] = field(default_factory=list)
    """How columns were encoded (for the manifest)."""

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])


@dataclass(frozen=True)
class Dataset:
    """Everything a scan needs from one input file."""

    n_rows: int
    labels: np.ndarray
    """int64 codes into ``class_names``; -1 where the label is missing."""
    class_names: list[Any]
    """Sorted class values as they appear in the data (str, int or bool)."""
    features: FeatureSet | None
    kind: DataKind
    label_column: str | None = None
    id_column: str | None = None
    ids: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """What is probably a mistake (a free-text or all-unique feature column): said before any work."""

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels[self.labels >= 0], minlength=self.n_classes)


def _columns_hint(columns: Sequence[str], limit: int = 25) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (f", … ({len(columns)} in all)" if len(columns) > limit else "")


def _require(columns: Sequence[str], name: str, path: Path, option: str) -> None:
    if name not in columns:
        raise SchemaError(f"{option} column '{name}' not found in {path.name}; columns are: {_columns_hint(columns)}")


def pick_label_column(columns: Sequence[str], path: Path) -> str:
    """The one column named label/labels/target/class/y (any case), else an error listing the columns."""
    cands = [c for c in columns if c.lower() in LABEL_HEADER_NAMES]
    if len(cands) == 1:
        return cands[0]
    if not cands:
        raise SchemaError(
            f"no label column in {path.name}: none is named {'/'.join(LABEL_HEADER_NAMES)}; "
            f"pass --label COLUMN (columns: {_columns_hint(columns)})"
        )
    raise SchemaError(f"several columns in {path.name} could be the label ({', '.join(cands)}); pass --label COLUMN")


def _clean_label_values(values: np.ndarray) -> np.ndarray:
    """Normalise label values: NaN/None/'' -> None; integral floats -> int."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            out[i] = None
        elif isinstance(v, str):
            s = v.strip()
            out[i] = s if s else None
        elif isinstance(v, (bool, np.bool_)):
            out[i] = bool(v)
        elif isinstance(v, (np.integer, int)):
            out[i] = int(v)
        elif isinstance(v, (np.floating, float)):
            out[i] = int(v) if float(v).is_integer() else float(v)
        else:
            out[i] = str(v)
    return out


def encode_labels(raw: Any, what: str) -> tuple[np.ndarray, list[Any]]:
    """Codes (-1 = missing) and sorted class names; errors for no labels or a single class.

    Values are factorised first and only the distinct values are cleaned, so a million rows cost
    one hash pass, not a Python loop.
    """
    codes0, uniques = pd.factorize(
        pd.Series(raw, dtype=None if not isinstance(raw, list) else object), use_na_sentinel=True
    )
    cleaned = _clean_label_values(np.asarray(uniques, dtype=object))
    present = [v for v in cleaned if v is not None]
    if not present:
        raise SchemaError(f"{what} has no values (every label is missing); fill in labels before auditing")
    kinds = {type(v) for v in present}
    if len(kinds) > 1 and not kinds <= {int, float}:
        cleaned = np.array([None if v is None else str(v) for v in cleaned], dtype=object)
        present = [v for v in cleaned if v is not None]
    classes = sorted(set(present))
    if len(classes) < 2:
        raise SchemaError(f"{what} has a single class ({classes[0]!r}); an audit needs at least two classes")
    index = {c: i for i, c in enumerate(classes)}
    lookup = np.array([index[v] if v is not None else -1 for v in cleaned] + [-1], dtype=np.int64)
    return lookup[codes0], classes


def _vector_column(col: pa.ChunkedArray, name: str) -> np.ndarray:
    arr = col.combine_chunks()
    if arr.null_count:
        raise SchemaError(f"vector column '{name}' has {arr.null_count} missing vectors; drop or fill those rows")
    if pa.types.is_fixed_size_list(arr.type):
        dim = arr.type.list_size
    else:
        lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
        dim = int(lengths[0]) if len(lengths) else 0
        if len(lengths) and (lengths != dim).any():
            bad = int(np.argmax(lengths != dim))
            raise SchemaError(
                f"vector column '{name}' has vectors of different lengths ({dim} in row 0, "
                f"{int(lengths[bad])} in row {bad}); every row needs the same length"
            )
    flat = arr.flatten().to_numpy(zero_copy_only=False)
    mat = np.asarray(flat, dtype=np.float32).reshape(len(arr), dim)
    _check_embedding_values(mat, f"vector column '{name}'")
    return mat


def _check_embedding_values(mat: np.ndarray, what: str) -> None:
    finite = np.isfinite(mat)
    if not finite.all():
        rows = np.flatnonzero(~finite.all(axis=1))
        kind = "NaN" if np.isnan(mat[rows[0]]).any() else "infinite"
        raise SchemaError(
            f"{what} has {kind} values in {len(rows)} rows (first: row {int(rows[0])}); "
            "embeddings must be finite: recompute or drop those rows"
        )


def _scalar_column(col: pa.ChunkedArray, name: str, notes: list[str]) -> tuple[np.ndarray, bool]:
    """One data column as float32 (NaN = missing) and whether it is an ordinal-encoded category."""
    typ = col.type
    if pa.types.is_dictionary(typ):
        col = col.cast(typ.value_type)
        typ = col.type
    if pa.types.is_boolean(typ):
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float32), False
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        vals = np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
        if np.isinf(vals).any():
            n = int(np.isinf(vals).sum())
            first = int(np.flatnonzero(np.isinf(vals))[0])
            raise SchemaError(
                f"feature column '{name}' has infinite values in {n} rows (first: row {first}); "
                "replace them (or leave the cell empty for a missing value)"
            )
        return vals.astype(np.float32), False
    if pa.types.is_temporal(typ):
        if pa.types.is_time(typ) or pa.types.is_duration(typ):
            vals = col.cast(pa.int64()).to_numpy(zero_copy_only=False)
        else:
            vals = col.cast(pa.timestamp("s")).cast(pa.int64()).to_numpy(zero_copy_only=False)
        notes.append(f"{name}: datetime as seconds")
        return np.asarray(pd.array(vals, dtype="Float64").to_numpy(np.float64, na_value=np.nan), np.float32), False
    # strings and anything else: categories
    series = col.to_pandas().astype("string").str.strip()
    series = series.mask(series == "")
    # numbers stored as text (e.g. CSV with a stray token) stay numeric where they parse
    parsed = pd.to_numeric(series, errors="coerce")
    if series.notna().sum() and parsed.notna().sum() >= 0.95 * series.notna().sum():
        notes.append(f"{name}: text parsed as numbers")
        return parsed.to_numpy(dtype=np.float32, na_value=np.nan), False
    codes, uniques = pd.factorize(series, sort=True)
    if len(uniques) <= MAX_CATEGORIES:
        out = codes.astype(np.float32)
        out[codes < 0] = np.nan
        notes.append(f"{name}: {len(uniques)} categories, ordinal-encoded")
        return out, True
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques)).astype(np.float32)
    out = np.where(codes >= 0, counts[np.maximum(codes, 0)], np.nan).astype(np.float32)
    notes.append(f"{name}: {len(uniques)} distinct values (> {MAX_CATEGORIES}), frequency-encoded")
    return out, False


def _is_vector(typ: pa.DataType) -> bool:
    return pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ)


#: rows per tile when columns are assembled into the row-major feature matrix
ASSEMBLE_TILE_ROWS = 16_384


def assemble_columns(blocks: list[np.ndarray], n: int) -> np.ndarray:
    """The (n x sum of widths) float32 row-major matrix of column blocks, copied tile by tile.

    The same values as ``np.hstack(blocks).astype(np.float32)``; transposing one cache-sized tile at a
    time took 0.39 s at 1 000 000 x 128 where hstack took 5.1 s (strided writes across the whole matrix).
    """
    d = sum(b.shape[1] for b in blocks)
    X = np.empty((n, d), dtype=np.float32)
    _write_tiles(X, blocks, 0)
    return X


def _write_tiles(X: np.ndarray, blocks: list[np.ndarray], start_col: int) -> None:
    """Copy ``blocks`` side by side into ``X``'s columns from ``start_col``, one tile of rows at a time."""
    d = sum(b.shape[1] for b in blocks)
    if not d:
        return
    n = X.shape[0]
    for s in range(0, n, ASSEMBLE_TILE_ROWS):
        e = min(n, s + ASSEMBLE_TILE_ROWS)
        tile = np.empty((d, e - s), dtype=np.float32)
        off = 0
        for b in blocks:
            w = b.shape[1]
            tile[off : off + w] = b[s:e].T
            off += w
        X[s:e, start_col : start_col + d] = tile.T


#: converted columns waiting to be copied into the feature matrix, at most this many bytes: the matrix is
#: filled as the columns are converted instead of after all of them (a second full copy: 512 MB at 1M x 128)
ASSEMBLE_FLUSH_BYTES = 64 << 20


def tabular_features(table: pa.Table, columns: list[str]) -> tuple[FeatureSet, DataKind]:
    n = table.num_rows
    names: list[str] = []
    cat: list[bool] = []
    notes: list[str] = []
    null_counts = np.zeros(n, dtype=np.float32)
    vectors = {c: _vector_column(table.column(c), c) for c in columns if _is_vector(table.column(c).type)}
    n_vector = len(vectors)
    if n_vector == 1 and len(columns) == 1:
        (name,) = columns
        X = np.ascontiguousarray(vectors.pop(name), dtype=np.float32)  # an embedding column: no second copy
        names.extend(f"{name}[{i}]" for i in range(X.shape[1]))
        cat.extend([False] * X.shape[1])
    else:
        X = np.empty((n, sum(vectors[c].shape[1] if c in vectors else 1 for c in columns)), dtype=np.float32)
        pending: list[np.ndarray] = []
        done = 0  # columns of X filled
        for name in columns:
            if name in vectors:
                block = vectors.pop(name)
                names.extend(f"{name}[{i}]" for i in range(block.shape[1]))
                cat.extend([False] * block.shape[1])
            else:
                vals, is_cat = _scalar_column(table.column(name), name, notes)
                null_counts += np.isnan(vals)
                block = vals[:, None]
                names.append(name)
                cat.append(is_cat)
            pending.append(block)
            if sum(b.nbytes for b in pending) >= ASSEMBLE_FLUSH_BYTES:
                _write_tiles(X, pending, done)
                done += sum(b.shape[1] for b in pending)
                pending = []
        _write_tiles(X, pending, done)
    kind: DataKind = "embedding" if n_vector == 1 and len(columns) == 1 else "tabular"
    fs = FeatureSet(
        X=X,
        names=names,
        categorical=np.array(cat, dtype=bool),
        null_fraction=null_counts / max(len(columns), 1),
        source_columns=list(columns),
        notes=notes,
    )
    return fs, kind


def _text_features(table: pa.Table, column: str) -> FeatureSet:
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = table.column(column).to_pandas().astype("string").fillna("")
    missing = (texts.str.strip() == "").to_numpy()
    vec = TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=50_000, dtype=np.float32)
    try:
        X = vec.fit_transform(texts.tolist())
    except ValueError:  # every document empty or all terms too rare
        vec = TfidfVectorizer(sublinear_tf=True, dtype=np.float32)
        try:
            X = vec.fit_transform(texts.tolist())
        except ValueError:
            raise SchemaError(f"text column '{column}' holds no words; check --text names the right column") from None
    return FeatureSet(
        X=X.tocsr(),
        names=[f"tfidf:{t}" for t in vec.get_feature_names_out()],
        categorical=np.zeros(X.shape[1], dtype=bool),
        null_fraction=missing.astype(np.float32),
        source_columns=[column],
        notes=[f"{column}: TF-IDF, {X.shape[1]} terms"],
    )


@dataclass(frozen=True)
class ColumnPlan:
    """Which columns of a table the scan reads and what each is for."""

    label: str | None
    id: str | None
    features: list[str]
    text: str | None


def plan_columns(
    source: TableSource,
    *,
    label: str | None,
    id_column: str | None,
    features: Sequence[str] | None,
    text: str | None,
    labels_file: bool,
    need_features: bool,
    exclude: Sequence[str] = (),
) -> ColumnPlan:
    cols = source.columns
    path = source.path
    if labels_file:
        if label is not None:
            raise SchemaError("give either --label COLUMN or --labels FILE, not both")
        label_col = None
    elif label is not None:
        _require(cols, label, path, "--label")
        label_col = label
    else:
        label_col = pick_label_column(cols, path)
    if id_column is not None:
        _require(cols, id_column, path, "--id")
    if text is not None:
        _require(cols, text, path, "--text")
    if features is not None:
        for f in features:
            _require(cols, f, path, "--features")
        feat = list(features)
    elif text is not None or not need_features:
        feat = []
    else:
        skip = {label_col, id_column, text, *exclude}
        feat = [c for c in cols if c not in skip]
    for name, what in ((label_col, "label"), (id_column, "id")):
        if name is not None and name in feat:
            raise SchemaError(f"column '{name}' is both the {what} and a feature; remove it from --features")
    return ColumnPlan(label=label_col, id=id_column, features=feat, text=text)


def _auto_roles(plan: ColumnPlan, table: pa.Table) -> tuple[ColumnPlan, list[str]]:
    """Roles the user did not give: a unique id-named column is the row id; a lone free-text column is text."""
    from labelaudit.column_roles import column_facts, pick_id_column

    notes: list[str] = []
    if plan.id is None and plan.features:
        name = pick_id_column(table, plan.features)
        if name is not None:
            plan = ColumnPlan(plan.label, name, [f for f in plan.features if f != name], plan.text)
            notes.append(
                f"column '{name}' has unique values: used as the row id, not as a feature (override with --id "
                "or --features)"
            )
    if plan.text is None and len(plan.features) == 1:
        only = plan.features[0]
        if column_facts(table.column(only), only).is_text:
            plan = ColumnPlan(plan.label, plan.id, [], only)
            notes.append(
                f"column '{only}' looks like free text and is the only feature: featurised with TF-IDF, as "
                f"--text {only} would (pass --features {only} to encode it as a category instead)"
            )
    return plan, notes


def _unusable_id_columns(table: pa.Table, columns: list[str]) -> list[str]:
    """Warnings for id-named columns that could not be the row id because their values repeat."""
    from labelaudit.column_roles import duplicate_ids, looks_like_id_name

    out = []
    for name in columns:
        if looks_like_id_name(name):
            dups = duplicate_ids(table.column(name))
            if dups:
                out.append(
                    f"column '{name}' is named like a row id but its values repeat ({dups}): it is used as a "
                    f"feature, not as the id; give every row its own id, or leave it out with --features"
                )
    return out


def _feature_warnings(table: pa.Table, columns: list[str]) -> list[str]:
    from labelaudit.column_roles import column_facts, feature_warnings

    return feature_warnings([column_facts(table.column(name), name) for name in columns])


def build_dataset(
    source: TableSource,
    *,
    label: str | None = None,
    labels_file: Path | None = None,
    id_column: str | None = None,
    features: Sequence[str] | None = None,
    text: str | None = None,
    need_features: bool = True,
    encoding: str | None = None,
    reporter: Reporter | None = None,
    exclude: Sequence[str] = (),
) -> Dataset:
    """Read the needed columns of ``source`` and build a :class:`Dataset` (``exclude``: never features)."""
    rep = reporter or Reporter(None)
    notes: list[str] = []
    if source.is_array:
        return _array_dataset(source, label, labels_file, id_column, features, text, encoding, need_features)
    plan = plan_columns(
        source,
        label=label,
        id_column=id_column,
        features=features,
        text=text,
        labels_file=labels_file is not None,
        need_features=need_features,
        exclude=exclude,
    )
    wanted = [c for c in (plan.label, plan.id, plan.text, *plan.features) if c is not None]
    table = source.read(wanted)
    release_freed_memory()  # the file's read buffers: only the table stays
    n = table.num_rows
    if n == 0:
        raise InputError(f"{source.path} has a header but no rows; give a file with data rows")
    if features is None and text is None:
        plan, inferred = _auto_roles(plan, table)
        for note in inferred:
            notes.append(note)
            rep.info(note)
    warnings = _feature_warnings(table, plan.features) if plan.text is None else []
    if id_column is not None:
        from labelaudit.column_roles import duplicate_ids

        dups = duplicate_ids(table.column(id_column))
        if dups:
            raise SchemaError(
                f"--id column '{id_column}' has duplicate values: {dups}; a review decision for one id would "
                "apply to the wrong row: give every row its own id, or drop --id"
            )
    elif plan.id is None:
        warnings.extend(_unusable_id_columns(table, plan.features))
    if labels_file is not None:
        raw = read_labels_file(labels_file, encoding=encoding)
        if len(raw) != n:
            raise InputError(
                f"labels file {labels_file.name} has {len(raw)} rows but {source.path.name} has {n}; "
                "give one label per data row, in the same order"
            )
        codes, classes = encode_labels(raw, f"labels file {labels_file.name}")
    else:
        assert plan.label is not None
        raw = table.column(plan.label).to_pandas()
        codes, classes = encode_labels(raw, f"label column '{plan.label}'")
    ids = None
    if plan.id is not None:
        ids = np.asarray(table.column(plan.id).to_pylist(), dtype=object)
    fs: FeatureSet | None = None
    kind: DataKind = "none"
    if plan.text is not None:
        fs, kind = _text_features(table, plan.text), "text"
    elif plan.features:
        fs, kind = tabular_features(table, plan.features)
        notes.extend(fs.notes)
    return Dataset(
        n_rows=n,
        labels=codes,
        class_names=classes,
        features=fs,
        kind=kind,
        label_column=plan.label,
        id_column=plan.id,
        ids=ids,
        notes=notes,
        warnings=warnings,
    )


def _array_dataset(
    source: TableSource,
    label: str | None,
    labels_file: Path | None,
    id_column: str | None,
    features: Sequence[str] | None,
    text: str | None,
    encoding: str | None,
    need_features: bool,
) -> Dataset:
    for opt, val in (("--label", label), ("--id", id_column), ("--features", features), ("--text", text)):
        if val:
            raise SchemaError(f"{opt} names a column, but {source.path.name} is an array file without columns")
    mat = source.matrix
    assert mat is not None
    if mat.ndim != 2:
        raise InputError(f"{source.path}: features must be a 2-D array rows x features (got shape {mat.shape})")
    if not np.issubdtype(mat.dtype, np.number) and mat.dtype != np.bool_:
        raise InputError(f"{source.path}: features must be numeric (got dtype {mat.dtype})")
    n = mat.shape[0]
    if n == 0:
        raise InputError(f"{source.path} holds no rows; give an array with at least one row")
    if labels_file is not None:
        raw = read_labels_file(labels_file, encoding=encoding)
        what = f"labels file {labels_file.name}"
    elif source.labels is not None:
        raw = np.asarray(source.labels)
        what = f"labels array of {source.path.name}"
    else:
        raise SchemaError(
            f"{source.path.name} holds features only; pass --labels FILE (NPY, CSV or text, one label per row)"
        )
    if len(raw) != n:
        raise InputError(
            f"{what} has {len(raw)} rows but {source.path.name} has {n}; give one label per row, in the same order"
        )
    codes, classes = encode_labels(np.asarray(raw, dtype=object), what)
    X = np.ascontiguousarray(mat, dtype=np.float32)
    _check_embedding_values(X, f"{source.path.name}")
    fs = FeatureSet(
        X=X,
        names=[f"f{i}" for i in range(X.shape[1])],
        categorical=np.zeros(X.shape[1], dtype=bool),
        null_fraction=np.zeros(n, dtype=np.float32),
        source_columns=[],
    )
    return Dataset(
        n_rows=n,
        labels=codes,
        class_names=classes,
        features=fs if need_features else None,
        kind="embedding" if need_features else "none",
    )
