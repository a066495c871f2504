"""Markdown: fit for a pull-request comment or a CI job summary."""

from __future__ import annotations

from typing import Any

from labelaudit.report.context import quality_interval
from labelaudit.report.escape import md

#: GitHub caps a step summary at 1 MiB; stay well under it
STEP_SUMMARY_LIMIT = 512 * 1024


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def group_classes(g: dict[str, Any]) -> str:
    """``"three (12), eight (5)"``: the given labels most common in an underperforming group."""
    return ", ".join(f"{c['class']} ({c['rows']})" for c in g["classes"])


def _group_lines(ctx: dict[str, Any]) -> list[str]:
    ug = ctx["checks"].get("underperforming_group")
    if not ug or not ug.get("groups"):
        return []
    out = [
        "",
        f"Underperforming groups (model accuracy {_pct(ug['overall_accuracy'])} overall):",
        "",
        "| group | rows | accuracy | most common given labels |",
        "|---:|---:|---:|---|",
    ]
    out += [f"| {g['group']} | {g['size']} | {_pct(g['accuracy'])} | {md(group_classes(g))} |" for g in ug["groups"]]
    return out


def render_markdown(ctx: dict[str, Any]) -> str:
    s = ctx["summary"]
    lines = [f"## labelaudit: {md(ctx['input']['name'])}", ""]
    gate_line = ""
    if ctx["gates"]["results"]:
        gate_line = " — gates **passed**" if ctx["gates"]["passed"] else " — gates **FAILED**"
    lines.append(
        f"**{s['label_issues']}** suspected label errors in {s['assessed_rows']} assessed rows "
        f"(**{_pct(s['label_issue_rate'])}**; estimated noise rate {_pct(s['estimated_noise_rate'])}){gate_line}."
    )
    est = s.get("estimated_label_errors")
    if est:
        lo, hi = est["interval95"]
        lines.append(
            f"Estimated label errors: {est['estimate']:.0f} (95 % interval {lo:.0f}–{hi:.0f}; "
            f"{est['confident_disagreements']} confident and {est['ambiguous_disagreements']} ambiguous disagreements)."
        )
    if "truth" in ctx:
        t = ctx["truth"]
        lines += [
            "",
            f"Against the truth file: precision {t['precision']:.3f}, recall {t['recall']:.3f}, "
            f"F1 {t['f1']:.3f}, AUPRC {t['auprc']:.3f}.",
        ]
    lines += ["", "| check | issues | rate |", "|---|---:|---:|"]
    for name, c in ctx["checks"].items():
        lines.append(f"| {md(name)} | {c['count']} | {_pct(c['rate'])} |")
    for name, why in ctx["skipped_checks"].items():
        lines.append(f"| {md(name)} | skipped | {md(why)} |")
    lines += _group_lines(ctx)
    if ctx["gates"]["results"]:
        lines += ["", "| gate | rate | limit | result |", "|---|---:|---:|---|"]
        for g in ctx["gates"]["results"]:
            res = "pass" if g["passed"] else "**FAIL**"
            lines.append(f"| {md(g['check'])} | {_pct(g['rate'])} | {_pct(g['threshold'])} | {res} |")
    lines += ["", "| class | rows | flagged | rate | most common suggestion |", "|---|---:|---:|---:|---|"]
    for c in ctx["per_class"]:
        note = "" if c["assessed"] else " (not assessed)"
        lines.append(
            f"| {md(c['class'])}{note} | {c['rows']} | {c['flagged']} | {_pct(c['rate'])} | "
            f"{md(c['most_common_suggested'])} |"
        )
    if ctx["top_issues"]:
        lines += [
            "",
            "<details><summary>Top suspected label errors</summary>",
            "",
            "| rank | row | id | given | suggested | label quality |",
            "|---:|---:|---|---|---|---:|",
        ]
        for t in ctx["top_issues"]:
            lines.append(
                f"| {t['rank']} | {t['row']} | {md(t['id'])} | {md(t['given_label'])} | "
                f"{md(t['suggested_label'])} | {t['label_quality']:.3g} |"
            )
        lines += ["", "</details>"]
    if ctx.get("annotators"):
        lines += [
            "",
            "| annotator | quality | 95 % interval | agreement | items | worst class | suspected spammer |",
            "|---|---:|---|---:|---:|---|---|",
        ]
        for a in ctx["annotators"]:
            lines.append(
                f"| {md(a['annotator'])} | {a['quality']:.3f} | {quality_interval(a)} | "
                f"{a['agreement_with_consensus']:.3f} | "
                f"{a['items_labelled']} | {md(a['worst_class'])} | {'yes' if a['suspected_spammer'] else ''} |"
            )
    lines += ["", "**What to do next**", ""]
    lines += [f"- {md(r['text'])}" for r in ctx["recommendations"]]
    lines += [
        "",
        f"<sub>labelaudit {md(ctx['tool_version'])}, model {md(ctx['model']['used'])}, "
        f"seed {ctx['run']['seed']}, input sha256 {ctx['input']['sha256'][:12]}…</sub>",
        "",
    ]
    return "\n".join(lines)


def fit_step_summary(ctx: dict[str, Any], limit: int = STEP_SUMMARY_LIMIT) -> str:
    """Markdown for $GITHUB_STEP_SUMMARY, with fewer top issues until it fits under ``limit`` bytes."""
    ctx = dict(ctx)
    text = render_markdown(ctx)
    while len(text.encode()) > limit and ctx["top_issues"]:
        ctx["top_issues"] = ctx["top_issues"][: len(ctx["top_issues"]) // 2]
        text = render_markdown(ctx)
    return text[:limit]
