"""Email as an outbox channel: each parcel becomes a digest mail, the transport sends them.

Rendering is the bulk path (a compiled day per edition date, kept for the channel's life in
a ``DayCache``; the MIME shell built once), so a batch of 500 costs about what it did before
the outbox knew of channels. The transport's answers map to the outbox's outcomes: accepted
is ``SENT`` with the delivery's Message-ID as reference; a 5xx at RCPT is ``UNDELIVERABLE``
(the outbox bounces the subscriber); any other permanent refusal is ``FAILED``; a 4xx, a
lost connection or a paused transport is ``RETRY_LATER`` (``attempted`` False when the
message never reached a server). A parcel whose mail cannot be built (a stored address no
header can carry) fails alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime

import structlog

from paperfeed.config import Settings, secret_key
from paperfeed.errors import MailError
from paperfeed.mailer.edition_mail import (
    DayCache,
    MailSetup,
    delivery_message_id,
    edition_mail,
    mail_setup,
    rating_base,
    recipient_for,
    view_url,
)
from paperfeed.mailer.message import OutgoingMail
from paperfeed.mailer.transport import Outcome as MailOutcome
from paperfeed.mailer.transport import SendResult, Transport
from paperfeed.mailer.transport_choice import transport_for
from paperfeed.outbox.channel import NothingSent, Outcome, Parcel, Result
from paperfeed.rating_links import EditionRatingSigner
from paperfeed.store.deliveries import PaperRow

log = structlog.get_logger("paperfeed.send")

KIND = "email"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class EmailChannel:
    """Digest mails over a ``Transport`` (SMTP or ``.eml`` files)."""

    kind = KIND

    def __init__(
        self,
        settings: Settings,
        transport: Transport,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.setup: MailSetup = mail_setup(settings)
        self.days = DayCache(self.setup)
        self.transport = transport
        self.clock = clock  # the Date header and the rating links' timestamp
        self.rating_signer = EditionRatingSigner(secret_key(settings), clock=clock)
        self.max_attempts = settings.smtp_max_attempts

    @property
    def paused_reason(self) -> str | None:
        return self.transport.paused_reason

    async def deliver(
        self, parcels: Sequence[Parcel], papers: Mapping[str, PaperRow]
    ) -> list[Result]:
        """Build every parcel's mail, send the buildable ones, one result per parcel."""
        results: list[Result | None] = [None] * len(parcels)
        try:
            mails = self._build(parcels, papers, results)
        except Exception as exc:
            raise NothingSent(f"building the mails failed: {exc!r}") from exc
        sent = await self.transport.send([mail for _, mail in mails]) if mails else []
        for (index, _), answer in zip(mails, sent, strict=True):
            results[index] = _result(answer)
        return [r for r in results if r is not None]

    def _build(
        self,
        parcels: Sequence[Parcel],
        papers: Mapping[str, PaperRow],
        results: list[Result | None],
    ) -> list[tuple[int, OutgoingMail]]:
        wanted = {i.paper_id for p in parcels for i in p.content.items}
        missing = self.days.missing(wanted)
        if missing:
            self.days.add_papers({pid: papers[pid] for pid in missing if pid in papers})
        by_date: dict[date, set[str]] = defaultdict(set)
        for parcel in parcels:
            by_date[parcel.content.local_date].update(i.paper_id for i in parcel.content.items)
        compiled = {day: self.days.day(day, ids) for day, ids in by_date.items()}
        now = self.clock()
        mails: list[tuple[int, OutgoingMail]] = []
        for index, parcel in enumerate(parcels):
            try:
                mail = edition_mail(
                    self.setup,
                    compiled[parcel.content.local_date],
                    recipient_for(self.setup, parcel.subscriber),
                    parcel.content,
                    message_id=delivery_message_id(self.setup, parcel.delivery_id),
                    date=now,
                    view=view_url(self.setup, parcel.subscriber, parcel.edition_id),
                    rating=rating_base(
                        self.setup, self.rating_signer, parcel.subscriber, parcel.edition_id
                    ),
                )
            except MailError as exc:
                # One subscriber's bad stored value must not stop everyone else's mail.
                log.error("send.unbuildable", delivery=parcel.delivery_id, error=str(exc))
                results[index] = Result(Outcome.FAILED, f"cannot build the mail: {exc}")
                continue
            mails.append((index, mail))
        return mails

    async def aclose(self) -> None:
        await self.transport.aclose()


def _result(answer: SendResult) -> Result:
    detail = f"{answer.code or ''} {answer.detail}".strip()
    if answer.outcome is MailOutcome.ACCEPTED:
        return Result(Outcome.SENT, detail, reference=answer.message_id)
    if answer.outcome is MailOutcome.REJECTED and answer.bounced:
        return Result(Outcome.UNDELIVERABLE, f"bounced: {detail}")
    if answer.outcome is MailOutcome.REJECTED:
        return Result(Outcome.FAILED, f"refused: {detail}")
    if answer.attempts == 0:
        return Result(Outcome.RETRY_LATER, detail or "not tried", attempted=False)
    return Result(Outcome.RETRY_LATER, detail)


def email_channel(settings: Settings) -> EmailChannel:
    """The email channel over the transport the settings name (the registry's factory)."""
    return EmailChannel(settings, transport_for(settings))
