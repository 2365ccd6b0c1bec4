"""The README's command reference, made from the CLI's own help texts.

cog runs it (``.venv/bin/cog -r -I . README.md`` after changing a command) and
``tests/test_readme_reference.py`` fails when the README and ``--help`` have drifted apart.
"""

from __future__ import annotations

from typing import Any

import typer

from paperfeed.cli import app

# Typer 0.29 builds its commands on its own fork of click (typer._click): the classes are
# private, so the walk below reads the attributes click's API documents.
Command = Any


def _usage(command: Command) -> str:
    """The command's arguments and options as its help spells them, optional ones in []."""
    ctx = command.make_context(command.name, [], resilient_parsing=True)
    parts: list[str] = []
    for param in command.params:
        spelling = param.get_help_record(ctx)[0]  # e.g. "--frequency <daily|weekly|off>"
        if param.param_type_name == "argument":
            shown = (param.name or "").upper()
        else:
            flag, _, kind = spelling.partition(" ")
            # Choices are shown as such; a bare type (<str>, <int range>) by the option's name.
            value = kind.strip("<>") if "|" in kind else flag.lstrip("-").replace("-", "_").upper()
            shown = f"{flag} {value}" if kind else flag
        parts.append(shown if param.required else f"[{shown}]")
    return " ".join(parts)


def _help(command: Command) -> str:
    paragraphs = (command.help or "").strip().split("\n\n")
    return " ".join(" ".join(p.split()) for p in paragraphs)


def _rows(group: Command, prefix: str) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for name in group.list_commands(None):  # Typer's groups list without a context
        command = group.commands[name]
        if command.hidden:
            continue
        path = f"{prefix} {name}"
        if hasattr(command, "commands"):
            rows += _rows(command, path)
        else:
            rows.append((f"{path} {_usage(command)}".rstrip(), _help(command)))
    return rows


def command_rows() -> list[tuple[str, str]]:
    """(command line, what it does) for every command, in ``--help`` order, then the flags."""
    root = typer.main.get_command(app)
    rows = _rows(root, "paperfeed")
    for option in root.params:
        if option.param_type_name == "option" and option.help:
            rows.append((f"paperfeed {max(option.opts, key=len)}", option.help))
    return rows


def command_table() -> str:
    """The Markdown table the README's Commands section shows."""
    lines = ["| command | what it does |", "|---|---|"]
    for usage, text in command_rows():
        cell = text.replace("|", "\\|")
        lines.append(f"| `{usage.replace('|', chr(92) + '|')}` | {cell} |")
    return "\n".join(lines) + "\n"
