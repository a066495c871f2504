"""Low-memory scans: stream the features in row batches, never holding the feature matrix.

Out-of-fold probabilities come from a streaming linear discriminant (LDA): one pass accumulates, per
fold, per-class sums, counts and the d x d cross-product; fold f's model is the totals minus fold
f's share, so K folds cost one pass. Sums are order-independent, so the result does not depend on
the batch size or on row order (a class-sorted file is fine, unlike SGD ``partial_fit``), and the
same sums computed per partition on a Dask cluster give the same model. Folds are assigned by a hash
of the row index and the seed. Probabilities go to a memory-mapped ``.npy``; label issues come from
the same rule as in memory (``labelaudit.checks.label``, read in chunks). Memory: O(rows x classes) + one batch +
O(folds x d^2).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from labelaudit.dataset import encode_labels, pick_label_column
from labelaudit.errors import ConfigError, InputError, SchemaError
from labelaudit.io.readers import TableSource, open_table
from labelaudit.progress import Reporter

STREAM_FORMATS = {"parquet", "csv", "tsv", "npy"}
DEFAULT_BATCH_ROWS = 65_536
#: covariance shrinkage towards a scaled identity (keeps the solve stable with many features)
SHRINKAGE = 0.05
#: switch to streaming when the feature matrix would take more than this share of available memory
AUTO_MEMORY_SHARE = 0.5
#: how long to wait for a Dask scheduler before saying it cannot be reached
DASK_CONNECT_TIMEOUT = "10s"


def fold_of(rows: np.ndarray, seed: int, folds: int) -> np.ndarray:
    """Fold of each row index: a splitmix64 hash of (row, seed), stable across batchings and machines."""
    with np.errstate(over="ignore"):
        z = rows.astype(np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(folds)).astype(np.int64)


def available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def feature_bytes_estimate(source: TableSource, n_feature_columns: int) -> int | None:
    """Bytes of the float32 feature matrix, from file metadata (None when unknown without reading)."""
    if source.format == "npy" and source.matrix is not None:
        return int(np.prod(source.matrix.shape)) * 4
    if source.format == "parquet":
        import pyarrow.parquet as pq

        md = pq.ParquetFile(source.path).metadata
        schema = source.arrow_schema
        width = 0
        for name in schema.names if schema is not None else []:
            typ = schema.field(name).type
            width += typ.list_size if pa.types.is_fixed_size_list(typ) else 1
        return int(md.num_rows) * max(min(width, n_feature_columns or width), 1) * 4
    return None


@dataclass
class Streamed:
    """What the streaming pass produced for the rest of the scan."""

    labels: np.ndarray
    class_names: list[Any]
    pred_probs: np.ndarray
    """A read-only memory map of the out-of-fold probabilities (rows x classes, float32)."""
    null_fraction: np.ndarray
    feature_columns: list[str]
    n_features: int
    ids: np.ndarray | None
    label_column: str | None
    id_column: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Piece:
    """A unit of work: one Parquet row group, or a whole CSV/NPY file, and where its rows start."""

    path: str
    row_group: int | None
    offset: int
    rows: int | None


@dataclass(frozen=True)
class ReadSpec:
    """How to read features, labels and ids from a piece (sent to Dask workers with each task)."""

    format: str
    label: str | None
    features: tuple[str, ...]
    id_column: str | None
    batch_rows: int
    columns: tuple[str, ...] = ()
    delimiter: str | None = None
    encoding: str = "utf-8"


def is_dataset_path(path: str | Path) -> bool:
    """A directory of Parquet files or a glob pattern (a partitioned dataset)."""
    text = str(path)
    return Path(text).is_dir() or any(ch in text for ch in "*?[")


def dataset_files(path: str | Path) -> list[Path]:
    text = str(path)
    if Path(text).is_dir():
        files = sorted(p for p in Path(text).rglob("*.parquet") if p.is_file())
    else:
        import glob

        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
    if not files:
        raise InputError(
            f"{text} matches no Parquet files; give a directory of .parquet files or a glob like 'data/*.parquet'"
        )
    bad = [f.name for f in files if f.suffix.lower() != ".parquet"]
    if bad:
        raise InputError(f"a partitioned dataset must be Parquet files; {', '.join(bad[:5])} are not")
    return files


def parquet_pieces(files: list[Path]) -> list[Piece]:
    import pyarrow.parquet as pq

    pieces: list[Piece] = []
    offset = 0
    for f in files:
        try:
            md = pq.ParquetFile(f).metadata
        except (pa.ArrowInvalid, OSError) as err:
            raise InputError(f"{f} is not a readable Parquet file ({str(err).splitlines()[0]})") from None
        for i in range(md.num_row_groups):
            n = md.row_group(i).num_rows
            pieces.append(Piece(str(f), i, offset, n))
            offset += n
    return pieces


def dataset_sha256(files: list[Path]) -> str:
    """SHA-256 over the files' names and SHA-256s, in order: changes when any partition changes."""
    import hashlib

    from labelaudit.io.readers import file_sha256

    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.name}\0{file_sha256(f)}\n".encode())
    return h.hexdigest()


