"""The parts the jobs run on, built once from the settings: ``Services.from_settings``.

The scheduler (``paperfeed run``), ``paperfeed tick`` and the job commands take their parts
from here instead of each building them: the database engine, the corpus statistics with the
configured ranker (``CorpusCache``), the edition policy, the mail transport factory and the
delivery channels: a factory per delivery kind the outbox registry knows (``email``, chat),
which the send job hands to the outbox.

Building opens no connection to a mail server or Hugging Face. The corpus and the policy are
built on first use, so a command that only sends does not load the ranking code; the
scheduler asks for the corpus at once, so a hybrid ranker without its extra fails at start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Self

from sqlalchemy import Engine

from paperfeed.config import Settings

if TYPE_CHECKING:
    from paperfeed.corpus import CorpusCache
    from paperfeed.digest import EditionPolicy
    from paperfeed.mailer.transport import Transport
    from paperfeed.outbox.channel import Channel

Clock = Callable[[], datetime]
# How the outbox gets a kind's channel: a fresh one per pass (or per pause), closed by it.
ChannelFactory = Callable[[], "Channel"]


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


@dataclass
class Services:
    """One process's parts for the jobs; ``close`` disposes of an engine it opened."""

    settings: Settings
    engine: Engine
    now: Clock = utc_now
    # Delivery kind ("email", "chat") -> a factory opening its channel; the outbox drives them.
    channels: dict[str, ChannelFactory] = field(default_factory=dict)
    _corpus: CorpusCache | None = None
    _policy: EditionPolicy | None = None
    _owns_engine: bool = False

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        engine: Engine | None = None,
        now: Clock = utc_now,
        corpus: CorpusCache | None = None,
    ) -> Services:
        """The parts ``settings`` describe; ``engine`` (else one opened on the configured
        database, checked to be at the newest schema) and ``corpus`` may be given."""
        owns = engine is None
        if engine is None:
            from paperfeed.store.schema import open_store

            engine = open_store(settings.database_url)
        # The registry names its factories without importing them: a channel's code (SMTP,
        # apprise) loads when the outbox first opens it.
        from paperfeed.outbox import registry

        channels: dict[str, ChannelFactory] = {
            kind: partial(registry.open_channel, kind, settings) for kind in registry.kinds()
        }
        if settings.dkim_private_key_path is not None:
            from paperfeed.mailer.dkim_sign import dkim_signer

            dkim_signer(settings)  # read the key now: a bad one stops the start, not a send
        return cls(settings, engine, now=now, channels=channels, _corpus=corpus, _owns_engine=owns)

    @property
    def corpus(self) -> CorpusCache:
        """Term statistics and the configured ranker; hybrid without its extra raises here."""
        if self._corpus is None:
            from paperfeed.corpus import CorpusCache

            self._corpus = CorpusCache.for_settings(self.settings)
        return self._corpus

    @property
    def policy(self) -> EditionPolicy:
        """How editions are composed (look-back, lateness, trending picks, weekly day)."""
        if self._policy is None:
            from paperfeed.digest import EditionPolicy

            self._policy = EditionPolicy.from_settings(self.settings)
        return self._policy

    def mail_transport(self) -> Transport:
        """A new mail transport the settings name (SMTP with its pool and limits, or the file
        outbox), for mail outside the outbox (a test send). Opens no connection until it sends."""
        from paperfeed.mailer.transport_choice import transport_for

        return transport_for(self.settings)

    def close(self) -> None:
        """Dispose of the engine if ``from_settings`` opened it."""
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
