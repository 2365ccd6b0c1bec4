"""Rating links where the reader is: every matched paper of a digest mail (HTML and text)
carries "more like this" / "less like this", and each link rates that paper, that way, for
that reader only; a link altered to another reader's edition rates nothing."""

from __future__ import annotations

import email
import re
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from paperfeed.config import Settings
from paperfeed.corpus import CorpusCache
from paperfeed.digest import EditionPolicy, compose_due
from paperfeed.store.db import session_scope
from paperfeed.store.models import Edition, EditionPaper, Rating, Subscriber
from paperfeed.store.subscribers import create_subscriber
from tests.mailer.outbox_samples import send
from tests.web.web_samples import NOW, SQLITE_ONLY, MemoryTransport

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
HTML_RATE = re.compile(r'href="http://testserver(/r/e/[^"/]+/(\d+)/(more|less))"')
TEXT_RATE = re.compile(r"(More|Less) like this: http://testserver(/r/e/\S+)")


def _reader(engine: Engine, address: str, interests: str) -> int:
    with session_scope(engine) as session:
        subscriber = create_subscriber(
            session,
            email=address,
            interests=interests,
            now=NOW - timedelta(days=10),
            confirmed=True,
            send_hour=7,
        )
        assert subscriber.id is not None
        return subscriber.id


def _mails(engine: Engine, settings: Settings) -> dict[str, EditionMessage]:
    compose_due(engine, now=NOW, policy=EditionPolicy(), corpus=CorpusCache())
    transport = MemoryTransport()
    send(engine, settings, transport, now=NOW)
    out: dict[str, EditionMessage] = {}
    for mail in transport.sent:
        message = email.message_from_bytes(mail.data, policy=default)
        assert isinstance(message, EmailMessage)
        out[mail.recipient] = EditionMessage(message)
    return out


class EditionMessage:
    """A sent digest's two parts."""

    def __init__(self, message: EmailMessage) -> None:
        html = message.get_body(("html",))
        text = message.get_body(("plain",))
        assert html is not None
        assert text is not None
        self.html = str(html.get_content())
        self.text = str(text.get_content())


def _matched(engine: Engine, subscriber_id: int) -> list[tuple[int, str, str]]:
    """(position in rank order, paper, section) of the subscriber's one edition."""
    with session_scope(engine) as session:
        edition = session.exec(select(Edition).where(Edition.subscriber_id == subscriber_id)).one()
        rows = session.exec(
            select(EditionPaper)
            .where(EditionPaper.edition_id == edition.id)
            .order_by(EditionPaper.rank)  # type: ignore[arg-type]
        ).all()
        return [(n, r.paper_id, r.section) for n, r in enumerate(rows)]


def _ratings(engine: Engine) -> set[tuple[int, str, int]]:
    with session_scope(engine) as session:
        return {(r.subscriber_id, r.paper_id, r.value) for r in session.exec(select(Rating))}


def _click(client: TestClient, path: str) -> TestClient:
    page = client.get(path)  # follows the edition link to the paper's one-button page
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    done = client.post(str(page.url), data={"csrf": found.group(1)})
    assert done.status_code == 200
    return client


def test_each_matched_paper_in_the_mail_rates_itself_for_its_reader(
    client: TestClient, stored: Engine, web_settings: Settings
) -> None:
    alice = _reader(stored, "alice@example.com", '"speculative decoding"')
    bob = _reader(stored, "bob@example.com", '"speculative decoding"')
    mails = _mails(stored, web_settings)
    edition = _matched(stored, alice)
    matched = [(n, pid) for n, pid, section in edition if section == "matched"]
    assert matched, "the sample must match papers for the test to mean anything"
    mail = mails["alice@example.com"]

    html_links = HTML_RATE.findall(mail.html)
    # Two links per matched paper, none for the trending papers (they are not picks).
    assert sorted((int(n), way) for _, n, way in html_links) == sorted(
        (n, way) for n, _ in matched for way in ("more", "less")
    )
    text_links = TEXT_RATE.findall(mail.text)
    assert len(text_links) == 2 * len(matched)
    assert {path for _, path in text_links} == {path for path, _, _ in html_links}
    # The account token and the feed key are nowhere in a rating link.
    with session_scope(stored) as session:
        reader = session.get(Subscriber, alice)
        assert reader is not None
        secrets = (reader.token, reader.feed_token)
    assert not any(s in path for path, _, _ in html_links for s in secrets)

    # A scanner fetching every link records nothing.
    for path, _, _ in html_links:
        assert client.get(path).status_code == 200
    assert _ratings(stored) == set()

    first, last = matched[0], matched[-1]
    more = next(p for p, n, w in html_links if int(n) == first[0] and w == "more")
    _click(client, more)
    assert _ratings(stored) == {(alice, first[1], 1)}
    less = next(p for p, n, w in html_links if int(n) == last[0] and w == "less")
    _click(client, less)
    assert _ratings(stored) == {(alice, first[1], 1), (alice, last[1], -1)}

    # Bob's mail links rate for Bob, whatever Alice clicked.
    bob_links = HTML_RATE.findall(mails["bob@example.com"].html)
    bob_path, bob_n, _ = next(link for link in bob_links if link[2] == "more")
    assert bob_path not in {p for p, _, _ in html_links}
    _click(client, bob_path)
    bob_paper = dict((n, pid) for n, pid, _ in _matched(stored, bob))[int(bob_n)]
    assert _ratings(stored) == {(alice, first[1], 1), (alice, last[1], -1), (bob, bob_paper, 1)}