def read_piece(piece: Piece, spec: ReadSpec) -> Iterator[tuple[int, np.ndarray, pa.Array | None, pa.Array | None]]:
    """Batches ``(first row, float32 features, labels, ids)`` of one piece, at most ``batch_rows`` rows each."""
    if spec.format == "npy":
        mat = np.load(piece.path, mmap_mode="r", allow_pickle=False)
        for start in range(0, mat.shape[0], spec.batch_rows):
            yield piece.offset + start, np.asarray(mat[start : start + spec.batch_rows], dtype=np.float32), None, None
        return
    cols = [c for c in (spec.label, spec.id_column, *spec.features) if c is not None]
    start = piece.offset
    for batch in _record_batches(piece, spec, cols):
        X = _matrix(batch, list(spec.features))
        labels = batch.column(spec.label) if spec.label else None
        ids = batch.column(spec.id_column) if spec.id_column else None
        yield start, X, labels, ids
        start += batch.num_rows


def _record_batches(piece: Piece, spec: ReadSpec, cols: list[str]):
    try:
        if spec.format == "parquet":
            import pyarrow.parquet as pq

            # one row group at a time: iter_batches reads ahead and its memory grew with the file here
            # (72 -> 520 MB over 20 batches); read_row_group holds one row group
            table = pq.ParquetFile(piece.path, pre_buffer=False).read_row_group(piece.row_group, columns=cols)
            yield from table.to_batches(max_chunksize=spec.batch_rows)
            return
        import pyarrow.csv as pacsv

        reader = pacsv.open_csv(
            piece.path,
            read_options=pacsv.ReadOptions(block_size=max(1 << 20, spec.batch_rows * 64), encoding=spec.encoding),
            parse_options=pacsv.ParseOptions(delimiter=spec.delimiter or ","),
        )
        # select by position: pandas (which read the header) and pyarrow name unnamed columns differently
        pos = [spec.columns.index(c) for c in cols]
        for batch in reader:
            yield pa.RecordBatch.from_arrays([batch.column(i) for i in pos], names=cols)
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"{piece.path}: cannot stream the {spec.format} file ({str(err).splitlines()[0]})") from None


def _matrix(batch: pa.RecordBatch, features: list[str]) -> np.ndarray:
    blocks = []
    for name in features:
        col = batch.column(name)
        typ = col.type
        if pa.types.is_fixed_size_list(typ) or pa.types.is_list(typ) or pa.types.is_large_list(typ):
            flat = np.asarray(col.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
            blocks.append(flat.reshape(len(col), -1))
        elif pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ):
            blocks.append(np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float32)[:, None])
        else:
            raise SchemaError(
                f"--low-memory takes numeric feature columns or one vector column; '{name}' is {typ}: "
                "encode it, or leave it out with --features"
            )
    return np.hstack(blocks) if len(blocks) > 1 else blocks[0]


