"""``paperfeed status``: how the mail is received — bounce and complaint rates.

Rates are reports (from the webhooks and the bounce mailbox) over the email digests the
server accepted in the same window. Gmail asks bulk senders to keep complaints under 0.1%
and enforces 0.3%: the complaint line says when a rate passes either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from paperfeed.cli_base import open_database, out, utc_now

if TYPE_CHECKING:
    from paperfeed.store.ops_queries import MailRates

GMAIL_COMPLAINT_LIMIT = 0.003
GMAIL_COMPLAINT_TARGET = 0.001


def status(
    days: Annotated[
        int, typer.Option(min=1, max=365, help="The window, in days, ending now.")
    ] = 30,
) -> None:
    """Show the bounce and complaint rates of the email sent in the last 30 days (--days)."""
    from paperfeed.store.db import session_scope
    from paperfeed.store.ops_queries import mail_rates

    with open_database() as engine, session_scope(engine) as session:
        rates = mail_rates(session, now=utc_now(), days=days)
    for line in status_lines(rates):
        out.print(line, highlight=False, soft_wrap=True)


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.2f}%"


def complaint_flag(rate: float | None) -> str:
    """What Gmail makes of a complaint rate, or nothing while it is fine."""
    if rate is not None and rate >= GMAIL_COMPLAINT_LIMIT:
        return "  OVER Gmail's 0.3% limit: Gmail rejects or spam-folders mail from senders over it"
    if rate is not None and rate >= GMAIL_COMPLAINT_TARGET:
        return "  above Gmail's 0.1% target (its limit is 0.3%)"
    return ""


def status_lines(rates: MailRates) -> list[str]:
    """The report, one line each: what was sent, then each kind's count and rate."""
    lines = [f"email digests sent in the last {rates.days} days: {rates.sent:,}"]
    for label, count, flag in (
        ("hard bounces", rates.hard_bounces, ""),
        ("soft bounces", rates.soft_bounces, ""),
        ("complaints", rates.complaints, complaint_flag(rates.rate(rates.complaints))),
    ):
        lines.append(f"{label:<13} {count:>7,}  {_percent(rates.rate(count)):>7}{flag}")
    return lines
