"""The only module that uses rich: progress on stderr, summary and tables on stdout."""

from __future__ import annotations

import math
import sys
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from labelaudit.progress import ProgressEvent

err_console = Console(stderr=True, highlight=False)


def make_consoles() -> tuple[Console, Console]:
    """Fresh consoles bound to the current sys.stdout/sys.stderr (CliRunner swaps them)."""
    return Console(file=sys.stdout, highlight=False, soft_wrap=False), Console(
        file=sys.stderr, highlight=False, soft_wrap=True
    )


class ProgressPrinter:
    """A progress callback: live bars on a terminal, one plain line per stage otherwise."""

    def __init__(self, console: Console, *, quiet: bool = False, prefix: str = "") -> None:
        self.console = console
        self.quiet = quiet
        self.prefix = prefix
        self.live = console.is_terminal and not quiet
        self._progress: Progress | None = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> ProgressPrinter:
        if self.live:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, ev: ProgressEvent) -> None:
        if ev.kind == "warning":
            self.console.print(Text(f"warning: {self.prefix}{ev.message}", style="yellow"))
            return
        if self.quiet:
            return
        if ev.kind == "info":
            self.console.print(Text(f"{self.prefix}{ev.message}", style="dim"))
            return
        if self._progress is not None:
            if ev.kind == "start":
                self._tasks[ev.stage] = self._progress.add_task(self.prefix + ev.message, total=ev.total)
            elif ev.kind == "advance" and ev.stage in self._tasks:
                self._progress.update(
                    self._tasks[ev.stage], completed=ev.completed, description=self.prefix + ev.message
                )
            elif ev.kind == "end" and ev.stage in self._tasks:
                self._progress.remove_task(self._tasks.pop(ev.stage))
                if ev.message:
                    self.console.print(Text(f"{self.prefix}{ev.message}", style="dim"))
            return
        if ev.kind in ("advance",) or (ev.kind == "end" and ev.message):
            self.console.print(Text(f"{self.prefix}{ev.message}", style="dim"))
        elif ev.kind == "start":
            self.console.print(Text(f"{self.prefix}{ev.message} …", style="dim"))


def error_estimate_text(lab: dict[str, Any]) -> str:
    """``195 (95 % 169-222): 139 confident + 73 ambiguous disagreements``, and what the flagged set is then."""
    est = lab["estimated_errors"]
    lo, hi = est["interval95"]
    text = (
        f"{est['estimate']:.0f} (95 % {lo:.0f}–{hi:.0f}): {est['confident_disagreements']} confident + "
        f"{est['ambiguous_disagreements']} ambiguous disagreements"
    )
    flagged = lab["count"]
    if flagged < lo:
        text += f"; the {flagged} flagged rows are a floor (--flag-size {lab.get('flag_size', 'auto')})"
    elif flagged > hi:
        text += f"; the {flagged} flagged rows are a ceiling (--flag-size {lab.get('flag_size', 'auto')})"
    return text


def p_value_text(p: float) -> str:
    """``p = 0.031``; a p-value that underflowed to 0 is ``p < 1e-300``, not ``p = 0``."""
    return "p < 1e-300" if p < 1e-300 else f"p = {p:.3g}"


def _pct(rate: float) -> str:
    return f"{100 * rate:.1f} %"


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def render_summary(console: Console, manifest: dict[str, Any], audit_path: str | None) -> None:
    s = manifest["summary"]
    lines = Table.grid(padding=(0, 2))
    lines.add_column(style="bold")
    lines.add_column()
    lines.add_row("input", f"{manifest['input']['name']}  ({s['rows']} rows, {s['classes']} classes)")
    model = manifest["model"]
    lines.add_row("model", f"{model['used']}" + (f" (auto: {model['reason']})" if model["requested"] == "auto" else ""))
    na = s["not_assessed"]
    extra = []
    if na["missing_label"]:
        extra.append(f"{na['missing_label']} without label")
    if na["rare_classes"]:
        extra.append("classes too small: " + ", ".join(f"{c['class']} ({c['rows']})" for c in na["rare_classes"]))
    lines.add_row(
        "assessed", f"{s['assessed_rows']} rows" + (f"  [yellow]not assessed: {'; '.join(extra)}[/]" if extra else "")
    )
    lab = s["checks"]["label"]
    lines.add_row("label issues", f"[bold]{lab['count']}[/] ({_pct(lab['rate'])} of assessed rows)")
    est = lab.get("estimated_errors")
    if est:
        lines.add_row("estimated errors", Text(error_estimate_text(lab)))
    else:
        lines.add_row("estimated noise", _pct(lab["estimated_noise_rate"]))
    for name, c in s["checks"].items():
        if name == "label":
            continue
        detail = ""
        if name == "non_iid":
            detail = f"  {p_value_text(c['p_value'])}" + (" (data order is not i.i.d.)" if c["significant"] else "")
        if name == "near_duplicate":
            detail = f"  in {c['sets']} sets"
        if name == "null" and c.get("rows_with_any_missing"):
            detail = f"  entirely empty; {c['rows_with_any_missing']} rows have missing values"
        if name == "underperforming_group" and c.get("n_groups"):
            overall = _pct(c["overall_accuracy"])
            detail = f"  in {c['n_groups']} region(s) where the model is near chance ({overall} accuracy overall)"
        if name == "class_imbalance" and c["rare_classes"]:
            detail = "  rare: " + ", ".join(map(str, c["rare_classes"]))
        lines.add_row(name, f"{c['count']} ({_pct(c['rate'])}){detail}")
    for name, why in s["skipped_checks"].items():
        lines.add_row(name, f"[dim]skipped: {why}[/]")
    for g in manifest["gates"]["results"]:
        mark = "[green]pass[/]" if g["passed"] else "[red]FAIL[/]"
        lines.add_row(f"gate {g['check']}", f"{mark}  {_pct(g['rate'])} vs limit {_pct(g['threshold'])}")
    total = sum(v for v in manifest["timings"].values())
    lines.add_row("time", f"{total:.1f} s")
    if audit_path:
        lines.add_row("audit", audit_path)
    console.print(Panel(lines, title="labelaudit scan", expand=False))


