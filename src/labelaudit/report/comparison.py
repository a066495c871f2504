"""The retrain comparison as Markdown (the table and JSON forms live in the console and ``RetrainResult``)."""

from __future__ import annotations

from typing import Any

from labelaudit.report.escape import md as md_cell


def fmt_metric(entry: dict[str, Any], diff: bool = False) -> str:
    if diff:
        if "diff_vs_baseline" not in entry:
            return "—"
        lo, hi = entry["diff_ci95"]
        return f"{entry['diff_vs_baseline']:+.3f} [{lo:+.3f}, {hi:+.3f}]"
    if "ci95" in entry:
        lo, hi = entry["ci95"]
        return f"{entry['value']:.3f} [{lo:.3f}, {hi:.3f}]"
    return f"{entry['value']:.3f}"


def comparison_markdown(summary: dict[str, Any]) -> str:
    ev = summary["evaluation"]
    lines = ["# labelaudit retrain", ""]
    if ev["mode"] == "clean_test":
        lines.append(f"Scored on the clean test set `{md_cell(ev['file'])}` ({ev['rows']} rows).")
    else:
        lines.append(f"> **Warning:** {md_cell(ev['warning'])}")
    lines += [
        "",
        f"Learner: {summary['learner']}. 95 % intervals from {ev['bootstrap']} bootstrap resamples; "
        "differences are paired against the baseline.",
        "",
        "| strategy | train rows | accuracy | macro-F1 | log loss | accuracy vs baseline | seconds |",
        "|---|---:|---|---|---|---|---:|",
    ]
    for s in summary["strategies"]:
        m = s["metrics"]
        name = f"**{s['name']}**" if s["name"] == summary["winner"] else s["name"]
        lines.append(
            f"| {name} — {md_cell(s['description'])} | {s['train_rows']} | {fmt_metric(m['accuracy'])} | "
            f"{fmt_metric(m['macro_f1'])} | {fmt_metric(m['log_loss'])} | {fmt_metric(m['accuracy'], diff=True)} | "
            f"{s['seconds']:.1f} |"
        )
    lines += [
        "",
        f"Winner: **{summary['winner']}**"
        + (f"; saved: {summary['chosen']}" if summary["chosen"] != summary["winner"] else ""),
    ]
    if summary["rounds"]:
        lines += [
            "",
            "| round | flagged | added | removed | Jaccard vs previous | accuracy without flagged |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for r in summary["rounds"]:
            lines.append(
                f"| {r['round']} | {r['flagged']} | {r['added']} | {r['removed']} | {r['jaccard_vs_previous']:.3f} | "
                f"{r['eval_accuracy_without_flagged']:.3f} |"
            )
    for w in summary["warnings"]:
        if ev["mode"] != "clean_test" and w == ev.get("warning"):
            continue
        lines += ["", f"> {md_cell(w)}"]
    return "\n".join(lines) + "\n"
