"""One label rule whatever the path: in memory, streamed (--low-memory) and on Dask give the same flags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import labelaudit

LABEL_COLUMNS = ["row", "id", "given_label", "suggested_label", "label_quality", "is_label_issue", "rank"]


def _data(tmp_path, n=3000, k=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    X = rng.normal(size=(n, 8)).astype(np.float32) + np.eye(k, 8)[y] * 2.0
    noisy = y.copy()
    flip = rng.random(n) < 0.1
    noisy[flip] = (y[flip] + rng.integers(1, k, flip.sum())) % k
    table = pa.table({"uid": [f"u{i}" for i in range(n)], **{f"f{j}": X[:, j] for j in range(8)}, "label": noisy})
    # out-of-sample-like probabilities: right most of the time, with ambiguous and confident mistakes
    pp = rng.dirichlet(np.ones(k) * 0.7, n) * 0.4
    pp[np.arange(n), y] += 0.6
    np.save(tmp_path / "pp.npy", (pp / pp.sum(1, keepdims=True)).astype(np.float32))
    return table


def _label_frame(audit):
    return audit.issues[LABEL_COLUMNS].reset_index(drop=True)


def test_in_memory_and_streamed_scans_flag_the_same_rows(tmp_path):
    table = _data(tmp_path)
    pq.write_table(table, tmp_path / "d.parquet", row_group_size=700)
    kw = {"pred_probs": (tmp_path / "pp.npy",), "checks": "label", "id_column": "uid", "seed": 1}
    memory = labelaudit.scan(tmp_path / "d.parquet", **kw)
    streamed = labelaudit.scan(tmp_path / "d.parquet", low_memory=True, batch_rows=512, **kw)
    pd.testing.assert_frame_equal(_label_frame(memory), _label_frame(streamed))
    assert np.array_equal(memory.pred_probs, streamed.pred_probs)
    assert memory.summary["checks"]["label"] == streamed.summary["checks"]["label"]


def test_a_partitioned_dataset_on_dask_flags_what_the_single_file_does(tmp_path):
    distributed = pytest.importorskip("distributed", reason="needs the dask extra: pip install 'labelaudit[dask]'")
    table = _data(tmp_path, seed=2)
    pq.write_table(table, tmp_path / "whole.parquet")
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, start in enumerate(range(0, table.num_rows, 1000)):
        pq.write_table(table.slice(start, 1000), parts / f"part-{i}.parquet", row_group_size=400)
    kw = {"pred_probs": (tmp_path / "pp.npy",), "checks": "label", "id_column": "uid"}
    whole = labelaudit.scan(tmp_path / "whole.parquet", **kw)
    local = labelaudit.scan(parts, **kw)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
    ) as cluster:
        remote = labelaudit.scan(parts, dask=cluster.scheduler_address, **kw)
    for other in (local, remote):
        pd.testing.assert_frame_equal(_label_frame(whole), _label_frame(other))
