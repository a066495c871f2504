"""``ScanOptions``: every choice a scan makes, validated once at construction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labelaudit.errors import ConfigError
from labelaudit.names import ALL_CHECKS, CheckName, Consensus, ExportFormat, FlagSize, KnnMethod, ModelName


def parse_enum(cls, value, option):
    if isinstance(value, cls):
        return value
    try:
        return cls(str(value))
    except ValueError:
        choices = ", ".join(m.value for m in cls)
        raise ConfigError(f"{option} must be one of {choices} (got '{value}')") from None


def parse_checks(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"label,outlier"`` or a list -> validated check names; ``None``/``"all"`` -> every check."""
    if value is None:
        return tuple(ALL_CHECKS)
    items = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) for v in str(v).split(",")]
    items = [v for v in items if v]
    if items == ["all"] or not items:
        return tuple(ALL_CHECKS)
    for v in items:
        parse_enum(CheckName, v, "--checks")
    return tuple(c for c in ALL_CHECKS if c in items)


def parse_fail_above(values: Sequence[str] | Mapping[str, float] | None) -> dict[str, float]:
    """``["0.05", "outlier=0.1"]`` -> ``{"label": 0.05, "outlier": 0.1}``."""
    if not values:
        return {}
    if isinstance(values, Mapping):
        items = [(str(k), v) for k, v in values.items()]
    else:
        items = []
        for raw in values:
            text = str(raw)
            name, _, rate = text.rpartition("=") if "=" in text else ("label", "", text)
            items.append((name.strip(), rate))
    out: dict[str, float] = {}
    for name, rate in items:
        parse_enum(CheckName, name, "--fail-above CHECK=RATE")
        try:
            r = float(rate)
        except ValueError:
            raise ConfigError(f"--fail-above needs a rate between 0 and 1 such as 0.05 (got '{rate}')") from None
        if not 0.0 <= r <= 1.0:
            raise ConfigError(f"--fail-above rate must be between 0 and 1 (got {r}); 5 % is 0.05")
        out[name] = r
    return out


