"""Readers for every input format, returning Arrow tables or NumPy arrays.

Only the columns that are needed are read (Parquet, Feather and JSON Lines project at read time;
CSV through ``usecols``). NPY/NPZ files are loaded with ``allow_pickle=False``: a file that holds
pickled objects is refused, never executed.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from labelaudit.errors import InputError

CSV_SUFFIXES = {".csv", ".tsv", ".tab", ".txt"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
ARROW_SUFFIXES = {".feather", ".arrow", ".ipc"}
NUMPY_SUFFIXES = {".npy", ".npz"}
DATA_SUFFIXES = CSV_SUFFIXES | PARQUET_SUFFIXES | JSONL_SUFFIXES | ARROW_SUFFIXES | NUMPY_SUFFIXES
SUPPORTED = "CSV/TSV, Parquet, JSON Lines, Feather/Arrow, NPY or NPZ"
#: a table file up to this size is read from disk once, hashed in the same pass, and parsed from memory
#: (also when the audit writes its cleaned copy); a bigger one is read from its path each time it is needed,
#: and the cleaned copy re-checks its hash first. 256 MiB: holding a 1M x 128 Parquet file's 585 MB for the
#: whole scan, beside the parsed matrix, was a sixth of that scan's peak memory
RETAIN_BYTES = 1 << 28
PICKLE_REFUSED = (
    "holds pickled Python objects, which labelaudit refuses to load because loading them can run code; "
    "save a plain numeric array with numpy.save(..., allow_pickle=False)"
)


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def format_of(path: Path) -> str:
    """The format a data file is read as, from its name (no I/O)."""
    suffix = path.suffix.lower()
    if suffix in {".tsv", ".tab"}:
        return "tsv"
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in ARROW_SUFFIXES:
        return "arrow"
    if suffix == ".npy":
        return "npy"
    if suffix == ".npz":
        return "npz"
    raise InputError(
        f"{path}: unsupported file type '{path.suffix or '(no extension)'}'; "
        f"give a {SUPPORTED} file with a matching extension"
    )


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise InputError(f"{path} is a directory; give a data file ({SUPPORTED})")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes); give a file with a header and at least one row")


def _decode_error(path: Path, err: UnicodeDecodeError, encoding: str) -> InputError:
    return InputError(
        f"{path}: byte 0x{err.object[err.start]:02x} at position {err.start} is not valid {encoding}; "
        "pass --encoding with the file's encoding (for example --encoding latin-1 or --encoding cp1252)"
    )


def sniff_delimiter(path: Path, encoding: str, content: bytes | None = None) -> str:
    """Detect the delimiter of a delimited text file from its first 64 KiB."""
    if path.suffix.lower() in {".tsv", ".tab"}:
        return "\t"
    if content is not None:
        head = content[:65536]
    else:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    try:
        text = head.decode(encoding)
    except UnicodeDecodeError as err:
        # a multi-byte character cut at the 64 KiB boundary is not an error
        if err.start < len(head) - 4:
            raise _decode_error(path, err, encoding) from None
        text = head[: err.start].decode(encoding)
    except LookupError:
        raise InputError(f"unknown encoding '{encoding}'; pass a Python codec name such as utf-8 or latin-1") from None
    lines = text.splitlines()[:50]
    sample = "\n".join(lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        return ","


@dataclass
class TableSource:
    """An opened data file: its format, columns and how to read a subset of them."""

    path: Path
    format: str
    columns: list[str]
    encoding: str = "utf-8"
    delimiter: str | None = None
    #: for NPY/NPZ inputs: the feature matrix and (NPZ) the labels
    matrix: np.ndarray | None = None
    labels: np.ndarray | None = None
    arrow_schema: pa.Schema | None = field(default=None, repr=False)
    #: JSON Lines has no schema without a full read: the table read by ``open_table`` is kept for ``read``
    #: (format ``table``: an in-memory table, e.g. training and test rows stacked by ``retrain``)
    loaded: pa.Table | None = field(default=None, repr=False)
    #: NPY/NPZ arrays of images (n, h, w[, c]) are read flattened to (n, h*w*c); this is (h, w, c)
    image_shape: tuple[int, int, int] | None = None
    _content: bytes | None = field(default=None, init=False, repr=False)
    _sha256: str | None = field(default=None, init=False, repr=False)

    @property
    def is_array(self) -> bool:
        return self.format in {"npy", "npz"}

    def content(self) -> bytes | None:
        """The file's bytes, read once and hashed in the same pass; ``None`` for arrays and big files."""
        if (
            self._content is None
            and self.format not in {"npy", "npz", "table"}
            and self.path.stat().st_size <= RETAIN_BYTES
        ):
            h = hashlib.sha256()
            chunks = []
            with open(self.path, "rb") as fh:
                while block := fh.read(1 << 20):
                    h.update(block)
                    chunks.append(block)
            self._content, self._sha256 = b"".join(chunks), h.hexdigest()
        return self._content

    @property
    def retained(self) -> bool:
        """Whether the bytes parsed are held (read once): False for a file over RETAIN_BYTES."""
        return self._content is not None or self.format == "table"

    def sha256(self) -> str:
        """SHA-256 of the bytes that were parsed (of the file, when it is read from its path)."""
        if self._sha256 is None:
            self._sha256 = file_sha256(self.path)
        return self._sha256

    def handle(self):
        """What a reader opens: the retained bytes (a fresh stream each call) or the path."""
        content = self.content()
        return pa.BufferReader(content) if content is not None else self.path

    def byte_stream(self):
        """For pandas: a fresh byte stream over the retained bytes, or the path."""
        return _stream(self.path, self.content())

    def read(self, columns: Sequence[str]) -> pa.Table:
        """Read only ``columns`` (in that order) as an Arrow table."""
        cols = list(dict.fromkeys(columns))
        try:
            if self.format in {"csv", "tsv"}:
                return self._read_csv(cols)
            if self.format == "parquet":
                import pyarrow.parquet as pq

                return pq.read_table(self.handle(), columns=cols)
            if self.format == "arrow":
                import pyarrow.feather as feather

                handle = self.handle()
                return feather.read_table(handle, columns=cols, memory_map=isinstance(handle, Path))
            if self.format in {"jsonl", "table"}:
                table = self.loaded if self.loaded is not None else _read_jsonl(self.path, self.content())
                return table.select(cols)
        except (pa.ArrowInvalid, OSError) as err:
            raise InputError(f"{self.path}: cannot read the {self.format} file ({_short(err)})") from None
        raise InputError(f"{self.path}: the {self.format} format holds arrays, not columns")

    def _read_csv(self, cols: list[str]) -> pa.Table:
        check_csv_rows(self.path, self.delimiter or ",", self.encoding, len(self.columns), self.content())
        try:
            df = pd.read_csv(
                _stream(self.path, self.content()),
                sep=self.delimiter,
                usecols=cols,
                encoding=self.encoding,
                low_memory=False,
                encoding_errors="strict",
            )
        except UnicodeDecodeError as err:
            raise _decode_error(self.path, err, self.encoding) from None
        except (pd.errors.ParserError, ValueError) as err:
            raise InputError(f"{self.path}: cannot parse as delimited text ({_short(err)})") from None
        return pa.Table.from_pandas(df[cols], preserve_index=False)


