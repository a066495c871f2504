"""Gates: a check's issue rate against a threshold; a failed gate makes the exit code 1.

One evaluation for ``scan --fail-above`` (recorded in the manifest) and ``report --fail-above``
(a new gate applied to a saved audit without re-scanning).
"""

from __future__ import annotations

from typing import Any

from labelaudit.errors import ConfigError


def evaluate_gates(thresholds: dict[str, float], summary: dict[str, Any], skipped: dict[str, str]) -> dict[str, Any]:
    """One result per gate: the check's rate against its threshold (rate > threshold fails)."""
    results = []
    for name, limit in thresholds.items():
        if name in skipped:
            raise ConfigError(f"--fail-above gates '{name}', but that check was skipped: {skipped[name]}")
        if name not in summary["checks"]:
            raise ConfigError(f"--fail-above gates '{name}', but the audit did not run that check; re-scan with it")
        rate = float(summary["checks"][name]["rate"])
        results.append({"check": name, "threshold": limit, "rate": rate, "passed": rate <= limit})
    return {"thresholds": dict(thresholds), "results": results, "passed": all(r["passed"] for r in results)}
