"""`paperfeed subscribers …`: the confirmation mail, real statuses, typed interests.

Mail goes to a real SMTP server (aiosmtpd) or to the file outbox; the link it carries is
opened and confirmed in the real web app, which proves the command line signs it as the web
form does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select
from typer.testing import CliRunner

from paperfeed.cli import app
from paperfeed.config import Settings
from paperfeed.store.db import make_engine, session_scope
from paperfeed.store.models import Subscriber, SubscriberStatus
from paperfeed.store.subscribers import find_by_email
from paperfeed.web.app import create_app
from tests.support.cycle_samples import serving_smtp

runner = CliRunner()
PUBLIC_URL = "https://feed.example.org"
LINK = re.compile(re.escape(PUBLIC_URL) + r"(/confirm/[A-Za-z0-9._-]+)")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Mailbox:
    """Keeps every message; refuses RCPT for the addresses in ``refuse``."""

    def __init__(self, refuse: tuple[str, ...] = ()) -> None:
        self.refuse = refuse
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 2.0.0 kept"

    def links(self) -> dict[str, str]:
        """The confirmation link's path per recipient."""
        found = {}
        for recipients, data in self.received:
            message = message_from_bytes(data, policy=policy.default)
            body = message.get_body(("plain",))
            assert body is not None
            match = LINK.search(str(body.get_content()))
            assert match, "the mail holds no confirmation link"
            found[recipients[0]] = match.group(1)
        return found


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    values = {
        "PAPERFEED_VAR_DIR": str(tmp_path / "var"),
        "PAPERFEED_DATABASE_URL": database_url,
        "PAPERFEED_PUBLIC_URL": PUBLIC_URL,
        "PAPERFEED_FROM": "paperfeed <digest@feed.example.org>",
    }
    assert runner.invoke(app, ["db", "upgrade"], env=values).exit_code == 0
    return values


@pytest.fixture
def engine(env: dict[str, str]) -> Iterator[Engine]:
    engine = make_engine(env["PAPERFEED_DATABASE_URL"])
    yield engine
    engine.dispose()


def _status(engine: Engine, email: str) -> SubscriberStatus | None:
    with session_scope(engine) as session:
        row = find_by_email(session, email)
        return None if row is None else SubscriberStatus(row.status)


def _interests(engine: Engine, email: str) -> str:
    with session_scope(engine) as session:
        row = find_by_email(session, email)
        assert row is not None
        return row.interests


def _confirm_in_the_web_app(env: dict[str, str], tmp_path: Path, path: str) -> None:
    settings = Settings(
        var_dir=tmp_path / "var",  # the same generated secret key the CLI signed with
        database_url=env["PAPERFEED_DATABASE_URL"],
        public_url=PUBLIC_URL,
    )
    with TestClient(create_app(settings), base_url=PUBLIC_URL) as client:
        page = client.get(path)
        assert page.status_code == 200, page.text
        assert "Yes, confirm" in page.text
        token = CSRF.search(page.text)
        assert token is not None
        done = client.post(path, data={"csrf": token.group(1)}, follow_redirects=False)
        assert done.status_code == 303
        # One use: the same link again opens nothing (issue 14, item 6).
        again = client.post(path, data={"csrf": token.group(1)}, follow_redirects=False)
        assert again.status_code == 410
        assert "Already confirmed" in again.text
        assert "/u/" not in again.text


