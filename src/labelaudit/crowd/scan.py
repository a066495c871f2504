"""Multi-annotator audits: consensus labels, annotator quality and item issues.

Consensus: majority vote; Dawid-Skene EM (the default without features); CROWDLAB
(``cleanlab.multiannotator.get_label_quality_multiannotator``) when item features or per-item
pred_probs are given, with out-of-fold probabilities computed exactly as ``scan`` does (trained on
the majority-vote labels). Gold labels (``--gold``) fix those items' consensus.

The audit directory is the usual one with one row per ITEM in ``issues.parquet`` (given_label =
majority vote, suggested_label = consensus, label_quality = consensus quality), plus
``items.parquet`` and ``annotators.parquet``, so ``report`` and ``filter`` work per item.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelaudit.audit import Audit
from labelaudit.checks.label import issue_ranks
from labelaudit.crowd.consensus import (
    AnnotatorQuality,
    annotator_quality,
    choose_strength,
    dawid_skene,
    majority_vote,
    one_coin,
)
from labelaudit.crowd.exports import Annotations, read_annotations
from labelaudit.errors import ConfigError, InputError
from labelaudit.io.readers import file_sha256
from labelaudit.names import Consensus, ExportFormat
from labelaudit.progress import ProgressCallback, Reporter

#: an item is flagged when its consensus quality is below this, or the majority vote disagrees with it
ITEM_QUALITY_THRESHOLD = 0.5
SPAMMER_MIN_ITEMS = 5


def _encode(ann: Annotations, classes: list[str] | None, path: Path):
    df = ann.frame
    if classes is not None:
        bad = sorted(set(df["label"]) - set(classes))
        if bad:
            n = int(df["label"].isin(bad).sum())
            raise InputError(
                f"{path.name}: {n} annotations use labels outside --classes: "
                f"{', '.join(map(repr, bad[:8]))}; fix them or add them to --classes"
            )
        class_names = list(classes)
    else:
        class_names = sorted(df["label"].unique())
    if len(class_names) < 2:
        raise InputError(f"{path.name}: every annotation says {class_names[0]!r}; a crowd audit needs two classes")
    items, item_idx = np.unique(df["item"].to_numpy(dtype=str), return_inverse=True)
    annotators, ann_idx = np.unique(df["annotator"].to_numpy(dtype=str), return_inverse=True)
    index = {c: i for i, c in enumerate(class_names)}
    labels = df["label"].map(index).to_numpy(dtype=np.int64)
    return class_names, items, annotators, item_idx, ann_idx, labels


def _crowdlab(item_idx, ann_idx, labels, n_items, n_ann, pred_probs):
    from cleanlab.multiannotator import get_label_quality_multiannotator

    wide = np.full((n_items, n_ann), np.nan)
    wide[item_idx, ann_idx] = labels
    frame = pd.DataFrame(wide, columns=[str(a) for a in range(n_ann)])
    res = get_label_quality_multiannotator(frame, pred_probs, verbose=False)
    lq = res["label_quality"]
    stats = res["annotator_stats"].copy()
    stats.index = stats.index.astype(int)
    return (
        lq["consensus_label"].to_numpy(dtype=np.int64),
        lq["consensus_quality_score"].to_numpy(dtype=float),
        stats.sort_index(),
    )


def _item_features_pred_probs(
    features_file: Path,
    items: np.ndarray,
    mv: np.ndarray,
    class_names,
    item_col: str,
    folds: int,
    seed: int,
    rep: Reporter,
) -> np.ndarray:
    """Out-of-fold probabilities per item from an item-features file, trained on majority-vote labels."""
    from labelaudit.dataset import Dataset, tabular_features
    from labelaudit.io.readers import open_table
    from labelaudit.oof.kfold import out_of_fold
    from labelaudit.oof.models import resolve_auto

    src = open_table(features_file)
    key = (
        item_col
        if item_col in src.columns
        else next((c for c in src.columns if c.lower() in ("item", "item_id", "id", "task_id")), None)
    )
    if key is None:
        raise InputError(f"{features_file.name} needs the item column ('{item_col}') to join features on")
    table = src.read(src.columns)
    df = table.to_pandas()
    df[key] = df[key].astype(str)
    df = df.drop_duplicates(key).set_index(key)
    missing = [i for i in items if i not in df.index]
    if missing:
        raise InputError(
            f"{features_file.name} has no features for {len(missing)} items (e.g. {missing[0]!r}); "
            "give one row per item"
        )
    feats = df.loc[list(items)].reset_index(drop=True)
    import pyarrow as pa

    fs, kind = tabular_features(pa.Table.from_pandas(feats, preserve_index=False), list(feats.columns))
    ds = Dataset(n_rows=len(items), labels=mv.astype(np.int64), class_names=list(class_names), features=fs, kind=kind)
    model, _ = resolve_auto(ds)
    return out_of_fold(ds, model, folds=folds, seed=seed, jobs=None, reporter=rep).pred_probs


@dataclass
class _Crowd:
    """The export encoded: annotations as (item, annotator, label) codes, gold labels as codes (-1: none)."""

    ann: Annotations
    classes: list[str]
    items: np.ndarray
    annotators: np.ndarray
    item_idx: np.ndarray
    ann_idx: np.ndarray
    labels: np.ndarray
    gold: np.ndarray

    @property
    def sizes(self) -> tuple[int, int, int]:
        return len(self.items), len(self.annotators), len(self.classes)


@dataclass
class _Consensus:
    method: Consensus
    posterior: np.ndarray
    labels: np.ndarray
    quality: np.ndarray
    majority: np.ndarray
    stats: Any = None
    facts: dict = field(default_factory=dict)


def scan_crowd(
    path: Path,
    options,
    *,
    progress: ProgressCallback | None = None,
    command=None,
    config_file: str | None = None,
    source=None,
) -> Audit:
    """Audit a multi-annotator export; see the module docstring. ``source``: the export, already opened."""
    refuse_data_gates(options.fail_above)
    rep = Reporter(progress)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    path = Path(path)
    crowd = _read_crowd(path, options, rep, source)
    timings["read"] = round(time.perf_counter() - t0, 4)
    t1 = time.perf_counter()
    con = _consensus(crowd, options, rep)
    timings["consensus"] = round(time.perf_counter() - t1, 4)
    items_df = _items_table(crowd, con)
    n_items, n_ann, k = crowd.sizes
    t2 = time.perf_counter()
    if con.method is Consensus.crowdlab:
        credit = (crowd.labels == con.labels[crowd.item_idx]).astype(float)  # CROWDLAB: no per-item posterior
        quality = annotator_quality(crowd.ann_idx, credit, n_ann)
    else:
        # one accuracy per annotator, from the consensus posterior on: ranks a long-tailed crowd better than the
        # diagonal of a K x K confusion fitted from a few answers (see one_coin)
        _, quality = one_coin(
            crowd.item_idx, crowd.ann_idx, crowd.labels, n_items, n_ann, k, np.asarray(con.posterior), gold=crowd.gold
        )
    timings["annotator_quality"] = round(time.perf_counter() - t2, 4)
    con.facts["annotator_quality"] = {
        "model": "credit vs consensus" if con.method is Consensus.crowdlab else "hierarchical one-coin",
        "prior_mean": round(quality.prior_mean, 6),
        "prior_strength": round(quality.prior_strength, 4),
    }
    annotators_df = _annotator_table(
        crowd.ann,
        crowd.annotators,
        crowd.ann_idx,
        crowd.item_idx,
        crowd.labels,
        con.labels,
        crowd.classes,
        crowd.gold,
        quality,
        con.stats,
    )
    return _build_audit(
        path,
        options,
        crowd.ann,
        crowd.classes,
        items_df,
        annotators_df,
        con.posterior,
        con.method,
        timings,
        command,
        config_file,
        t0,
        con.facts,
    )


def _read_crowd(path: Path, options, rep: Reporter, source) -> _Crowd:
    rep.start("read", message=f"reading annotations from {path.name}")
    ann = read_annotations(
        path,
        export_format=ExportFormat(options.export_format),
        item=options.item,
        annotator=options.annotator,
        label=options.label,
        time=options.time_column,
        gold=options.gold,
        encoding=options.encoding,
        source=source,
    )
    for note in ann.notes:
        rep.warning(note)
    classes, items, annotators, item_idx, ann_idx, labels = _encode(
        ann, list(options.classes) if options.classes else None, path
    )
    gold_codes = np.full(len(items), -1)
    if "gold" in ann.frame:
        g = ann.frame[["gold"]].assign(item=item_idx)["gold"].astype("string").str.strip()
        index = {c: i for i, c in enumerate(classes)}
        codes = g.map(lambda v: index.get(v, -1) if isinstance(v, str) else -1).to_numpy()
        has = codes >= 0
        gold_codes[item_idx[has]] = codes[has]
    crowd = _Crowd(ann, classes, items, annotators, item_idx, ann_idx, labels, gold_codes)
    n_items, n_ann, k = crowd.sizes
    rep.end("read", f"{len(labels)} annotations of {n_items} items by {n_ann} annotators, {k} classes")
    return crowd


def _consensus(crowd: _Crowd, options, rep: Reporter) -> _Consensus:
    """The consensus of the chosen method; gold labels fix their items."""
    n_items, n_ann, k = crowd.sizes
    item_idx, ann_idx, labels = crowd.item_idx, crowd.ann_idx, crowd.labels
    mv, mv_share = majority_vote(item_idx, labels, n_items, k, seed=options.seed)
    method = Consensus(options.consensus)
    if method is Consensus.auto:
        method = Consensus.crowdlab if (options.crowd_features or options.pred_probs) else Consensus.dawid_skene
    stats = None
    facts: dict = {}
    if method is Consensus.crowdlab:
        pred_probs = _crowdlab_pred_probs(crowd, mv, options, rep)
        consensus, quality, stats = _crowdlab(item_idx, ann_idx, labels, n_items, n_ann, pred_probs.astype(float))
        posterior = pred_probs
    elif method is Consensus.dawid_skene:
        strength, _ = choose_strength(
            *_subsample(item_idx, ann_idx, labels, n_items, options.seed), n_ann, k, seed=options.seed
        )
        rep.info(
            f"Dawid-Skene: each annotator's confusion shrunk towards the crowd's with {strength:g} pseudo-answers "
            "per class (chosen by held-out likelihood)"
        )
        ds = dawid_skene(item_idx, ann_idx, labels, n_items, n_ann, k, strength=strength, tol=1e-5)
        posterior = ds.posterior
        consensus, quality = ds.labels, ds.posterior.max(axis=1)
        facts = {"shrinkage_strength": strength, "pooled_confusion": _pooled(ds).round(6).tolist()}
    else:
        counts = np.zeros((n_items, k))
        np.add.at(counts, (item_idx, labels), 1.0)
        posterior = counts / counts.sum(axis=1, keepdims=True)
        consensus, quality = mv, mv_share
    has_gold = crowd.gold >= 0
    consensus = np.where(has_gold, crowd.gold, consensus)
    if "pooled_confusion" not in facts:
        from labelaudit.crowd.active import pooled_confusion

        facts["pooled_confusion"] = pooled_confusion(item_idx, labels, consensus, k).round(6).tolist()
    quality = np.where(has_gold, 1.0, quality)
    return _Consensus(method, posterior, consensus, quality, mv, stats, facts)


def _crowdlab_pred_probs(crowd: _Crowd, mv: np.ndarray, options, rep: Reporter) -> np.ndarray:
    n_items, _, _ = crowd.sizes
    if options.crowd_features is not None:
        return _item_features_pred_probs(
            Path(options.crowd_features),
            crowd.items,
            mv,
            crowd.classes,
            crowd.ann.columns.get("item") or "item",
            options.folds,
            options.seed,
            rep,
        )
    if options.pred_probs:
        from labelaudit.oof.predprobs import load_pred_probs

        return load_pred_probs(Path(options.pred_probs[0]), n_items, crowd.classes)[0]
    raise ConfigError("--consensus crowdlab needs item features (--features FILE) or --pred-probs FILE")


def _items_table(crowd: _Crowd, con: _Consensus) -> pd.DataFrame:
    n_items, _, _ = crowd.sizes
    classes, item_idx, labels = crowd.classes, crowd.item_idx, crowd.labels
    consensus = con.labels
    n_annotations = np.bincount(item_idx, minlength=n_items)
    agree = np.bincount(item_idx, weights=(labels == consensus[item_idx]).astype(float), minlength=n_items)
    agreement = agree / np.maximum(n_annotations, 1)
    flagged = (con.quality < ITEM_QUALITY_THRESHOLD) | (con.majority != consensus)
    items_df = pd.DataFrame(
        {
            "item": crowd.items,
            "consensus_label": [classes[c] for c in consensus],
            "consensus_quality": con.quality,
            "agreement": agreement,
            "num_annotations": n_annotations,
            "is_label_issue": flagged,
            "suggested_label": [classes[c] for c in consensus],
            "majority_label": [classes[c] for c in con.majority],
            "single_annotation": n_annotations == 1,
        }
    )
    pairs = pd.DataFrame(
        {
            "item": item_idx,
            "text": [f"{crowd.annotators[a]}:{classes[lab]}" for a, lab in zip(crowd.ann_idx, labels, strict=True)],
        }
    )
    items_df["annotations"] = pairs.groupby("item")["text"].agg("; ".join).reindex(range(n_items)).to_numpy()
    if (crowd.gold >= 0).any():
        items_df["gold_label"] = [classes[c] if c >= 0 else None for c in crowd.gold]
    return items_df


#: items the shrinkage strength is chosen on at most (a seeded subsample: it is one number)
STRENGTH_MAX_ITEMS = 5000


def _subsample(item_idx, ann_idx, labels, n_items: int, seed: int):
    if n_items <= STRENGTH_MAX_ITEMS:
        return item_idx, ann_idx, labels, n_items
    keep = np.random.default_rng(seed).choice(n_items, STRENGTH_MAX_ITEMS, replace=False)
    new = np.full(n_items, -1)
    new[keep] = np.arange(len(keep))
    rows = new[item_idx] >= 0
    return new[item_idx][rows], ann_idx[rows], labels[rows], len(keep)


def _pooled(ds) -> np.ndarray:
    """The crowd's pooled confusion P(answer | true class), weighting annotators by their answers."""
    return np.einsum("a,akl->kl", np.ones(ds.confusion.shape[0]), ds.confusion) / ds.confusion.shape[0]


