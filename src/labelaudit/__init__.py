"""labelaudit: find wrong labels in classification datasets, review them, and fix them.

The command line is a thin layer over this API::

    import labelaudit
    audit = labelaudit.scan("data.parquet", label="category", seed=0)
    audit.summary["checks"]["label"]["rate"]
    audit.save("data.labelaudit")
    again = labelaudit.load_audit("data.labelaudit")
"""

from labelaudit._version import __version__
from labelaudit.audit import Audit, load_audit
from labelaudit.errors import (
    AuditFormatError,
    CheckError,
    ConfigError,
    InputError,
    LabelAuditError,
    ModelError,
    OutputError,
    SchemaError,
    UsageError,
)
from labelaudit.filtering import filter_dataset
from labelaudit.noise import NoiseKind, simulate_noise
from labelaudit.options import ScanOptions
from labelaudit.progress import ProgressEvent
from labelaudit.scan import scan
from labelaudit.simulate import simulate

__all__ = [
    "Audit",
    "AuditFormatError",
    "CheckError",
    "ConfigError",
    "InputError",
    "LabelAuditError",
    "ModelError",
    "OutputError",
    "ProgressEvent",
    "SchemaError",
    "ScanOptions",
    "UsageError",
    "NoiseKind",
    "__version__",
    "filter_dataset",
    "load_audit",
    "scan",
    "simulate",
    "simulate_noise",
]