def _stream(path: Path, content: bytes | None):
    return io.BytesIO(content) if content is not None else path


def check_csv_rows(path: Path, delimiter: str, encoding: str, n_columns: int, content: bytes | None = None) -> None:
    """Every row has as many fields as the header: a ragged row is an error, not silently cut or padded.

    (pandas drops a row's extra fields when only some columns are read, and pads short rows with
    missing values; both hide a broken export.) One streaming pass of pyarrow's CSV parser, which
    honours quoted delimiters and newlines.
    """
    import pyarrow.csv as pacsv

    bad: list[tuple[int, str]] = []

    def on_bad_row(row) -> str:
        bad.append((row.actual_columns, row.text))
        return "error"

    # the fast multi-threaded parse first; a row it calls bad is confirmed honouring quoted newlines
    for newlines in (False, True):
        bad.clear()
        try:
            pacsv.read_csv(
                _stream(path, content),
                read_options=pacsv.ReadOptions(encoding=encoding),
                parse_options=pacsv.ParseOptions(
                    delimiter=delimiter, newlines_in_values=newlines, invalid_row_handler=on_bad_row
                ),
                convert_options=pacsv.ConvertOptions(include_columns=[]),
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError, LookupError) as err:
            if not bad:
                if isinstance(err, pa.ArrowInvalid) and "CSV parse error" in str(err):
                    raise InputError(f"{path}: cannot parse as delimited text ({_short(err)})") from None
                return  # encoding and other problems are reported by the reader itself
        if not bad:
            return
    if bad:
        fields, text = bad[0]
        raise InputError(
            f"{path}: a row has {fields} fields but the header has {n_columns} ({text[:80]!r}); fix the export "
            "(a stray delimiter, or a value that needs quotes)"
        )


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:200]


