"""Low-memory scans: stream the features in row batches, never holding the feature matrix.

Out-of-fold probabilities come from a streaming linear discriminant (LDA): one pass accumulates, per
fold, per-class sums, counts and the d x d cross-product; fold f's model is the totals minus fold
f's share, so K folds cost one pass. Sums are order-independent, so the result does not depend on
the batch size or on row order (a class-sorted file is fine, unlike SGD ``partial_fit``), and the
same sums computed per partition on a Dask cluster give the same model. Folds are assigned by a hash
of the row index and the seed. Probabilities go to a memory-mapped ``.npy``; label issues come from
cleanlab's ``find_label_issues_batched``. Memory: O(rows x classes) + one batch + O(folds x d^2).
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


def fold_of(rows: np.ndarray, seed: int, folds: int) -> np.ndarray:
    """Fold of each row index: a splitmix64 hash of (row, seed), stable across batchings and machines."""
    z = rows.astype(np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
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
    notes: list[str] = field(default_factory=list)


class _Batches:
    """Row batches of the feature columns (float32 matrix), labels and ids of one file."""

    def __init__(self, source: TableSource, label: str | None, features: list[str], id_column: str | None, rows: int):
        self.source = source
        self.label = label
        self.features = features
        self.id_column = id_column
        self.rows = rows

    def __iter__(self) -> Iterator[tuple[int, np.ndarray, pa.Array | None, pa.Array | None]]:
        src = self.source
        if src.format == "npy":
            mat = src.matrix
            assert mat is not None
            for start in range(0, mat.shape[0], self.rows):
                yield start, np.asarray(mat[start : start + self.rows], dtype=np.float32), None, None
            return
        cols = [c for c in (self.label, self.id_column, *self.features) if c is not None]
        start = 0
        for batch in self._record_batches(cols):
            X = _matrix(batch, self.features)
            labels = batch.column(self.label) if self.label else None
            ids = batch.column(self.id_column) if self.id_column else None
            yield start, X, labels, ids
            start += batch.num_rows

    def _record_batches(self, cols: list[str]):
        src = self.source
        try:
            if src.format == "parquet":
                import pyarrow.parquet as pq

                # one row group at a time: iter_batches reads ahead and its memory grew with the file here
                # (72 -> 520 MB over 20 batches), read_row_group stays at one row group
                pf = pq.ParquetFile(src.path, pre_buffer=False)
                for i in range(pf.metadata.num_row_groups):
                    table = pf.read_row_group(i, columns=cols)
                    yield from table.to_batches(max_chunksize=self.rows)
                    del table
                return
            import pyarrow.csv as pacsv

            reader = pacsv.open_csv(
                src.path,
                read_options=pacsv.ReadOptions(block_size=max(1 << 20, self.rows * 64), encoding=src.encoding),
                parse_options=pacsv.ParseOptions(delimiter=src.delimiter or ","),
            )
            # select by position: pandas (which read the header) and pyarrow name unnamed columns differently
            pos = [src.columns.index(c) for c in cols]
            for batch in reader:
                yield pa.RecordBatch.from_arrays([batch.column(i) for i in pos], names=cols)
        except (pa.ArrowInvalid, OSError) as err:
            raise InputError(f"{src.path}: cannot stream the {src.format} file ({str(err).splitlines()[0]})") from None


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
        self.col_sum = np.zeros(d)
        self.col_n = np.zeros(d)

    def update_means(self, X: np.ndarray) -> None:
        ok = ~np.isnan(X)
        self.col_sum += np.where(ok, X, 0.0).sum(axis=0)
        self.col_n += ok.sum(axis=0)

    @property
    def center(self) -> np.ndarray:
        return self.col_sum / np.maximum(self.col_n, 1)

    def prepare(self, X: np.ndarray) -> np.ndarray:
        """Centre on the column means; missing values become the mean (0 after centring)."""
        Z = X.astype(np.float64) - self.center
        Z[np.isnan(Z)] = 0.0
        return Z

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


def stream_out_of_fold(
    path: Path,
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
) -> Streamed:
    """Three passes over ``path``: labels + column means, per-fold LDA statistics, probabilities."""
    from labelaudit.io.readers import read_labels_file

    source = open_table(path, encoding=encoding)
    if source.format not in STREAM_FORMATS:
        raise ConfigError(
            f"--low-memory streams Parquet, CSV/TSV or NPY files; {path.name} is {source.format}: convert it to Parquet"
        )
    if batch_rows < 1:
        raise ConfigError(f"--batch-rows must be at least 1 (got {batch_rows})")
    if source.format == "npy":
        if labels_file is None:
            raise SchemaError(f"{path.name} holds features only; pass --labels FILE")
        label_col, feats = None, []
        source = TableSource(path, "npy", [], matrix=np.load(path, mmap_mode="r", allow_pickle=False))
    else:
        label_col = None if labels_file else (label or pick_label_column(source.columns, path))
        for c in (label_col, id_column, *(features or ())):
            if c is not None and c not in source.columns:
                raise SchemaError(f"column '{c}' is not in {path.name}")
        skip = {label_col, id_column}
        feats = list(features) if features else [c for c in source.columns if c not in skip]
    batches = _Batches(source, label_col, feats, id_column, batch_rows)
    # pass 1: labels, ids, per-row nulls, column means
    reporter.start("stream:labels", message=f"pass 1/3: labels and column means ({path.name})")
    raw: list[pa.Array] = []
    ids: list[pa.Array] = []
    nulls: list[np.ndarray] = []
    lda: StreamingLDA | None = None
    n = 0
    for _, X, lab, idv in batches:
        if lda is None:
            d = X.shape[1]
            if d == 0:
                raise SchemaError("no feature columns to stream; pass --features")
            lda = StreamingLDA(d, 1, folds)
        if np.isinf(X).any():
            raise InputError(f"{path.name} has infinite feature values near row {n}; fix the export")
        lda.update_means(X)
        nulls.append(np.isnan(X).mean(axis=1).astype(np.float32))
        if lab is not None:
            raw.append(lab)
        if idv is not None:
            ids.append(idv)
        n += len(X)
    if lda is None or n == 0:
        raise InputError(f"{path} has no data rows")
    if labels_file is not None:
        raw_labels: Any = read_labels_file(labels_file, encoding=encoding)
        if len(raw_labels) != n:
            raise InputError(f"labels file {labels_file.name} has {len(raw_labels)} rows but {path.name} has {n}")
    else:
        raw_labels = pa.chunked_array(raw).to_pandas()
    del raw
    labels, classes = encode_labels(raw_labels, f"label column '{label_col or 'labels'}'")
    del raw_labels
    k = len(classes)
    d = lda.sums.shape[2]
    model = StreamingLDA(d, k, folds)
    model.col_sum, model.col_n = lda.col_sum, lda.col_n
    reporter.end("stream:labels", f"{n} rows, {k} classes, {d} features")
    # pass 2: per-fold class sums and cross-products
    reporter.start("stream:fit", message="pass 2/3: per-fold statistics")
    for start, X, _, _ in batches:
        rows = np.arange(start, start + len(X))
        model.update(model.prepare(X), labels[rows], fold_of(rows, seed, folds))
    fold_models = model.fold_models()
    reporter.end("stream:fit")
    # pass 3: out-of-fold probabilities into a memory map
    reporter.start("stream:predict", message="pass 3/3: out-of-fold probabilities")
    fd, tmp = tempfile.mkstemp(prefix="labelaudit-pred-probs-", suffix=".npy")
    os.close(fd)
    try:
        pp = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, k))
    finally:
        os.unlink(tmp)  # the mapping stays valid; nothing is left behind on a crash
    for start, X, _, _ in batches:
        rows = np.arange(start, start + len(X))
        Z = model.prepare(X)
        fold = fold_of(rows, seed, folds)
        out = np.empty((len(X), k))
        for f in np.unique(fold):
            m = fold == f
            W, b = fold_models[f]
            out[m] = _softmax(Z[m] @ W + b)
        pp[start : start + len(X)] = out
    pp.flush()
    reporter.end("stream:predict")
    return Streamed(
        labels=labels,
        class_names=classes,
        pred_probs=pp,
        null_fraction=np.concatenate(nulls),
        feature_columns=feats,
        n_features=d,
        ids=np.asarray(pa.chunked_array(ids).to_pylist(), dtype=object) if id_column else None,
        label_column=label_col,
        notes=[
            f"--low-memory: streamed in batches of {batch_rows} rows; streaming LDA out-of-fold probabilities, "
            "folds by a hash of the row index"
        ],
    )


def batched_label_result(labels: np.ndarray, pred_probs: np.ndarray, rare: list[int], batch_rows: int):
    """The label check from cleanlab's ``find_label_issues_batched`` over the memory-mapped probabilities."""
    from cleanlab.count import compute_confident_joint
    from cleanlab.experimental.label_issues_batched import find_label_issues_batched

    from labelaudit.checks import CheckResult
    from labelaudit.labels import LabelResult

    n, k = pred_probs.shape
    labeled = labels >= 0
    assessable = labeled & ~np.isin(labels, rare)
    quality = np.full(n, np.nan)
    suggested = np.empty(n, dtype=np.int64)
    for s in range(0, n, batch_rows):
        blk = np.asarray(pred_probs[s : s + batch_rows])
        y = labels[s : s + batch_rows]
        suggested[s : s + batch_rows] = blk.argmax(1)
        ok = y >= 0
        q = np.full(len(y), np.nan)
        q[ok] = blk[np.flatnonzero(ok), y[ok]]
        quality[s : s + batch_rows] = q
    idx = np.flatnonzero(labeled)
    flagged = np.zeros(n, dtype=bool)
    if labeled.all():
        flagged = find_label_issues_batched(
            labels=labels, pred_probs=pred_probs, batch_size=batch_rows, n_jobs=1, verbose=False, return_mask=True
        )
    else:
        flagged[idx] = find_label_issues_batched(
            labels=labels[idx],
            pred_probs=np.asarray(pred_probs[idx]),
            batch_size=batch_rows,
            n_jobs=1,
            verbose=False,
            return_mask=True,
        )
    flagged = np.asarray(flagged, dtype=bool) & assessable
    quality[~assessable] = np.nan
    cj = compute_confident_joint(labels[idx], np.asarray(pred_probs[idx]), calibrate=True)
    total = cj.sum()
    noise = float((total - np.trace(cj)) / total) if total > 0 else 0.0
    check = CheckResult(
        "label",
        quality,
        flagged,
        {
            "estimator": "cleanlab.experimental.label_issues_batched.find_label_issues_batched",
            "score": "self_confidence",
        },
    )
    return LabelResult(check, suggested, assessable, cj, noise)
