"""The plain values a digest or a confirmation is rendered from.

The sender fills these from the store; the mailer reads nothing else. A ``DayView`` holds
everything subscribers share on one edition day (every paper any of them may get), so it is
compiled once; a ``SubscriberDigest`` holds only what differs per person: who they are, which
of the day's papers they get, in which order, and why. A paper is a ``PaperView``, the same
values chat, feeds and pages show. No database, no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from paperfeed.paper_view import PaperView


@dataclass(frozen=True, slots=True)
class DayView:
    """What all subscribers of one edition day share: the list and the day's papers.

    ``papers`` is the pool every ``SubscriberDigest`` of the day picks from (matched and
    trending alike); each paper is rendered once per day, whoever gets it.
    """

    list_name: str
    local_date: date
    papers: tuple[PaperView, ...]
    archive_url: str
    list_address: str


@dataclass(frozen=True, slots=True)
class Recipient:
    """One subscriber and their token-derived links, all absolute URLs."""

    email: str
    preferences_url: str
    feed_url: str
    unsubscribe_url: str
    unsubscribe_mailto: str | None = None
    name: str | None = None
    interests: str = ""


@dataclass(frozen=True, slots=True)
class Pick:
    """A paper chosen for one subscriber, with the reasons it matched their interests."""

    paper_id: str
    reasons: tuple[str, ...] = ()
    # The paper's place in its stored edition (rank order): its rating links name it.
    position: int | None = None


@dataclass(frozen=True, slots=True)
class SubscriberDigest:
    """One subscriber's edition: their picks in order, then the papers shown as also trending."""

    recipient: Recipient
    picks: tuple[Pick, ...]
    also_trending: tuple[str, ...] = ()
    # ``rating_links.edition_rating_base`` of the edition (one signature per mail): each
    # pick with a position gets "more like this" / "less like this" under it.
    rating_base: str | None = None


@dataclass(frozen=True, slots=True)
class ConfirmationView:
    """What the double-opt-in mail needs: the address asked for and where to confirm it."""

    list_name: str
    list_address: str
    email: str
    confirm_url: str
    # The address gets digests already: the link applies the preferences typed in the form.
    updates_preferences: bool = False


@dataclass(frozen=True, slots=True)
class RenderedMail:
    """A rendered mail body: subject, plain text, HTML, and how many papers were cut."""

    subject: str
    text: str
    html: str
    papers_shown: int = 0
    papers_cut: int = 0
