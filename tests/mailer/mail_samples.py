"""Fixed sample values for the mailer tests: papers, subscribers, digests, a parser."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from paperfeed.mailer.smtp import SmtpConfig
from paperfeed.mailer.views import DayView, Pick, Recipient, SubscriberDigest
from paperfeed.paper_view import PaperView, paper_view
from paperfeed.store.deliveries import PaperRow

NOW = datetime(2025, 6, 3, 5, 0, tzinfo=UTC)
DAY = date(2025, 6, 3)


def make_row(i: int, **changes: Any) -> PaperRow:
    """A fixed, plausible stored paper; ``i`` varies ids, counts and lengths."""
    values: dict[str, Any] = {
        "arxiv_id": f"2506.{i:05d}",
        "title": f"Scaling Sparse Mixture-of-Experts for Video Diffusion, part {i}",
        "abstract": "We study how sparse experts scale for video generation. " * 8,
        "authors": tuple(f"Author {chr(65 + j)}. Müller-{j}" for j in range(1 + i % 7)),
        "github_repo": f"https://github.com/lab/repo-{i}" if i % 2 else None,
        "github_stars": 1500 + 10 * i if i % 2 else None,
        "ai_summary": "Sparse experts make video diffusion cheaper." if i % 3 == 0 else None,
        "upvotes": 120 - i,
        "comments": i % 4,
    }
    values.update(changes)
    return PaperRow(**values)


def make_paper(i: int, **changes: Any) -> PaperView:
    """The view of ``make_row(i, **changes)``, as the sender builds it."""
    row = make_row(i, **changes)
    return paper_view(row, upvotes=row.upvotes, comments=row.comments)


def make_day() -> DayView:
    """An edition day of 16 papers, the first with a hostile title."""
    papers = [make_paper(i) for i in range(16)]
    papers[0] = make_paper(0, title="<script>alert('x')</script> Attention & Retention")
    return DayView(
        list_name="paperfeed",
        local_date=DAY,
        papers=tuple(papers),
        archive_url="https://paperfeed.example/archive/2025-06-03",
        list_address="paperfeed@example.org",
    )


def make_recipient(email: str = "ada@example.com", **changes: Any) -> Recipient:
    token = email.split("@")[0]
    values: dict[str, Any] = {
        "email": email,
        "name": "Ada Lovelace",
        "interests": "video diffusion, mixture of experts",
        "preferences_url": f"https://paperfeed.example/preferences/{token}",
        "feed_url": f"https://paperfeed.example/feeds/{token}.atom",
        "unsubscribe_url": f"https://paperfeed.example/unsubscribe/{token}",
        "unsubscribe_mailto": f"mailto:unsubscribe@example.org?subject=unsubscribe%20{token}",
    }
    values.update(changes)
    return Recipient(**values)


def make_digest(recipient: Recipient, *, picks: int = 5, trending: int = 3) -> SubscriberDigest:
    return SubscriberDigest(
        recipient=recipient,
        picks=tuple(
            Pick(f"2506.{i:05d}", (f'interest "video" in the title ({i})',)) for i in range(picks)
        ),
        also_trending=tuple(f"2506.{i:05d}" for i in range(10, 10 + trending)),
    )


def parse(data: bytes) -> EmailMessage:
    """A received message, parsed with the modern email API."""
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body(message: EmailMessage, kind: str) -> str:
    """The decoded content of the message's ``plain`` or ``html`` part."""
    part = message.get_body((kind,))
    assert part is not None, f"no {kind} part"
    content: str = part.get_content()
    return content


@dataclass
class Server:
    """A running test SMTP server: where it listens and what its handler saw."""

    host: str
    port: int
    handler: Any

    def config(self, **changes: Any) -> SmtpConfig:
        return SmtpConfig(hostname=self.host, port=self.port, start_tls=False, timeout=5, **changes)
