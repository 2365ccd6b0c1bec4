"""Hostile input at the command line (issue 14, item 11).

`subscribers add` and `subscribers import` check a subscriber with the web form's model, so
a value the form refuses is a one-line error (exit 2, nothing stored) here too, never a
traceback; upstream titles reach the terminal without escape sequences and without being
read as rich markup (`[/x]` used to stop `crawl --dry-run` and `rank`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paperfeed.cli import app
from paperfeed.crawler.records import DayResult, ListingRecord, PaperRecord
from paperfeed.store.crawls import save_day
from paperfeed.store.db import make_engine, session_scope
from paperfeed.store.models import Subscriber
from paperfeed.store.subscribers import new_token
from tests.support.fake_hf import FakeHF
from tests.support.hf_days import FIXTURE_PAGE_DAY, FIXTURES_DIR

runner = CliRunner()
# Clear the screen, retitle the window, then a right-to-left override: none may reach a tty.
TERMINAL_ATTACK = "\x1b[2J\x1b]0;pwned\x07\u202eevil\x9b31m"
HOSTILE_TITLE = f"Diffusion models [/x] [bold]loud[/bold] {TERMINAL_ATTACK}"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    values = {
        "PAPERFEED_VAR_DIR": str(tmp_path / "var"),
        "PAPERFEED_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'paperfeed.db'}",
        "PAPERFEED_FROM": "paperfeed <digest@feed.example.org>",
    }
    assert runner.invoke(app, ["db", "upgrade"], env=values).exit_code == 0
    return values


def _count(env: dict[str, str]) -> str:
    return runner.invoke(app, ["subscribers", "list"], env=env).stdout.strip().splitlines()[-1]


HOSTILE_ROWS = [
    ("hour", "²", "not a whole hour from 0 to 23"),
    ("hour", "٣", "not a whole hour from 0 to 23"),
    ("timezone", "America", "'America' is not an IANA time zone"),
    ("timezone", "A" * 300, "is not an IANA time zone"),
    ("timezone", "../../etc/passwd", "is not an IANA time zone"),
    ("interests", "llm\x00agents", "control character"),
    ("interests", "llm \x1b[2J agents", "control character"),
    ("email", "jörg@example.com", "is not an email address we can mail"),
    ("email", "a@example.com\x07", "control character"),
    ("interests", "", "give nothing to match"),
]


@pytest.mark.parametrize(("column", "value", "says"), HOSTILE_ROWS)
def test_import_refuses_what_the_web_form_refuses_with_one_line_per_row(
    env: dict[str, str], tmp_path: Path, column: str, value: str, says: str
) -> None:
    row = {"email": "b@example.com", "interests": "diffusion models", "timezone": "UTC"}
    row |= {"hour": "7", column: value}
    people = tmp_path / "people.csv"
    with people.open("w", encoding="utf-8", newline="") as handle:
        handle.write("email,interests,timezone,hour\n")
        handle.write("a@example.com,rlhf,Europe/Berlin,8\n")
        cells = [row[c] for c in ("email", "interests", "timezone", "hour")]
        handle.write(",".join(f'"{cell}"' for cell in cells) + "\n")
    result = runner.invoke(app, ["subscribers", "import", str(people), "--confirmed"], env=env)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"{people}:3: " in result.output
    assert says in result.output
    assert "nothing was imported" in result.output
    assert _count(env) == "0 subscribers"


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [row for row in HOSTILE_ROWS if row[0] != "hour"],  # --hour is an integer option
)
def test_add_refuses_what_the_web_form_refuses(
    env: dict[str, str], column: str, value: str, says: str
) -> None:
    args = {"email": "b@example.com", "interests": "diffusion models", "timezone": "UTC"}
    args[column] = value
    result = runner.invoke(
        app,
        [
            "subscribers",
            "add",
            args["email"],
            "--interests",
            args["interests"],
            "--timezone",
            args["timezone"],
            "--confirmed",
        ],
        env=env,
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert says in result.output
    assert _count(env) == "0 subscribers"


def test_an_internationalised_domain_is_imported_in_its_ascii_form(
    env: dict[str, str], tmp_path: Path
) -> None:
    people = tmp_path / "people.csv"
    people.write_text("email,interests\nAda@Bücher.example,rlhf\n", encoding="utf-8")
    result = runner.invoke(app, ["subscribers", "import", str(people), "--confirmed"], env=env)
    assert result.exit_code == 0, result.output
    listed = runner.invoke(app, ["subscribers", "list"], env=env).stdout
    assert "ada@xn--bcher-kva.example" in listed


def _assert_shown_safely(output: str, *, whole_sequences: bool = True) -> None:
    assert "[/x]" in output  # shown as written, not read as markup
    assert "[bold]loud[/bold]" in output
    for leftover in ("\x1b", "\x07", "\u202e", "\x9b"):
        assert leftover not in output, repr(leftover)
    if whole_sequences:  # the window-title payload went with its escape sequence
        assert "pwned" not in output


def test_rank_shows_hostile_titles_as_text(env: dict[str, str]) -> None:
    day = date(2026, 9, 21)
    papers = (
        PaperRecord(
            arxiv_id="2609.00001",
            title=HOSTILE_TITLE,
            abstract="Diffusion models for image generation and denoising diffusion.",
            authors=("Eve",),
        ),
    )
    listings = (ListingRecord(day, "2609.00001", rank=1, upvotes=10, comments=0),)
    result = DayResult(
        day=day, kind="daily", status="ok", source="api", papers=papers, listings=listings
    )
    engine = make_engine(env["PAPERFEED_DATABASE_URL"])
    at = datetime(2026, 9, 22, 7, tzinfo=UTC)
    with session_scope(engine) as session:
        save_day(session, result, started_at=at, finished_at=at, settled=True)
    engine.dispose()
    ranked = runner.invoke(
        app,
        ["rank", "--interests", "diffusion models", "--date", day.isoformat()],
        env={**env, "COLUMNS": "400"},
    )
    assert ranked.exit_code == 0, ranked.output
    assert "2609.00001" in ranked.output
    _assert_shown_safely(ranked.output)


@pytest.fixture
def hostile_hf() -> Iterator[FakeHF]:
    fake = FakeHF.from_fixtures(FIXTURES_DIR)
    items = copy.deepcopy(fake.days[FIXTURE_PAGE_DAY])
    items[0]["paper"]["title"] = items[0]["title"] = HOSTILE_TITLE
    fake.days[FIXTURE_PAGE_DAY] = items
    with fake:
        yield fake


def test_crawl_dry_run_shows_hostile_titles_as_text(
    env: dict[str, str], hostile_hf: FakeHF
) -> None:
    result = runner.invoke(
        app,
        ["crawl", "--date", FIXTURE_PAGE_DAY.isoformat(), "--dry-run"],
        env={**env, "PAPERFEED_HF_BASE_URL": hostile_hf.url},
    )
    assert result.exit_code == 0, result.output
    assert "Diffusion models" in result.output
    # The crawler may repair the title first (dropping ESC and BEL, not what they framed).
    _assert_shown_safely(result.output, whole_sequences=False)


SECRET = "hunter2"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"postgresql://bob:{SECRET}@db.example:notaport/x", "is not a database URL"),
        (f"bob:{SECRET}@db.example/x", "is not a database URL"),
        (f"postgresql://bob:{SECRET}@[db.example/x", "cannot open the database"),
    ],
)
def test_a_malformed_database_url_never_shows_its_password(url: str, says: str) -> None:
    result = runner.invoke(app, ["subscribers", "list"], env={"PAPERFEED_DATABASE_URL": url})
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert "bob:***@" in result.output
    assert SECRET not in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"smtp://bob:{SECRET}/x@mail.example", "has a bad port"),
        (f"smtp://bob:{SECRET}@[mail.example", "is not a URL"),
        (f"smtp://bob:{SECRET}@mail.example:99999", "has a bad port"),
        (f"smtq://bob:{SECRET}@mail.example", "must start with smtp://"),
    ],
)
def test_a_malformed_smtp_url_never_shows_its_password(
    env: dict[str, str], url: str, says: str
) -> None:
    result = runner.invoke(
        app,
        ["subscribers", "add", "a@example.com", "--interests", "diffusion models"],
        env={**env, "PAPERFEED_SMTP_URL": url},
    )
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert SECRET not in result.output
    assert "Traceback" not in result.output
    assert _count(env) == "0 subscribers"


def test_a_stored_address_no_sign_up_takes_any_more_can_still_be_removed(
    env: dict[str, str],
) -> None:
    engine = make_engine(env["PAPERFEED_DATABASE_URL"])
    at = datetime(2026, 9, 22, 7, tzinfo=UTC)
    with session_scope(engine) as session:  # as stored before non-ASCII local parts were refused
        session.add(
            Subscriber(
                email="zoë@bücher.example",
                token=new_token(),
                created_at=at,
                updated_at=at,
            )
        )
    engine.dispose()
    result = runner.invoke(app, ["subscribers", "remove", "Zoë@Bücher.example"], env=env)
    assert result.exit_code == 0, result.output
    assert _count(env) == "0 subscribers"


def test_rank_over_the_shared_hostile_day_prints_every_title_as_text(env: dict[str, str]) -> None:
    from tests.support.hostile_day import HOSTILE_DAY, hostile_result

    engine = make_engine(env["PAPERFEED_DATABASE_URL"])
    at = datetime(2026, 10, 1, 7, tzinfo=UTC)
    with session_scope(engine) as session:
        save_day(session, hostile_result(), started_at=at, finished_at=at, settled=True)
    engine.dispose()
    ranked = runner.invoke(
        app,
        [
            "rank",
            "--interests",
            "sparse attention\nhuge fields\nisolate quoted",
            "--date",
            str(HOSTILE_DAY),
            "--limit",
            "20",
        ],
        env={**env, "COLUMNS": "400"},
    )
    assert ranked.exit_code == 0, ranked.output
    assert "Sparse attention" in ranked.output
    assert "[/x] [bold]rich[/bold]" in ranked.output  # the markup title, shown as written
    for leftover in ("\x1b", "\x07", "\x00", "\u202e", "\u2066", "\u200b", "\ufeff"):
        assert leftover not in ranked.output, repr(leftover)