class StreamingLDA:
    """Per-fold sufficient statistics of a linear discriminant, accumulated batch by batch."""

    def __init__(self, n_features: int, n_classes: int, folds: int) -> None:
        d, k = n_features, n_classes
        self.sums = np.zeros((folds, k, d))
        self.counts = np.zeros((folds, k))
        self.cross = np.zeros((folds, d, d))

    def update(self, Z: np.ndarray, y: np.ndarray, fold: np.ndarray) -> None:
        for f in np.unique(fold):
            m = (fold == f) & (y >= 0)
            if not m.any():
                continue
            Zf, yf = Z[m], y[m]
            np.add.at(self.sums[f], yf, Zf)
            self.counts[f] += np.bincount(yf, minlength=self.counts.shape[1])
            self.cross[f] += Zf.T @ Zf

    def fold_models(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(W, b) per fold: log-probabilities up to a constant are ``Z @ W + b``."""
        out = []
        tot_s, tot_n, tot_c = self.sums.sum(0), self.counts.sum(0), self.cross.sum(0)
        for f in range(len(self.counts)):
            s, n, c = tot_s - self.sums[f], tot_n - self.counts[f], tot_c - self.cross[f]
            present = n > 0
            mu = np.where(present[:, None], s / np.maximum(n, 1)[:, None], 0.0)
            scatter = c - (mu.T * n) @ mu
            dof = max(n.sum() - present.sum(), 1.0)
            cov = scatter / dof
            d = cov.shape[0]
            cov = (1 - SHRINKAGE) * cov + SHRINKAGE * (np.trace(cov) / d) * np.eye(d) + 1e-9 * np.eye(d)
            W = np.linalg.solve(cov, mu.T)  # d x k
            b = -0.5 * np.einsum("kd,dk->k", mu, W) + np.log(np.where(present, n / n.sum(), 1e-300))
            b[~present] = -np.inf
            out.append((W, b))
        return out


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _prepare(X: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Centre on the column means; missing values become the mean (0 after centring)."""
    Z = X.astype(np.float64) - center
    Z[np.isnan(Z)] = 0.0
    return Z


def piece_scan(piece: Piece, spec: ReadSpec) -> dict[str, Any]:
    """Pass 1 over one piece: labels, ids, per-row missing share, column sums and counts."""
    labels: list[pa.Array] = []
    ids: list[pa.Array] = []
    nulls: list[np.ndarray] = []
    col_sum = col_n = None
    n = 0
    inf_row = -1
    for start, X, lab, idv in read_piece(piece, spec):
        if col_sum is None:
            col_sum, col_n = np.zeros(X.shape[1]), np.zeros(X.shape[1])
        if inf_row < 0 and np.isinf(X).any():
            inf_row = start + int(np.flatnonzero(np.isinf(X).any(axis=1))[0])
        ok = ~np.isnan(X)
        col_sum += np.where(ok, X, 0.0).sum(axis=0)
        col_n += ok.sum(axis=0)
        nulls.append(np.isnan(X).mean(axis=1).astype(np.float32) if X.shape[1] else np.zeros(len(X), np.float32))
        if lab is not None:
            labels.append(lab)
        if idv is not None:
            ids.append(idv)
        n += len(X)
    return {
        "rows": n,
        "labels": pa.chunked_array(labels) if labels else None,
        "ids": pa.chunked_array(ids) if ids else None,
        "nulls": np.concatenate(nulls) if nulls else np.zeros(0, np.float32),
        "col_sum": col_sum,
        "col_n": col_n,
        "inf_row": inf_row,
    }


def piece_stats(piece: Piece, codes: np.ndarray, spec: ReadSpec, center: np.ndarray, folds: int, seed: int, k: int):
    """Pass 2 over one piece: per-fold class sums, counts and cross-products (one BLAS thread: reproducible)."""
    from threadpoolctl import threadpool_limits

    stats = StreamingLDA(len(center), k, folds)
    with threadpool_limits(limits=1, user_api="blas"):
        for start, X, _, _ in read_piece(piece, spec):
            rows = np.arange(start, start + len(X))
            stats.update(_prepare(X, center), codes[rows - piece.offset], fold_of(rows, seed, folds))
    return stats.sums, stats.counts, stats.cross


def piece_predict(piece: Piece, spec: ReadSpec, center: np.ndarray, models, folds: int, seed: int) -> np.ndarray:
    """Pass 3 over one piece: each row's probabilities from the fold model that did not see it."""
    from threadpoolctl import threadpool_limits

    k = len(models[0][1])
    blocks = []
    with threadpool_limits(limits=1, user_api="blas"):
        for start, X, _, _ in read_piece(piece, spec):
            rows = np.arange(start, start + len(X))
            Z = _prepare(X, center)
            fold = fold_of(rows, seed, folds)
            out = np.empty((len(X), k))
            for f in np.unique(fold):
                m = fold == f
                W, b = models[f]
                out[m] = _softmax(Z[m] @ W + b)
            blocks.append(out.astype(np.float32))
    return np.concatenate(blocks) if blocks else np.zeros((0, k), np.float32)


class LocalExecutor:
    """Runs the piece functions here, one after another."""

    name = "local"

    def map(self, fn, pieces: list[Piece], *per_piece, **common):
        for args in zip(pieces, *per_piece, strict=True):
            yield fn(*args, **common)


class DaskExecutor:
    """Runs the piece functions on a Dask cluster; results come back in piece order, one at a time."""

    def __init__(self, client) -> None:
        self.client = client
        self.name = f"dask {client.scheduler.address}"

    def map(self, fn, pieces: list[Piece], *per_piece, **common):
        # unique keys (hash=False): a content-hashed key shared with the previous pass could be released
        # by that pass's clean-up after this one scattered it again
        common_futs = {k: self.client.scatter(v, broadcast=True, hash=False) for k, v in common.items()}
        futures = self.client.map(fn, pieces, *per_piece, **common_futs, pure=False)
        for i in range(len(futures)):
            result = futures[i].result()
            futures[i] = None  # drop the reference: the worker frees the result
            yield result
        del common_futs


def connect_dask(address: str):
    """A ``distributed.Client`` for ``address`` (needs the ``labelaudit[dask]`` extra)."""
    from labelaudit.errors import ExtraMissingError

    try:
        from distributed import Client
    except ImportError:
        raise ExtraMissingError("--dask needs the distributed package: pip install 'labelaudit[dask]'") from None
    try:
        return Client(address, timeout=DASK_CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise ConfigError(
            f"cannot reach the Dask scheduler at {address} ({str(err).splitlines()[0]}); check --dask or "
            "DASK_SCHEDULER_ADDRESS"
        ) from None


def plan_pieces(
    path: str | Path,
    *,
    label: str | None,
    labels_file: Path | None,
    features,
    id_column,
    batch_rows,
    encoding,
    distributed: bool,
) -> tuple[list[Piece], ReadSpec, str | None, str]:
    """The pieces of ``path`` and how to read them; returns (pieces, spec, label column, format)."""
    if is_dataset_path(path):
        files = dataset_files(path)
        import pyarrow.parquet as pq

        columns = list(pq.read_schema(files[0]).names)
        fmt, pieces, delimiter, enc = "parquet-dataset", parquet_pieces(files), None, "utf-8"
        name = str(path)
    else:
        path = Path(path)
        source = open_table(path, encoding=encoding)
        if source.format not in STREAM_FORMATS:
            raise ConfigError(
                f"--low-memory streams Parquet, CSV/TSV or NPY files; {path.name} is {source.format}: "
                "convert it to Parquet"
            )
        if distributed and source.format != "parquet":
            raise ConfigError(f"--dask reads Parquet (a file, a directory or a glob); {path.name} is {source.format}")
        columns = list(source.columns)
        fmt, delimiter, enc = source.format, source.delimiter, source.encoding
        pieces = parquet_pieces([path]) if fmt == "parquet" else [Piece(str(path), None, 0, None)]
        name = path.name
    if fmt == "npy":
        if labels_file is None:
            raise SchemaError(f"{name} holds features only; pass --labels FILE")
        return pieces, ReadSpec("npy", None, (), None, batch_rows), None, fmt
    label_col = None if labels_file else (label or pick_label_column(columns, Path(name)))
    for c in (label_col, id_column, *(features or ())):
        if c is not None and c not in columns:
            raise SchemaError(f"column '{c}' is not in {name}")
    if id_column is None and not features:
        # the in-memory rule: a unique id-named column is the row id (only that one column is read)
        id_column = _auto_id_column(pieces, fmt, [c for c in columns if c != label_col], tuple(columns), delimiter, enc)
    skip = {label_col, id_column}
    feats = tuple(features) if features else tuple(c for c in columns if c not in skip)
    if not feats:
        raise SchemaError("no feature columns to stream; pass --features")
    read_fmt = "parquet" if fmt == "parquet-dataset" else fmt
    spec = ReadSpec(read_fmt, label_col, feats, id_column, batch_rows, tuple(columns), delimiter, enc)
    return pieces, spec, label_col, fmt


def _auto_id_column(pieces: list[Piece], fmt: str, candidates: list[str], columns, delimiter, enc) -> str | None:
    """The first id-named column whose values are present and unique, reading only that column."""
    from labelaudit.column_roles import looks_like_id_name, pick_id_column

    for name in [c for c in candidates if looks_like_id_name(c)]:
        read_fmt = "parquet" if fmt == "parquet-dataset" else fmt
        spec = ReadSpec(read_fmt, None, (), None, DEFAULT_BATCH_ROWS, tuple(columns), delimiter, enc)
        chunks = [b.column(0) for p in pieces for b in _record_batches(p, spec, [name])]
        table = pa.table({name: pa.chunked_array(chunks)}) if chunks else None
        if table is not None and pick_id_column(table, [name]) == name:
            return name
    return None


@dataclass
class LabelPass:
    """What pass 1 over the pieces gives: labels, ids, per-row missing share and the column means."""

    pieces: list[Piece]
    spec: ReadSpec
    label_column: str | None
    labels: np.ndarray
    class_names: list[Any]
    ids: np.ndarray | None
    null_fraction: np.ndarray
    center: np.ndarray
    where: str


def stream_labels(
    path: str | Path,
    *,
    label: str | None,
    labels_file: Path | None,
    features: tuple[str, ...] | None,
    id_column: str | None,
    batch_rows: int,
    encoding: str | None,
    reporter: Reporter,
    executor: LocalExecutor | DaskExecutor | None = None,
) -> LabelPass:
    """Pass 1 over the pieces of ``path``: labels, ids, per-row missing share and column means."""
    from labelaudit.io.readers import read_labels_file

    if batch_rows < 1:
        raise ConfigError(f"--batch-rows must be at least 1 (got {batch_rows})")
    ex = executor or LocalExecutor()
    pieces, spec, label_col, fmt = plan_pieces(
        path,
        label=label,
        labels_file=labels_file,
        features=features,
        id_column=id_column,
        batch_rows=batch_rows,
        encoding=encoding,
        distributed=isinstance(ex, DaskExecutor),
    )
    where = f" on {ex.name}" if isinstance(ex, DaskExecutor) else ""
    # pass 1: labels, ids, per-row nulls, column means
    reporter.start("stream:labels", total=len(pieces), message=f"pass 1/3: labels and column means{where}")
    raw: list[pa.ChunkedArray] = []
    ids: list[pa.ChunkedArray] = []
    nulls: list[np.ndarray] = []
    col_sum = col_n = None
    rows_per_piece: list[int] = []
    for i, res in enumerate(ex.map(piece_scan, pieces, spec=spec)):
        if res["inf_row"] >= 0:
            raise InputError(f"{path} has infinite feature values at row {res['inf_row']}; fix the export")
        if res["col_sum"] is not None:
            if col_sum is None:
                col_sum, col_n = np.zeros_like(res["col_sum"]), np.zeros_like(res["col_n"])
            if len(res["col_sum"]) != len(col_sum):
                raise SchemaError(f"{pieces[i].path} has {len(res['col_sum'])} features, not {len(col_sum)}")
            col_sum += res["col_sum"]
            col_n += res["col_n"]
        rows_per_piece.append(res["rows"])
        nulls.append(res["nulls"])
        if res["labels"] is not None:
            raw.append(res["labels"])
        if res["ids"] is not None:
            ids.append(res["ids"])
        reporter.advance("stream:labels", i + 1, len(pieces))
    n = int(sum(rows_per_piece))
    if col_sum is None or n == 0:
        raise InputError(f"{path} has no data rows")
    if spec.id_column and ids:
        from labelaudit.column_roles import duplicate_ids

        dups = duplicate_ids(pa.chunked_array([c for r in ids for c in r.chunks]))
        if dups:
            raise SchemaError(
                f"--id column '{spec.id_column}' has duplicate values: {dups}; give every row its own id, or drop --id"
            )
    # pieces whose row count was unknown (CSV, NPY) get it now
    offsets = np.concatenate([[0], np.cumsum(rows_per_piece)[:-1]])
    pieces = [
        Piece(p.path, p.row_group, int(o), int(r)) for p, o, r in zip(pieces, offsets, rows_per_piece, strict=True)
    ]
    if labels_file is not None:
        raw_labels: Any = read_labels_file(labels_file, encoding=encoding)
        if len(raw_labels) != n:
            raise InputError(f"labels file {labels_file.name} has {len(raw_labels)} rows but the data has {n}")
    else:
        try:
            raw_labels = pa.chunked_array([c for r in raw for c in r.chunks]).to_pandas()
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            raise SchemaError(f"the label column has different types across partitions ({err})") from None
    del raw
    labels, classes = encode_labels(raw_labels, f"label column '{label_col or 'labels'}'")
    del raw_labels
    reporter.end("stream:labels", f"{n} rows, {len(classes)} classes, {len(col_sum)} features")
    id_values = (
        np.asarray(pa.chunked_array([c for r in ids for c in r.chunks]).to_pylist(), dtype=object)
        if spec.id_column
        else None
    )
    center = col_sum / np.maximum(col_n, 1)
    return LabelPass(pieces, spec, label_col, labels, classes, id_values, np.concatenate(nulls), center, where)


def stream_out_of_fold(
    path: str | Path,
    *,
    label: str | None,
    labels_file: Path | None,
    features: tuple[str, ...] | None,
    id_column: str | None,
    folds: int,
    seed: int,
    batch_rows: int,
    encoding: str | None,
    reporter: Reporter,
    executor: LocalExecutor | DaskExecutor | None = None,
) -> Streamed:
    """Three passes over the pieces of ``path``: labels + column means, per-fold LDA statistics, probabilities.

    With a :class:`DaskExecutor` every pass runs piece by piece on the cluster's workers (which must
    see the same paths); statistics are summed here in piece order, so the result is the same as a
    local run with the same seed and ``batch_rows``.
    """
    ex = executor or LocalExecutor()
    lp = stream_labels(
        path,
        label=label,
        labels_file=labels_file,
        features=features,
        id_column=id_column,
        batch_rows=batch_rows,
        encoding=encoding,
        reporter=reporter,
        executor=ex,
    )
    pieces, spec, labels, classes, center, where = lp.pieces, lp.spec, lp.labels, lp.class_names, lp.center, lp.where
    k, d = len(classes), len(center)
    # pass 2: per-fold class sums and cross-products, summed in piece order
    reporter.start("stream:fit", total=len(pieces), message=f"pass 2/3: per-fold statistics{where}")
    model = StreamingLDA(d, k, folds)
    codes = [labels[p.offset : p.offset + p.rows] for p in pieces]
    for i, (sums, counts, cross) in enumerate(
        ex.map(piece_stats, pieces, codes, spec=spec, center=center, folds=folds, seed=seed, k=k)
    ):
        model.sums += sums
        model.counts += counts
        model.cross += cross
        reporter.advance("stream:fit", i + 1, len(pieces))
    fold_models = model.fold_models()
    reporter.end("stream:fit")
    # pass 3: out-of-fold probabilities into a memory map
    reporter.start("stream:predict", total=len(pieces), message=f"pass 3/3: out-of-fold probabilities{where}")
    fd, tmp = tempfile.mkstemp(prefix="labelaudit-pred-probs-", suffix=".npy")
    os.close(fd)
    try:
        pp = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(labels), k))
    finally:
        os.unlink(tmp)  # the mapping stays valid; nothing is left behind on a crash
    for i, (p, block) in enumerate(
        zip(
            pieces,
            ex.map(piece_predict, pieces, spec=spec, center=center, models=fold_models, folds=folds, seed=seed),
            strict=True,
        )
    ):
        pp[p.offset : p.offset + p.rows] = block
        reporter.advance("stream:predict", i + 1, len(pieces))
    pp.flush()
    reporter.end("stream:predict")
    return Streamed(
        labels=labels,
        class_names=classes,
        pred_probs=pp,
        null_fraction=lp.null_fraction,
        feature_columns=list(spec.features),
        n_features=d,
        ids=lp.ids,
        label_column=lp.label_column,
        id_column=spec.id_column,
        notes=[
            f"--low-memory: streamed {len(pieces)} piece(s) in batches of {batch_rows} rows{where}; streaming LDA "
            "out-of-fold probabilities, folds by a hash of the row index"
        ],
    )
