"""The command line: the only typer module. Parses options, calls the API, renders, maps errors to exit codes.

Exit codes (never renumbered): 0 ran and every gate passed; 1 ran and a gate failed;
2 usage, configuration or input error; 3 internal error.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer._click import exceptions as click_errors
from typer.core import TyperGroup

from labelaudit._version import __version__
from labelaudit.errors import ConfigError, LabelAuditError, OutputError

EXIT_OK, EXIT_GATE, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_CODES_HELP = (
    "Exit codes: 0 ran and every gate passed; 1 ran and a gate failed (e.g. label-issue rate above "
    "--fail-above); 2 usage, configuration or input error; 3 internal error."
)
ISSUES_URL = "https://github.com/labelaudit/labelaudit/issues"


class _OneLineErrors(TyperGroup):
    """Usage errors (a bad option value, a missing argument, an unknown command) as one ``error:`` line, exit 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # noqa: ANN001
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_errors.NoArgsIsHelpError as err:  # 'labelaudit' alone: the help
            err.show()
            sys.exit(0)
        except click_errors.ClickException as err:
            ctx = getattr(err, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if isinstance(err, click_errors.UsageError) and ctx else ""
            message = " ".join(err.format_message().split())
            sys.stderr.write(f"error: {message}{hint}\n")
            sys.exit(err.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    name="labelaudit",
    cls=_OneLineErrors,
    help="Find wrong labels in classification datasets, review them, and fix them.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # help text is printed as written: rich markup swallowed "[tool.labelaudit]" and "labelaudit[torch]"
    # and showed flags as taking a "<bool>" value
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


def exit_code_for(err: BaseException) -> int:
    """The one place that maps errors to exit codes."""
    if isinstance(err, LabelAuditError):
        return err.exit_code
    if isinstance(err, KeyboardInterrupt):
        return 130
    return EXIT_INTERNAL


#: the disk, or the user's quota on it, is full
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def error_line(err: BaseException) -> str:
    if isinstance(err, LabelAuditError):
        return f"error: {err}"
    if isinstance(err, KeyboardInterrupt):
        return "interrupted: nothing was written"
    if isinstance(err, OSError) and err.errno in _DISK_FULL:  # a resource failure, not a bug (exit 3 still)
        return (
            f"error: no space left on the disk ({str(err).splitlines()[0][:200]}); free some space, or write to "
            "another disk (--out)"
        )
    if isinstance(err, MemoryError) or type(err).__name__ == "ArrowMemoryError":
        return (
            "error: out of memory; nothing was written. Scan with --low-memory (and a smaller --batch-rows), "
            "fewer --checks, or on a machine with more memory"
        )
    return (
        f"internal error: {type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''} "
        f"(a bug in labelaudit; set LABELAUDIT_DEBUG=1 for the traceback and report it at {ISSUES_URL})"
    )


def _fail(err: BaseException) -> NoReturn:
    from labelaudit.console import make_consoles

    _, err_console = make_consoles()
    if os.environ.get("LABELAUDIT_DEBUG") and not isinstance(err, LabelAuditError):
        err_console.print(traceback.format_exc(), markup=False, highlight=False)
    err_console.print(error_line(err), markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(exit_code_for(err))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"labelaudit {__version__}")
        raise typer.Exit(0)


def _allowed_options() -> dict[str, set[str]]:
    root = typer.main.get_command(app)
    out = {}
    for name, cmd in getattr(root, "commands", {}).items():
        out[name] = {p.name for p in cmd.params if p.param_type_name == "option" and p.name and p.name != "help"}
    return out


def _check_config_values(ctx: typer.Context, path: Path, default_map: dict[str, dict[str, Any]]) -> None:
    """Every value from the options file converted as its flag would be; a bad one names the file and the key."""
    commands = getattr(typer.main.get_command(app), "commands", {})
    for command, values in default_map.items():
        params = {p.name: p for p in commands[command].params}
        for name, value in values.items():
            param = params[name]
            try:
                if hasattr(param, "get_runtime_param"):  # typer's own conversion, as for the flag
                    param.get_runtime_param().coerce(value, param=param, ctx=ctx)
                elif hasattr(param, "type_cast_value"):
                    param.type_cast_value(ctx, value)
            except click_errors.BadParameter as err:
                key = name.replace("_", "-")
                raise ConfigError(
                    f"{path}: {command} option '{key}' = {value!r} is not valid ({' '.join(err.message.split())}); "
                    "fix the options file or override it with the flag"
                ) from None


@app.callback()
def main_callback(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Options file (default: labelaudit.toml, or "
            "[tool.labelaudit] in pyproject.toml, in this or a parent directory).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Find wrong labels in classification datasets, review them, and fix them."""
    from labelaudit.config import load_config, to_default_map

    try:
        path, data = load_config(config, Path.cwd())
        if path is not None and data:
            ctx.default_map = to_default_map(path, data, _allowed_options())
            _check_config_values(ctx, path, ctx.default_map)
        ctx.meta["config_file"] = str(path) if path is not None and data else None
    except LabelAuditError as err:
        _fail(err)


def _audit_dirs(data: list[Path], out: Path | None) -> list[Path]:
    from labelaudit.names import default_audit_dir

    if len(data) == 1:
        return [out if out is not None else default_audit_dir(data[0])]
    base = out if out is not None else Path.cwd()
    dirs = [default_audit_dir(p, base) for p in data]
    seen: dict[Path, Path] = {}
    for p, d in zip(data, dirs, strict=True):
        if d in seen:
            raise ConfigError(f"{seen[d]} and {p} would both write {d.name}; rename one or scan them separately")
        seen[d] = p
    return dirs


def _note_stale(console, folder: Path, prefix: str = "") -> None:
    """Remove temporary files an interrupted (killed) run left in ``folder``, and say so."""
    from labelaudit.io.atomic import remove_stale_temps

    for p in remove_stale_temps(folder):
        console.print(
            f"{prefix}note: removed {p}, left by an interrupted labelaudit run", markup=False, highlight=False
        )


def _batch_folder(out: Path) -> None:
    """The folder that holds one audit per input: created when missing (its parent must exist)."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; with several inputs it names the folder that holds one audit each")
    if out.name.endswith(".labelaudit") and out.is_dir():
        raise OutputError(f"--out {out} is an audit; with several inputs it names the folder that holds one audit each")
    if not out.exists():
        if not out.parent.is_dir():
            raise OutputError(f"directory {out.parent} does not exist; create it or choose another --out folder")
        out.mkdir()


@app.command(epilog=EXIT_CODES_HELP)
def scan(
    ctx: typer.Context,
    data: Annotated[
        list[Path],
        typer.Argument(help="Data file(s): CSV/TSV, Parquet, JSON Lines, Feather/Arrow, NPY, NPZ.", show_default=False),
    ],
    label: Annotated[
        str | None, typer.Option(help="Label column (default: the one named label/labels/target/class/y).")
    ] = None,
    labels: Annotated[
        Path | None, typer.Option("--labels", help="Labels file for NPY features: NPY, CSV or text, one per row.")
    ] = None,
    features: Annotated[
        str | None, typer.Option(help="Comma-separated feature columns (default: all but label and id).")
    ] = None,
    id: Annotated[str | None, typer.Option("--id", help="Row id column, carried into every output.")] = None,
    text: Annotated[str | None, typer.Option(help="Text column, featurised with TF-IDF.")] = None,
    pred_probs: Annotated[
        list[Path] | None,
        typer.Option(
            "--pred-probs",
            help="Out-of-sample probabilities (NPY, or CSV/Parquet "
            "with one column per class); repeat to ensemble. Skips training.",
        ),
    ] = None,
    model: Annotated[
        str, typer.Option(help="auto, hgb, logreg, knn, rf, ensemble, or mlp (torch, GCE loss; labelaudit[torch]).")
    ] = "auto",
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed: same input + same seed = identical outputs.")] = 0,
    checks: Annotated[
        str,
        typer.Option(
            help="Comma-separated checks: label, outlier, near_duplicate, non_iid, class_imbalance, null, "
            "underperforming_group, data_valuation (or all)."
        ),
    ] = "all",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Audit directory (default: <input stem>.labelaudit here); "
            "with several inputs, the folder that holds one audit per input.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing audit.")] = False,
    fail_above: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-above",
            help="Gate: exit 1 when the label-issue rate is above "
            "RATE (0.05 = 5 %); CHECK=RATE gates another check. Repeatable.",
        ),
    ] = None,
    format: Annotated[
        OutputFormat, typer.Option("--format", help="table for people, json (stdout only) for machines.")
    ] = OutputFormat.table,
    top: Annotated[int, typer.Option(help="How many of the worst rows to show.")] = 10,
    jobs: Annotated[
        int | None, typer.Option(help="Parallel fold fits (default: by data size, at most the cores).")
    ] = None,
    knn: Annotated[str, typer.Option(help="KNN graph: auto, exact or approx.")] = "auto",
    encoding: Annotated[str | None, typer.Option(help="Encoding of CSV/TSV/text inputs (default utf-8).")] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress or summary; errors and warnings only.")
    ] = False,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="With several inputs, stop at the first that fails.")
    ] = False,
    item: Annotated[str | None, typer.Option(help="Annotations: item column (one row per annotation).")] = None,
    annotator: Annotated[str | None, typer.Option(help="Annotations: annotator column.")] = None,
    time: Annotated[str | None, typer.Option("--time", help="Annotations: seconds-per-annotation column.")] = None,
    gold: Annotated[str | None, typer.Option(help="Annotations: gold-label column (fixes those items).")] = None,
    export_format: Annotated[
        str, typer.Option(help="Annotations: auto, long, label-studio, label-studio-csv, mturk or toloka.")
    ] = "auto",
    consensus: Annotated[str, typer.Option(help="Annotations: auto, majority, dawid-skene or crowdlab.")] = "auto",
    classes: Annotated[str | None, typer.Option(help="Annotations: declared comma-separated class list.")] = None,
    min_annotator_quality: Annotated[
        float | None,
        typer.Option(help="Annotations gate: exit 1 when an annotator with enough items is below this quality."),
    ] = None,
    min_annotator_items: Annotated[
        int, typer.Option(help="Annotations: items an annotator needs before the quality gate judges them.")
    ] = 10,
    no_clean: Annotated[
        bool,
        typer.Option(
            "--no-clean",
            help="Do not write the default cleaned dataset (cleaned.<ext> + removed.<ext>) into the audit directory.",
        ),
    ] = False,
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            help="Column of image file paths (relative to the data file): reviewers see the images in the HTML "
            "report and the Label Studio / Argilla exports; never a feature.",
        ),
    ] = None,
    image_shape: Annotated[
        str | None,
        typer.Option(
            "--image-shape",
            help="HxW or HxWxC: each row's feature values are an image of this shape (pixel columns); shown as "
            "thumbnails. NPY/NPZ arrays of shape (n, h, w[, c]) are images already.",
        ),
    ] = None,
    junit: Annotated[
        Path | None,
        typer.Option(
            "--junit",
            help="Also write JUnit XML: one testsuite per input, one testcase per gate (the label-issue rate at "
            "least), so CI needs no second step.",
        ),
    ] = None,
    low_memory: Annotated[
        bool | None,
        typer.Option(
            "--low-memory/--in-memory",
            help="Stream features in row batches (never by itself: without it a scan whose features would not fit "
            "stops before reading them).",
            show_default=False,
        ),
    ] = None,
    batch_rows: Annotated[int, typer.Option(help="Rows per batch with --low-memory.")] = 65_536,
    device: Annotated[
        str, typer.Option(help="KNN graph on auto (a GPU when torch sees one), cpu (faiss) or cuda (torch, exact).")
    ] = "auto",
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            envvar="DASK_SCHEDULER_ADDRESS",
            help="Dask scheduler address (tcp://host:8786): run the streaming passes on its workers "
            "(labelaudit[dask]).",
        ),
    ] = None,
    flag_size: Annotated[
        str,
        typer.Option(
            "--flag-size",
            help="How many rows the label check flags: auto (the estimated number of label errors), conservative "
            "(cleanlab's prune_by_noise_rate: fewer, more precise), a number of rows (500) or a rate (0.05).",
        ),
    ] = "auto",
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Exit 2 instead of warning when the input is probably a mistake (a free-text or all-unique "
            "feature column, pred_probs columns that look permuted): for CI.",
        ),
    ] = False,
) -> None:
    """Audit labels: out-of-fold probabilities, confident learning and data checks; write an audit directory."""
    from labelaudit.console import make_consoles, render_batch

    stdout, stderr = make_consoles()
    try:
        if top < 0:
            raise ConfigError(f"--top must be 0 or more (got {top})")
        options, crowd_features = _scan_options(locals())
        dirs = _audit_dirs(data, out)
        if junit is not None:
            from labelaudit.io.atomic import check_writable

            check_writable(junit, force=force, what="JUnit file", inputs=[*data, labels, *(pred_probs or ())])
        if len(data) > 1 and out is not None:
            _batch_folder(out)
    except LabelAuditError as err:
        _fail(err)
    run = _ScanRun(
        startup_s=_since_import(),
        options=options,
        command=["labelaudit", *sys.argv[1:]],
        config_file=ctx.meta.get("config_file"),
        inputs=[*data, labels, *(pred_probs or ()), crowd_features, ctx.meta.get("config_file")],
        force=force,
        write_cleaned=not no_clean,
        quiet=quiet,
        batch=len(data) > 1,
    )
    reports: list[dict[str, Any]] = []
    suites: list[dict[str, Any]] = []
    worst = EXIT_OK
    for path, target in zip(data, dirs, strict=True):
        report_row, audit = _scan_one(run, path, target, stderr)
        reports.append(report_row)
        worst = max(worst, report_row["exit_code"])
        if junit is not None:
            suites.append(_junit_suite(audit, path, report_row))
        if audit is None:
            if fail_fast:
                break
            continue
        if format is OutputFormat.table and not quiet:
            _render_scan(stdout, audit, target, top)
    if format is OutputFormat.json:
        typer.echo(
            json.dumps(
                {"schema_version": 1, "tool_version": __version__, "exit_code": worst, "audits": reports},
                indent=2,
                default=str,
            )
        )
    elif len(data) > 1 and not quiet:
        render_batch(stdout, reports)
    if junit is not None:
        _write_junit(junit, suites, force=force, inputs=run.inputs)
    raise typer.Exit(worst)


def _junit_suite(audit: Any, path: Path, row: dict[str, Any]) -> dict[str, Any]:
    from labelaudit.report.junit import suite_from_manifest

    if audit is not None:
        return suite_from_manifest(audit.manifest)
    # the file could not be audited: a suite with one errored testcase
    return {"input": {"name": path.name, "sha256": ""}, "error": row.get("error", ""), "exit_code": row["exit_code"]}


def _write_junit(target: Path, suites: list[dict[str, Any]], *, force: bool, inputs: list[Any]) -> None:
    from labelaudit.io.atomic import atomic_file
    from labelaudit.report.junit import render_junit

    try:
        with atomic_file(target, force=force, inputs=inputs) as tmp:
            tmp.write_text(render_junit(suites), encoding="utf-8")
    except LabelAuditError as err:
        _fail(err)


def _write_folder(target: Path, files: dict[str, str], *, force: bool, inputs: list[Any]) -> None:
    """Several files as one folder, written atomically (temporary folder, then one rename)."""
    from labelaudit.io.atomic import atomic_directory

    with atomic_directory(target, force=force, inputs=inputs, kind="argilla") as tmp:
        for rel, text in files.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(text, encoding="utf-8")


def _github_annotations(gates: dict[str, Any], name: str) -> None:
    """On GitHub Actions, a failed gate is also an ``::error`` annotation (on stderr, so stdout stays JSON)."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    from labelaudit.report.junit import gate_message

    def esc(text: str, prop: bool = False) -> str:
        text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        return text.replace(":", "%3A").replace(",", "%2C") if prop else text

    for g in gates["results"]:
        if not g["passed"]:
            sys.stderr.write(f"::error title={esc('labelaudit gate: ' + name, True)}::{esc(gate_message(g))}\n")


#: scan's parameter names that differ from the ScanOptions fields they fill
_SCAN_RENAMES = {"time": "time_column", "labels": "labels_file", "id": "id_column"}


def _scan_options(params: dict[str, Any]) -> tuple[Any, Path | None]:
    """ScanOptions from scan's parameters (validated as it is built), and the crowd item-features file."""
    import dataclasses

    from labelaudit.options import ScanOptions

    kw = {_SCAN_RENAMES.get(k, k): v for k, v in params.items()}
    kw = {f.name: kw[f.name] for f in dataclasses.fields(ScanOptions) if f.name in kw}
    kw["pred_probs"] = tuple(kw.get("pred_probs") or ())
    kw["fail_above"] = list(kw.get("fail_above") or [])
    crowd_features = None
    # with --item/--annotator, --features naming a file is the items' feature table, not a column list
    if (kw.get("item") or kw.get("annotator")) and kw.get("features") and Path(kw["features"]).is_file():
        crowd_features, kw["features"] = Path(kw["features"]), None
    return ScanOptions(**kw, crowd_features=crowd_features), crowd_features


def _since_import() -> float:
    """Seconds since labelaudit was imported: the start-up a scan's timings record (the interpreter's own
    start, ~50 ms, is not in it; a process's age would count what an exec-ing shell ran before)."""
    import labelaudit

    return time.perf_counter() - labelaudit.IMPORTED_AT


@dataclass
class _ScanRun:
    """What every file of one scan command shares."""

    options: Any
    command: list[str]
    config_file: str | None
    inputs: list[Any]
    force: bool
    write_cleaned: bool
    quiet: bool
    batch: bool
    #: seconds from importing the CLI to the first scan (recorded once, in the first audit's timings)
    startup_s: float | None = None


def _scan_one(run: _ScanRun, path: Path, target: Path, stderr) -> tuple[dict[str, Any], Any]:
    """Scan and save one file; its batch-report row, and the audit (None when it failed and the batch goes on)."""
    started = time.perf_counter()
    from labelaudit.console import ProgressPrinter, render_gate_failures  # rich
    from labelaudit.io.atomic import check_writable
    from labelaudit.scan import scan as run_scan  # numpy, pandas, scipy: the scan's imports (models load lazily)

    imports_s = time.perf_counter() - started

    prefix = f"{path.name}: " if run.batch else ""
    try:
        check_writable(target, force=run.force, what="audit directory", inputs=run.inputs, kind="audit")
        _note_stale(stderr, target.parent, prefix)
        with ProgressPrinter(stderr, quiet=run.quiet, prefix=prefix) as progress:
            audit = run_scan(path, run.options, progress=progress, command=run.command, config_file=run.config_file)
            from labelaudit.clean.filtering import write_default_cleaned

            if run.startup_s is not None:
                first = {"startup": round(run.startup_s, 4), "imports": round(imports_s, 4)}
                audit.manifest["timings"] = {**first, **audit.manifest["timings"]}
                run.startup_s = None

            audit.save(target, force=run.force, extra=write_default_cleaned if run.write_cleaned else None)
    except (LabelAuditError, KeyboardInterrupt, Exception) as err:  # noqa: BLE001 - mapped to an exit code
        if not run.batch or isinstance(err, KeyboardInterrupt):
            _fail(err)
        stderr.print(f"{prefix}{error_line(err)}", markup=False, highlight=False, soft_wrap=True)
        return {"input": str(path), "exit_code": exit_code_for(err), "error": str(err)}, None
    _append_step_summary(audit, stderr)
    lab = audit.summary["checks"]["label"]
    render_gate_failures(stderr, audit.manifest, prefix)
    _github_annotations(audit.gates, path.name)
    row = {
        "input": str(path),
        "exit_code": audit.exit_code,
        "audit": str(target),
        "count": lab["count"],
        "rate": lab["rate"],
        "summary": audit.summary,
        "gates": audit.gates,
        "model": audit.manifest["model"]["used"],
    }
    return row, audit


def _render_scan(stdout, audit: Any, target: Path, top: int) -> None:
    from labelaudit.console import render_next, render_summary, render_top
    from labelaudit.report.recommend import recommendations, shell_path

    render_summary(stdout, audit.manifest, str(target))
    render_top(stdout, audit.issues, audit.manifest, top)
    render_next(stdout, audit.manifest, recommendations(audit), shell_path(target))


def _append_step_summary(audit: Any, console: Any) -> None:
    """Append the Markdown summary to $GITHUB_STEP_SUMMARY when GitHub Actions sets it (a warning if it cannot)."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    from labelaudit.report import ReportFormat, report_context
    from labelaudit.report.markdown import fit_step_summary

    ctx = report_context(audit, ReportFormat.markdown)
    try:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(fit_step_summary(ctx) + "\n")
    except OSError as err:
        console.print(
            f"warning: could not append the summary to GITHUB_STEP_SUMMARY={target} ({err.strerror}); "
            "the audit itself is complete",
            markup=False,
            highlight=False,
            style="yellow",
        )


@app.command(epilog=EXIT_CODES_HELP)
def report(
    audit: Annotated[Path, typer.Argument(help="Audit directory written by 'labelaudit scan'.", show_default=False)],
    format: Annotated[
        str, typer.Option("--format", help="table, json, markdown, html, review-csv, label-studio or argilla.")
    ] = "table",
    output: Annotated[
        Path | None, typer.Option("--output", help="Write to this file (atomically) instead of stdout.")
    ] = None,
    top: Annotated[
        int | None,
        typer.Option(
            help="How many top issues (default: 10 table, 20 markdown, 50 json/html, all for review exports)."
        ),
    ] = None,
    junit: Annotated[
        Path | None,
        typer.Option("--junit", help="Also write JUnit XML: one testcase per gate, the label-issue rate at least."),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="The audited data, for row values (default: the path in the manifest)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing --output/--junit files.")] = False,
    truth: Annotated[
        Path | None,
        typer.Option(
            "--truth",
            help="Truth file from 'labelaudit simulate' (or any file "
            "with row + is_noisy): score the audit (precision, recall, F1, "
            "AUPRC).",
        ),
    ] = None,
    fail_above: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-above",
            help="Gate this saved audit without re-scanning: exit 1 when the label-issue rate is above RATE; "
            "CHECK=RATE gates another check. Repeatable; replaces the scan's gates.",
        ),
    ] = None,
    gate: Annotated[
        bool,
        typer.Option("--gate", help="Exit 1 when the gates recorded by 'scan --fail-above' failed."),
    ] = False,
    budget: Annotated[
        int | None,
        typer.Option(
            "--budget",
            help="Review exports: the N rows where one more look is worth most (crowd audits: the items where "
            "one more answer would most change or firm up the consensus; otherwise the label-quality ranking).",
        ),
    ] = None,
) -> None:
    """Render an audit for people (table, markdown, html), machines (json, junit) or reviewers (review exports).

    Exits 0 when it rendered; with --fail-above (a new gate) or --gate (the scan's gates) it exits 1 when a
    gate failed, so a CI step can gate on a saved audit.
    """
    from labelaudit.audit import load_audit
    from labelaudit.console import make_consoles, render_gate_failures, render_report_table
    from labelaudit.io.atomic import atomic_file, check_writable
    from labelaudit.options import parse_enum, parse_fail_above
    from labelaudit.report import ReportFormat, render, report_context

    stdout, stderr = make_consoles()
    try:
        fmt = parse_enum(ReportFormat, format, "--format")
        if top is not None and top < 0:
            raise ConfigError(f"--top must be 0 or more (got {top})")
        thresholds = parse_fail_above(fail_above) if fail_above else None
        aud = load_audit(audit)
        inputs = [audit, data, truth, *aud.input_paths()]
        cfg = (
            output.with_name(output.stem + ".label_config.xml")
            if output is not None and fmt is ReportFormat.label_studio
            else None
        )
        for target in (output, junit, cfg):
            if target is not None:
                folder = target is output and fmt is ReportFormat.argilla
                what = "output folder" if folder else "output file"
                check_writable(target, force=force, what=what, inputs=inputs, kind="argilla" if folder else "file")
        ctx = report_context(aud, fmt, top=top, data=data, budget=budget)
        exit_code = aud.exit_code if gate else EXIT_OK
        if thresholds is not None:
            from labelaudit.gates import evaluate_gates

            ctx["gates"] = evaluate_gates(thresholds, aud.summary, aud.summary.get("skipped_checks") or {})
            exit_code = ctx["exit_code"] = EXIT_OK if ctx["gates"]["passed"] else EXIT_GATE
            aud.manifest["gates"] = ctx["gates"]
        if truth is not None:
            from labelaudit.truth import score_audit

            ctx["truth"] = score_audit(aud, truth)
        if fmt is ReportFormat.table:
            outputs = {}
            render_report_table(stdout, aud.manifest, ctx)
        else:
            outputs = render(aud, fmt, ctx)
        if output is not None and "files" in outputs:
            _write_folder(output, outputs["files"], force=force, inputs=inputs)
            stderr.print(
                f"Argilla dataset folder written to {output}: load it with rg.Dataset.from_disk({str(output)!r})",
                markup=False,
                highlight=False,
            )
        elif output is not None and outputs:
            with atomic_file(output, force=force, inputs=inputs) as tmp:
                tmp.write_text(outputs["main"], encoding="utf-8")
            if "config" in outputs and cfg is not None:
                with atomic_file(cfg, force=force, inputs=inputs) as tmp:
                    tmp.write_text(outputs["config"], encoding="utf-8")
                stderr.print(f"Label Studio labeling config written to {cfg}", markup=False, highlight=False)
        elif outputs:
            sys.stdout.write(outputs["main"])
            if "config" in outputs:
                stderr.print(
                    "Label Studio labeling config (save it beside the tasks):\n" + outputs["config"],
                    markup=False,
                    highlight=False,
                )
        if junit is not None:
            from labelaudit.report.junit import render_junit, suite_from_manifest

            with atomic_file(junit, force=force, inputs=inputs) as tmp:
                tmp.write_text(render_junit([suite_from_manifest(aud.manifest, ctx["gates"])]), encoding="utf-8")
        _append_step_summary(aud, stderr)
    except (LabelAuditError, Exception) as err:  # noqa: BLE001 - mapped to an exit code in one place
        _fail(err)
    if gate or thresholds is not None:
        render_gate_failures(stderr, {"gates": ctx["gates"]})
        _github_annotations(ctx["gates"], aud.manifest["input"]["name"])
    raise typer.Exit(exit_code)


class FilterAction(str, Enum):
    drop = "drop"
    relabel = "relabel"
    flag = "flag"


@app.command("filter", epilog=EXIT_CODES_HELP)
def filter_cmd(
    audit: Annotated[Path, typer.Argument(help="Audit directory written by 'labelaudit scan'.", show_default=False)],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="The audited data (default: the path in the manifest); verified by hash and row count."
        ),
    ] = None,
    action: Annotated[
        FilterAction,
        typer.Option(help="drop flagged rows, relabel confident ones, or flag (keep all, add audit columns)."),
    ] = FilterAction.drop,
    checks: Annotated[
        str,
        typer.Option(
            help="Which checks' flags count: label, near_duplicate (keeps one per set), "
            "outlier, null, non_iid, class_imbalance, underperforming_group, data_valuation."
        ),
    ] = "label",
    decisions: Annotated[
        Path | None,
        typer.Option(
            help="Human decisions: a review CSV, a Label Studio JSON export, or Argilla records (records.json or "
            "the dataset folder); they override the automatic action."
        ),
    ] = None,
    max_class_fraction: Annotated[
        float, typer.Option(help="Remove at most this share of any class automatically (never all of it).")
    ] = 0.3,
    undecided: Annotated[
        str,
        typer.Option(
            help="With --decisions: keep the suspected rows the review left blank, or apply the automatic "
            "action to them (auto)."
        ),
    ] = "keep",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            help="Cleaned data file (default: <input stem>.cleaned.<ext> "
            "here); removed rows go beside it as <stem>.removed.<ext>.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing outputs.")] = False,
    format: Annotated[
        OutputFormat, typer.Option("--format", help="table or json summary on stdout.")
    ] = OutputFormat.table,
) -> None:
    """Write a cleaned dataset and, beside it, every removed or changed row with its reason (nothing is lost)."""
    from labelaudit.audit import load_audit
    from labelaudit.clean.filtering import filter_dataset, output_paths, write_outputs
    from labelaudit.console import make_consoles

    stdout, stderr = make_consoles()
    try:
        aud = load_audit(audit)
        result = filter_dataset(
            aud,
            data,
            action=action.value,
            checks=checks,
            max_class_fraction=max_class_fraction,
            decisions=decisions,
            undecided=undecided,
        )
        paths = write_outputs(result, output_paths(result.data, output), force=force, inputs=[audit, decisions])
    except (LabelAuditError, Exception) as err:  # noqa: BLE001 - mapped to an exit code in one place
        _fail(err)
    for w in result.warnings:
        stderr.print(f"warning: {w}", markup=False, highlight=False)
    counts = result.counts
    if format is OutputFormat.json:
        typer.echo(
            json.dumps(
                {
                    "schema_version": 1,
                    "action": action.value,
                    "counts": counts,
                    "capped_classes": [str(c) for c in result.plan.capped_classes],
                    "outputs": {k: str(v) for k, v in paths.items()},
                },
                indent=2,
            )
        )
    else:
        stdout.print(
            f"{counts['input']} rows in: {counts['cleaned']} written to {paths['cleaned']}, "
            f"{counts['dropped']} dropped, {counts['relabelled']} relabelled; every removed or changed row "
            f"is in {paths['removed']}",
            markup=False,
            highlight=False,
        )
    raise typer.Exit(EXIT_OK)


@app.command(epilog=EXIT_CODES_HELP)
def simulate(
    data: Annotated[Path, typer.Argument(help="Clean data file to corrupt.", show_default=False)],
    noise: Annotated[
        str,
        typer.Option(
            help="symmetric, asymmetric (to the most-confused class) or instance "
            "(harder rows flip more, to the model's second choice)."
        ),
    ] = "symmetric",
    rate: Annotated[
        float,
        typer.Option(
            help="Share of labels to flip (0.2 = 20 %); symmetric and asymmetric flip exactly that share of each class."
        ),
    ] = 0.2,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same flips.")] = 0,
    label: Annotated[str | None, typer.Option(help="Label column (default: the one named label/target/...).")] = None,
    labels: Annotated[Path | None, typer.Option("--labels", help="Labels file for NPY features.")] = None,
    features: Annotated[str | None, typer.Option(help="Comma-separated feature columns for the noise model.")] = None,
    id: Annotated[str | None, typer.Option("--id", help="Row id column, copied into the truth file.")] = None,
    text: Annotated[str | None, typer.Option(help="Text column (TF-IDF) for the noise model.")] = None,
    transition: Annotated[
        Path | None,
        typer.Option(help="CSV K x K transition matrix (class names in header and first column) for asymmetric noise."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Noisy copy (default: <stem>.noisy.<ext> here; same format as the input)."),
    ] = None,
    truth: Annotated[
        Path | None, typer.Option("--truth", help="Truth file, .parquet or .csv (default: <out stem>.truth.parquet).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing outputs.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress.")] = False,
) -> None:
    """Write a copy of DATA with simulated label noise plus a truth file, to measure an audit before trusting it."""
    from labelaudit.console import ProgressPrinter, make_consoles
    from labelaudit.noise import NoiseKind
    from labelaudit.options import parse_enum
    from labelaudit.simulate import simulate as run_simulate

    stdout, stderr = make_consoles()
    try:
        kind = parse_enum(NoiseKind, noise, "--noise")
        feats = tuple(f.strip() for f in features.split(",")) if features else None
        with ProgressPrinter(stderr, quiet=quiet) as progress:
            sim = run_simulate(
                data,
                noise=kind,
                rate=rate,
                seed=seed,
                label=label,
                labels_file=labels,
                features=feats,
                id_column=id,
                text=text,
                transition=transition,
                out=out,
                truth=truth,
                force=force,
                progress=progress,
            )
    except (LabelAuditError, Exception) as err:  # noqa: BLE001 - mapped to an exit code in one place
        _fail(err)
    stdout.print(
        f"{kind.value} noise, requested rate {rate:g}, realised rate {sim.realised_rate:.4f} "
        f"({int(sim.noise.flipped.sum())} labels flipped); wrote {sim.outputs['data']} and "
        f"{sim.outputs['truth']}",
        markup=False,
        highlight=False,
    )
    raise typer.Exit(EXIT_OK)


class RetrainFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


@app.command(epilog=EXIT_CODES_HELP)
def retrain(
    audit: Annotated[Path, typer.Argument(help="Audit directory written by 'labelaudit scan'.", show_default=False)],
    test: Annotated[
        Path | None,
        typer.Option(
            "--test", help="Clean, human-checked test set with the same columns; every strategy is scored on it."
        ),
    ] = None,
    strategy: Annotated[
        list[str] | None,
        typer.Option(
            "--strategy",
            help="Compare these (repeatable): baseline, cleaned, gce, sce, smoothing, mixup, coteaching, recipe, "
            "or all. Default: baseline, cleaned, gce, sce, coteaching, recipe.",
        ),
    ] = None,
    loss: Annotated[
        str | None, typer.Option(help="Train one strategy with this loss (ce, gce or sce) and keep it.")
    ] = None,
    q: Annotated[float, typer.Option(help="GCE's q (0 < q <= 1).")] = 0.7,
    sce_alpha: Annotated[float, typer.Option(help="SCE's weight of cross entropy.")] = 0.1,
    sce_beta: Annotated[float, typer.Option(help="SCE's weight of reverse cross entropy.")] = 1.0,
    label_smoothing: Annotated[
        float, typer.Option(help="Label smoothing epsilon for that strategy (0.1 is usual).")
    ] = 0.0,
    mixup: Annotated[
        float, typer.Option(help="MixUp Beta(a, a) parameter for that strategy (0 = off; 0.2 is usual).")
    ] = 0.0,
    coteach: Annotated[
        str | None,
        typer.Option(help="Co-teaching with two different models, e.g. mlp,mlp2 or linear,mlp (identical: refused)."),
    ] = None,
    coteach_views: Annotated[
        str, typer.Option(help="same features for both co-teaching models, or split them into disjoint halves.")
    ] = "same",
    train_on: Annotated[
        str, typer.Option(help="Rows that strategy trains on: all, or cleaned (flagged rows removed as filter would).")
    ] = "all",
    rounds: Annotated[
        int, typer.Option(help="Re-audit rounds with the kept strategy (stops early once the flagged set is stable).")
    ] = 0,
    learner: Annotated[
        str, typer.Option(help="auto (torch when installed), torch, or sklearn (the audit's model; baseline/cleaned).")
    ] = "auto",
    device: Annotated[str, typer.Option(help="Where torch trains: auto (CUDA when present), cpu or cuda.")] = "auto",
    seed: Annotated[int | None, typer.Option(help="Random seed (default: the audit's).")] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the 95 % intervals.")] = 1000,
    data: Annotated[
        Path | None, typer.Option("--data", help="The audited data (default: the manifest's path); verified by hash.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Directory for the kept model (torch state dict or skops), metadata and test predictions."
        ),
    ] = None,
    format: Annotated[
        RetrainFormat, typer.Option("--format", help="table, json or markdown comparison on stdout.")
    ] = RetrainFormat.table,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --out directory.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress.")] = False,
) -> None:
    """Train with noise-robust strategies and compare them on clean labels; keep the best (or the one asked for)."""
    from labelaudit.audit import load_audit
    from labelaudit.console import ProgressPrinter, make_consoles, render_retrain
    from labelaudit.retrain.strategies import custom_strategy
    from labelaudit.retrain.strategies import retrain as run_retrain

    stdout, stderr = make_consoles()
    try:
        if out is not None:
            from labelaudit.io.atomic import check_writable

            check_writable(out, force=force, what="model directory", inputs=[audit, data, test], kind="model")
        aud = load_audit(audit)
        custom = None
        if loss or label_smoothing or mixup or coteach or train_on != "all":
            label_check = aud.summary.get("checks", {}).get("label") or {}
            custom = custom_strategy(
                loss=loss,
                q=q,
                alpha=sce_alpha,
                beta=sce_beta,
                label_smoothing=label_smoothing,
                mixup=mixup,
                coteach=coteach,
                coteach_views=coteach_views,
                train_on=train_on,
                noise_rate=float(label_check.get("estimated_noise_rate") or 0.2),
            )
        with ProgressPrinter(stderr, quiet=quiet or format is not RetrainFormat.table) as progress:
            result = run_retrain(
                aud,
                test=test,
                data=data,
                strategies=strategy or None,
                custom=custom,
                rounds=rounds,
                seed=seed,
                device=device,
                learner=learner,
                n_boot=bootstrap,
                progress=progress,
            )
        summary = result.to_json()
        if out is not None:
            from labelaudit.retrain.model_io import save_model

            save_model(result, out, force=force)
            summary["model_dir"] = str(out)
    except (LabelAuditError, Exception) as err:  # noqa: BLE001 - mapped to an exit code in one place
        _fail(err)
    for w in summary["warnings"]:
        stderr.print(f"warning: {w}", markup=False, highlight=False, style="bold yellow")
    if format is RetrainFormat.json:
        typer.echo(json.dumps(summary, indent=2, default=str))
    elif format is RetrainFormat.markdown:
        from labelaudit.report.comparison import comparison_markdown

        typer.echo(comparison_markdown(summary), nl=False)
    else:
        render_retrain(stdout, summary)
        if out is not None:
            stdout.print(f"model, metadata and test predictions written to {out}", markup=False, highlight=False)
    raise typer.Exit(EXIT_OK)


def main() -> None:
    """Console-script entry point."""
    code = 0
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: nothing was written\n")
        code = 130
    except SystemExit as done:
        if done.code is not None and not isinstance(done.code, int):
            raise  # a message to print: the interpreter's own exit does that
        code = done.code or 0
    finally:
        _stop_idle_workers()
    _exit_without_teardown(code)


def _exit_without_teardown(code: int) -> NoReturn:
    """Exit with ``code`` once the output is flushed and the exit handlers have run, skipping the
    interpreter's finalisation of every module: ~0.4 s after a 100k-row scan (numpy, pandas, pyarrow,
    scikit-learn: ~1 800 modules), 5 % of its wall time, spent after the audit was already on disk.
    With another thread still running, the normal exit, which waits for it."""
    import atexit
    import threading

    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()  # temporary directories, logging, multiprocessing's clean-up: as at a normal exit
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # as the interpreter does when its last flush fails (a closed pipe, a full disk)
        code = code or 120
    os._exit(code)


def _stop_idle_workers() -> None:
    """The command is done: joblib's idle fold workers are stopped now instead of by joblib's exit hook,
    which waited for each to tear down its own numpy and scikit-learn (0.43 s after a 100k-row scan)."""
    module = sys.modules.get("joblib.externals.loky.reusable_executor")
    executor = getattr(module, "_executor", None)
    if executor is not None:
        import contextlib

        with contextlib.suppress(Exception):  # the process is ending either way
            executor.shutdown(wait=False, kill_workers=True)


if __name__ == "__main__":  # pragma: no cover
    main()