@SQLITE_ONLY
def test_an_altered_mail_link_rates_nothing(
    client: TestClient, stored: Engine, web_settings: Settings
) -> None:
    alice = _reader(stored, "alice@example.com", '"speculative decoding"')
    bob = _reader(stored, "bob@example.com", '"speculative decoding"')
    mails = _mails(stored, web_settings)
    path = HTML_RATE.findall(mails["alice@example.com"].html)[0][0]
    signed = path.split("/")[3]
    edition_id, stamp, mac = signed.split(".")
    with session_scope(stored) as session:
        bobs = session.exec(select(Edition).where(Edition.subscriber_id == bob)).one()
    forged = [
        path.replace(signed, f"{bobs.id}.{stamp}.{mac}"),  # Bob's edition, Alice's signature
        path.replace(signed, f"{edition_id}.{stamp}.{mac[:-2]}AA"),
        path.replace(signed, f"{edition_id}.{stamp}"),
        path.replace(signed, "garbage"),
    ]
    for bad in forged:
        assert client.get(bad).status_code == 400, bad
    assert client.get(path.rsplit("/", 2)[0] + "/99/more").status_code == 404
    assert client.get(path.rsplit("/", 1)[0] + "/sideways").status_code == 404
    assert _ratings(stored) == set()
    assert alice != bob


PAGE_RATE = re.compile(r'href="http://testserver(/r/[^"/]+)"[^>]*>(More|Less) like this<')


def _composed_reader(engine: Engine) -> tuple[int, str, str]:
    """Alice, her edition composed: her id, account token and feed key."""
    alice = _reader(engine, "alice@example.com", '"speculative decoding"')
    compose_due(engine, now=NOW, policy=EditionPolicy(), corpus=CorpusCache())
    with session_scope(engine) as session:
        reader = session.get(Subscriber, alice)
        assert reader is not None
        return alice, reader.token, reader.feed_token


def _resolves(client: TestClient, path: str) -> tuple[str, bool]:
    """What a rating link asks, read from its one-button page (the GET records nothing)."""
    page = client.get(path)
    assert page.status_code == 200
    found = re.search(r"\((\d{4}\.\d{4,5})\)", page.text)
    assert found is not None
    return found.group(1), "More papers like this one?" in page.text


@SQLITE_ONLY
def test_the_edition_page_rates_each_paper_for_its_reader(
    client: TestClient, stored: Engine, web_settings: Settings
) -> None:
    alice, token, feed_key = _composed_reader(stored)
    with session_scope(stored) as session:
        edition = session.exec(select(Edition).where(Edition.subscriber_id == alice)).one()
    papers = [pid for _, pid, _ in _matched(stored, alice)]  # matched and trending
    page = client.get(f"/e/{token}/{edition.id}")
    assert page.status_code == 200
    links = PAGE_RATE.findall(page.text)
    assert len(links) == 2 * len(papers)
    asked = [(_resolves(client, path), way) for path, way in links]
    assert [(pid, more) for (pid, more), _ in asked] == [
        (pid, more) for pid in papers for more in (True, False)
    ]
    assert all(more == (way == "More") for (_, more), way in asked)
    assert not any(token in p or feed_key in p for p, _ in links)
    assert _ratings(stored) == set()
    _click(client, links[0][0])
    assert _ratings(stored) == {(alice, papers[0], 1)}


@SQLITE_ONLY
def test_the_personal_feed_rates_each_paper_and_public_feeds_do_not(
    client: TestClient, stored: Engine, web_settings: Settings
) -> None:
    alice, token, feed_key = _composed_reader(stored)
    papers = [pid for _, pid, _ in _matched(stored, alice)]
    feed = client.get(f"/feeds/u/{feed_key}.atom")
    assert feed.status_code == 200
    # The entry bodies are escaped HTML inside the XML.
    links = re.findall(r'href="http://testserver(/r/[^"]+)"&gt;(More|Less)', feed.text)
    assert len(links) == 2 * len(papers)
    asked = [_resolves(client, path) for path, _ in links]
    assert asked == [(pid, more) for pid in papers for more in (True, False)]
    assert not any(token in p or feed_key in p for p, _ in links)
    # Built again, the same bytes: the links are signed as of the edition's making.
    assert client.get(f"/feeds/u/{feed_key}.atom").content == feed.content
    _click(client, links[1][0])
    assert _ratings(stored) == {(alice, papers[0], -1)}
    for public in ("/feeds/daily.atom", "/feeds/daily.rss"):
        answer = client.get(public)
        assert answer.status_code == 200
        assert "/r/" not in answer.text
        assert "like this" not in answer.text
