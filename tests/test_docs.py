"""The docs stay true: every scan option is in the README, every command has help, the quickstart is what CI runs."""

from __future__ import annotations

import re

import pytest
import typer

from labelaudit.cli import app
from tests.conftest import ROOT, invoke

README = (ROOT / "README.md").read_text()


def test_every_scan_option_is_documented():
    cmd = typer.main.get_command(app).commands["scan"]
    flags = [o for p in cmd.params if p.param_type_name == "option" for o in p.opts if o.startswith("--")]
    missing = [f for f in flags if f != "--help" and f"`{f}" not in README]
    assert missing == []


@pytest.mark.parametrize("command", ["report", "filter", "simulate", "retrain"])
def test_every_option_of_report_and_filter_is_documented(command):
    cmd = typer.main.get_command(app).commands[command]
    flags = [o for p in cmd.params if p.param_type_name == "option" for o in p.opts if o.startswith("--")]
    missing = [f for f in flags if f != "--help" and f"`{f}" not in README]
    assert missing == []


def test_every_command_has_help(runner):
    for name in typer.main.get_command(app).commands:
        res = invoke(runner, [name, "--help"])
        assert res.exit_code == 0 and "Usage" in res.stdout


def test_ci_runs_the_readme_test_command():
    block = re.search(r"Set up and run the tests.*?```bash\n(.+?)\n```", README, re.S)
    assert block is not None
    ci = (ROOT / ".ci" / "run").read_text()
    command = block.group(1).strip()
    # verbatim, once as a user's clone has it (before torch is installed) and once with the torch extra
    assert ci.count(command) == 2
    assert ci.index(command) < ci.index("pip install -q torch") < ci.rindex(command)
    assert "pytest -m slow" in ci


def test_exit_codes_documented_in_readme_and_help(runner):
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |"):
        assert code in README
    assert "Exit codes: 0" in invoke(runner, ["--help"]).stdout
