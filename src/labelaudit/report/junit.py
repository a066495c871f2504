"""JUnit XML: one testcase per gate, so CI systems show the result natively."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any


def render_junit(ctx: dict[str, Any]) -> str:
    gates = ctx["gates"]["results"]
    failures = sum(not g["passed"] for g in gates)
    seconds = sum(ctx["run"]["timings"].values())
    suites = ET.Element("testsuites", name="labelaudit", tests=str(len(gates)), failures=str(failures))
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"labelaudit:{ctx['input']['name']}",
        tests=str(len(gates)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time=f"{seconds:.3f}",
    )
    props = ET.SubElement(suite, "properties")
    for k, v in (
        ("input_sha256", ctx["input"]["sha256"]),
        ("model", ctx["model"]["used"]),
        ("label_issue_rate", str(ctx["summary"]["label_issue_rate"])),
    ):
        ET.SubElement(props, "property", name=k, value=str(v))
    for g in gates:
        case = ET.SubElement(
            suite,
            "testcase",
            classname="labelaudit.gates",
            name=f"{g['check']} issue rate <= {g['threshold']:g}",
            time="0",
        )
        if not g["passed"]:
            fail = ET.SubElement(
                case,
                "failure",
                message=f"{g['check']} issue rate {g['rate']:.4f} is above {g['threshold']:g}",
                type="GateFailed",
            )
            fail.text = f"{g['check']}: rate {g['rate']:.6f} > threshold {g['threshold']:g}"
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
