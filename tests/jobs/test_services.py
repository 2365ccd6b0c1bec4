"""Services: the parts every job runs on, built once from the settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from paperfeed.config import Settings
from paperfeed.digest import EditionPolicy
from paperfeed.errors import MissingExtra
from paperfeed.jobs.compose import compose
from paperfeed.jobs.send import send
from paperfeed.mailer.email_channel import EmailChannel
from paperfeed.mailer.files import FileTransport
from paperfeed.outbox import registry
from paperfeed.scheduler import Jobs
from paperfeed.services import Services
from paperfeed.store import migrate
from paperfeed.store.db import make_engine


def test_services_hold_the_configured_policy_one_corpus_and_every_channel(
    settings: Settings, engine: Engine
) -> None:
    services = Services.from_settings(settings, engine=engine)
    assert services.policy == EditionPolicy.from_settings(settings)
    assert services.corpus is services.corpus  # built once, shared by every job
    assert services.corpus.hybrid is None  # the lexical ranker is the default
    # One channel per kind the outbox registry knows; opening one connects nowhere yet.
    assert list(services.channels) == list(registry.kinds())
    assert {"email", "chat"} <= set(services.channels)
    channel = services.channels["email"]()
    assert isinstance(channel, EmailChannel)
    # Without PAPERFEED_SMTP_URL mail goes to .eml files in the outbox folder.
    assert isinstance(channel.transport, FileTransport)
    assert isinstance(services.mail_transport(), FileTransport)


def test_closing_services_disposes_only_an_engine_they_opened(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'paperfeed.db'}"
    settings = Settings(var_dir=tmp_path / "var", database_url=url)  # type: ignore[arg-type]
    given = make_engine(settings.database_url)
    migrate.upgrade(given)
    with Services.from_settings(settings, engine=given) as services:
        assert services.engine is given
    with given.connect() as connection:  # still the caller's, and still usable
        assert connection.execute(text("SELECT 1")).scalar() == 1
    with Services.from_settings(settings) as opened:
        assert opened.engine is not given
        assert opened.engine.url == given.url
    given.dispose()


def test_a_hybrid_ranker_without_its_extra_stops_the_scheduler_at_start_but_not_a_send(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> None:
        raise MissingExtra("install paperfeed[semantic]")

    monkeypatch.setattr("paperfeed.corpus.require_semantic", missing)
    hybrid = settings.model_copy(update={"ranker": "hybrid"})
    # The daemon builds its jobs before it serves: a ranker it cannot run fails there, once.
    with pytest.raises(MissingExtra):
        Jobs(hybrid, engine)
    # A send needs no ranking: it runs; composing is where the extra is asked for.
    services = Services.from_settings(hybrid, engine=engine)
    summary = send(services, worker="test")
    assert summary.ok
    with pytest.raises(MissingExtra):
        compose(services)
