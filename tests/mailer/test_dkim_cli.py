"""`paperfeed dkim-record`: the TXT record an operator publishes, checked by dkimpy's verifier."""

from __future__ import annotations

import re
from pathlib import Path

import dkim
from typer.testing import CliRunner

from paperfeed import cli_mail
from paperfeed.cli_base import command_group
from paperfeed.mailer.dkim_sign import DkimSigner
from tests.mailer.dkim_samples import key_file, rsa_key, txt_record

runner = CliRunner()
# The command alone, in a group like the real one (deliberate errors as one line).
app = command_group("test")
app.command()(cli_mail.dkim_record)
app.command()(cli_mail.preview)  # a second command, so the group keeps command names


def env(tmp_path: Path, **more: str) -> dict[str, str]:
    return {
        "PAPERFEED_VAR_DIR": str(tmp_path / "var"),
        "PAPERFEED_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
        "PAPERFEED_FROM": "paperfeed <digest@example.org>",
        **more,
    }


def test_it_prints_the_record_a_verifier_then_accepts(tmp_path: Path) -> None:
    settings = env(
        tmp_path,
        PAPERFEED_DKIM_PRIVATE_KEY_PATH=str(key_file(tmp_path)),
        PAPERFEED_DKIM_SELECTOR="pf2026",
    )
    result = runner.invoke(app, ["dkim-record"], env=settings)

    assert result.exit_code == 0, result.output
    lines = dict(line.split(":", 1) for line in result.output.splitlines())
    assert lines["name"].strip() == "pf2026._domainkey.example.org"
    value = lines["value"].strip()
    assert value == txt_record(rsa_key()).decode()
    zone = lines["zone"].strip()
    strings = re.findall(r'"([^"]*)"', zone)
    assert zone.startswith("pf2026._domainkey.example.org. IN TXT ( ")
    assert all(len(s) <= 255 for s in strings)
    assert "".join(strings) == value
    # What was printed is what a receiver needs to accept the mail.
    signed = DkimSigner(rsa_key(), selector="pf2026", domain="example.org").sign(
        b"From: a@example.org\r\nTo: b@example.com\r\n\r\nhi\r\n"
    )
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: value.encode())


def test_without_dkim_settings_it_says_what_to_set(tmp_path: Path) -> None:
    result = runner.invoke(app, ["dkim-record"], env=env(tmp_path))
    assert result.exit_code == 2
    assert "PAPERFEED_DKIM_PRIVATE_KEY_PATH" in result.output
    assert "Traceback" not in result.output


def test_a_bad_key_file_is_one_line_naming_the_file_not_its_content(tmp_path: Path) -> None:
    path = tmp_path / "dkim.pem"
    path.write_text("s3cret material\n")
    settings = env(
        tmp_path, PAPERFEED_DKIM_PRIVATE_KEY_PATH=str(path), PAPERFEED_DKIM_SELECTOR="pf2026"
    )
    result = runner.invoke(app, ["dkim-record"], env=settings)
    assert result.exit_code == 2
    assert str(path) in result.output
    assert "s3cret" not in result.output