def _read_jsonl(path: Path, content: bytes | None = None) -> pa.Table:
    import pyarrow.json as pajson

    # pyarrow 26 crashes the process (SIGSEGV) on a file whose first value is not an object (``null``):
    # look before handing it over
    if content is not None:
        head = content[:65536].lstrip()
    else:
        with open(path, "rb") as fh:
            head = fh.read(65536).lstrip()
    if head and not head.startswith(b"{"):
        kind = "a JSON array (a .json file, not JSON Lines)" if head.startswith(b"[") else "not a JSON object"
        raise InputError(f'{path}: the first line is {kind}; write one JSON object per line ({{"col": value}})')
    try:
        return pajson.read_json(pa.BufferReader(content) if content is not None else path)
    except pa.ArrowInvalid as err:
        raise InputError(f"{path}: not valid JSON Lines ({_short(err)}); write one JSON object per line") from None


def load_npy(path: Path) -> np.ndarray:
    """Load an NPY file without ever unpickling."""
    _check_file(path)
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as err:
        if any(t in str(err) for t in ("allow_pickle", "Object arrays", "Python objects")):
            raise InputError(f"{path} {PICKLE_REFUSED}") from None
        raise InputError(f"{path}: not a valid NPY file ({_short(err)})") from None
    except OSError as err:
        raise InputError(f"{path}: not a valid NPY file ({_short(err)})") from None
    if arr.dtype.hasobject:
        raise InputError(f"{path} {PICKLE_REFUSED}")
    return arr


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = list(npz.files)
            for fkey, lkey in (("X", "y"), ("features", "labels")):
                if fkey in names:
                    x = npz[fkey]
                    y = npz[lkey] if lkey in names else None
                    return x, y
    except ValueError as err:
        if "allow_pickle" in str(err) or "Object arrays" in str(err):
            raise InputError(f"{path} {PICKLE_REFUSED}") from None
        raise InputError(f"{path}: not a valid NPZ file ({_short(err)})") from None
    except (OSError, EOFError) as err:
        raise InputError(f"{path}: not a valid NPZ file ({_short(err)})") from None
    raise InputError(
        f"{path}: the NPZ file holds arrays {names}; save the features as 'X' (labels 'y') "
        "or as 'features' (labels 'labels')"
    )


def _no_duplicate_columns(path: Path, names: list[str]) -> None:
    """Two columns with one name would be renamed or mixed up somewhere on the way: refuse them."""
    seen: set[str] = set()
    dups = [n for n in names if n in seen or seen.add(n)]
    if dups:
        shown = ", ".join(repr(d[:40]) for d in dict.fromkeys(dups))
        raise InputError(
            f"{path.name} has duplicate column names ({shown}); give every column its own name before auditing"
        )


def open_table(path: Path, *, encoding: str | None = None, read_once: bool = False) -> TableSource:
    """Open a data file and read its schema (columns) without reading the data.

    ``read_once``: read the file's bytes now (hashed in the same pass, up to ``RETAIN_BYTES``) and parse
    the schema and, later, every column from them, so one scan reads its input from disk once and
    every part of it sees the same bytes even if the file changes meanwhile.
    """
    path = Path(path)
    fmt = format_of(path)
    _check_file(path)
    enc = encoding or "utf-8"
    probe = TableSource(path, fmt, [], encoding=enc)
    content = probe.content() if read_once or fmt == "jsonl" else None
    if fmt in {"csv", "tsv"}:
        delim = sniff_delimiter(path, enc, content)
        try:
            header = pd.read_csv(_stream(path, content), sep=delim, nrows=0, encoding=enc)
        except UnicodeDecodeError as err:
            raise _decode_error(path, err, enc) from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
            raise InputError(f"{path}: cannot parse as delimited text ({_short(err)})") from None
        raw = pd.read_csv(
            _stream(path, content), sep=delim, nrows=1, header=None, dtype=str, keep_default_na=False, encoding=enc
        )
        _no_duplicate_columns(path, [str(c) for c in raw.iloc[0]] if len(raw) else [])
        probe.columns, probe.delimiter = [str(c) for c in header.columns], delim
        return probe
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            schema = pq.read_schema(probe.handle() if content is not None else path)
        except (pa.ArrowInvalid, OSError) as err:
            raise InputError(
                f"{path} is not a readable Parquet file ({_short(err)}); check that it was written completely"
            ) from None
        _no_duplicate_columns(path, list(schema.names))
        probe.columns, probe.arrow_schema = list(schema.names), schema
        return probe
    if fmt == "arrow":
        import pyarrow.ipc as ipc

        try:
            if content is not None:
                schema = ipc.open_file(pa.BufferReader(content)).schema
            else:
                with pa.memory_map(str(path)) as src:
                    schema = ipc.open_file(src).schema
        except (pa.ArrowInvalid, OSError) as err:
            raise InputError(
                f"{path} is not a readable Feather/Arrow IPC file ({_short(err)}); check that it was written completely"
            ) from None
        _no_duplicate_columns(path, list(schema.names))
        probe.columns, probe.arrow_schema = list(schema.names), schema
        return probe
    if fmt == "jsonl":
        table = _read_jsonl(path, content)
        probe.columns, probe.arrow_schema, probe.loaded = list(table.schema.names), table.schema, table
        return probe
    if fmt == "npy":
        arr, shape = _flatten_images(load_npy(path))
        return TableSource(path, fmt, [], matrix=arr, image_shape=shape)
    x, y = _load_npz(path)
    x, shape = _flatten_images(x)
    return TableSource(path, fmt, [], matrix=x, labels=y, image_shape=shape)


