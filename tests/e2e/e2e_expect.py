"""What each reader should receive, worked out from the calendar alone (no paperfeed code).

The rules are the README's: a list settles at the first crawl ``settle_hours`` after its
day ended (UTC); a reader's edition comes at their send hour in their time zone (composed by
the first daemon start at or after it, never more than ``max_lateness`` late) and holds the
lists that settled since their previous edition, at most ``lookback_days`` before its date;
an edition with nothing new is not mailed. Confirming starts editions from the next start
on; unsubscribing stops them from the next start on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Slot:
    """One daemon start of the scenario: its number and its simulated moment (UTC)."""

    index: int
    at: datetime


@dataclass
class Reader:
    """One of the scenario's subscribers and what happens to them."""

    email: str
    zone: str
    hour: int
    interests: str
    confirms: bool
    leaves_in: int | None = None  # the slot during which they unsubscribe (after its mail)
    confirmed_in: int | None = None  # the slot during which they confirmed
    token: str = ""
    mails_before_leaving: int | None = None  # mails the server had when they left


@dataclass(frozen=True)
class ExpectedDigest:
    """A digest a reader must get: in which slot, for which local date, covering which days."""

    slot: int
    local_date: date
    days: frozenset[date]


def send_moment(zone: str, hour: int, local_date: date) -> datetime:
    """The UTC moment of ``hour`` o'clock on ``local_date`` in ``zone``."""
    return datetime.combine(local_date, time(hour), ZoneInfo(zone)).astimezone(UTC)


def send_moments(zone: str, hour: int, first: date, last: date) -> list[datetime]:
    """The reader's send moments for local dates ``first`` .. ``last``."""
    return [
        send_moment(zone, hour, first + timedelta(days=n)) for n in range((last - first).days + 1)
    ]


def due_date(zone: str, hour: int, at: datetime, max_lateness: timedelta) -> date | None:
    """The newest local date whose send moment has come by ``at`` (None if too late)."""
    today = at.astimezone(ZoneInfo(zone)).date()
    for local_date in (today, today - timedelta(days=1)):
        moment = send_moment(zone, hour, local_date)
        if moment <= at:
            return local_date if at - moment <= max_lateness else None
    return None


def settled_in(days: list[date], slots: list[Slot], settle_hours: int) -> dict[date, int]:
    """For each listing day, the slot whose crawl settles it (the first one late enough)."""
    found: dict[date, int] = {}
    for day in days:
        settles = datetime.combine(day + timedelta(days=1), time(0), UTC) + timedelta(
            hours=settle_hours
        )
        later = [s.index for s in slots if s.at >= settles]
        if later:
            found[day] = later[0]
    return found


def expected_digests(
    reader: Reader,
    slots: list[Slot],
    settled: dict[date, int],
    *,
    lookback_days: int,
    max_lateness: timedelta,
) -> list[ExpectedDigest]:
    """The digests ``reader`` must receive, in order; none for one who never confirmed."""
    if reader.confirmed_in is None:
        return []
    digests: list[ExpectedDigest] = []
    composed: set[date] = set()
    previous: int | None = None
    for slot in slots:
        if slot.index <= reader.confirmed_in:
            continue
        if reader.leaves_in is not None and slot.index > reader.leaves_in:
            break
        local_date = due_date(reader.zone, reader.hour, slot.at, max_lateness)
        if local_date is None or local_date in composed:
            continue
        earliest = local_date - timedelta(days=lookback_days)
        days = frozenset(
            day
            for day, index in settled.items()
            if index <= slot.index
            and (previous is None or index > previous)
            and earliest <= day <= local_date
        )
        composed.add(local_date)
        previous = slot.index  # an edition with nothing new still counts as the previous one
        if days:
            digests.append(ExpectedDigest(slot.index, local_date, days))
    return digests
