"""Rows as images for reviewers: --image-shape (pixel columns, NPY image arrays) and --image (files)."""

from __future__ import annotations

import base64
import json
import re
import struct
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from labelaudit.images import png_bytes
from tests.conftest import invoke


def _digits_like(n=240, seed=0):
    """8x8 'images': each class a bar in its own place, plus noise; 10 % of labels flipped."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    img = rng.uniform(0, 3, size=(n, 8, 8))
    for i, c in enumerate(y):
        img[i, :, 2 * c + 1 : 2 * c + 3] += 12.0
    labels = np.array(["left", "middle", "right"])[y]
    flip = rng.choice(n, n // 10, replace=False)
    labels[flip] = np.array(["left", "middle", "right"])[(y[flip] + 1) % 3]
    return img, labels


def _png_size(uri: str) -> tuple[int, int]:
    data = base64.b64decode(uri.split(",", 1)[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_pixel_columns_become_thumbnails_in_html_and_review_exports(runner, workdir):
    img, labels = _digits_like()
    df = pd.DataFrame(img.reshape(len(img), -1).round(2), columns=[f"px{i}" for i in range(64)])
    df["label"] = labels
    df.to_parquet(workdir / "px.parquet", index=False)
    res = invoke(runner, ["scan", workdir / "px.parquet", "--image-shape", "8x8", "--model", "logreg", "-q"])
    assert res.exit_code == 0, res.output
    assert invoke(runner, ["report", "px.labelaudit", "--format", "html", "--output", "r.html"]).exit_code == 0
    html = (workdir / "r.html").read_text()
    thumbs = re.findall(r'<img class="thumb" alt="([^"]*)" src="(data:image/png;base64,[^"]+)"', html)
    flagged = labelaudit_flagged(workdir / "px.labelaudit")
    assert len(thumbs) >= min(flagged, 50) > 0
    assert all(_png_size(src) == (8, 8) for _, src in thumbs)
    assert any(alt.startswith("given ") and "suggested" in alt for alt, _ in thumbs)
    # outliers and near-duplicate sets, when there are any, are galleries of their images too
    assert ("<h2>Outliers</h2>" in html) == ('id="outlier-gallery"' in html)
    assert html.count('class="gallery"') >= html.count("<h3>Set ")
    # Label Studio: the reviewer looks at the image; the config's choices point at it
    assert invoke(runner, ["report", "px.labelaudit", "--format", "label-studio", "--output", "t.json"]).exit_code == 0
    tasks = json.loads((workdir / "t.json").read_text())
    assert all(_png_size(t["data"]["image"]) == (8, 8) for t in tasks)
    assert all(t["predictions"][0]["result"][0]["to_name"] == "image" for t in tasks)
    config = (workdir / "t.label_config.xml").read_text()
    root = ET.fromstring(config)
    assert root.find("Image").get("value") == "$image" and root.find("Choices").get("toName") == "image"
    try:
        from label_studio_sdk.label_interface import LabelInterface
    except ImportError:
        LabelInterface = None
    if LabelInterface is not None:
        li = LabelInterface(config)
        for t in tasks:
            assert li.validate_task({k: v for k, v in t.items() if k != "predictions"})
            assert li.validate_prediction(t["predictions"][0])
    # Argilla: an image field beside the text
    assert invoke(runner, ["report", "px.labelaudit", "--format", "argilla", "--output", "a.argilla"]).exit_code == 0
    settings = json.loads((workdir / "a.argilla" / ".argilla" / "settings.json").read_text())
    assert [f["type"] for f in settings["fields"]] == ["image", "text"]
    records = json.loads((workdir / "a.argilla" / "records.json").read_text())
    assert all(_png_size(r["fields"]["image"]) == (8, 8) for r in records)


def labelaudit_flagged(audit_dir) -> int:
    import labelaudit

    return int(labelaudit.load_audit(audit_dir).issues["is_label_issue"].sum())


def test_an_npy_of_images_is_read_as_images(runner, workdir):
    img, labels = _digits_like(seed=1)
    np.save(workdir / "img.npy", img.astype(np.float32))
    pd.DataFrame({"label": labels}).to_csv(workdir / "labels.csv", index=False)
    res = invoke(runner, ["scan", workdir / "img.npy", "--labels", workdir / "labels.csv", "--model", "logreg", "-q"])
    assert res.exit_code == 0, res.output
    import labelaudit

    audit = labelaudit.load_audit(workdir / "img.labelaudit")
    assert audit.manifest["image"]["shape"] == [8, 8, 1] and audit.manifest["n_features"] == 64
    assert invoke(runner, ["report", "img.labelaudit", "--format", "html", "--output", "r.html"]).exit_code == 0
    assert 'class="thumb"' in (workdir / "r.html").read_text()


def test_an_image_path_column_is_embedded_and_never_a_feature(runner, workdir):
    img, labels = _digits_like(seed=2)
    (workdir / "imgs").mkdir()
    paths = []
    for i, a in enumerate(img):
        name = f"imgs/{i:04d}.png"
        if i % 7:  # some files are missing: the report says so instead of failing
            (workdir / name).write_bytes(png_bytes((a / a.max() * 255).astype(np.uint8)))
        paths.append(name)
    df = pd.DataFrame({"path": paths, "bar": img[:, :, 1::2].sum(axis=(1,)).argmax(axis=1).astype(float)})
    df["f1"] = img[:, 0, :].argmax(axis=1).astype(float)
    df["label"] = labels
    df.to_csv(workdir / "files.csv", index=False)
    res = invoke(runner, ["scan", workdir / "files.csv", "--image", "path", "--model", "logreg", "-q"])
    assert res.exit_code == 0, res.output
    import labelaudit

    audit = labelaudit.load_audit(workdir / "files.labelaudit")
    assert "path" not in audit.manifest["feature_columns"] and audit.manifest["image"] == {"column": "path"}
    assert invoke(runner, ["report", "files.labelaudit", "--format", "html", "--output", "r.html"]).exit_code == 0
    html = (workdir / "r.html").read_text()
    assert 'class="thumb"' in html
    assert all(_png_size(src) == (8, 8) for src in re.findall(r'src="(data:image/png;base64,[^"]+)"', html)[4:])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--image-shape", "9x9"], "--image-shape 9x9x1 needs 81 feature values per row, but the rows have 64"),
        (["--image-shape", "8by8"], "--image-shape must be HxW or HxWxC"),
        (["--image", "nope"], "--image column 'nope' not found"),
        (["--image", "px0", "--image-shape", "8x8"], "give either --image COLUMN"),
    ],
)
def test_bad_image_options_are_one_line_exit_2_before_training(runner, workdir, args, message):
    img, labels = _digits_like(n=60)
    df = pd.DataFrame(img.reshape(len(img), -1).round(2), columns=[f"px{i}" for i in range(64)])
    df["label"] = labels
    df.to_parquet(workdir / "px.parquet", index=False)
    res = invoke(runner, ["scan", workdir / "px.parquet", *args, "-q"])
    assert res.exit_code == 2 and res.stderr.strip().startswith("error: ") and message in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (workdir / "px.labelaudit").exists()
