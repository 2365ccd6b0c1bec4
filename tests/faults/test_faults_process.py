"""Process faults: paperfeed killed with SIGKILL mid-crawl, mid-compose and mid-send, its
PostgreSQL restarted mid-send, its file outbox on a full disk. Nothing is lost, nothing
half-written stays, and nothing is sent twice beyond the in-flight batch (README, "Outbox").

Each test runs the real ``python -m paperfeed`` commands against the fake Hugging Face
server, an aiosmtpd sink, a private PostgreSQL cluster or a real full tmpfs, injects the
fault at a point it waits for (a request held open, a write lock seen, a message received),
runs the command again and checks the store and what arrived.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from paperfeed.config import Settings
from paperfeed.corpus import CorpusCache
from paperfeed.crawler.client import make_client
from paperfeed.digest import BATCH as COMPOSE_BATCH  # subscribers per compose transaction
from paperfeed.digest import EditionPolicy, compose_due
from paperfeed.jobs.crawl import crawl_days
from paperfeed.store import migrate
from paperfeed.store.db import make_engine
from paperfeed.store.models import Edition
from tests.faults.faults_process_disk import fill, tiny_disk
from tests.faults.faults_process_postgres import PrivatePostgres, private_postgres
from tests.faults.faults_process_samples import (
    GatedFakeHF,
    freeze,
    kill_hard,
    logged,
    process_env,
    run,
    sqlite_writer_active,
    start,
    thaw,
    wait_for,
)
from tests.faults.faults_process_state import (
    RunRecord,
    compose_state,
    count_rows,
    crawl_runs,
    listing_days,
    paper_ids,
    sent_message_ids,
    served_lists,
    stored_lists,
    stray_files,
    votes,
    whole_messages,
)
from tests.support.cycle_samples import (
    MessageIdSink,
    add_subscriber,
    delivery_statuses,
    editions,
    outbox_recipients,
    running_sink,
    seed_subscribers,
    store_settled_days,
)
from tests.support.fake_hf import FakeHF
from tests.support.hf_days import fixture_items, synthetic_days
from tests.support.ports import free_port

pytestmark = [pytest.mark.faults, pytest.mark.slow]

PER_DAY = 150  # two API pages of 100: a day the crawler has half fetched when killed


def test_a_crawl_killed_mid_day_keeps_whole_days_and_a_rerun_completes_them(
    tmp_path: Path,
) -> None:
    first = datetime.now(UTC).date() - timedelta(days=10)
    days = synthetic_days(fixture_items(), start=first, count=3, per_day=PER_DAY, weekends=True)
    killed_in = first + timedelta(days=1)
    # Before the fault the store holds an earlier, shorter list of that day with other votes.
    earlier = [
        dict(item, paper={**item["paper"], "upvotes": 500 + n})
        for n, item in enumerate(days[killed_in][:120])
    ]
    var = tmp_path / "var"
    engine = make_engine(f"sqlite:///{var / 'paperfeed.db'}")
    migrate.upgrade(engine)
    try:
        fake = GatedFakeHF(days={killed_in: earlier})
        with fake:
            settings = Settings(var_dir=var, hf_base_url=fake.url)
            with make_client(settings) as client:
                crawl_days(engine, client, [killed_in], settle_hours=settings.settle_hours)
            before = stored_lists(engine)
            assert len(before[killed_in]) == 120

            fake.days.update(days)  # the list grew and votes moved since
            fake.hold = (killed_in.isoformat(), "1")
            env = process_env(var, hf_base_url=fake.url)
            backfill = ["crawl", "--since", str(first), "--until", str(first + timedelta(days=2))]
            crawler = start(backfill, env, tmp_path / "crawl.log")
            try:
                assert fake.held.wait(timeout=60), "the crawler never asked for page 2 of the day"
            finally:
                kill_hard(crawler)
                fake.release.set()

            # The first day was saved whole; the half-fetched day is exactly as it was before.
            after_kill = stored_lists(engine)
            assert after_kill == {first: after_kill[first], killed_in: before[killed_in]}
            assert votes(after_kill)[first] == served_lists(days)[first]
            assert crawl_runs(engine) == [
                RunRecord(killed_in, "ok", "api", 120, True, None),
                RunRecord(first, "ok", "api", PER_DAY, True, None),
            ]

            fake.hold = None
            rerun = run(backfill, env)
            assert rerun.returncode == 0, rerun.stdout + rerun.stderr

        final = stored_lists(engine)
        assert votes(final) == served_lists(days)
        for papers in final.values():
            assert sorted(rank for rank, _ in papers.values()) == list(range(1, PER_DAY + 1))
        ids = paper_ids(engine)
        assert len(ids) == len(set(ids)) == 3 * PER_DAY
        assert listing_days(engine) == {day: ("ok", PER_DAY, True) for day in days}
        runs = crawl_runs(engine)
        assert all(r.status == "ok" and r.finished and r.error is None for r in runs)
        # One run per day per finished crawl: the killed crawl recorded only the day it saved.
        assert sorted((r.day, r.found) for r in runs) == sorted(
            [(killed_in, 120), (first, PER_DAY)] + [(day, PER_DAY) for day in days]
        )
    finally:
        engine.dispose()


READERS = COMPOSE_BATCH + 500  # two transactions; the second is killed while it writes


def test_a_compose_killed_mid_transaction_is_finished_by_a_rerun_and_everyone_gets_one_mail(
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC)
    var = tmp_path / "var"
    database = var / "paperfeed.db"
    engine = make_engine(f"sqlite:///{database}")
    migrate.upgrade(engine)
    try:
        store_settled_days(engine, now.date() - timedelta(days=4), days=3)
        # Everyone's send hour passed within the last two hours: all are due at once.
        seed_subscribers(
            engine,
            READERS,
            joined=now - timedelta(days=30),
            send_hour=(now - timedelta(minutes=30)).hour,
        )
        env = process_env(var)
        composer = start(["compose"], env, tmp_path / "compose.log")

        def frozen_while_writing() -> bool:
            # Stopped first, then asked: a stopped process cannot commit behind our back.
            if composer.poll() is not None or count_rows(engine, Edition) < COMPOSE_BATCH:
                return False
            freeze(composer)
            if sqlite_writer_active(database):
                return True
            thaw(composer)
            return False

        try:
            wait_for(
                frozen_while_writing,
                60,
                "compose was caught writing its second batch",
                poll=0.002,
            )
        finally:
            kill_hard(composer)
        killed = compose_state(engine)
        # The first transaction stands whole; of the second, uncommitted, nothing remains.
        assert len(killed.editions) == COMPOSE_BATCH
        assert killed.problems() == []

        rerun = run(["compose"], env)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        state = compose_state(engine)
        assert len(state.editions) == READERS
        assert state.problems() == []
        # The rerun added to what the killed run committed; it replaced none of it.
        assert {e: state.editions[e] for e in killed.editions} == killed.editions

        with running_sink() as sink:
            sent = run(["send"], {**env, "PAPERFEED_SMTP_URL": sink.url}, timeout=120)
            assert sent.returncode == 0, sent.stdout + sent.stderr
        assert delivery_statuses(engine) == {"sent": READERS}
    finally:
        engine.dispose()
    assert sink.duplicates() == {}
    assert len(sink.message_ids) == READERS
    assert sorted(sink.recipients) == sorted(email for email, _ in state.editions.values())
    assert set(sink.recipients.values()) == {1}


SUBSCRIBERS = 1000  # all due at the daemon's first compose
DAEMON_BATCH = 100
KILL_AT = 3 * DAEMON_BATCH + DAEMON_BATCH // 2
LEASE_SECONDS = 3  # the claim a killed sender leaves lapses this soon (the least allowed)


def test_a_daemon_killed_mid_send_restarts_and_sends_everyone_once(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    yesterday = now.date() - timedelta(days=1)
    days = synthetic_days(fixture_items(), start=yesterday, count=1, per_day=15, weekends=True)
    log = tmp_path / "daemon.log"
    with FakeHF(days=days) as fake, running_sink() as sink:
        env = process_env(
            tmp_path / "var",
            hf_base_url=fake.url,
            smtp_url=sink.url,
            send_batch_size=str(DAEMON_BATCH),
            send_lease_seconds=str(LEASE_SECONDS),
            recrawl_days="1",
        )
        upgraded = run(["db", "upgrade"], env)
        assert upgraded.returncode == 0, upgraded.stderr
        engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'paperfeed.db'}")
        # Earlier crawls settled the days before yesterday; the daemon crawls yesterday and
        # today from the fake, then composes and sends.
        store_settled_days(engine, yesterday - timedelta(days=13), days=13)
        # Everyone's send hour passed within the hour: all are due at the first compose.
        seed_subscribers(
            engine,
            SUBSCRIBERS,
            joined=now - timedelta(days=30),
            send_hour=(now - timedelta(minutes=30)).hour,
        )
        try:
            _crash_and_restart(engine, env, log, sink)
        finally:
            engine.dispose()


def _daemon(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return start(["run", "--port", str(free_port())], env, log)


def _crash_and_restart(engine: Engine, env: dict[str, str], log: Path, sink: MessageIdSink) -> None:
    first = _daemon(env, log)
    killed = threading.Event()

    def kill_mid_batch(received: int) -> None:
        # Halfway through the fourth batch, with its first half received but not yet marked.
        if received == KILL_AT and not killed.is_set():
            first.send_signal(signal.SIGKILL)
            killed.set()

    sink.on_message = kill_mid_batch
    try:
        assert killed.wait(timeout=120), "the daemon never got to the fourth batch"
        first.wait(timeout=10)
    finally:
        sink.on_message = None
        if first.poll() is None:
            kill_hard(first)
    statuses = delivery_statuses(engine)
    assert statuses == {
        "sent": 3 * DAEMON_BATCH,
        "sending": DAEMON_BATCH,
        "pending": SUBSCRIBERS - 4 * DAEMON_BATCH,
    }
    received_before_restart = sink.received
    # The killed sender's claim must lapse first, or the restart's first pass skips its batch.
    time.sleep(LEASE_SECONDS)

    second = _daemon(env, log)
    try:
        wait_for(
            lambda: delivery_statuses(engine) == {"sent": SUBSCRIBERS},
            120,
            "every delivery was sent after the restart",
        )
        second.send_signal(signal.SIGTERM)
        code = second.wait(timeout=60)
    finally:
        if second.poll() is None:
            kill_hard(second)
    output = log.read_text(encoding="utf-8", errors="replace")
    assert code == 0, output[-3000:]

    made = editions(engine)
    assert len(made) == SUBSCRIBERS
    assert len({email for email, _ in made}) == SUBSCRIBERS
    assert len(sink.message_ids) == SUBSCRIBERS
    assert len(sink.recipients) == SUBSCRIBERS
    twice = sum(n - 1 for n in sink.duplicates().values())
    # The half batch received before the kill arrives again, nothing else does.
    assert 0 < twice <= DAEMON_BATCH, (
        f"{twice} mails sent twice; at most the in-flight batch may be"
    )
    assert sink.received > received_before_restart


SEND_BATCH = 50  # deliveries a sender claims at once: the in-flight bound
MAILED = 4 * SEND_BATCH
LATE = 10  # subscribers due after the second outage


def test_postgres_restarted_mid_send_and_while_idle_the_worker_waits_and_sends_everyone_once(
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC)
    joined, hour = now - timedelta(days=30), (now - timedelta(minutes=30)).hour
    log = tmp_path / "worker.log"
    with private_postgres() as database, running_sink() as sink:
        engine = make_engine(database.url)
        try:
            migrate.upgrade(engine)
            store_settled_days(engine, now.date() - timedelta(days=4), days=3)
            seed_subscribers(engine, MAILED, joined=joined, send_hour=hour)
            compose_due(engine, now=now, policy=EditionPolicy(), corpus=CorpusCache())
            env = process_env(
                tmp_path / "var",
                database_url=database.url,
                smtp_url=sink.url,
                send_batch_size=str(SEND_BATCH),
            )
            stopped = threading.Event()

            def stop_database_mid_batch(received: int) -> None:
                # Halfway through the second batch: the first is marked, this one in flight.
                if received == SEND_BATCH + SEND_BATCH // 2 and not stopped.is_set():
                    database.stop()
                    stopped.set()

            sink.on_message = stop_database_mid_batch
            worker = start(["worker", "--idle", "0.2"], env, log)
            try:
                assert stopped.wait(timeout=60), "the worker never reached the second batch"
                # It finishes the batch's SMTP, then waits to mark it: no crash, no resend.
                _restart_once_logged(database, worker, log, "send.database_unavailable", seen=0)
                wait_for(
                    lambda: delivery_statuses(engine) == {"sent": MAILED},
                    60,
                    "every delivery was sent after the restart",
                )
                # Idle between passes this time: the worker's loop waits for the database too.
                idle_errors = len(logged(log, "worker.database_unavailable"))
                database.stop()
                _restart_once_logged(
                    database, worker, log, "worker.database_unavailable", seen=idle_errors
                )
                for n in range(LATE):
                    add_subscriber(
                        engine,
                        f"late{n}@example.com",
                        timezone="UTC",
                        send_hour=hour,
                        joined=joined,
                    )
                compose_due(engine, now=now, policy=EditionPolicy(), corpus=CorpusCache())
                wait_for(
                    lambda: delivery_statuses(engine) == {"sent": MAILED + LATE},
                    60,
                    "the late subscribers' mail was sent after the second restart",
                )
                worker.send_signal(signal.SIGTERM)
                code = worker.wait(timeout=30)
            finally:
                sink.on_message = None
                if worker.poll() is None:
                    kill_hard(worker)
        finally:
            engine.dispose()
    output = log.read_text(errors="replace")
    assert code == 0, output[-3000:]
    refused = [e["error"] for e in logged(log, "send.database_unavailable")]
    assert refused, "the worker never said why it waited"
    assert all("Connection refused" in error for error in refused), refused
    assert len(sink.recipients) == MAILED + LATE
    twice = sum(n - 1 for n in sink.duplicates().values())
    # Marking waited for the database, so not even the in-flight batch came again.
    assert twice == 0, f"{twice} mails arrived twice (the documented bound is {SEND_BATCH})"


def _restart_once_logged(
    database: PrivatePostgres,
    worker: subprocess.Popen[bytes],
    log: Path,
    event: str,
    *,
    seen: int,
) -> None:
    """Start the stopped database once the worker, still running, logged ``event`` again
    (``seen`` times before)."""
    wait_for(
        lambda: len(logged(log, event)) > seen or worker.poll() is not None,
        30,
        f"the worker logged {event}",
    )
    assert worker.poll() is None, log.read_text(errors="replace")[-3000:]
    database.start()


OUTBOX_READERS = 12  # about 30 KB each: five fit in what the full disk leaves


def test_a_full_outbox_disk_pauses_sending_cleanly_and_a_rerun_sends_the_rest_once(
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC)
    var = tmp_path / "var"
    engine = make_engine(f"sqlite:///{var / 'paperfeed.db'}")
    migrate.upgrade(engine)
    try:
        store_settled_days(engine, now.date() - timedelta(days=4), days=3)
        seed_subscribers(
            engine,
            OUTBOX_READERS,
            joined=now - timedelta(days=30),
            send_hour=(now - timedelta(minutes=30)).hour,
        )
        compose_due(engine, now=now, policy=EditionPolicy(), corpus=CorpusCache())
        env = process_env(var)  # no SMTP URL: mail goes to VAR_DIR/outbox as .eml files
        with tiny_disk(var / "outbox", size_kib=1024) as outbox:
            other_data = outbox / "other-data.bin"
            fill(other_data, leave_kib=160)

            full = run(["send"], env)
            assert full.returncode == 1, full.stdout + full.stderr
            assert (
                f"paused: cannot write to the outbox {outbox}: No space left on device"
                in full.stderr
            ), full.stderr
            written = whole_messages(outbox)
            statuses = delivery_statuses(engine)
            assert 0 < statuses["sent"] < OUTBOX_READERS
            assert statuses == {
                "sent": statuses["sent"],
                "pending": OUTBOX_READERS - statuses["sent"],
            }
            # Marked sent exactly when written whole; the file cut short by the disk is gone.
            assert sorted(written) == sent_message_ids(engine)
            assert stray_files(outbox) == ["other-data.bin"]

            other_data.unlink()  # space freed
            rerun = run(["send"], env)
            assert rerun.returncode == 0, rerun.stdout + rerun.stderr
            assert delivery_statuses(engine) == {"sent": OUTBOX_READERS}
            assert sorted(whole_messages(outbox)) == sent_message_ids(engine)
            assert set(outbox_recipients(outbox).values()) == {1}
            assert len(outbox_recipients(outbox)) == OUTBOX_READERS
            assert stray_files(outbox) == []
    finally:
        engine.dispose()