def test_add_mails_the_confirmation_link_over_smtp_and_the_web_app_accepts_it(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    mailbox = Mailbox()
    with serving_smtp(mailbox) as smtp_url:
        added = runner.invoke(
            app,
            ["subscribers", "add", "Ada@Example.com", "--interests", "state space models"],
            env={**env, "PAPERFEED_SMTP_URL": smtp_url},
        )
    assert added.exit_code == 0, added.output
    assert "added ada@example.com (pending)" in added.stdout
    assert f"mailed 1 confirmation link(s) (links to {PUBLIC_URL}, valid 48 h)" in added.stdout
    links = mailbox.links()
    assert list(links) == ["ada@example.com"]
    message = message_from_bytes(mailbox.received[0][1], policy=policy.default)
    assert message["Subject"] == "Confirm your subscription to paperfeed"
    assert _status(engine, "ada@example.com") == SubscriberStatus.PENDING

    _confirm_in_the_web_app(env, tmp_path, links["ada@example.com"])
    assert _status(engine, "ada@example.com") == SubscriberStatus.ACTIVE


def test_add_without_smtp_writes_the_mail_to_the_outbox_and_says_where(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    added = runner.invoke(
        app, ["subscribers", "add", "ada@example.com", "--interests", "rlhf"], env=env
    )
    assert added.exit_code == 0, added.output
    written = sorted((tmp_path / "var" / "outbox").glob("*.eml"))
    assert len(written) == 1
    assert "no PAPERFEED_SMTP_URL is set: wrote 1 confirmation mail(s) to" in added.stdout
    assert written[0].name in added.stdout.replace("\n", "")
    message = message_from_bytes(written[0].read_bytes(), policy=policy.default)
    assert message["To"] == "ada@example.com"


def test_add_confirmed_sends_nothing(env: dict[str, str], engine: Engine, tmp_path: Path) -> None:
    mailbox = Mailbox()
    with serving_smtp(mailbox) as smtp_url:
        added = runner.invoke(
            app,
            ["subscribers", "add", "ada@example.com", "--interests", "rlhf", "--confirmed"],
            env={**env, "PAPERFEED_SMTP_URL": smtp_url},
        )
    assert added.exit_code == 0, added.output
    assert "added ada@example.com (active)" in added.stdout
    assert "confirmation" not in added.stdout
    assert mailbox.received == []


def test_a_refused_confirmation_exits_1_says_why_and_adding_again_resends(
    env: dict[str, str], engine: Engine
) -> None:
    command = ["subscribers", "add", "ada@example.com", "--interests", "rlhf"]
    with serving_smtp(Mailbox(refuse=("ada@example.com",))) as smtp_url:
        refused = runner.invoke(app, command, env={**env, "PAPERFEED_SMTP_URL": smtp_url})
    assert refused.exit_code == 1
    assert "added ada@example.com (pending)" in refused.stdout
    assert "not sent: the confirmation mail to ada@example.com: rejected 550" in refused.stderr
    assert "run `paperfeed subscribers add EMAIL --interests …` again" in refused.stderr
    assert _status(engine, "ada@example.com") == SubscriberStatus.PENDING

    mailbox = Mailbox()
    with serving_smtp(mailbox) as smtp_url:
        again = runner.invoke(
            app,
            [*command[:-1], "different words"],
            env={**env, "PAPERFEED_SMTP_URL": smtp_url},
        )
    assert again.exit_code == 0, again.output
    assert "ada@example.com is waiting for confirmation already (unchanged)" in again.stdout
    assert list(mailbox.links()) == ["ada@example.com"]
    assert _interests(engine, "ada@example.com") == "rlhf"


def test_import_mails_each_new_address_and_not_the_known_ones(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    runner.invoke(
        app,
        ["subscribers", "add", "old@example.com", "--interests", "rlhf", "--confirmed"],
        env=env,
    )
    people = tmp_path / "people.csv"
    people.write_text(
        "email,interests,timezone,hour,frequency\n"
        "a@example.com,state space models\\nauthor:Tri Dao,Europe/Berlin,8,daily\n"
        "b@example.com,agents,UTC,7,weekly\n"
        "old@example.com,robots,UTC,7,daily\n",
        encoding="utf-8",
    )
    mailbox = Mailbox()
    with serving_smtp(mailbox) as smtp_url:
        result = runner.invoke(
            app,
            ["subscribers", "import", str(people)],
            env={**env, "PAPERFEED_SMTP_URL": smtp_url},
        )
    assert result.exit_code == 0, result.output
    assert "imported 2, skipped 1 already subscribed" in result.stdout
    assert "mailed 2 confirmation link(s)" in result.stdout
    assert sorted(mailbox.links()) == ["a@example.com", "b@example.com"]
    # A typed \n in a CSV cell is a line break, as on the command line.
    assert _interests(engine, "a@example.com") == "state space models\nauthor:Tri Dao"


def test_import_confirmed_mails_nobody(env: dict[str, str], engine: Engine, tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text("email,interests\na@example.com,agents\n", encoding="utf-8")
    result = runner.invoke(app, ["subscribers", "import", str(people), "--confirmed"], env=env)
    assert result.exit_code == 0, result.output
    assert "confirmation" not in result.stdout
    assert not (tmp_path / "var" / "outbox").exists()
    assert _status(engine, "a@example.com") == SubscriberStatus.ACTIVE


def test_a_typed_backslash_n_starts_a_new_line_of_interests(
    env: dict[str, str], engine: Engine
) -> None:
    typed = '"speculative decoding"\\n-vision'  # what a shell passes for '…\n…'
    added = runner.invoke(
        app,
        ["subscribers", "add", "ada@example.com", "--interests", typed, "--confirmed"],
        env=env,
    )
    assert added.exit_code == 0, added.output
    assert _interests(engine, "ada@example.com") == '"speculative decoding"\n-vision'


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "they are empty"),
        ("   ", "they are empty"),
        ("the of and", "line 1: 'the of and' has no searchable words; ignored"),
        ("x\\ny", "line 1: 'x' has no searchable words"),
        ("-vision", "exclusions alone pick no paper"),
    ],
)
def test_interests_that_can_match_nothing_are_refused_with_the_reason(
    env: dict[str, str], engine: Engine, typed: str, reason: str
) -> None:
    added = runner.invoke(
        app, ["subscribers", "add", "ada@example.com", "--interests", typed], env=env
    )
    assert added.exit_code == 2
    assert "give nothing to match" in added.output
    assert reason in added.output.replace("\n", " ")
    assert _status(engine, "ada@example.com") is None


def test_import_refuses_a_row_whose_interests_match_nothing(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    people = tmp_path / "people.csv"
    people.write_text(
        "email,interests\na@example.com,agents\nb@example.com,the\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["subscribers", "import", str(people)], env=env)
    assert result.exit_code == 2
    assert "people.csv:3: interests 'the' give nothing to match" in result.output
    assert _status(engine, "a@example.com") is None


def test_rank_refuses_interests_that_match_nothing(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["rank", "--interests", "the of"], env=env)
    assert result.exit_code == 2
    assert "has no searchable words" in result.output


def test_list_status_takes_only_real_statuses(env: dict[str, str], engine: Engine) -> None:
    for email, extra in (("a@example.com", ["--confirmed"]), ("b@example.com", [])):
        command = ["subscribers", "add", email, "--interests", "agents", *extra]
        assert runner.invoke(app, command, env=env).exit_code == 0

    active = runner.invoke(app, ["subscribers", "list", "--status", "active"], env=env)
    assert active.exit_code == 0
    assert "a@example.com" in active.stdout
    assert "b@example.com" not in active.stdout
    assert "1 subscribers" in active.stdout

    pending = runner.invoke(app, ["subscribers", "list", "--status", "pending"], env=env)
    assert "b@example.com" in pending.stdout
    assert "1 subscribers" in pending.stdout

    wrong = runner.invoke(app, ["subscribers", "list", "--status", "confirmed"], env=env)
    assert wrong.exit_code == 2
    assert "'confirmed' is not one of" in wrong.output
    assert "active" in wrong.output
    with session_scope(engine) as session:
        assert len(session.exec(select(Subscriber)).all()) == 2  # nothing changed


def test_a_loopback_public_url_with_real_mail_is_warned_about(
    env: dict[str, str], engine: Engine
) -> None:
    mailbox = Mailbox()
    loopback = {k: v for k, v in env.items() if k != "PAPERFEED_PUBLIC_URL"}
    with serving_smtp(mailbox) as smtp_url:
        added = runner.invoke(
            app,
            ["subscribers", "add", "ada@example.com", "--interests", "rlhf"],
            env={**loopback, "PAPERFEED_SMTP_URL": smtp_url},
        )
    assert added.exit_code == 0, added.output
    warning = added.stderr.replace("\n", " ")
    assert "warning: PAPERFEED_PUBLIC_URL (unset) is http://127.0.0.1:8000, a loopback" in warning
    assert "mailed 1 confirmation link(s) (links to http://127.0.0.1:8000" in added.stdout
    assert len(mailbox.received) == 1


def test_adding_a_pending_address_confirmed_makes_it_active(
    env: dict[str, str], engine: Engine
) -> None:
    command = ["subscribers", "add", "ada@example.com", "--interests", "rlhf"]
    assert runner.invoke(app, command, env=env).exit_code == 0
    assert _status(engine, "ada@example.com") == SubscriberStatus.PENDING
    confirmed = runner.invoke(app, [*command, "--confirmed"], env=env)
    assert confirmed.exit_code == 0, confirmed.output
    assert "confirmed ada@example.com (active" in confirmed.stdout
    assert _status(engine, "ada@example.com") == SubscriberStatus.ACTIVE
    again = runner.invoke(app, [*command, "--confirmed"], env=env)
    assert again.exit_code == 2
    assert "ada@example.com is subscribed already" in again.output


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("PAPERFEED_FROM", "nobody", "PAPERFEED_FROM='nobody' must be one address with a domain"),
        ("PAPERFEED_SMTP_URL", "ftp://relay.example.org", "ftp://relay.example.org"),
    ],
)
def test_mail_settings_that_cannot_work_stop_add_before_anything_is_stored(
    env: dict[str, str], engine: Engine, name: str, value: str, says: str
) -> None:
    added = runner.invoke(
        app,
        ["subscribers", "add", "ada@example.com", "--interests", "rlhf"],
        env={**env, name: value},
    )
    assert added.exit_code == 2
    assert says in added.output.replace("\n", "")
    assert _status(engine, "ada@example.com") is None
