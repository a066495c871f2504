"""JUnit XML: one testsuite per audited file, one testcase per gate, so CI systems show the result natively.

Every suite has at least one testcase: the label-issue rate, passed when no gate was set on it (a JUnit
file with ``tests="0"`` fails a Jenkins build by default). Test names carry no threshold (``label issue
rate``), so a changed threshold is the same test in a CI system's history; thresholds and rates are
suite properties (``threshold:label``, ``rate:label``) and in each testcase's ``system-out``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

#: the testcase name of a check's gate; stable across thresholds
CASE_NAME = "{check} issue rate"
CLASSNAME = "labelaudit.gates"


def suite_from_manifest(manifest: dict[str, Any], gates: dict[str, Any] | None = None) -> dict[str, Any]:
    """What one audit contributes: its input, model, timings, label rate and gate results."""
    summary = manifest["summary"]
    return {
        "input": manifest["input"],
        "model": (manifest.get("model") or {}).get("used"),
        "seconds": float(sum((manifest.get("timings") or {}).values())),
        "label_rate": float(summary["checks"]["label"]["rate"]),
        "gates": list((gates or manifest["gates"])["results"]),
    }


def gate_cases(suite: dict[str, Any]) -> list[dict[str, Any]]:
    """The suite's testcases: every gate, plus the label rate (passed) when no gate was set on it."""
    cases = list(suite["gates"])
    if not any(g["check"] == "label" for g in cases):
        cases.insert(0, {"check": "label", "rate": suite["label_rate"], "threshold": None, "passed": True})
    return cases


def render_junit(suites: Iterable[dict[str, Any]]) -> str:
    suites = list(suites)
    root = ET.Element("testsuites", name="labelaudit")
    total = failed = errors = 0
    for s in suites:
        if "error" in s:
            total, errors = total + 1, errors + 1
            _errored(root, s)
            continue
        cases = gate_cases(s)
        failures = sum(not c["passed"] for c in cases)
        total, failed = total + len(cases), failed + failures
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"labelaudit:{s['input']['name']}",
            tests=str(len(cases)),
            failures=str(failures),
            errors="0",
            skipped="0",
            time=f"{s['seconds']:.3f}",
        )
        props = ET.SubElement(suite, "properties")
        facts = [("input_sha256", s["input"]["sha256"]), ("model", s["model"]), ("label_issue_rate", s["label_rate"])]
        for c in cases:
            facts.append((f"rate:{c['check']}", c["rate"]))
            if c["threshold"] is not None:
                facts.append((f"threshold:{c['check']}", c["threshold"]))
        for k, v in facts:
            ET.SubElement(props, "property", name=k, value=str(v))
        for c in cases:
            _case(suite, c)
    root.set("tests", str(total))
    root.set("failures", str(failed))
    root.set("errors", str(errors))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _errored(root: ET.Element, s: dict[str, Any]) -> None:
    """A file that could not be audited (bad input in a batch): one testcase with an error."""
    name = f"labelaudit:{s['input']['name']}"
    suite = ET.SubElement(root, "testsuite", name=name, tests="1", failures="0", errors="1", skipped="0", time="0")
    case = ET.SubElement(suite, "testcase", classname=CLASSNAME, name="scan", time="0")
    err = ET.SubElement(case, "error", message=str(s["error"]).splitlines()[0][:500], type=f"exit {s['exit_code']}")
    err.text = str(s["error"])


def _case(suite: ET.Element, c: dict[str, Any]) -> None:
    case = ET.SubElement(suite, "testcase", classname=CLASSNAME, name=CASE_NAME.format(check=c["check"]), time="0")
    what = "issue rate" if c["check"] != "annotator_quality" else "lowest annotator quality"
    if c["threshold"] is None:
        text = f"{c['check']} {what} {c['rate']:.4f} (no gate set: --fail-above {c['check']}=RATE sets one)"
    else:
        text = f"{c['check']} {what} {c['rate']:.4f}, threshold {c['threshold']:g}"
    if not c["passed"]:
        fail = ET.SubElement(case, "failure", message=gate_message(c), type="GateFailed")
        fail.text = text
    ET.SubElement(case, "system-out").text = text


def gate_message(c: dict[str, Any]) -> str:
    """One line on a failed gate (also the GitHub annotation's text)."""
    if c["check"] == "annotator_quality":
        return f"annotators below quality {c['threshold']:g}: {', '.join(map(str, c.get('failing_annotators', [])))}"
    return f"{c['check']} issue rate {c['rate']:.4f} is above {c['threshold']:g}"