def _flatten_images(arr: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int] | None]:
    """An array of images (n, h, w) or (n, h, w, c) as rows of features, and the image shape."""
    if arr.ndim == 3:
        return arr.reshape(arr.shape[0], -1), (int(arr.shape[1]), int(arr.shape[2]), 1)
    if arr.ndim == 4 and arr.shape[3] in (1, 3, 4):
        return arr.reshape(arr.shape[0], -1), (int(arr.shape[1]), int(arr.shape[2]), int(arr.shape[3]))
    return arr, None


LABEL_HEADER_NAMES = ("label", "labels", "target", "class", "y")


def read_labels_file(path: Path, *, encoding: str | None = None) -> np.ndarray:
    """Labels, one per row, from an NPY, CSV/TSV or text file (1-D object or numeric array)."""
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        arr = load_npy(path)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise InputError(f"{path}: labels must be one-dimensional (got shape {arr.shape}); save one label per row")
        return np.asarray(arr)
    enc = encoding or "utf-8"
    try:
        text = path.read_bytes().decode(enc)
    except UnicodeDecodeError as err:
        raise _decode_error(path, err, enc) from None
    if suffix in {".csv", ".tsv", ".tab"}:
        delim = "\t" if suffix != ".csv" else sniff_delimiter(path, enc)
        first = text.splitlines()[0] if text else ""
        has_header = first.strip().strip('"').lower() in LABEL_HEADER_NAMES or delim in first
        df = pd.read_csv(
            io.StringIO(text), sep=delim, header=0 if has_header else None, dtype=str, keep_default_na=True
        )
        if df.shape[1] > 1:
            named = [c for c in df.columns if str(c).lower() in LABEL_HEADER_NAMES]
            if len(named) != 1:
                raise InputError(
                    f"{path}: the labels file has columns {list(map(str, df.columns))}; "
                    "keep one column, or name the label column one of " + "/".join(LABEL_HEADER_NAMES)
                )
            series = df[named[0]]
        else:
            series = df.iloc[:, 0]
        return _maybe_numeric(series)
    lines = text.splitlines()
    if lines and lines[-1] == "":
        lines = lines[:-1]
    series = pd.Series([ln.strip() if ln.strip() else None for ln in lines], dtype=object)
    return _maybe_numeric(series)


def _maybe_numeric(series: pd.Series) -> np.ndarray:
    """Integer-looking label text becomes integers so '3' in a labels file matches 3 elsewhere."""
    values = series.astype(object).where(series.notna(), None)
    nonnull = [v for v in values if v is not None]
    if nonnull and all(isinstance(v, str) and v.lstrip("-").isdigit() for v in nonnull):
        return np.array([int(v) if v is not None else None for v in values], dtype=object)
    return np.array(list(values), dtype=object)


def read_pred_probs(path: Path) -> tuple[np.ndarray, list[str] | None]:
    """Predicted probabilities (rows x classes) and, for CSV/Parquet, their column (class) names."""
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        arr = load_npy(path)
        names = None
    elif suffix in CSV_SUFFIXES | PARQUET_SUFFIXES | ARROW_SUFFIXES:
        src = open_table(path)
        table = src.read(src.columns)
        df = table.to_pandas()
        try:
            arr = df.to_numpy(dtype=np.float64)
        except (ValueError, TypeError):
            raise InputError(f"{path}: pred_probs columns must all be numeric (one column per class)") from None
        names = [str(c) for c in df.columns]
    else:
        raise InputError(f"{path}: pred_probs must be an NPY, CSV or Parquet file (got '{path.suffix}')")
    if arr.ndim != 2:
        raise InputError(f"{path}: pred_probs must be a 2-D array rows x classes (got shape {arr.shape})")
    if not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{path}: pred_probs must be numeric (got dtype {arr.dtype})")
    # read once into memory (a memory map would re-read a file rewritten meanwhile), in float32 when stored so
    # (half the bytes of a float64 copy; every use widens per element)
    dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    return np.array(arr, dtype=dtype), names
