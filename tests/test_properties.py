"""Property tests (hypothesis) for invariants of encoding, checks, gates and the audit table."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelaudit.checks import data as ck
from labelaudit.checks.knn import build_knn_graph
from labelaudit.dataset import encode_labels
from labelaudit.oof.kfold import assign_folds
from labelaudit.options import parse_fail_above
from labelaudit.scan import evaluate_gates

labels_st = st.lists(st.one_of(st.sampled_from(["a", "b", "c"]), st.none()), min_size=3, max_size=60).filter(
    lambda xs: len({x for x in xs if x is not None}) >= 2
)


@given(labels_st)
def test_encoding_roundtrips_and_keeps_missing(values):
    codes, classes = encode_labels(np.array(values, dtype=object), "labels")
    assert classes == sorted(classes)
    decoded = [classes[c] if c >= 0 else None for c in codes]
    assert decoded == values


@given(st.lists(st.integers(0, 3), min_size=20, max_size=200), st.integers(2, 6), st.integers(0, 10**6))
def test_folds_cover_every_labeled_row_once(labels, folds, seed):
    y = np.array(labels)
    counts = np.bincount(y, minlength=4)
    rare = [int(c) for c in np.flatnonzero(counts < folds) if counts[c] > 0]
    if len(set(y.tolist()) - set(rare)) < 1:
        return
    fold = assign_folds(y, rare, folds, seed)
    assert ((fold >= 0) & (fold < folds)).all()
    assert np.array_equal(fold, assign_folds(y, rare, folds, seed))  # seed reproduces


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(5, 80), st.integers(2, 8), st.integers(0, 1000))
def test_knn_graph_and_checks_invariants(n, d, seed):
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(n, d)).astype(np.float32)
    M[1] = M[0]
    metric = "cosine" if d > 3 else "euclidean"
    if metric == "cosine":
        M /= np.linalg.norm(M, axis=1, keepdims=True)
    g = build_knn_graph(M, metric, k=min(10, n - 1))
    assert g.indices.shape == (n, min(10, n - 1))
    assert not (g.indices == np.arange(n)[:, None]).any()  # never itself
    assert (np.diff(g.distances, axis=1) >= -1e-6).all()  # ascending
    for res in (ck.outlier_from_knn(g), ck.near_duplicate(g), ck.non_iid(g, seed)):
        assert res.scores.shape == (n,) and res.is_issue.shape == (n,)
        assert np.all((res.scores >= 0) & (res.scores <= 1))
    dup = ck.near_duplicate(g)
    sets = dup.extra_columns["near_duplicate_set"]
    assert ((sets >= 0) == dup.is_issue).all()
    assert sets[0] == sets[1] >= 0


@given(st.dictionaries(st.sampled_from(["label", "outlier", "null"]), st.floats(0, 1), min_size=1), st.floats(0, 1))
def test_gate_fails_exactly_when_rate_exceeds_threshold(thresholds, rate):
    summary = {"checks": {k: {"rate": rate} for k in ("label", "outlier", "null")}}
    g = evaluate_gates(parse_fail_above(thresholds), summary, {})
    assert g["passed"] == all(rate <= t for t in thresholds.values())
    assert len(g["results"]) == len(thresholds)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=50))
def test_null_scores_are_one_minus_missing_fraction(fracs):
    res = ck.null_check(np.array(fracs, dtype=np.float32))
    assert np.allclose(res.scores, 1 - np.array(fracs, dtype=np.float32))
    assert res.count == sum(f >= 1.0 for f in np.array(fracs, dtype=np.float32))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(n=st.integers(30, 120), k=st.integers(2, 4), seed=st.integers(0, 100))
def test_issues_table_has_one_row_per_input_row_in_order(tmp_path_factory, n, k, seed):
    import pandas as pd

    import labelaudit

    rng = np.random.default_rng(seed)
    y = np.concatenate([np.arange(k).repeat(6), rng.integers(0, k, n)])
    X = rng.normal(size=(len(y), 3)) + y[:, None]
    p = tmp_path_factory.mktemp("prop") / "d.parquet"
    pd.DataFrame(X, columns=list("abc")).assign(label=y).to_parquet(p, index=False)
    audit = labelaudit.scan(p, model="logreg", folds=3, seed=seed)
    iss = audit.issues
    assert len(iss) == len(y) and iss["row"].tolist() == list(range(len(y)))
    assert iss["given_label"].tolist() == y.tolist()
    ranks = iss["rank"].dropna().astype(int).sort_values().tolist()
    assert ranks == list(range(1, int(iss["label_assessed"].sum()) + 1))
    flagged_ranks = iss.loc[iss["is_label_issue"], "rank"].astype(int)
    if len(flagged_ranks):  # flagged rows hold the top ranks
        assert flagged_ranks.max() == len(flagged_ranks)
    assert np.allclose(audit.pred_probs.sum(axis=1), 1, atol=1e-5)
    assert audit.summary["checks"]["label"]["count"] == int(iss["is_label_issue"].sum())


@given(
    widths=st.lists(st.integers(1, 4), min_size=1, max_size=6),
    n=st.integers(0, 50),
    tile=st.integers(1, 17),
)
@settings(max_examples=60, deadline=None)
def test_assembled_columns_equal_hstack(widths, n, tile):
    """The tiled copy of feature columns is exactly np.hstack's float32 matrix, NaN included."""
    import labelaudit.dataset as dsm

    rng = np.random.default_rng(n + sum(widths))
    blocks = [rng.normal(size=(n, w)) for w in widths]
    if n:
        blocks[0][0, 0] = np.nan
    old = dsm.ASSEMBLE_TILE_ROWS
    dsm.ASSEMBLE_TILE_ROWS = tile
    try:
        got = dsm.assemble_columns(blocks, n)
    finally:
        dsm.ASSEMBLE_TILE_ROWS = old
    want = np.hstack(blocks).astype(np.float32)
    assert got.flags.c_contiguous and got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