def render_top(console: Console, issues, manifest: dict[str, Any], top: int) -> None:
    if top <= 0:
        return
    flagged = issues[issues["is_label_issue"]].sort_values("rank").head(top)
    if flagged.empty:
        console.print("No label issues found.")
        return
    table = Table(title=f"Top {len(flagged)} suspected label errors (label_quality: lower = more likely wrong)")
    table.add_column("rank", justify="right")
    table.add_column("row", justify="right")
    if "id" in issues.columns:
        table.add_column("id")
    table.add_column("given")
    table.add_column("suggested")
    table.add_column("label_quality", justify="right")
    other = [c for c in issues.columns if c.startswith("is_") and c != "is_label_issue"]
    table.add_column("other issues")
    for _, r in flagged.iterrows():
        also = ", ".join(c[3:-6] for c in other if bool(r[c]))
        cells = [str(r["rank"]), str(r["row"])]
        if "id" in issues.columns:
            cells.append(_fmt(r["id"]))
        cells += [_fmt(r["given_label"]), _fmt(r["suggested_label"]), _fmt(float(r["label_quality"])), also]
        table.add_row(*[Text(c) for c in cells])
    console.print(table)


#: how many recommendations a scan prints under its summary (report prints them all)
SCAN_RECOMMENDATIONS = 3


def render_next(console: Console, manifest: dict[str, Any], recs: list[dict[str, str]], audit_ref: str) -> None:
    """Under a scan's summary: what was written besides the audit, the top advice, the next commands."""
    cleaned = manifest.get("cleaned") or {}
    if cleaned.get("files"):
        files, counts = cleaned["files"], cleaned["counts"]
        console.print(
            Text(
                f"Written: {audit_ref}/{files['cleaned']} ({counts['cleaned']} rows, the flagged label issues "
                f"dropped) and {audit_ref}/{files['removed']} ({counts['dropped'] + counts['relabelled']} rows, "
                "each with why); nothing is lost. Review before you train on it.",
            ),
            soft_wrap=True,
        )
    console.print(Text("What to do next:", style="bold"))
    for r in recs[:SCAN_RECOMMENDATIONS]:
        console.print(Text(f"- {r['text']}"), soft_wrap=True)
    console.print(
        Text(
            f"- More: labelaudit report {audit_ref} (per class, the worst rows with their values; "
            "--format html for plots, --format json for scripts).",
            style="dim",
        ),
        soft_wrap=True,
    )


def render_gate_failures(console: Console, manifest: dict[str, Any], prefix: str = "") -> None:
    """One line per failed gate, on stderr, even with --quiet: a CI log must say which gate failed."""
    for g in manifest["gates"]["results"]:
        if not g["passed"]:
            what = "label-issue rate" if g["check"] == "label" else f"{g['check']} rate"
            console.print(
                Text(
                    f"{prefix}gate failed: {what} {_pct(g['rate'])} is above the limit {_pct(g['threshold'])} "
                    f"(--fail-above {'' if g['check'] == 'label' else g['check'] + '='}{g['threshold']:g})",
                    style="bold red",
                )
            )


def render_batch(console: Console, rows: list[dict[str, Any]]) -> None:
    table = Table(title="labelaudit batch")
    for col in ("input", "exit", "label issues", "rate", "audit / error"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            Text(r["input"]),
            str(r["exit_code"]),
            _fmt(r.get("count")),
            _pct(r["rate"]) if r.get("rate") is not None else "–",
            Text(r.get("audit") or r.get("error", "")),
        )
    console.print(table)


