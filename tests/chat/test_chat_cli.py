"""`paperfeed subscribers chat …` and `paperfeed teams …`: addresses in, never out in full."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from paperfeed.cli import app
from paperfeed.store.channel_addresses import list_addresses
from paperfeed.store.db import make_engine, session_scope
from paperfeed.store.models import Subscriber
from paperfeed.store.subscribers import create_subscriber, find_by_email
from paperfeed.store.teams import find_team

runner = CliRunner()
SECRET = "TIiajkdnlazkcOXrIdevi7FQ"
SLACK = f"slack://T1JJ3T3L2/A1BRTD4JD/{SECRET}/#general"
DISCORD_SECRET = "JHMHI8qBe7bk2ZwO5U711o3dV_js"
DISCORD = f"discord://4174216298/{DISCORD_SECRET}"
TOPIC = "protein folding"


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    values = {
        "PAPERFEED_VAR_DIR": str(tmp_path / "var"),
        "PAPERFEED_DATABASE_URL": database_url,
        "COLUMNS": "200",  # tables on one line each
    }
    assert runner.invoke(app, ["db", "upgrade"], env=values).exit_code == 0
    return values


@pytest.fixture
def engine(env: dict[str, str]) -> Iterator[Engine]:
    engine = make_engine(env["PAPERFEED_DATABASE_URL"])
    with session_scope(engine) as session:
        create_subscriber(
            session, email="ada@example.org", interests="diffusion", now=datetime.now(UTC),
            confirmed=True,
        )  # fmt: skip
    yield engine
    engine.dispose()


def run(env: dict[str, str], *args: str, stdin: str | None = None, code: int = 0) -> str:
    result = runner.invoke(app, list(args), env=env, input=stdin)
    assert result.exit_code == code, result.output
    for secret in (SECRET, DISCORD_SECRET, "4174216298", "T1JJ3T3L2"):
        assert secret not in result.output
    return result.output


def subscriber(engine: Engine, email: str = "ada@example.org") -> Subscriber:
    with session_scope(engine) as session:
        found = find_by_email(session, email)
        assert found is not None
        return found


def test_add_list_remove_and_email_off_and_on(env: dict[str, str], engine: Engine) -> None:
    said = run(env, "subscribers", "chat", "add", "ada@example.org", SLACK)
    assert "added slack://…/…i7FQ (id 1) for ada@example.org: digests go there and by email" in said
    said = run(
        env,
        "subscribers",
        "chat",
        "add",
        "ada@example.org",
        "-",
        "--no-email",
        stdin=DISCORD + "\n",
    )
    assert "discord://…/…V_js" in said
    assert "only (no email)" in said
    assert subscriber(engine).email_digest is False
    listed = run(env, "subscribers", "chat", "list", "ada@example.org")
    assert "slack://…/…i7FQ" in listed
    assert "discord://…/…V_js" in listed
    assert "2 chat addresses; email digest off" in listed
    run(env, "subscribers", "chat", "email", "ada@example.org", "on")
    assert subscriber(engine).email_digest is True
    run(env, "subscribers", "chat", "email", "ada@example.org", "off")
    run(env, "subscribers", "chat", "remove", "ada@example.org", "1")
    said = run(env, "subscribers", "chat", "remove", "ada@example.org", "2")
    # Nothing else would reach her: email comes back on.
    assert "no chat address is left, so email is on again" in said
    assert subscriber(engine).email_digest is True
    with session_scope(engine) as session:
        assert list_addresses(session, subscriber(engine).id or 0) == []


def test_bad_input_is_one_line_and_never_echoes_the_address(
    env: dict[str, str], engine: Engine
) -> None:
    said = run(env, "subscribers", "chat", "add", "ada@example.org", f"nope://{SECRET}", code=2)
    assert "nope:// is not a chat or push service" in said
    assert "slack://" in said
    said = run(env, "subscribers", "chat", "add", "ada@example.org", f"slack://{SECRET}", code=2)
    assert "this slack:// address is not one the service can use" in said
    said = run(env, "subscribers", "chat", "email", "ada@example.org", "off", code=2)
    assert "has no working chat address" in said
    run(env, "subscribers", "chat", "list", "nobody@example.org", code=2)
    run(env, "subscribers", "chat", "add", "ada@example.org", SLACK)
    said = run(env, "subscribers", "chat", "add", "ada@example.org", SLACK, code=2)
    assert "slack://…/…i7FQ is added already" in said


def test_teams_add_list_remove(env: dict[str, str], engine: Engine) -> None:
    said = run(
        env, "teams", "add", "vision-lab", "--to", SLACK,
        "--interests", "diffusion models\\nauthor:\"Tri Dao\"",
        "--timezone", "Europe/Berlin", "--hour", "9", "--max-papers", "5",
    )  # fmt: skip
    assert "added team vision-lab posting to slack://…/…i7FQ (Europe/Berlin, 9:00)" in said
    with session_scope(engine) as session:
        team = find_team(session, "vision-lab")
        assert team is not None
        assert (team.email, team.email_digest, team.status) == (None, False, "active")
        assert (team.send_hour, team.max_papers) == (9, 5)
        assert team.interests == 'diffusion models\nauthor:"Tri Dao"'
    listed = run(env, "teams", "list")
    for cell in ("vision-lab", "slack://…/…i7FQ (active)", "diffusion models …", "Europe/Berlin"):
        assert cell in listed
    assert "1 teams" in listed
    assert "team vision-lab" in run(env, "subscribers", "list")
    said = run(env, "teams", "add", "vision-lab", "--to", DISCORD, "--interests", TOPIC, code=2)
    assert "exists already" in said
    run(env, "teams", "remove", "vision-lab")
    assert "0 teams" in run(env, "teams", "list")
    run(env, "teams", "remove", "vision-lab", code=2)


def test_a_team_with_an_unusable_address_is_not_stored(env: dict[str, str], engine: Engine) -> None:
    said = run(
        env,
        "teams",
        "add",
        "lab",
        "--to",
        f"slack://{SECRET}",
        "--interests",
        "protein folding",
        code=2,
    )
    assert "slack:// address is not one the service can use" in said
    with session_scope(engine) as session:
        assert find_team(session, "lab") is None
    run(env, "teams", "add", "bad/name", "--to", SLACK, "--interests", TOPIC, code=2)
    run(
        env,
        "teams",
        "add",
        "lab",
        "--to",
        SLACK,
        "--interests",
        "x",
        "--timezone",
        "Mars/Base",
        code=2,
    )


def test_the_kind_is_a_registered_channel_other_than_email(
    env: dict[str, str], engine: Engine
) -> None:
    for kind in ("email", "carrier-pigeon"):
        said = run(
            env, "teams", "add", "lab", "--to", SLACK, "--interests", TOPIC, "--kind", kind, code=2
        )
        assert "is not a channel for chat addresses; use one of chat" in said
    run(env, "teams", "add", "lab", "--to", SLACK, "--interests", TOPIC, "--kind", "chat")
    with session_scope(engine) as session:
        team = find_team(session, "lab")
        assert team is not None
        assert [a.kind for a in list_addresses(session, team.id or 0)] == ["chat"]
