"""What a starting daemon says about its public URL and ranker (the pure decisions; the real
process is in test_daemon_first_run.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sqlalchemy import Engine

from paperfeed import startup
from paperfeed.config import Settings
from paperfeed.logs import configure_logging
from paperfeed.scheduler import Jobs, tick
from paperfeed.startup import is_loopback, public_address, ranker_summary

SMTP = "smtp://relay.example:587"


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(var_dir=tmp_path / "var", **values)  # type: ignore[arg-type]


def test_unset_public_url_follows_the_port_the_app_listens_on(tmp_path: Path) -> None:
    address = public_address(_settings(tmp_path), host="127.0.0.1", port=8080)
    assert (address.url, address.derived, address.warning) == (
        "http://127.0.0.1:8080",
        True,
        None,  # links to this machine, written to the file outbox: fine for a first run
    )


def test_unset_public_url_on_every_interface_uses_the_machine_name_with_a_warning(
    tmp_path: Path,
) -> None:
    address = public_address(_settings(tmp_path), host="0.0.0.0", port=8080)
    assert address.url == f"http://{socket.gethostname()}:8080"
    assert address.warning is not None
    assert "PAPERFEED_PUBLIC_URL" in address.warning
    assert "every interface" in address.warning


def test_unset_public_url_on_loopback_with_real_mail_warns(tmp_path: Path) -> None:
    address = public_address(_settings(tmp_path, smtp_url=SMTP), host="127.0.0.1", port=8000)
    assert address.url == "http://127.0.0.1:8000"
    assert address.warning is not None
    assert "loopback" in address.warning
    assert "PAPERFEED_SMTP_URL" in address.warning


def test_a_loopback_public_url_with_smtp_warns_once(tmp_path: Path) -> None:
    settings = _settings(tmp_path, public_url="http://localhost:8000", smtp_url=SMTP)
    address = public_address(settings, host="127.0.0.1", port=9000)
    assert (address.url, address.derived) == ("http://localhost:8000", False)
    assert address.warning is not None
    assert "http://localhost:8000" in address.warning
    assert "PAPERFEED_SMTP_URL" in address.warning


def test_a_loopback_public_url_on_every_interface_warns(tmp_path: Path) -> None:
    settings = _settings(tmp_path, public_url="http://127.0.0.1:8000")
    address = public_address(settings, host="::", port=8000)
    assert address.warning is not None
    assert "every interface" in address.warning


@pytest.mark.parametrize(
    ("public_url", "smtp_url", "host"),
    [
        ("https://papers.example.org", SMTP, "0.0.0.0"),
        ("http://127.0.0.1:8000", None, "127.0.0.1"),  # a local trial: nothing to warn about
    ],
)
def test_a_public_url_that_works_is_not_warned_about(
    tmp_path: Path, public_url: str, smtp_url: str | None, host: str
) -> None:
    settings = _settings(tmp_path, public_url=public_url, smtp_url=smtp_url)
    address = public_address(settings, host=host, port=8000)
    assert (address.url, address.warning) == (public_url, None)


def test_ipv6_hosts_are_bracketed_and_loopback_names_are_known() -> None:
    assert public_address(Settings(), host="::1", port=8000).url == "http://[::1]:8000"
    assert [is_loopback(h) for h in ("localhost", "127.0.0.2", "::1", "10.0.0.1", None)] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_the_banner_names_the_ranker_and_offers_hybrid_when_its_extra_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(startup, "semantic_available", lambda: False)
    assert ranker_summary(_settings(tmp_path)) == "lexical"
    monkeypatch.setattr(startup, "semantic_available", lambda: True)
    offered = ranker_summary(_settings(tmp_path))
    assert offered.startswith("lexical")
    assert "PAPERFEED_RANKER=hybrid" in offered
    # Chosen on purpose: nothing to offer.
    assert ranker_summary(_settings(tmp_path, ranker="lexical")) == "lexical"


def test_cron_mode_warns_about_loopback_links_when_it_mails_for_real(
    tmp_path: Path, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json=True)
    settings = _settings(
        tmp_path, database_url=str(engine.url), smtp_url=SMTP, crawl_schedule="0 0 1 1 *"
    )
    capsys.readouterr()
    tick(Jobs(settings, engine))
    err = capsys.readouterr().err
    assert err.count('"config.public_url"') == 1
