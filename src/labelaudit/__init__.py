"""labelaudit: find wrong labels in classification datasets, review them, and fix them.

The command line is a thin layer over this API::

    import labelaudit
    audit = labelaudit.scan("data.parquet", label="category", seed=0)
    audit.summary["checks"]["label"]["rate"]
    audit.save("data.labelaudit")
    again = labelaudit.load_audit("data.labelaudit")

Names are imported on first use, so ``import labelaudit`` (and ``labelaudit --version``) stays fast:
pandas, scikit-learn and cleanlab load only when a scan or a report needs them.
"""

from __future__ import annotations

import sys
import time
import types
from importlib import import_module
from typing import TYPE_CHECKING, Any

from labelaudit._version import __version__
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

#: public name -> the module that defines it
#: when the package was first imported (the CLI's start-up in a scan's timings is measured from here: the
#: age of the process would count whatever a shell that exec'd the command ran before it)
IMPORTED_AT = time.perf_counter()

_LAZY = {
    "Audit": "labelaudit.audit",
    "load_audit": "labelaudit.audit",
    "filter_dataset": "labelaudit.clean.filtering",
    "NoiseKind": "labelaudit.noise",
    "simulate_noise": "labelaudit.noise",
    "ScanOptions": "labelaudit.options",
    "ProgressEvent": "labelaudit.progress",
    "scan": "labelaudit.scan",
    "simulate": "labelaudit.simulate",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from labelaudit.audit import Audit, load_audit
    from labelaudit.clean.filtering import filter_dataset
    from labelaudit.noise import NoiseKind, simulate_noise
    from labelaudit.options import ScanOptions
    from labelaudit.progress import ProgressEvent
    from labelaudit.scan import scan
    from labelaudit.simulate import simulate


class _Package(types.ModuleType):
    """``labelaudit.scan`` and ``labelaudit.simulate`` stay the functions after their modules are imported.

    Importing a submodule sets it as an attribute of its package, which would shadow the function of
    the same name; this keeps the function (the module stays in ``sys.modules``).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType) and value.__name__ == f"{__name__}.{name}":
            value = getattr(value, name)
        super().__setattr__(name, value)


#: public functions named like the module that defines them
_SHADOWED = {"scan", "simulate"}
sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'labelaudit' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


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
