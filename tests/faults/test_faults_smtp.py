"""SMTP faults, injected by a real aiosmtpd server, checked in the outbox and at the server.

Each test fills the outbox as the daemon does (a settled day, confirmed subscribers,
``compose_due``), points ``PAPERFEED_SMTP_URL`` at a server that misbehaves
(faults_smtp_server.py), runs send passes as the daemon does (``send_once``), heals the
server and runs again. Afterwards: every delivery is ``sent`` (or, for an address the server
says does not exist, failed as bounced with its subscriber marked bounced), none is left
pending or in flight, the server holds exactly the sent Message-IDs, each addressed to its
own subscriber, and a message arrived twice only where the server took it without the
client hearing the 250 (a dropped line, a client timeout): at most once per such loss, which
is the in-flight bound the outbox documents (README "Outbox", paperfeed/outbox/send_pass.py,
paperfeed/mailer/transport.py). Between passes nothing is given up on.

Faults → tests:

* 421 at connect (server busy): ``test_a_server_busy_at_connect_sends_nothing_then_everything_once``
  and, busy for more send passes than ``PAPERFEED_SMTP_MAX_ATTEMPTS``,
  ``test_a_server_busy_for_more_passes_than_the_attempts_still_loses_nothing``
* 451 on DATA, until the run pauses:
  ``test_a_451_storm_pauses_the_run_and_the_next_pass_sends_each_message_once``
* the line dropped after DATA (taken, 250 never heard), healed within the pass or resent by
  the next one: ``test_a_line_dropped_after_data_duplicates_only_the_messages_in_flight``
* a slow server (slow greeting, slow 250) against a low SMTP timeout:
  ``test_a_slow_server_times_out_the_client_and_duplicates_only_what_it_had_taken``
* 5xx on RCPT: ``test_a_550_at_rcpt_bounces_that_subscriber_and_no_one_else``
* a crash between send and mark (the batch-in-flight bound) is
  tests/mailer/test_mail_outbox.py::test_a_crash_between_send_and_mark_resends_at_most_the_batch_with_the_same_ids
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import stamina
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from paperfeed.store.models import DeliveryStatus
from paperfeed.web.app import create_app
from tests.faults.faults_smtp_outbox import (
    LISTED,
    T0,
    assert_delivered_once,
    assert_nothing_lost_yet,
    compose,
    deliveries,
    later,
    outbox_for,
    send_pass,
    settings_for,
    store_listed_day,
)
from tests.faults.faults_smtp_server import FaultySink, serving

pytestmark = pytest.mark.faults

READERS = [f"reader{n:02d}@example.com" for n in range(12)]
FOREVER = 10**6


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    """The transport retries as configured, without stamina's backoff sleeps."""
    with stamina.set_testing(True, attempts=20, cap=True):
        yield


