"""Reading data files and writing outputs atomically."""

from labelaudit.io.atomic import atomic_directory, atomic_file
from labelaudit.io.readers import (
    DATA_SUFFIXES,
    TableSource,
    file_sha256,
    open_table,
    read_labels_file,
    read_pred_probs,
)

__all__ = [
    "DATA_SUFFIXES",
    "TableSource",
    "atomic_directory",
    "atomic_file",
    "file_sha256",
    "open_table",
    "read_labels_file",
    "read_pred_probs",
]