@given(
    kinds=st.lists(st.sampled_from(["num", "int", "vec"]), min_size=1, max_size=7),
    n=st.integers(1, 40),
    flush=st.sampled_from([1, 64, 1 << 30]),
    tile=st.integers(1, 9),
)
@settings(max_examples=60, deadline=None)
def test_feature_matrix_filled_as_columns_convert_equals_hstack(kinds, n, flush, tile):
    """tabular_features fills the matrix in flushes of converted columns: exactly the hstack of them all."""
    import pyarrow as pa

    import labelaudit.dataset as dsm

    rng = np.random.default_rng(n + len(kinds))
    cols, want = {}, []
    for i, kind in enumerate(kinds):
        if kind == "vec":
            m = rng.normal(size=(n, 3)).astype(np.float32)
            cols[f"c{i}"] = pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), 3)
            want.append(m)
        else:
            v = rng.normal(size=n) if kind == "num" else rng.integers(0, 9, n).astype(float)
            v[0] = np.nan
            cols[f"c{i}"] = pa.array(v, from_pandas=True) if kind == "num" else pa.array(v.astype("float64"))
            want.append(v[:, None])
    table = pa.table(cols)
    old = dsm.ASSEMBLE_FLUSH_BYTES, dsm.ASSEMBLE_TILE_ROWS
    dsm.ASSEMBLE_FLUSH_BYTES, dsm.ASSEMBLE_TILE_ROWS = flush, tile
    try:
        fs, _ = dsm.tabular_features(table, list(cols))
    finally:
        dsm.ASSEMBLE_FLUSH_BYTES, dsm.ASSEMBLE_TILE_ROWS = old
    np.testing.assert_array_equal(fs.X, np.hstack(want).astype(np.float32))
    assert fs.X.flags.c_contiguous and len(fs.names) == fs.X.shape[1] == len(fs.categorical)


def test_a_fold_scaled_in_chunks_predicts_as_the_plain_pipeline(monkeypatch):
    """fit_predict_fold fits a leading StandardScaler over row chunks and scales in place: same probabilities."""
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from labelaudit.oof import kfold

    monkeypatch.setattr(kfold, "SCALER_CHUNK_ROWS", 7)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    X = (rng.normal(size=(300, 5)) * [1, 10, 100, 0.1, 3] + y[:, None]).astype(np.float32)
    X_before = X.copy()
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    train, pred = np.arange(100, 300), np.arange(100)
    got, _, _ = kfold.fit_predict_fold(clone(est), X, y, train, pred, 3)
    want = clone(est).fit(X[train], y[train]).predict_proba(X[pred])
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_array_equal(X, X_before)  # the caller's matrix is never scaled in place


# label qualities with ties and missing values (float32-precision scores tie often)
qualities_st = st.lists(st.one_of(st.sampled_from([0.0, 0.25, 0.5, 1.0]), st.floats(0, 1), st.just(float("nan"))))


@given(qualities_st, st.integers(-2, 60), st.integers(0, 10**6))
def test_flag_and_rank_order_is_quality_then_row(values, n_flag, seed):
    """The partition/unstable-sort shortcuts give exactly the order of a lexsort on (quality, row)."""
    from labelaudit.checks.label import _by_rank, issue_ranks, quality_order

    q = np.array(values, dtype=np.float64)
    n = len(q)
    flagged = np.random.default_rng(seed).random(n) < 0.3
    key = np.where(np.isnan(q), np.inf, q)
    expected = np.lexsort((np.arange(n), key))
    assert (quality_order(q) == expected).all()
    top = np.zeros(n, dtype=bool)
    top[expected[: max(0, min(n_flag, int((~np.isnan(q)).sum())))]] = True
    assert (_by_rank(q, n_flag) == top).all()
    order = np.lexsort((np.arange(n), key, ~flagged))
    order = order[~np.isnan(q)[order]]
    rank = np.zeros(n, dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    assert (issue_ranks(q, flagged, ~np.isnan(q)) == rank).all()


def test_threaded_folds_match_process_folds_and_report_warnings():
    """Logistic-regression folds run in threads: same bits as worker processes, every ConvergenceWarning
    reported, and the process's BLAS limit and warning filters as they were afterwards."""
    import warnings

    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_info

    from labelaudit.oof import kfold

    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 400)
    X = (rng.normal(size=(400, 6)) + y[:, None]).astype(np.float32)
    fold = np.arange(400) % 4
    est = LogisticRegression(max_iter=2)  # stops early: a ConvergenceWarning per fold
    tasks = [(f, clone(est), np.flatnonzero(fold != f), np.flatnonzero(fold == f), 100) for f in range(4)]
    limits = [p["num_threads"] for p in threadpool_info()]
    filters = list(warnings.filters)
    threaded = list(kfold._fold_results(tasks, X, y, 3, False, 2, threaded=True))
    assert [p["num_threads"] for p in threadpool_info()] == limits and warnings.filters == filters
    processes = list(kfold._fold_results([(f, clone(est), *t[1:]) for f, *t in tasks], X, y, 3, False, 2, False))
    for (a, _, _), (b, _, _) in zip(threaded, processes, strict=True):
        np.testing.assert_array_equal(a, b)
    caught = {w for _, _, ws in threaded for w in ws}
    assert caught == {w for _, _, ws in processes for w in ws} and any("lbfgs failed to converge" in w for w in caught)
