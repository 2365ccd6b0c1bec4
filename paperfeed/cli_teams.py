"""``paperfeed teams``: team digests, a named interest profile posted to a chat channel.

A team gets the same editions as a person (interests, zone, hour, frequency) but receives
them only at its chat address (an apprise URL such as ``slack://…``). The address holds the
service's secret: it is shown redacted from the moment it is stored.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from paperfeed.cli_base import command_group, open_database, out, utc_now
from paperfeed.store.choices import Frequency
from paperfeed.terminal import terminal_text

teams_app = command_group("Team digests: interests posted to a chat or push channel.")


def read_url(value: str) -> str:
    """The address argument, or one line from standard input for ``-`` (keeps the secret
    out of shell history and the process list)."""
    return sys.stdin.readline().strip() if value == "-" else value


# Which registered channel posts to an address: 'chat' (apprise) unless a command says other.
ChannelKind = Annotated[
    str,
    typer.Option(help="The channel that posts to it: 'chat' (apprise) or another registered one."),
]


@teams_app.command("add")
def teams_add(
    name: Annotated[str, typer.Argument(help="The team's name, e.g. 'vision-lab'.")],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="Where to post: an apprise URL (slack://…, discord://…, msteams://…, "
            "tgram://…, ntfy://…); '-' reads it from standard input.",
        ),
    ],
    interests: Annotated[
        str, typer.Option(help="Interests, one topic per line (type \\n for a new line).")
    ],
    timezone: Annotated[str, typer.Option(help="IANA time zone, e.g. Europe/Berlin.")] = "UTC",
    hour: Annotated[int, typer.Option(min=0, max=23, help="Local hour to post at.")] = 7,
    frequency: Annotated[Frequency, typer.Option(help="How often to post.")] = Frequency.DAILY,
    max_papers: Annotated[
        int, typer.Option("--max-papers", min=1, max=100, help="Most papers per digest.")
    ] = 10,
    kind: ChannelKind = "chat",
) -> None:
    """Add a team digest that posts to one chat address (checked with apprise)."""
    from paperfeed.cli_interests import usable_interests
    from paperfeed.store.db import session_scope
    from paperfeed.store.teams import create_team
    from paperfeed.subscriber_input import interest_text, timezone_value

    text = usable_interests(interest_text(interests))[0]
    zone = timezone_value(timezone)
    url = read_url(to)
    with open_database() as engine, session_scope(engine) as session:
        team, address = create_team(
            session,
            name=name,
            url=url,
            interests=text,
            now=utc_now(),
            timezone=zone,
            send_hour=hour,
            frequency=frequency,
            max_papers=max_papers,
            kind=kind,
        )
        what = f"added team {team.name} posting to {address.shown} ({team.timezone}, {hour}:00)"
    out.print(terminal_text(what), highlight=False, soft_wrap=True)


@teams_app.command("list")
def teams_list() -> None:
    """List team digests: name, address (redacted), status, interests, zone and hour."""
    from rich.table import Table

    from paperfeed.store.channel_addresses import list_addresses
    from paperfeed.store.db import session_scope
    from paperfeed.store.teams import list_teams

    with open_database() as engine, session_scope(engine) as session:
        teams = list_teams(session)
        table = Table("name", "address", "status", "interests", "timezone", "hour")
        for team in teams:
            assert team.id is not None
            addresses = list_addresses(session, team.id)
            shown = ", ".join(f"{a.shown} ({a.status})" for a in addresses) or "none"
            lines = [line.strip() for line in team.interests.splitlines() if line.strip()]
            first = (lines[0] + (" …" if len(lines) > 1 else "")) if lines else ""
            cells = (team.name or "", shown, team.status, first, team.timezone, str(team.send_hour))
            table.add_row(*(terminal_text(cell) for cell in cells))
        out.print(table)
        out.print(f"{len(teams)} teams")


@teams_app.command("remove")
def teams_remove(
    name: Annotated[str, typer.Argument(help="The team to remove with its addresses.")],
) -> None:
    """Remove a team digest, its chat addresses and its history."""
    from paperfeed.store.db import session_scope
    from paperfeed.store.teams import remove_team

    with open_database() as engine, session_scope(engine) as session:
        remove_team(session, name)
    out.print(terminal_text(f"removed team {name.strip()}"), highlight=False, soft_wrap=True)
