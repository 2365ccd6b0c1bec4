"""What sending reads: edition contents, subscribers, chat addresses and papers, in bulk.

Each load is one query per chunk of ids, so a batch costs a few statements whatever its
size. The ledger (claim, lease, mark) is ``paperfeed.outbox.ledger``; these are the plain
rows a channel builds its messages from. Knows nothing of email or chat.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Table, Text, cast, func
from sqlalchemy import select as sa_select
from sqlmodel import Session

from paperfeed.store.models import (
    ChannelAddress,
    ChannelAddressStatus,
    Edition,
    EditionPaper,
    Frequency,
    Listing,
    Paper,
    Subscriber,
    SubscriberStatus,
)

CHUNK = 500
_ADDRESS: Table = ChannelAddress.__table__  # type: ignore[attr-defined]
_EDITION: Table = Edition.__table__  # type: ignore[attr-defined]
_EDITION_PAPER: Table = EditionPaper.__table__  # type: ignore[attr-defined]
_SUBSCRIBER: Table = Subscriber.__table__  # type: ignore[attr-defined]
_PAPER: Table = Paper.__table__  # type: ignore[attr-defined]
_LISTING: Table = Listing.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class EditionItem:
    """One paper of an edition, in its section and rank, with why it was chosen."""

    paper_id: str
    section: str
    rank: int
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EditionContent:
    """An edition's local date and its papers in rank order."""

    local_date: date
    items: tuple[EditionItem, ...]


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    """What sending needs of a subscriber, and whether they still receive digests.

    ``email`` is None for a team digest (``name`` says which team); ``email_digest`` False
    means the subscriber reads only through chat addresses.
    """

    id: int
    email: str | None
    token: str
    interests: str
    receiving: bool
    feed_token: str  # the personal feed's own key (never the account token above)
    name: str | None = None
    email_digest: bool = True

    @property
    def reads_email(self) -> bool:
        """Whether email deliveries reach this subscriber (an address, and wanted)."""
        return self.email is not None and self.email_digest


@dataclass(frozen=True, slots=True)
class AddressRow:
    """A chat address as sending sees it; ``url`` holds the service's secret: never log it."""

    id: int
    subscriber_id: int
    kind: str
    service: str
    url: str
    shown: str
    active: bool


@dataclass(frozen=True, slots=True)
class PaperRow:
    """What a digest shows of a paper, with its best upvote and comment counts."""

    arxiv_id: str
    title: str
    abstract: str
    authors: tuple[str, ...]
    github_repo: str | None
    github_stars: int | None
    ai_summary: str | None
    upvotes: int
    comments: int


def _chunks(items: Sequence[int], size: int = CHUNK) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def edition_contents(session: Session, edition_ids: Sequence[int]) -> dict[int, EditionContent]:
    """Each edition's local date and papers (rank order): one row per edition, one query."""
    edition, item = _EDITION.c, _EDITION_PAPER.c
    # A batch's editions hold thousands of papers. Fetching them as rows and decoding each
    # JSON ``reasons`` through the driver costs more than the query; the database packs each
    # edition's papers into one JSON array instead, and one json.loads reads them all.
    if session.get_bind().dialect.name == "postgresql":
        packed = func.json_agg(
            func.json_build_array(item.paper_id, item.section, item.rank, item.reasons)
        )
    else:
        packed = func.json_group_array(
            func.json_array(item.paper_id, item.section, item.rank, func.json(item.reasons))
        )
    found: dict[int, EditionContent] = {}
    for chunk in _chunks(sorted(set(edition_ids))):
        rows = session.execute(
            sa_select(edition.id, edition.local_date, cast(packed, Text))
            .select_from(_EDITION.outerjoin(_EDITION_PAPER, item.edition_id == edition.id))
            .where(edition.id.in_(chunk))
            .group_by(edition.id, edition.local_date)
        ).all()
        papers = json.loads("[" + ",".join(r[2] for r in rows) + "]")
        for (edition_id, local_date, _), listed in zip(rows, papers, strict=True):
            items = sorted(
                (
                    EditionItem(pid, section, int(rank), tuple(reasons or ()))
                    for pid, section, rank, reasons in listed
                    if pid is not None  # an edition without papers packs one all-null entry
                ),
                key=lambda i: i.rank,
            )
            found[int(edition_id)] = EditionContent(local_date, tuple(items))
    return found


