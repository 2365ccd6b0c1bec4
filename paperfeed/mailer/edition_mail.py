"""Stored editions as mails: store rows to views, compiled days kept per run, one mail each.

``MailSetup`` holds what every mail of a run shares (sender, MIME shell, links, list name);
``DayCache`` compiles an edition day once and compiles it again only when a later batch
needs a paper the compiled day lacks; ``edition_mail`` fills one subscriber's digest and
builds its bytes with the deterministic Message-ID of its delivery. Reads no database
itself: callers pass rows from ``store.deliveries``. Knows nothing of SMTP.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from operator import attrgetter
from urllib.parse import quote

from paperfeed import links
from paperfeed.config import Settings, secret_key
from paperfeed.mailer.bulk import MessageShell, compile_shell, digest_mail
from paperfeed.mailer.message import (
    OutgoingMail,
    Sender,
    install_tag,
    make_message_id,
    make_sender,
)
from paperfeed.mailer.render import CompiledDay, compile_day, render_digest
from paperfeed.mailer.views import (
    DayView,
    Pick,
    Recipient,
    RenderedMail,
    SubscriberDigest,
)
from paperfeed.paper_view import PaperView, paper_view
from paperfeed.rating_links import EditionRatingSigner, edition_rating_base
from paperfeed.store.deliveries import EditionContent, PaperRow, SubscriberRow

MATCHED = "matched"
_RANK = attrgetter("rank")


@dataclass(frozen=True, slots=True)
class MailSetup:
    """What every digest of a run shares, built once from the settings."""

    sender: Sender
    shell: MessageShell
    public_url: str
    list_name: str
    list_address: str
    unsubscribe_mailbox: str
    max_html_bytes: int


def mail_setup(settings: Settings) -> MailSetup:
    """The sender, MIME shell and link bases the settings describe."""
    sender = make_sender(
        settings.mail_from,
        list_name=settings.list_name,
        list_id=settings.list_id,
        envelope_from=settings.bounce_address,
        install=install_tag(secret_key(settings)),
    )
    return MailSetup(
        sender=sender,
        shell=compile_shell(sender),
        public_url=settings.public_url,
        list_name=settings.list_name,
        list_address=settings.list_address or sender.address.addr_spec,
        unsubscribe_mailbox=settings.unsubscribe_mailto or f"unsubscribe@{sender.domain}",
        max_html_bytes=settings.mail_max_html_bytes,
    )


def recipient_for(
    setup: MailSetup, subscriber: SubscriberRow, *, address: str | None = None
) -> Recipient:
    """A subscriber's recipient: their address (or ``address``) and their token's links."""
    token = quote(subscriber.token, safe="")
    base = setup.public_url
    return Recipient(
        # A team digest has no email: it never gets here (the outbox cancels such a
        # delivery), and an empty address is refused when the mail is built.
        email=address or subscriber.email or "",
        preferences_url=links.preferences_url(base, token),
        # The feed's own read-only key: feed URLs get pasted into readers and OPML files.
        feed_url=links.personal_feed_url(base, quote(subscriber.feed_token, safe=""), "rss"),
        unsubscribe_url=links.unsubscribe_url(base, token),
        unsubscribe_mailto=f"mailto:{setup.unsubscribe_mailbox}?subject=unsubscribe%20{token}",
        interests=subscriber.interests,
    )


def subscriber_digest(
    recipient: Recipient, content: EditionContent, *, rating_base: str | None = None
) -> SubscriberDigest:
    """The edition's matched papers as picks (rank order, with reasons and their position,
    which their rating links name), the rest as trending."""
    picks: list[Pick] = []
    trending: list[str] = []
    # One pass over the items (a C-level sort key): this runs for every mail sent.
    for n, i in enumerate(sorted(content.items, key=_RANK)):
        if i.section == MATCHED:
            picks.append(Pick(i.paper_id, i.reasons, n))
        else:
            trending.append(i.paper_id)
    return SubscriberDigest(
        recipient=recipient,
        picks=tuple(picks),
        also_trending=tuple(trending),
        rating_base=rating_base,
    )


class DayCache:
    """Compiled edition days of one run, and the papers they are built from."""

    def __init__(self, setup: MailSetup) -> None:
        self.setup = setup
        self.compiles = 0
        self._papers: dict[str, PaperView] = {}
        self._days: dict[date, CompiledDay] = {}

    def missing(self, paper_ids: Iterable[str]) -> set[str]:
        """Which of these papers the cache has not loaded yet."""
        return {pid for pid in paper_ids if pid not in self._papers}

    def add_papers(self, rows: Mapping[str, PaperRow]) -> None:
        """Keep these papers for the days compiled from now on."""
        self._papers.update(
            (pid, paper_view(row, upvotes=row.upvotes, comments=row.comments))
            for pid, row in rows.items()
        )

    def day(self, local_date: date, paper_ids: Iterable[str]) -> CompiledDay:
        """The compiled day for ``local_date`` holding at least ``paper_ids``."""
        needed = set(paper_ids)
        compiled = self._days.get(local_date)
        if compiled is not None and needed <= compiled.papers.keys():
            return compiled
        pool = needed | (set(compiled.papers) if compiled is not None else set())
        view = DayView(
            list_name=self.setup.list_name,
            local_date=local_date,
            # A fixed order, so the same papers always compile to the same HTML.
            papers=tuple(self._papers[pid] for pid in sorted(pool)),
            archive_url=links.archive_url(self.setup.public_url, local_date),
            list_address=self.setup.list_address,
        )
        compiled = compile_day(view)
        self.compiles += 1
        self._days[local_date] = compiled
        return compiled


def view_url(setup: MailSetup, subscriber: SubscriberRow, edition_id: int) -> str:
    """The edition's page, the digest's "view in your browser" link (the token's, like
    the preferences link)."""
    return links.edition_url(setup.public_url, quote(subscriber.token, safe=""), edition_id)


def rating_base(
    setup: MailSetup, signer: EditionRatingSigner, subscriber: SubscriberRow, edition_id: int
) -> str | None:
    """The edition's rating links' shared part, or None for a team digest (its mail would
    let anyone on the list rate for the team, whose settings no one changes from the web)."""
    if subscriber.email is None:
        return None
    return edition_rating_base(setup.public_url, signer, edition_id)


def render_edition(
    setup: MailSetup,
    compiled: CompiledDay,
    recipient: Recipient,
    content: EditionContent,
    *,
    view: str | None = None,
    rating: str | None = None,
) -> RenderedMail:
    """One subscriber's edition rendered (subject, text, HTML) from its compiled day;
    ``view`` is its page (``view_url``), ``rating`` its ``rating_base``."""
    return render_digest(
        compiled,
        subscriber_digest(recipient, content, rating_base=rating),
        max_html_bytes=setup.max_html_bytes,
        view_url=view,
    )


def delivery_message_id(setup: MailSetup, delivery_id: int) -> str:
    """The Message-ID of a delivery: the same on every resend, so duplicates are recognisable."""
    return make_message_id(
        "delivery", delivery_id, domain=setup.sender.domain, install=setup.sender.install
    )


def edition_mail(
    setup: MailSetup,
    compiled: CompiledDay,
    recipient: Recipient,
    content: EditionContent,
    *,
    message_id: str,
    date: datetime,
    view: str | None = None,
    rating: str | None = None,
) -> OutgoingMail:
    """One digest as bytes ready for any transport; ``view`` is the edition's page,
    ``rating`` its ``rating_base``."""
    rendered = render_edition(setup, compiled, recipient, content, view=view, rating=rating)
    return digest_mail(setup.shell, rendered, recipient, message_id=message_id, date=date)