def render_report_table(console: Console, manifest: dict[str, Any], ctx: dict[str, Any]) -> None:
    """The terminal report: summary panel, per-class table, top issues with a few values, advice."""
    from labelaudit.report.context import quality_interval

    render_summary(console, manifest, ctx.get("audit"))
    per = Table(title="Per class")
    for col, just in (
        ("class", "left"),
        ("rows", "right"),
        ("flagged", "right"),
        ("rate", "right"),
        ("most common suggestion", "left"),
    ):
        per.add_column(col, justify=just)  # type: ignore[arg-type]
    for c in ctx["per_class"]:
        name = str(c["class"]) + ("" if c["assessed"] else " (not assessed)")
        per.add_row(
            Text(name), str(c["rows"]), str(c["flagged"]), _pct(c["rate"]), Text(_fmt(c["most_common_suggested"]))
        )
    console.print(per)
    if ctx["top_issues"]:
        top = Table(
            title=f"Top {len(ctx['top_issues'])} suspected label errors (label_quality: lower = more likely wrong)"
        )
        for col in ("rank", "row", "id", "given", "suggested", "label_quality", "values"):
            top.add_column(col)
        for t in ctx["top_issues"]:
            values = ", ".join(f"{k}={_fmt(v)}" for k, v in list((t.get("data") or {}).items())[:4])
            top.add_row(
                str(t["rank"]),
                str(t["row"]),
                Text(_fmt(t["id"])),
                Text(_fmt(t["given_label"])),
                Text(_fmt(t["suggested_label"])),
                _fmt(t["label_quality"]),
                Text(values),
            )
        console.print(top)
    else:
        console.print("No label issues found.")
    if ctx.get("annotators"):
        ann = Table(title="Worst annotators (quality: expected accuracy; lower = worse)")
        for col in ("annotator", "quality", "95 % interval", "agreement", "items", "worst class", "spammer?"):
            ann.add_column(col)
        for a in ctx["annotators"]:
            ann.add_row(
                Text(str(a["annotator"])),
                _fmt(a["quality"]),
                quality_interval(a),
                _fmt(a["agreement_with_consensus"]),
                str(a["items_labelled"]),
                Text(_fmt(a["worst_class"])),
                "yes" if a["suspected_spammer"] else "",
            )
        console.print(ann)
    if "truth" in ctx:
        t = ctx["truth"]
        console.print(
            Text(
                f"Against the truth file: precision {t['precision']:.3f}, recall {t['recall']:.3f}, "
                f"F1 {t['f1']:.3f}, AUPRC {t['auprc']:.3f} ({t['true_positives']} of {t['true_errors']} "
                f"true errors among {t['flagged']} flagged)",
                style="bold",
            )
        )
    console.print(Text("What to do next:", style="bold"))
    for r in ctx["recommendations"]:
        console.print(Text(f"- {r['text']}"), soft_wrap=True)


def render_retrain(console: Console, summary: dict[str, Any]) -> None:
    """The retrain comparison: one row per strategy with 95 % intervals, the winner, rounds."""
    from labelaudit.report.comparison import fmt_metric

    ev = summary["evaluation"]
    if ev["mode"] == "clean_test":
        title = f"Strategies scored on the clean test set {ev['file']} ({ev['rows']} rows)"
    else:
        title = f"Strategies scored on {ev['rows']} held-out unflagged rows (NOISY labels: biased)"
    caption = (
        f"95 % intervals: {ev['bootstrap']} bootstrap resamples, paired vs baseline"
        if ev["bootstrap"]
        else "no intervals (--bootstrap 0)"
    )
    table = Table(title=title, caption=caption)
    for col, just in (
        ("strategy", "left"),
        ("train rows", "right"),
        ("accuracy", "right"),
        ("macro-F1", "right"),
        ("log loss", "right"),
        ("accuracy vs baseline", "right"),
        ("s", "right"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for s in summary["strategies"]:
        m = s["metrics"]
        name = Text(s["name"], style="bold green" if s["name"] == summary["winner"] else "")
        table.add_row(
            name,
            str(s["train_rows"]),
            *(fmt_metric(m[k]).replace(" [", "\n[", 1) for k in ("accuracy", "macro_f1", "log_loss")),
            fmt_metric(m["accuracy"], diff=True).replace(" [", "\n[", 1),
            f"{s['seconds']:.1f}",
        )
    console.print(table)
    for s in summary["strategies"]:
        console.print(Text(f"  {s['name']}: {s['description']}", style="dim"))
    console.print(Text(f"learner: {summary['learner']}", style="dim"))
    line = Text("winner: ")
    line.append(summary["winner"], style="bold green")
    if summary["chosen"] != summary["winner"]:
        line.append(f" (the model kept is the one you asked for: {summary['chosen']})")
    console.print(line)
    if summary["rounds"]:
        rt = Table(title="Re-audit rounds")
        for col in ("round", "flagged", "added", "removed", "Jaccard vs previous", "accuracy without flagged"):
            rt.add_column(col, justify="right")
        for r in summary["rounds"]:
            rt.add_row(
                str(r["round"]),
                str(r["flagged"]),
                f"+{r['added']}",
                f"-{r['removed']}",
                f"{r['jaccard_vs_previous']:.3f}",
                f"{r['eval_accuracy_without_flagged']:.3f}",
            )
        console.print(rt)
        last = summary["rounds"][-1]
        console.print(
            "the flagged set stopped changing"
            if last["stable"]
            else "the flagged set was still changing at the last round"
        )