def sending_subscribers(
    session: Session, subscriber_ids: Sequence[int]
) -> dict[int, SubscriberRow]:
    """The subscribers of a batch; ``receiving`` is False once they left, bounced or paused."""
    s = _SUBSCRIBER.c
    out: dict[int, SubscriberRow] = {}
    for chunk in _chunks(sorted(set(subscriber_ids))):
        rows = session.execute(
            sa_select(
                s.id,
                s.email,
                s.token,
                s.interests,
                s.status,
                s.paused,
                s.frequency,
                s.feed_token,
                s.name,
                s.email_digest,
            ).where(s.id.in_(chunk))
        ).all()
        for sid, email, token, interests, status, paused, frequency, feed, name, by_mail in rows:
            # The same test compose applies (editions.receiving_subscribers): whoever stopped
            # receiving after their edition was composed gets nothing from it, on any channel.
            receiving = (
                status == SubscriberStatus.ACTIVE and not paused and frequency != Frequency.OFF
            )
            out[int(sid)] = SubscriberRow(
                int(sid), email, token, interests, receiving, feed, name, bool(by_mail)
            )
    return out


def channel_addresses(session: Session, address_ids: Iterable[int]) -> dict[int, AddressRow]:
    """The chat addresses with these ids (absent: removed since compose)."""
    a = _ADDRESS.c
    out: dict[int, AddressRow] = {}
    for chunk in _chunks(sorted(set(address_ids))):
        rows = session.execute(
            sa_select(a.id, a.subscriber_id, a.kind, a.service, a.url, a.shown, a.status).where(
                a.id.in_(chunk)
            )
        ).all()
        for aid, sid, kind, service, url, shown, status in rows:
            out[int(aid)] = AddressRow(
                int(aid), int(sid), kind, service, url, shown, status == ChannelAddressStatus.ACTIVE
            )
    return out


def digest_papers(session: Session, paper_ids: Iterable[str]) -> dict[str, PaperRow]:
    """The papers with these ids, with their highest upvotes and comments on any daily list."""
    wanted = sorted(set(paper_ids))
    out: dict[str, PaperRow] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        votes = {
            pid: (int(up or 0), int(co or 0))
            for pid, up, co in session.execute(
                sa_select(
                    _LISTING.c.paper_id, func.max(_LISTING.c.upvotes), func.max(_LISTING.c.comments)
                )
                .where(_LISTING.c.kind == "daily", _LISTING.c.paper_id.in_(chunk))
                .group_by(_LISTING.c.paper_id)
            ).all()
        }
        rows = session.execute(
            sa_select(
                _PAPER.c.arxiv_id,
                _PAPER.c.title,
                _PAPER.c.abstract,
                _PAPER.c.authors,
                _PAPER.c.github_repo,
                _PAPER.c.github_stars,
                _PAPER.c.ai_summary,
            ).where(_PAPER.c.arxiv_id.in_(chunk))
        ).all()
        for pid, title, abstract, authors, repo, stars, summary in rows:
            up, co = votes.get(pid, (0, 0))
            out[pid] = PaperRow(
                pid, title, abstract or "", tuple(authors or ()), repo, stars, summary, up, co
            )
    return out


def find_edition(
    session: Session, *, subscriber_id: int | None = None, local_date: date | None = None
) -> tuple[int, int] | None:
    """(edition id, subscriber id) of the newest edition matching the filters, if any."""
    query = sa_select(_EDITION.c.id, _EDITION.c.subscriber_id)
    if subscriber_id is not None:
        query = query.where(_EDITION.c.subscriber_id == subscriber_id)
    if local_date is not None:
        query = query.where(_EDITION.c.local_date == local_date)
    row = session.execute(
        query.order_by(_EDITION.c.local_date.desc(), _EDITION.c.id.desc()).limit(1)
    ).first()
    return (int(row[0]), int(row[1])) if row is not None else None