def test_a_server_busy_at_connect_sends_nothing_then_everything_once(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    with serving(FaultySink()) as sink:
        settings = settings_for(tmp_path, database_url, sink)
        outbox_for(engine, settings, READERS)

        sink.faults.busy_greetings = FOREVER
        busy = send_pass(engine, settings, now=T0)
        assert (busy.sent, busy.retried, busy.failed) == (0, 12, 0)
        assert {r.status for r in assert_nothing_lost_yet(engine, sink)} == {"pending"}
        assert not sink.stored
        assert sink.fired["421"] >= 12 * settings.smtp_max_attempts

        sink.heal()
        sink.faults.busy_greetings = 3  # still turning a few connections away as it recovers
        healed = send_pass(engine, settings, now=later(1))

    assert (healed.sent, healed.failed) == (12, 0)
    assert sink.fired["421"] >= 12 * settings.smtp_max_attempts + 3
    assert_delivered_once(engine, sink, in_flight=0)


def test_a_relay_refusing_us_at_the_greeting_pauses_and_fails_no_delivery(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    with serving(FaultySink()) as sink:
        settings = settings_for(tmp_path, database_url, sink)
        outbox_for(engine, settings, READERS[:4])

        # A misconfigured relay (554 at the greeting) says nothing about the subscribers.
        sink.faults.refused_greetings = FOREVER
        refused = send_pass(engine, settings, now=T0)
        assert (refused.sent, refused.failed) == (0, 0), refused.line()
        assert "refuses connections (554" in (refused.paused_reason or "")
        assert {(r.status, r.attempts) for r in assert_nothing_lost_yet(engine, sink)} == {
            ("pending", 0)
        }

        sink.heal()
        healed = send_pass(engine, settings, now=later(1))

    assert (healed.sent, healed.failed) == (4, 0)
    assert_delivered_once(engine, sink, in_flight=0)


def test_a_server_busy_for_more_passes_than_the_attempts_still_loses_nothing(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    with serving(FaultySink()) as sink:
        settings = settings_for(tmp_path, database_url, sink)
        outbox_for(engine, settings, READERS[:4])

        # The daemon sends every minute: a relay down for a few minutes spans more passes
        # than PAPERFEED_SMTP_MAX_ATTEMPTS.
        sink.faults.busy_greetings = FOREVER
        for minute in range(settings.smtp_max_attempts + 2):
            busy = send_pass(engine, settings, now=later(minute))
            assert (busy.sent, busy.failed) == (0, 0), busy.line()
            rows = assert_nothing_lost_yet(engine, sink)
            # Waiting, with the reason at hand, and no attempt used up by a closed door.
            assert {(r.status, r.attempts) for r in rows} == {("pending", 0)}
            assert all("421 gave up after 4 tries" in (r.last_error or "") for r in rows)

        sink.heal()
        healed = send_pass(engine, settings, now=later(10))

    assert healed.sent == 4
    assert_delivered_once(engine, sink, in_flight=0)


def test_a_451_storm_pauses_the_run_and_the_next_pass_sends_each_message_once(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    readers = [f"reader{n:02d}@example.com" for n in range(30)]
    with serving(FaultySink()) as sink:
        settings = settings_for(tmp_path, database_url, sink)
        outbox_for(engine, settings, readers)

        sink.faults.busy_data = FOREVER
        stormy = send_pass(engine, settings, now=T0)
        assert stormy.paused_reason is not None
        assert "messages in a row failed, the last with 451" in stormy.paused_reason
        assert stormy.sent == 0
        rows = assert_nothing_lost_yet(engine, sink)
        assert {r.status for r in rows} == {"pending"}
        # The messages a paused run never offered keep their attempt for later.
        assert sum(1 for r in rows if r.attempts == 0) >= 30 - settings.smtp_error_threshold

        sink.heal()
        sink.faults.busy_data = 4  # a few more 451s, retried within the pass
        healed = send_pass(engine, settings, now=later(1))

    assert (healed.sent, healed.paused_reason) == (30, None)
    assert not sink.unheard
    assert_delivered_once(engine, sink, in_flight=0)


@pytest.mark.parametrize(
    ("drops", "pool", "attempts"),
    [(3, 4, 4), (8, 2, 2)],
    ids=["healed-within-the-pass", "resent-by-the-next-pass"],
)
def test_a_line_dropped_after_data_duplicates_only_the_messages_in_flight(
    engine: Engine, database_url: str, tmp_path: Path, drops: int, pool: int, attempts: int
) -> None:
    with serving(FaultySink()) as sink:
        settings = settings_for(
            tmp_path, database_url, sink, smtp_pool_size=pool, smtp_max_attempts=attempts
        )
        outbox_for(engine, settings, READERS)

        sink.faults.drops_after_data = drops
        dropped = send_pass(engine, settings, now=T0)
        assert dropped.failed == 0
        rows = assert_nothing_lost_yet(engine, sink)
        assert sink.fired["drop"] == drops

        sink.heal()
        healed = send_pass(engine, settings, now=later(1))

    # Every drop hid one acceptance, and that message went out once more: no other.
    assert sink.duplicates() == drops
    final = {r.id: r for r in assert_delivered_once(engine, sink, in_flight=drops)}
    resent = [r.id for r in rows if r.status == DeliveryStatus.PENDING]
    assert healed.sent == len(resent)
    if attempts == 4:  # a drop is retried on a fresh connection within the same pass
        assert resent == []
    else:  # a message dropped on its last try waits for the next pass, and is sent again
        assert resent
        assert all(sink.stored[final[i].message_id or ""] >= 2 for i in resent)


def test_a_slow_server_times_out_the_client_and_duplicates_only_what_it_had_taken(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    # PAPERFEED_SMTP_URL ...?timeout=0.5: short, yet far above a healthy loopback reply.
    with serving(FaultySink(), timeout=0.5) as sink:
        settings = settings_for(tmp_path, database_url, sink)
        outbox_for(engine, settings, READERS)

        sink.faults.slow_greetings = 2
        sink.faults.slow_after_data = 2
        slow = send_pass(engine, settings, now=T0)
        assert (slow.sent, slow.failed) == (12, 0)
        assert_nothing_lost_yet(engine, sink)
        assert (sink.fired["slow greeting"], sink.fired["slow"]) == (2, 2)

        sink.heal()
        healed = send_pass(engine, settings, now=later(1))

    assert healed.done == 0
    assert sink.duplicates() == 2
    assert_delivered_once(engine, sink, in_flight=settings.smtp_pool_size)


def test_a_550_at_rcpt_bounces_that_subscriber_and_no_one_else(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    gone = ["gone01@example.com", "gone02@example.com"]
    readers = sorted([*READERS[:6], *gone])
    with serving(FaultySink()) as sink:
        settings = settings_for(tmp_path, database_url, sink)
        outbox_for(engine, settings, readers)

        sink.faults.gone_prefix = "gone"
        sink.faults.busy_data = 3  # the others meet a flaky server at the same time
        first = send_pass(engine, settings, now=T0)
        assert (first.sent, first.bounced) == (6, 2)
        assert sink.fired["550"] == 2  # a 5xx is never retried

        sink.heal()
        assert send_pass(engine, settings, now=later(1)).done == 0

        # The next day, only those still receiving get an edition and a mail.
        next_day = T0 + timedelta(days=1)
        store_listed_day(engine, LISTED + timedelta(days=1))
        assert compose(engine, settings, now=next_day).deliveries == 6
        second = send_pass(engine, settings, now=next_day)

    assert (second.sent, second.bounced) == (6, 0)
    assert len(deliveries(engine)) == 8 + 6
    assert_delivered_once(engine, sink, in_flight=0, bounced=gone)
    assert not any(
        address.startswith("gone") for rcpts in sink.recipients.values() for address in rcpts
    )


def _sign_up(client: TestClient, email: str) -> int:
    page = client.get("/")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token, "the sign-up page has no form token"
    response = client.post(
        "/subscribe",
        data={
            "csrf": token.group(1),
            "email": email,
            "interests": "speculative decoding",
            "timezone": "UTC",
            "send_hour": "7",
            "frequency": "daily",
        },
    )
    return response.status_code


def test_a_relay_that_refused_one_confirmation_does_not_silence_the_next(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    with serving(FaultySink()) as sink:
        settings = settings_for(tmp_path, database_url, sink, public_url="http://testserver")
        # The web app opens its own SMTP transport and keeps it for the process's life.
        with TestClient(create_app(settings, engine=engine)) as client:
            sink.faults.refused_greetings = FOREVER
            assert _sign_up(client, "ada@example.com") == 200  # the page never tells
            assert not sink.stored
            sink.heal()
            assert _sign_up(client, "bob@example.com") == 200

    assert set().union(*sink.recipients.values()) == {"bob@example.com"}
    assert sink.fired["554"] >= 1
