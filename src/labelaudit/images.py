"""Rows as pictures, for the people who review them: a person judges an image by looking at it.

Two sources: ``--image COL`` names a column of image file paths (relative to the data file), embedded
as they are; ``--image-shape HxW[xC]`` renders the row's own feature values (pixel columns, or an NPY
of shape (n, h, w[, c]) flattened on reading) as a PNG. PNGs are encoded here with zlib (stdlib): a
thumbnail needs no imaging library.
"""

from __future__ import annotations

import base64
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from labelaudit.errors import ConfigError

#: image files embedded in reports by their suffix
MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp"}
#: a file bigger than this is not embedded (the report says it is missing instead)
MAX_EMBED_BYTES = 2 << 20


def parse_image_shape(value: Any) -> tuple[int, int, int] | None:
    """``"8x8"`` -> (8, 8, 1); ``"32x32x3"`` -> (32, 32, 3); a tuple passes through after checking."""
    if value is None:
        return None
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)(?:\s*[xX]\s*(\d+))?\s*", value)
        if not m:
            raise ConfigError(f"--image-shape must be HxW or HxWxC, e.g. 8x8 or 32x32x3 (got '{value}')")
        value = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 1))
    shape = tuple(int(v) for v in value)
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3 or min(shape) < 1 or shape[2] not in (1, 3, 4):
        raise ConfigError(f"--image-shape must be HxW or HxWxC with C = 1, 3 or 4 (got {value})")
    return shape  # type: ignore[return-value]


def to_pixels(values: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """One row's values as uint8 pixels, scaled to the row's own range (digits 0-16 and photos 0-255 alike)."""
    v = np.asarray(values, dtype=np.float64).reshape(shape)
    v = np.nan_to_num(v, nan=0.0)
    lo, hi = float(v.min()), float(v.max())
    scaled = (v - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(v)
    out = scaled.round().astype(np.uint8)
    return out[:, :, 0] if shape[2] == 1 else out


def png_bytes(pixels: np.ndarray) -> bytes:
    """A PNG of a uint8 (h, w) grey, (h, w, 3) RGB or (h, w, 4) RGBA array."""
    if pixels.ndim == 2:
        color, channels = 0, 1
    else:
        channels = pixels.shape[2]
        color = {3: 2, 4: 6}[channels]
    h, w = pixels.shape[:2]
    raw = b"".join(b"\x00" + pixels[r].tobytes() for r in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def file_uri(path: Path) -> str | None:
    """An image file as a data URI (None: missing, too big, or not an image type)."""
    mime = MIME.get(path.suffix.lower())
    try:
        if mime is None or not path.is_file() or path.stat().st_size > MAX_EMBED_BYTES:
            return None
        return data_uri(path.read_bytes(), mime)
    except OSError:
        return None


def check_image_options(image: str | None, shape: tuple[int, int, int] | None, columns: list[str], n_features: int):
    """Right after reading, before any training: the image column exists, the shape fits the features."""
    if image is not None and shape is not None:
        raise ConfigError("give either --image COLUMN (image files) or --image-shape HxW (pixel values), not both")
    if image is not None and image not in columns:
        raise ConfigError(f"--image column '{image}' not found; columns are: {', '.join(columns[:20])}")
    if shape is not None and shape[0] * shape[1] * shape[2] != n_features:
        h, w, c = shape
        raise ConfigError(
            f"--image-shape {h}x{w}x{c} needs {h * w * c} feature values per row, but the rows have {n_features}; "
            "give the shape of the images the feature columns hold"
        )
