"""scan --dask: the streaming passes on a real distributed.LocalCluster give the local run's results."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import labelaudit
from tests.conftest import invoke
from tests.test_low_memory import _write_embeddings

distributed = pytest.importorskip("distributed", reason="needs the dask extra: pip install 'labelaudit[dask]'")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
    ) as c:
        yield c


@pytest.fixture(scope="module")
def partitioned(tmp_path_factory):
    """A partitioned Parquet dataset: three files, several row groups each; 10 % of labels flipped."""
    d = tmp_path_factory.mktemp("parts") / "data"
    d.mkdir()
    flips = [_write_embeddings(d / f"part-{i}.parquet", 4000, 24, seed=i, row_group=1500) for i in range(3)]
    return d, np.concatenate(flips)


def test_dask_run_equals_the_local_run(cluster, partitioned):
    path, flips = partitioned
    local = labelaudit.scan(path, seed=3)
    remote = labelaudit.scan(path, seed=3, dask=cluster.scheduler_address)
    assert local.manifest["input"]["format"] == "parquet-dataset" and local.manifest["input"]["rows"] == 12_000
    assert np.array_equal(local.pred_probs, remote.pred_probs)
    assert local.issues.equals(remote.issues)
    assert "dask" in " ".join(remote.manifest["notes"])
    flagged = remote.issues["is_label_issue"].to_numpy()
    # each part draws its own class centres (a mixture per class), so the floor is below the single-file one
    assert (flagged & flips).sum() / flips.sum() >= 0.85
    # a glob names the same dataset
    globbed = labelaudit.scan(str(path / "part-*.parquet"), seed=3)
    assert np.array_equal(globbed.pred_probs, local.pred_probs)
    assert globbed.manifest["input"]["sha256"] == local.manifest["input"]["sha256"]


def test_cli_takes_the_scheduler_from_the_environment(runner, cluster, partitioned, tmp_path):
    path, _ = partitioned
    out = tmp_path / "parts.labelaudit"
    res = runner.invoke(
        labelaudit.cli.app,
        ["scan", str(path), "-q", "--out", str(out)],
        env={"DASK_SCHEDULER_ADDRESS": cluster.scheduler_address},
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    audit = labelaudit.load_audit(out)
    assert audit.manifest["options"]["dask"] == cluster.scheduler_address
    assert audit.manifest["cleaned"] == {"skipped": "a partitioned dataset is not rewritten; filter its parts"}


def test_unreachable_scheduler_and_missing_extra_exit_2(runner, partitioned, monkeypatch):
    path, _ = partitioned
    from labelaudit.oof import stream

    monkeypatch.setattr(stream, "DASK_CONNECT_TIMEOUT", "2s")
    res = invoke(runner, ["scan", path, "-q", "--dask", "tcp://127.0.0.1:9"])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    monkeypatch.setitem(sys.modules, "distributed", None)
    res = invoke(runner, ["scan", path, "-q", "--dask", "tcp://127.0.0.1:9"])
    assert res.exit_code == 2
    assert res.stderr.strip() == "error: --dask needs the distributed package: pip install 'labelaudit[dask]'"
