"""Team digests: a named interest profile whose only way to receive is a chat address.

A team is a ``Subscriber`` with a ``name``, no email and ``email_digest`` off, active from
the start (the operator adds it, there is no one to confirm), and one or more
``ChannelAddress`` rows. Everything else (editions, the outbox, unsubscribing) treats it as
any subscriber.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from paperfeed.errors import InputError
from paperfeed.store.channel_addresses import add_address
from paperfeed.store.models import ChannelAddress, Subscriber, SubscriberStatus
from paperfeed.store.subscribers import check_preferences, check_timezone, new_token

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


def check_team_name(raw: str) -> str:
    """A team name: 1 to 64 letters, digits, spaces, dots, dashes or underscores."""
    name = raw.strip()
    if not _NAME.match(name):
        raise InputError(
            "a team name is 1 to 64 letters, digits, spaces, '.', '-' or '_', "
            "starting with a letter or digit"
        )
    return name


def find_team(session: Session, name: str) -> Subscriber | None:
    """The team digest called ``name``, if any."""
    return session.exec(select(Subscriber).where(Subscriber.name == name.strip())).first()


def create_team(
    session: Session,
    *,
    name: str,
    url: str,
    interests: str,
    now: datetime,
    timezone: str = "UTC",
    send_hour: int = 7,
    frequency: str = "daily",
    max_papers: int = 10,
    kind: str = "chat",
) -> tuple[Subscriber, ChannelAddress]:
    """Add a team digest posting to ``url``; a taken name or an unusable URL is refused."""
    team_name = check_team_name(name)
    check_preferences(send_hour=send_hour, frequency=frequency, interests=interests)
    if not 1 <= max_papers <= 100:
        raise InputError(f"max papers {max_papers} is not between 1 and 100")
    if find_team(session, team_name) is not None:
        raise InputError(f"a team called {team_name!r} exists already")
    team = Subscriber(
        name=team_name,
        email=None,
        email_digest=False,
        status=SubscriberStatus.ACTIVE,
        interests=interests,
        timezone=check_timezone(timezone),
        send_hour=send_hour,
        frequency=frequency,
        max_papers=max_papers,
        token=new_token(),
        created_at=now,
        confirmed_at=now,
        updated_at=now,
    )
    session.add(team)
    session.flush()
    assert team.id is not None  # flushed
    address = add_address(session, team.id, url, now=now, kind=kind)
    return team, address


def list_teams(session: Session) -> Sequence[Subscriber]:
    """Every team digest, by name."""
    query = (
        select(Subscriber).where(col(Subscriber.name).is_not(None)).order_by(col(Subscriber.name))
    )
    return session.exec(query).all()


def remove_team(session: Session, name: str) -> None:
    """Delete the team with its addresses, editions and deliveries."""
    team = find_team(session, name)
    if team is None:
        raise InputError(f"no team called {name.strip()!r}; `paperfeed teams list` shows them")
    session.delete(team)
    session.flush()