def _annotator_table(
    ann, annotators, ann_idx, item_idx, labels, consensus, classes, gold_codes, q: AnnotatorQuality, stats
) -> pd.DataFrame:
    n_ann, k = len(annotators), len(classes)
    n = np.bincount(ann_idx, minlength=n_ann)
    hit = (labels == consensus[item_idx]).astype(float)
    agreement = np.bincount(ann_idx, weights=hit, minlength=n_ann) / np.maximum(n, 1)
    per = np.zeros((n_ann, k))
    tot = np.zeros((n_ann, k))
    np.add.at(per, (ann_idx, consensus[item_idx]), hit)
    np.add.at(tot, (ann_idx, consensus[item_idx]), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(tot > 0, per / tot, np.inf)
    worst = [classes[int(np.argmin(row))] if np.isfinite(row).any() else None for row in per_class]
    # quality: the one-coin (or CROWDLAB agreement) Beta posterior of each accuracy, shrunk to the crowd
    # a spammer is, on their own answers alone (a flat prior, not the crowd's), confidently closer to always
    # giving the commonest label than to the crowd's typical accuracy
    from scipy.stats import beta

    base = float(np.bincount(consensus, minlength=k).max() / len(consensus))
    c = q.credited
    upper = beta.ppf(0.95, 1 + c, 1 + n - c)
    spam = (n >= SPAMMER_MIN_ITEMS) & (upper < (base + q.prior_mean) / 2)
    df = pd.DataFrame(
        {
            "annotator": annotators,
            "quality": q.mean,
            "quality_low": q.low,
            "quality_high": q.high,
            "agreement_with_consensus": agreement,
            "items_labelled": n,
            "worst_class": worst,
            "suspected_spammer": spam,
        }
    )
    if stats is not None:
        df["crowdlab_quality"] = stats["annotator_quality"].to_numpy(dtype=float)
    if "time" in ann.frame and ann.frame["time"].notna().any():
        t = pd.Series(ann.frame["time"].to_numpy(dtype=float)).groupby(ann_idx).median()
        df["median_time_seconds"] = t.reindex(range(n_ann)).to_numpy()
    if (gold_codes >= 0).any():
        g = gold_codes[item_idx]
        on_gold = g >= 0
        correct = np.bincount(ann_idx[on_gold], weights=(labels[on_gold] == g[on_gold]).astype(float), minlength=n_ann)
        count = np.bincount(ann_idx[on_gold], minlength=n_ann)
        df["gold_accuracy"] = np.where(count > 0, correct / np.maximum(count, 1), np.nan)
        df["gold_items"] = count
    return df.sort_values(["quality", "annotator"]).reset_index(drop=True)


def _build_audit(
    path, options, ann, classes, items_df, annotators_df, posterior, method, timings, command, config_file, t0, facts
) -> Audit:
    from labelaudit.manifest import audit_manifest, file_facts, manifest_header

    issues = _crowd_issues(items_df)
    summary = _crowd_summary(items_df, annotators_df, ann, classes, method)
    gates = _crowd_gates(options, summary, annotators_df)
    timings["total"] = round(time.perf_counter() - t0, 4)
    data = {
        "kind": "crowd",
        "labels_file": None,
        "crowd_features_file": file_facts(options.crowd_features),
        "pred_probs_files": [file_facts(p) for p in options.pred_probs],
        "label_column": "label",
        "id_column": "item",
        "data_kind": "annotations",
        "feature_columns": [],
        "n_features": 0,
        "notes": ann.notes,
        "annotation_columns": ann.columns,
    }
    manifest = audit_manifest(
        manifest_header(path, ann.format.value, len(ann.frame), ann.sha256 or file_sha256(path), command),
        data,
        options=options,
        config_file=config_file,
        classes=[{"name": c, "count": int((items_df["consensus_label"] == c).sum())} for c in classes],
        model={"requested": options.consensus, "used": method.value, "reason": "multi-annotator consensus", **facts},
        checks={"run": ["label"], "skipped": {", ".join(NOT_APPLICABLE): "not applicable to annotation exports"}},
        summary=summary,
        gates=gates,
        timings=timings,
    )
    audit = Audit(manifest, issues, np.asarray(posterior, dtype=np.float32))
    audit.tables = {"items": items_df, "annotators": annotators_df}
    return audit


#: the data checks a crowd audit does not run (the items are rows of an export, not feature vectors)
NOT_APPLICABLE = (
    "outlier",
    "near_duplicate",
    "non_iid",
    "class_imbalance",
    "null",
    "underperforming_group",
    "data_valuation",
)


def refuse_data_gates(fail_above: dict[str, float]) -> None:
    """A --fail-above on a data check cannot be judged on an annotation export: refuse it before any work."""
    bad = [k for k in fail_above if k != "label"]
    if bad:
        raise ConfigError(
            f"--fail-above {', '.join(bad)}: an annotation export runs only the label (consensus) check; "
            "gate on label, or on annotators with --min-annotator-quality"
        )


def _crowd_issues(items_df: pd.DataFrame) -> pd.DataFrame:
    n = len(items_df)
    q = items_df["consensus_quality"].to_numpy()
    flagged = items_df["is_label_issue"].to_numpy()
    rank = issue_ranks(q.astype(float), flagged.astype(bool))
    return pd.DataFrame(
        {
            "row": np.arange(n),
            "id": pd.array(items_df["item"].tolist()),
            "given_label": pd.array(items_df["majority_label"].tolist()),
            "suggested_label": pd.array(items_df["consensus_label"].tolist()),
            "label_quality": q.astype(float),
            "is_label_issue": flagged,
            "label_assessed": np.ones(n, bool),
            "rank": pd.array(rank, dtype="Int64"),
        }
    )


def _crowd_summary(items_df, annotators_df, ann, classes, method) -> dict:
    n = len(items_df)
    flagged = items_df["is_label_issue"].to_numpy()
    count = int(flagged.sum())
    per_class = []
    for c in classes:
        in_c = (items_df["consensus_label"] == c).to_numpy()
        f = int((flagged & in_c).sum())
        per_class.append(
            {
                "class": c,
                "rows": int(in_c.sum()),
                "flagged": f,
                "rate": round(f / max(in_c.sum(), 1), 6),
                "assessed": True,
                "most_common_suggested": None,
            }
        )
    return {
        "rows": n,
        "classes": len(classes),
        "labeled_rows": n,
        "assessed_rows": n,
        "not_assessed": {"missing_label": 0, "rare_classes": [], "reason": ""},
        "checks": {
            "label": {
                "count": count,
                "rate": round(count / max(n, 1), 6),
                "denominator": "items",
                "estimator": f"consensus quality < {ITEM_QUALITY_THRESHOLD} or majority vote != consensus "
                f"({method.value})",
                "score": "consensus quality",
                "estimated_noise_rate": round(float(1 - items_df["agreement"].mean()), 6),
            }
        },
        "skipped_checks": {},
        "per_class": per_class,
        "crowd": {
            "consensus": method.value,
            "items": n,
            "annotators": len(annotators_df),
            "annotations": len(ann.frame),
            "single_annotation_items": int(items_df["single_annotation"].sum()),
            "duplicates_replaced": ann.duplicates_replaced,
            "suspected_spammers": int(annotators_df["suspected_spammer"].sum()),
            "mean_agreement": round(float(items_df["agreement"].mean()), 6),
        },
    }


def _crowd_gates(options, summary: dict, annotators_df: pd.DataFrame) -> dict:
    from labelaudit.gates import evaluate_gates

    gates = evaluate_gates(dict(options.fail_above), summary, {})
    if options.min_annotator_quality is not None:
        m_items = options.min_annotator_items
        eligible = annotators_df[annotators_df["items_labelled"] >= m_items]
        # judged only where the data supports it: the whole 95 % interval is below the threshold
        low = eligible[eligible["quality_high"] < options.min_annotator_quality]
        gates["results"].append(
            {
                "check": "annotator_quality",
                "threshold": options.min_annotator_quality,
                "rate": float(eligible["quality"].min()) if len(eligible) else 1.0,
                "passed": low.empty,
                "failing_annotators": low["annotator"].astype(str).tolist()[:50],
                "min_items": m_items,
            }
        )
        gates["thresholds"]["annotator_quality"] = options.min_annotator_quality
        gates["passed"] = all(r["passed"] for r in gates["results"])
    return gates
