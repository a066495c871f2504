"""Shell completion, help text that shows what was written, and no value placeholders on flags."""

from __future__ import annotations

import re

import pytest
import typer.main
from typer.testing import CliRunner

from labelaudit.cli import app

COMMANDS = ["scan", "report", "filter", "simulate", "retrain"]


def _help(*args: str) -> str:
    res = CliRunner().invoke(app, [*args, "--help"], terminal_width=200)
    assert res.exit_code == 0, res.output
    return res.output


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_flags_show_no_value_placeholder(command):
    out = _help(*([command] if command else []))
    assert "<bool>" not in out


@pytest.mark.parametrize("command", COMMANDS)
def test_help_text_in_brackets_is_printed_not_swallowed_as_markup(command):
    group = typer.main.get_command(app)
    cmd = group.commands[command] if command else group
    out = " ".join(_help(command).replace("│", " ").split())
    for p in cmd.params:
        for bracketed in re.findall(r"\[[^\]]+\]", getattr(p, "help", None) or ""):
            assert bracketed.replace("\\", "") in out, (p.name, bracketed)


def test_the_config_option_names_the_pyproject_table():
    out = " ".join(_help().replace("│", " ").split())
    assert "[tool.labelaudit] in pyproject.toml" in out


def test_shell_completion_is_offered_and_completes(monkeypatch):
    out = _help()
    assert "--install-completion" in out and "--show-completion" in out
    # the script for the user's shell (typer detects it from the process tree; fixed here so the test does not
    # depend on how it was started)
    import typer.completion

    monkeypatch.setattr(typer.completion, "_get_shell_name", lambda: "bash")
    res = CliRunner().invoke(app, ["--show-completion"], prog_name="labelaudit")
    assert res.exit_code == 0 and "_LABELAUDIT_COMPLETE" in res.output
    # what that script asks for: the commands, then a command's options
    env = {"_LABELAUDIT_COMPLETE": "complete_bash", "COMP_WORDS": "labelaudit sc", "COMP_CWORD": "1"}
    res = CliRunner().invoke(app, [], env=env, prog_name="labelaudit")
    assert res.exit_code == 0 and res.output.split() == ["scan"]
    env = {"_LABELAUDIT_COMPLETE": "complete_bash", "COMP_WORDS": "labelaudit scan --fail-f", "COMP_CWORD": "2"}
    res = CliRunner().invoke(app, [], env=env, prog_name="labelaudit")
    assert res.exit_code == 0 and res.output.split() == ["--fail-fast"]
