"""One exception hierarchy. The CLI maps it to exit codes in one place (``cli._exit_code_for``).

Every message names the problem and how to fix it, in one line.
"""

from __future__ import annotations


class LabelAuditError(Exception):
    """Base class of every error labelaudit raises on purpose."""

    #: exit code the CLI uses for this error
    exit_code = 3


class UsageError(LabelAuditError):
    """The user's input, options or configuration are wrong (exit code 2)."""

    exit_code = 2


class InputError(UsageError):
    """A data, labels or pred_probs file cannot be read or is malformed."""


class SchemaError(UsageError):
    """The data is readable but its columns or values cannot be audited as asked."""


class ConfigError(UsageError):
    """An option or configuration-file value is invalid."""


class OutputError(UsageError):
    """An output cannot be written where asked (exists without --force, not writable)."""


class AuditFormatError(UsageError):
    """An audit directory is missing, incomplete or from an incompatible version."""


class CheckError(LabelAuditError):
    """A check failed while running: the scan stops instead of writing a partial audit (exit 3)."""


class ModelError(LabelAuditError):
    """Training a model for out-of-fold probabilities failed (exit 3)."""


class ExtraMissingError(UsageError):
    """A feature needs an optional extra that is not installed (exit code 2); the message names the extra."""
