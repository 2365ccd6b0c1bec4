"""The README's command reference is what ``--help`` says (regenerate it with cog)."""

from __future__ import annotations

from pathlib import Path

from cogapp import Cog
from typer.testing import CliRunner

from paperfeed.cli import app
from tests.support.readme_commands import command_rows

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_command_table_is_the_one_cog_makes_from_the_help() -> None:
    text = README.read_text(encoding="utf-8")
    assert "from tests.support.readme_commands import command_table" in text
    regenerated = Cog().process_string(text, fname=str(README))
    assert regenerated == text, (
        "README.md's command reference differs from the CLI's help: run "
        "`.venv/bin/cog -r -I . README.md` and commit the result"
    )


def test_every_command_and_its_summary_come_from_the_cli_itself() -> None:
    rows = dict(command_rows())
    assert "paperfeed subscribers list [--status pending|active|unsubscribed|bounced]" in rows
    help_text = CliRunner().invoke(app, ["subscribers", "add", "--help"]).output
    add = next(usage for usage in rows if usage.startswith("paperfeed subscribers add"))
    for flag in ("--interests", "--timezone", "--hour", "--frequency", "--confirmed"):
        assert flag in add
        assert flag in help_text
    top = CliRunner().invoke(app, ["--help"]).output
    for usage in rows:
        command = usage.split()[1]
        assert command.startswith("--") or command in top
