"""The outbox over two channels: email (real, to files) and a chat channel the test scripts.

Each edition is delivered once per channel; claims stay within a kind; a service's
Retry-After holds a delivery until then; a dead chat address stops that address only;
unsubscribing stops every channel; a chat service that is down or slow holds back only
chat while mail flows.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from paperfeed.config import Settings
from paperfeed.errors import InputError
from paperfeed.outbox import registry
from paperfeed.outbox.channel import Outcome, Parcel, Result
from paperfeed.outbox.send_pass import send_due
from paperfeed.outbox.summary import SendSummary
from paperfeed.outbox.worker import ChannelFactories, run_worker, send_once
from paperfeed.store.db import session_scope
from paperfeed.store.models import (
    ChannelAddress,
    ChannelAddressStatus,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
)
from paperfeed.store.subscribers import unsubscribe
from tests.mailer.outbox_samples import EDITION_DAY, T0, later, make_settings, store_papers
from tests.outbox.channel_samples import (
    ScriptedChat,
    add_person,
    add_team,
    by_channel,
    compose,
    email_channel,
    mails,
)


def _channels(settings: Settings, chat: ScriptedChat) -> ChannelFactories:
    """Real email to files beside the scripted chat channel."""
    return {"email": lambda: email_channel(settings), "chat": lambda: chat}


def _once(engine: Engine, settings: Settings, chat: ScriptedChat) -> SendSummary:
    return send_once(
        engine, settings, now=lambda: T0, worker="w", channels=_channels(settings, chat)
    )


def _ada_on_two_chats(engine: Engine) -> int:
    """Ada, on email and two chat addresses, with one edition composed for her."""
    store_papers(engine)
    ada = add_person(engine, "ada@example.com", chats=2)
    compose(engine, [ada])
    return ada


def _ada_and_a_team(engine: Engine) -> tuple[int, int]:
    """Ada (email and one chat address) and a team (one chat address), an edition each."""
    store_papers(engine)
    ada = add_person(engine, "ada@example.com")
    team = add_team(engine, "vision-lab")
    compose(engine, [ada, team])
    return ada, team


def _statuses(engine: Engine) -> list[tuple[str, str]]:
    with session_scope(engine) as session:
        rows = session.exec(select(Delivery).order_by(Delivery.id)).all()
        return [(r.channel.split(":")[0], r.status) for r in rows]


def test_an_edition_on_two_channels_is_delivered_once_on_each(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    ada, team = _ada_and_a_team(engine)
    settings = make_settings(tmp_path, database_url)
    rows = by_channel(engine)
    ada_chat = next(c for s, c in rows if s == ada and c != "email")
    assert sorted(rows) == sorted(
        [(ada, "email"), (ada, ada_chat), (team, next(c for s, c in rows if s == team))]
    )
    assert {r.kind for r in rows.values()} == {"email", "chat"}

    chat = ScriptedChat()
    first = _once(engine, settings, chat)
    again = _once(engine, settings, chat)

    assert first.line() == (
        "sent 3, retried 0, bounced 0, failed 0; expired 0, cancelled 0 "
        "(chat: sent 2; email: sent 1)"
    )
    assert (first.by_kind["email"].sent, first.by_kind["chat"].sent) == (1, 2)
    assert again.done == 0
    assert len(mails(settings)) == 1
    assert sorted((p.subscriber.id, p.channel) for p in chat.posted) == sorted(
        (s, c) for s, c in rows if c != "email"
    )
    # The chat channel is handed the address; the team has no email and gets none.
    assert all(p.address is not None and "secret" in p.address for p in chat.posted)
    assert {s.status for s in by_channel(engine).values()} == {DeliveryStatus.SENT}
    assert chat.closed


def test_a_kind_with_nothing_due_opens_no_channel(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    store_papers(engine)
    compose(engine, [add_person(engine, "ada@example.com", chats=0)])
    settings = make_settings(tmp_path, database_url)

    def never() -> ScriptedChat:
        raise AssertionError("the chat channel was opened with no chat delivery due")

    summary = send_once(
        engine,
        settings,
        now=lambda: T0,
        worker="w",
        channels={"email": lambda: email_channel(settings), "chat": never},
    )
    assert summary.line() == "sent 1, retried 0, bounced 0, failed 0; expired 0, cancelled 0"


def test_a_chat_pass_claims_only_chat_deliveries(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    store_papers(engine)
    compose(engine, [add_person(engine, f"r{i}@example.com") for i in range(3)])
    settings = make_settings(tmp_path, database_url)
    chat = ScriptedChat()

    summary = asyncio.run(send_due(engine, settings, channel=chat, now=T0, worker="c"))

    assert summary.sent == 3
    assert {p.channel.split(":")[0] for p in chat.posted} == {"chat"}
    assert sorted(_statuses(engine)) == sorted(
        [("email", DeliveryStatus.PENDING)] * 3 + [("chat", DeliveryStatus.SENT)] * 3
    )


def test_retry_after_holds_a_delivery_until_then(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    store_papers(engine)
    compose(engine, [add_team(engine, "vision-lab")])
    settings = make_settings(tmp_path, database_url)
    answers = iter([Result(Outcome.RETRY_LATER, "429 Too Many Requests", retry_after=90)])

    def slow_down_once(_: Parcel) -> Result:
        return next(answers, Result(Outcome.SENT, "200"))

    chat = ScriptedChat(slow_down_once)

    def at(seconds: float) -> SendSummary:
        now = T0 + timedelta(seconds=seconds)
        return asyncio.run(send_due(engine, settings, channel=chat, now=now, worker="c"))

    told = at(0)
    (row,) = by_channel(engine).values()
    assert (told.retried, row.status, row.attempts) == (1, DeliveryStatus.PENDING, 1)
    assert row.not_before == T0 + timedelta(seconds=90)
    assert row.last_error == "429 Too Many Requests"
    assert at(89).done == 0
    assert chat.batches == 1
    assert at(90).sent == 1
    (row,) = by_channel(engine).values()
    assert (row.status, row.attempts, row.not_before) == (DeliveryStatus.SENT, 2, None)


def test_an_undeliverable_chat_address_stops_that_address_only(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    ada = _ada_on_two_chats(engine)
    compose(engine, [ada], day=EDITION_DAY + timedelta(days=1))
    settings = make_settings(tmp_path, database_url)
    with session_scope(engine) as session:
        dead, alive = session.exec(
            select(ChannelAddress.id).order_by(ChannelAddress.id)  # type: ignore[arg-type]
        ).all()

    def webhook_gone(parcel: Parcel) -> Result:
        if parcel.address_id == dead:
            return Result(Outcome.UNDELIVERABLE, "404 Not Found: the webhook was deleted")
        return Result(Outcome.SENT, "200")

    chat = ScriptedChat(webhook_gone)
    # One delivery per batch: the dead address's second delivery is still pending when the
    # first is refused, and is cancelled with the address.
    summary = asyncio.run(
        send_due(engine, settings, channel=chat, now=T0, worker="c", batch_size=1)
    )
    mail = asyncio.run(_email_pass(engine, settings))

    assert (summary.sent, summary.bounced, summary.cancelled) == (2, 1, 1)
    assert [p.address_id for p in chat.posted] == [alive, alive]
    assert mail.sent == 2
    with session_scope(engine) as session:
        address = session.get(ChannelAddress, dead)
        assert address is not None
        assert address.status == ChannelAddressStatus.UNDELIVERABLE
        assert address.last_error == "404 Not Found: the webhook was deleted"
        subscriber = session.get(Subscriber, ada)
        assert subscriber is not None
        assert subscriber.status == SubscriberStatus.ACTIVE
        refused = session.exec(select(Delivery).where(Delivery.address_id == dead)).all()
        assert sorted(r.status for r in refused) == [
            DeliveryStatus.CANCELLED,
            DeliveryStatus.FAILED,
        ]


async def _email_pass(engine: Engine, settings: Settings) -> SendSummary:
    channel = email_channel(settings)
    try:
        return await send_due(engine, settings, channel=channel, now=T0, worker="m")
    finally:
        await channel.aclose()


def test_unsubscribing_cancels_pending_deliveries_on_every_channel(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    ada = _ada_on_two_chats(engine)
    settings = make_settings(tmp_path, database_url)
    with session_scope(engine) as session:
        subscriber = session.get(Subscriber, ada)
        assert subscriber is not None
        unsubscribe(session, subscriber, now=later(1))
    chat = ScriptedChat()

    summary = _once(engine, settings, chat)

    assert (summary.sent, summary.cancelled) == (0, 3)
    assert chat.posted == []
    assert mails(settings) == []
    assert {status for _, status in _statuses(engine)} == {DeliveryStatus.CANCELLED}


def test_email_digest_off_or_a_removed_address_cancels_that_channel_only(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    ada = _ada_on_two_chats(engine)
    settings = make_settings(tmp_path, database_url)
    with session_scope(engine) as session:
        subscriber = session.get(Subscriber, ada)
        assert subscriber is not None
        subscriber.email_digest = False  # after compose: reads only chat from now on
        session.add(subscriber)
        first = session.exec(select(ChannelAddress).order_by(ChannelAddress.id)).first()
        assert first is not None
        first.status = ChannelAddressStatus.UNDELIVERABLE  # marked on the web meanwhile
        session.add(first)
    chat = ScriptedChat()

    summary = _once(engine, settings, chat)

    assert (summary.sent, summary.cancelled) == (1, 2)
    assert mails(settings) == []
    assert sorted(_statuses(engine)) == sorted(
        [
            ("email", DeliveryStatus.CANCELLED),
            ("chat", DeliveryStatus.CANCELLED),
            ("chat", DeliveryStatus.SENT),
        ]
    )


def test_a_chat_service_that_is_down_and_slow_holds_back_only_chat(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    store_papers(engine)
    compose(engine, [add_person(engine, f"r{i}@example.com") for i in range(4)])
    settings = make_settings(tmp_path, database_url)
    down = ScriptedChat(delay=2.0, pause="the chat service answers 503")
    mail_done_at: list[float] = []

    async def work() -> SendSummary:
        stop = asyncio.Event()
        started = time.monotonic()
        worker = asyncio.create_task(
            run_worker(
                engine,
                settings,
                now=lambda: T0,
                worker="w",
                stop=stop,
                channels=_channels(settings, down),
                idle_seconds=0.05,
                pause_seconds=30,
            )
        )
        for _ in range(200):
            if len(mails(settings)) == 4:
                mail_done_at.append(time.monotonic() - started)
                break
            await asyncio.sleep(0.02)
        # The chat batch is still in flight: the worker finishes it, then stops.
        assert down.batches == 1
        stop.set()
        return await asyncio.wait_for(worker, timeout=30)

    totals = asyncio.run(work())

    assert mail_done_at
    assert mail_done_at[0] < 2.0, "mail waited for the slow chat service"
    assert totals.by_kind["email"].sent == 4
    assert totals.by_kind["chat"].retried == 4
    assert totals.paused_reason == "chat: the chat service answers 503"
    with session_scope(engine) as session:
        rows = session.exec(select(Delivery).order_by(Delivery.id)).all()
        chats = [r for r in rows if r.kind == "chat"]
        assert {r.status for r in rows if r.kind == "email"} == {DeliveryStatus.SENT}
        # Never offered to the service: the pass does not count against them.
        assert {(r.status, r.attempts) for r in chats} == {(DeliveryStatus.PENDING, 0)}


def test_the_registry_names_a_factory_per_kind_and_refuses_others() -> None:
    from paperfeed.mailer.email_channel import email_channel as mail_factory

    assert registry.kinds() == ("email", "chat")
    assert registry.factory_for("email") is mail_factory
    with pytest.raises(ValueError, match="no channel sends 'pigeon' deliveries"):
        registry.factory_for("pigeon")


def test_only_limits_a_pass_to_one_subscriber_or_team(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    _, team = _ada_and_a_team(engine)
    settings = make_settings(tmp_path, database_url)
    chat = ScriptedChat()

    def only(who: str) -> SendSummary:
        return send_once(
            engine,
            settings,
            now=lambda: T0,
            worker="w",
            only=who,
            channels=_channels(settings, chat),
        )

    assert only("vision-lab").sent == 1
    assert [p.subscriber.id for p in chat.posted] == [team]
    assert mails(settings) == []
    assert only("ADA@example.com").sent == 2
    with pytest.raises(InputError, match="nobody is not subscribed"):
        only("nobody")