@dataclass(frozen=True)
class ScanOptions:
    """What to read, how to model it and which checks and gates to run."""

    label: str | None = None
    """Label column (default: the one column named label/labels/target/class/y)."""
    labels_file: Path | None = None
    """Labels in a separate file (NPY, CSV or text, one per row), for NPY features."""
    id_column: str | None = None
    """Column carried into every output as the row id."""
    features: tuple[str, ...] | None = None
    """Feature columns (default: all but label and id)."""
    text: str | None = None
    """Text column featurised with TF-IDF."""
    pred_probs: tuple[Path, ...] = ()
    """Out-of-sample predicted probabilities from the user's own model(s); skips training."""
    model: ModelName = ModelName.auto
    folds: int = 5
    seed: int = 0
    checks: tuple[str, ...] = tuple(ALL_CHECKS)
    jobs: int | None = None
    """Parallel fold fits (default: by data size, at most the cores)."""
    knn: KnnMethod = KnnMethod.auto
    """KNN graph: exact, approx (IVF) or auto (exact while rows² x dims is small)."""
    encoding: str | None = None
    """Text encoding of CSV/TSV inputs (default UTF-8)."""
    fail_above: dict[str, float] = field(default_factory=dict)
    """Gates: check name -> highest allowed issue rate."""
    # multi-annotator exports
    item: str | None = None
    """Item column of a long annotation table (one row per annotation)."""
    annotator: str | None = None
    """Annotator column."""
    time_column: str | None = None
    """Seconds spent per annotation (for the annotators' median time)."""
    gold: str | None = None
    """Gold-label column: those items' consensus is fixed to it."""
    export_format: str = "auto"
    """auto, long, label-studio, label-studio-csv, mturk, toloka."""
    consensus: str = "auto"
    """auto (Dawid-Skene, or CROWDLAB with item features/pred_probs), majority, dawid-skene, crowdlab."""
    classes: tuple[str, ...] | None = None
    """Declared class list: annotations outside it are an error."""
    crowd_features: Path | None = None
    """Item features file joined on the item column (enables CROWDLAB)."""
    min_annotator_quality: float | None = None
    """Gate: exit 1 when an annotator with at least ``min_annotator_items`` items is below this quality."""
    min_annotator_items: int = 10
    low_memory: bool | None = None
    """Stream the features in row batches (never the whole matrix in memory). ``None``: in memory, after
    checking that the features fit (a scan never switches to streaming by itself: what it computes must
    not depend on free memory); ``False``: in memory without the check."""
    batch_rows: int = 65_536
    """Rows per batch when streaming."""
    device: str = "auto"
    """KNN graph device: auto (CUDA when torch sees a GPU), cpu (faiss) or cuda (exact, torch)."""
    dask: str | None = None
    """Address of a Dask scheduler (``tcp://host:8786``): the streaming passes run on its workers."""
    flag_size: Any = "auto"
    """How many rows the label check flags: ``auto`` (the estimated number of errors), ``conservative``
    (cleanlab's prune_by_noise_rate), a number of rows or a rate (``FlagSize``)."""
    image: str | None = None
    """Column of image file paths (relative to the data file), shown to reviewers; never a feature."""
    image_shape: Any = None
    """``HxW[xC]``: the feature values of a row are an image of this shape (pixel columns, or NPY arrays)."""
    strict: bool = False
    """Turn warnings about probable mistakes (a free-text or all-unique feature column, pred_probs columns
    that look permuted) into errors (exit 2), for CI."""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "model", parse_enum(ModelName, self.model, "--model"))
        set_(self, "knn", parse_enum(KnnMethod, self.knn, "--knn"))
        set_(self, "checks", parse_checks(self.checks))

        set_(self, "flag_size", FlagSize.parse(self.flag_size))
        set_(self, "fail_above", parse_fail_above(self.fail_above))
        if self.features is not None:
            feats = self.features.split(",") if isinstance(self.features, str) else self.features
            set_(self, "features", tuple(f.strip() for f in feats if f.strip()))
        set_(self, "pred_probs", tuple(Path(p) for p in self.pred_probs))
        if self.labels_file is not None:
            set_(self, "labels_file", Path(self.labels_file))
        if not isinstance(self.folds, int) or self.folds < 2:
            raise ConfigError(f"--folds must be an integer of at least 2 (got {self.folds})")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"--seed must be a non-negative integer (got {self.seed})")
        if self.jobs is not None and (not isinstance(self.jobs, int) or self.jobs < 1):
            raise ConfigError(f"--jobs must be a positive integer (got {self.jobs})")
        for name in self.fail_above:
            if name not in self.checks:
                raise ConfigError(f"--fail-above gates '{name}', which is not among --checks; add it to --checks")
        if self.text is not None and self.features:
            raise ConfigError("give either --text COLUMN or --features, not both")

        set_(self, "export_format", parse_enum(ExportFormat, self.export_format, "--export-format").value)
        set_(self, "consensus", parse_enum(Consensus, self.consensus, "--consensus").value)
        if self.is_crowd:
            from labelaudit.crowd.scan import refuse_data_gates

            refuse_data_gates(self.fail_above)
        if isinstance(self.classes, str):
            set_(self, "classes", tuple(c.strip() for c in self.classes.split(",") if c.strip()))
        if self.crowd_features is not None:
            set_(self, "crowd_features", Path(self.crowd_features))
        q = self.min_annotator_quality
        if q is not None and not 0.0 <= q <= 1.0:
            raise ConfigError(f"--min-annotator-quality must be between 0 and 1 (got {q})")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"--device must be auto, cpu or cuda (got '{self.device}')")
        if not isinstance(self.batch_rows, int) or self.batch_rows < 1:
            raise ConfigError(f"--batch-rows must be a positive integer (got {self.batch_rows})")
        if self.image_shape is not None:
            from labelaudit.images import parse_image_shape  # numpy: only when asked for

            set_(self, "image_shape", parse_image_shape(self.image_shape))
        if self.image is not None and self.image_shape is not None:
            raise ConfigError("give either --image COLUMN (image files) or --image-shape HxW (pixel values), not both")
        if self.min_annotator_items < 1:
            raise ConfigError(f"--min-annotator-items must be at least 1 (got {self.min_annotator_items})")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["model"] = self.model.value
        d["knn"] = self.knn.value
        d["labels_file"] = str(self.labels_file) if self.labels_file else None
        d["pred_probs"] = [str(p) for p in self.pred_probs]
        d["features"] = list(self.features) if self.features is not None else None
        d["checks"] = list(self.checks)
        d["flag_size"] = self.flag_size.to_json()
        d["classes"] = list(self.classes) if self.classes else None
        d["crowd_features"] = str(self.crowd_features) if self.crowd_features else None
        d["image_shape"] = list(self.image_shape) if self.image_shape else None
        return d

    @property
    def is_crowd(self) -> bool:
        return self.item is not None or self.annotator is not None or self.export_format not in ("auto", "long")
