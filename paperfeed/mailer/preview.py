"""Digests for people to look at: one subscriber's edition as files, or one sent to a test address.

``preview_digest`` renders a subscriber's stored edition for a date (or their newest). When
there is none, it composes one inside a transaction that it then rolls back, so the preview
is exactly what compose would pick and the store is left as it was. ``send_test`` sends the
newest edition (of one subscriber, or of anyone) to another address, with links carrying a
dummy token so that a click cannot unsubscribe the real reader; no delivery is touched.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import cast

from sqlalchemy import Engine
from sqlmodel import Session

from paperfeed.config import Settings
from paperfeed.corpus import CorpusCache
from paperfeed.digest import EditionPolicy, compose_due, local_today
from paperfeed.errors import InputError
from paperfeed.mailer.bulk import digest_mail
from paperfeed.mailer.edition_mail import (
    DayCache,
    MailSetup,
    mail_setup,
    recipient_for,
    render_edition,
    view_url,
)
from paperfeed.mailer.message import make_message_id
from paperfeed.mailer.transport import SendResult, Transport
from paperfeed.mailer.views import Recipient, RenderedMail
from paperfeed.store.db import session_scope
from paperfeed.store.deliveries import (
    SubscriberRow,
    digest_papers,
    edition_contents,
    find_edition,
    sending_subscribers,
)
from paperfeed.store.models import Subscriber
from paperfeed.store.subscribers import find_by_email, normalise_email

# A placeholder in test mails' links, not a secret: it matches no subscriber.
TEST_TOKEN = "test-mail"  # noqa: S105
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9@._+-]+")


@dataclass(frozen=True, slots=True)
class RenderedEdition:
    """An edition rendered for someone: whose, which date, the mail, and how it came about."""

    email: str
    local_date: date
    rendered: RenderedMail
    recipient: Recipient
    papers: int
    composed_for_preview: bool = False


def _render(
    session: Session,
    setup: MailSetup,
    edition_id: int,
    subscriber_id: int,
    *,
    address: str | None = None,
    token: str | None = None,
) -> RenderedEdition:
    content = edition_contents(session, [edition_id])[edition_id]
    subscriber = sending_subscribers(session, [subscriber_id])[subscriber_id]
    if token is not None:
        subscriber = SubscriberRow(
            subscriber.id,
            subscriber.email,
            token,
            subscriber.interests,
            subscriber.receiving,
            token,
        )
    days = DayCache(setup)
    days.add_papers(digest_papers(session, [i.paper_id for i in content.items]))
    compiled = days.day(content.local_date, [i.paper_id for i in content.items])
    recipient = recipient_for(setup, subscriber, address=address)
    return RenderedEdition(
        email=subscriber.email or subscriber.name or "",  # a team digest has a name
        local_date=content.local_date,
        rendered=render_edition(
            setup, compiled, recipient, content, view=view_url(setup, subscriber, edition_id)
        ),
        recipient=recipient,
        papers=len(content.items),
    )


def preview_digest(
    engine: Engine,
    settings: Settings,
    *,
    email: str,
    now: datetime,
    local_date: date | None = None,
    corpus: CorpusCache | None = None,
) -> RenderedEdition:
    """A subscriber's edition for ``local_date`` (default: their newest, or today's as composed)."""
    address = normalise_email(email)
    setup = mail_setup(settings)
    with session_scope(engine) as session:
        subscriber = find_by_email(session, address)
        if subscriber is None or subscriber.id is None:
            raise InputError(f"{address} is not subscribed; check `paperfeed subscribers list`")
        found = find_edition(session, subscriber_id=subscriber.id, local_date=local_date)
        if found is not None:
            return _render(session, setup, *found)
    day = local_date or local_today(subscriber.timezone, now)
    return _compose_and_render(engine, settings, setup, subscriber, day, now, corpus)


def _compose_and_render(
    engine: Engine,
    settings: Settings,
    setup: MailSetup,
    subscriber: Subscriber,
    day: date,
    now: datetime,
    corpus: CorpusCache | None,
) -> RenderedEdition:
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            # Sessions bound to a connection inside a transaction never commit it
            # (SQLAlchemy's default join mode), so everything compose writes is undone below.
            compose_due(
                cast(Engine, connection),
                now=now,
                policy=EditionPolicy.from_settings(settings),
                # The configured ranker (PAPERFEED_RANKER), as compose uses.
                corpus=corpus or CorpusCache.for_settings(settings),
                email=subscriber.email or subscriber.name or "",  # a team digest has a name
                local_date=day,
            )
            with Session(connection) as session:
                found = find_edition(session, subscriber_id=subscriber.id, local_date=day)
                if found is None:
                    state = subscriber.status + (", paused" if subscriber.paused else "")
                    raise InputError(
                        f"{subscriber.email} has no edition for {day} and compose would make "
                        f"none: they are {state} (frequency {subscriber.frequency}); only "
                        "active, unpaused subscribers get editions"
                    )
                preview = _render(session, setup, *found)
        finally:
            transaction.rollback()
    return dataclasses.replace(preview, composed_for_preview=True)


def write_preview(preview: RenderedEdition, out_dir: Path) -> tuple[Path, Path]:
    """Write ``<email>-<date>.html`` and ``.txt`` into ``out_dir``; returns both paths."""
    stem = f"{_UNSAFE_FILE_CHARS.sub('_', preview.email)}-{preview.local_date.isoformat()}"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        html = out_dir / f"{stem}.html"
        text = out_dir / f"{stem}.txt"
        html.write_text(preview.rendered.html, encoding="utf-8")
        text.write_text(preview.rendered.text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write the preview to {out_dir}: {exc.strerror}") from exc
    return html, text


@dataclass(frozen=True, slots=True)
class TestSend:
    """What a test send did: which edition went to which address, and the transport's word."""

    to: str
    edition: RenderedEdition
    message_id: str
    result: SendResult


async def send_test(
    engine: Engine,
    settings: Settings,
    *,
    transport: Transport,
    to: str,
    now: datetime,
    email: str | None = None,
) -> TestSend:
    """Send the newest edition (of ``email``, or of anyone) to ``to``; no delivery changes."""
    address = normalise_email(to)
    setup = mail_setup(settings)
    with session_scope(engine) as session:
        subscriber_id = None
        if email is not None:
            subscriber = find_by_email(session, normalise_email(email))
            if subscriber is None:
                raise InputError(f"{email} is not subscribed; check `paperfeed subscribers list`")
            subscriber_id = subscriber.id
        found = find_edition(session, subscriber_id=subscriber_id)
        if found is None:
            raise InputError(
                "there is no edition to send yet; run `paperfeed compose` first"
                + (f" (or `paperfeed compose --subscriber {email}`)" if email else "")
            )
        edition = _render(session, setup, *found, address=address, token=TEST_TOKEN)
    message_id = make_message_id(
        "test",
        found[0],
        int(now.timestamp()),
        domain=setup.sender.domain,
        install=setup.sender.install,
    )
    mail = digest_mail(
        setup.shell, edition.rendered, edition.recipient, message_id=message_id, date=now
    )
    [result] = await transport.send([mail])
    return TestSend(address, edition, message_id, result)
