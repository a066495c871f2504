"""``labelaudit simulate``: write a corrupted copy of a dataset and a truth file, for measuring audits."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelaudit.dataset import build_dataset
from labelaudit.errors import ConfigError, InputError
from labelaudit.io.atomic import atomic_files, check_writable
from labelaudit.io.audited_data import label_values, labels_suffix, read_data_file, write_labels_beside, write_rows
from labelaudit.io.readers import open_table
from labelaudit.noise import NoiseKind, NoiseResult, simulate_noise
from labelaudit.oof.kfold import out_of_fold
from labelaudit.oof.models import ModelName, resolve_auto
from labelaudit.progress import ProgressCallback, Reporter


@dataclass
class Simulation:
    noise: NoiseResult
    class_names: list[Any]
    outputs: dict[str, Path]
    model: str | None

    @property
    def realised_rate(self) -> float:
        return self.noise.realised_rate


def read_transition(path: Path, class_names: list[Any]) -> np.ndarray:
    """A K x K transition matrix from CSV: header = class names, first column = class names (rows)."""
    try:
        df = pd.read_csv(path, index_col=0)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise InputError(f"transition file {path} is not a readable CSV ({err})") from None
    names = [str(c) for c in class_names]
    df.index = df.index.astype(str)
    df.columns = df.columns.astype(str)
    if set(df.index) != set(names) or set(df.columns) != set(names):
        raise InputError(
            f"{path.name} must have one row and one column per class ({', '.join(names)}), "
            "named in its first column and header"
        )
    return df.loc[names, names].to_numpy(dtype=np.float64)


def default_outputs(data: Path, out: Path | None, truth: Path | None) -> tuple[Path, Path]:
    out = out or Path.cwd() / f"{data.stem}.noisy{data.suffix}"
    if out.suffix.lower() != data.suffix.lower():
        raise ConfigError(f"--out must keep the input's format ({data.suffix}); got {out.name}")
    truth = truth or out.with_name(f"{out.name[: -len(out.suffix)]}.truth.parquet")
    if truth.suffix.lower() not in {".parquet", ".csv"}:
        raise ConfigError(f"--truth must end in .parquet or .csv (got {truth.name})")
    return out, truth


def simulate(
    data: str | os.PathLike[str],
    *,
    noise: NoiseKind | str = NoiseKind.symmetric,
    rate: float = 0.2,
    seed: int = 0,
    label: str | None = None,
    labels_file: Path | None = None,
    features: tuple[str, ...] | None = None,
    id_column: str | None = None,
    text: str | None = None,
    transition: Path | None = None,
    out: Path | None = None,
    truth: Path | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> Simulation:
    """Corrupt the labels of ``data`` and write the noisy copy plus a truth file (row, original, noisy, is_noisy)."""
    rep = Reporter(progress)
    path = Path(data)
    kind = NoiseKind(noise) if not isinstance(noise, NoiseKind) else noise
    out_path, truth_path = default_outputs(path, out, truth)
    inputs = [path, labels_file, transition]
    check_writable(out_path, force=force, what="output file", inputs=inputs)
    check_writable(truth_path, force=force, what="truth file", inputs=inputs)
    source = open_table(path)
    ds = build_dataset(
        source, label=label, labels_file=labels_file, id_column=id_column, features=features, text=text, reporter=rep
    )
    t = read_transition(Path(transition), ds.class_names) if transition is not None else None
    pred_probs = None
    model = None
    if (kind is NoiseKind.asymmetric and t is None) or kind is NoiseKind.instance:
        used, _ = resolve_auto(ds) if ds.features is not None else (ModelName.logreg, "")
        model = used.value
        oof = out_of_fold(ds, used, folds=5, seed=seed, jobs=None, reporter=rep)
        pred_probs = oof.pred_probs
    result = simulate_noise(ds.labels, ds.n_classes, kind, rate, seed, pred_probs=pred_probs, transition=t)
    names = ds.class_names
    table = read_data_file(path, label_column=ds.label_column, labels_file=labels_file)
    noisy_names = [names[c] if c >= 0 else None for c in result.noisy]
    frame = table.frame.copy()
    new = label_values(table, noisy_names)
    new.index = frame.index
    frame[table.label_column] = new
    truth_df = pd.DataFrame(
        {
            "row": np.arange(ds.n_rows),
            "original_label": [str(names[c]) if c >= 0 else None for c in ds.labels],
            "noisy_label": [str(v) if v is not None else None for v in noisy_names],
            "is_noisy": result.flipped,
        }
    )
    if ds.ids is not None:
        truth_df.insert(1, "id", [str(v) for v in ds.ids])
    outputs = {"data": out_path, "truth": truth_path}
    if table.format == "npy":
        outputs["labels"] = out_path.with_name(f"{out_path.name[: -len(out_path.suffix)]}.labels{labels_suffix(table)}")
    _write(table, frame, truth_df, outputs, force, inputs)
    rep.info(
        f"{kind.value} noise at rate {rate:g}: {int(result.flipped.sum())} labels flipped "
        f"(realised rate {result.realised_rate:.4f})"
    )
    return Simulation(result, names, outputs, model)


def _write(table, frame: pd.DataFrame, truth_df: pd.DataFrame, outputs: dict[str, Path], force: bool, inputs) -> None:
    with atomic_files(outputs, force=force, inputs=inputs) as temps:
        write_rows(table, frame, temps["data"])
        if "labels" in temps:
            write_labels_beside(table, frame["label"].tolist(), temps["labels"])
        if outputs["truth"].suffix.lower() == ".csv":
            truth_df.to_csv(temps["truth"], index=False)
        else:
            truth_df.to_parquet(temps["truth"], index=False)
