"""Hostile text through the running app: topic queries and stored interests stay text.

The property tests prove the renderers escape; these prove the routes use them: a topic
query from the URL becomes a feed title, and stored interests fill the preferences page,
without adding an element or breaking the XML, whatever they hold.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from selectolax.lexbor import LexborHTMLParser
from sqlalchemy import Engine

from paperfeed.paper_view import one_line
from paperfeed.store.db import session_scope
from paperfeed.store.subscribers import create_subscriber
from tests.web.web_samples import SQLITE_ONLY, Clock, store_days

ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE = [
    'decoding <script>alert("x")</script>',
    "vision </title><script>x</script> & agents",
    "llm ]]><![CDATA[<img src=x onerror=alert(1)>",
    "diffusion \"quoted\" 'single' &amp; &lt;b&gt;",
    "agents \x01\x1b\x7f\u2028 ünïcødé 🚀",
]


def elements(html: str) -> Counter[str]:
    return Counter(node.tag for node in LexborHTMLParser(html).root.traverse() if node.tag)


@SQLITE_ONLY
@pytest.mark.parametrize("query", HOSTILE)
@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_a_hostile_topic_query_is_a_feed_title_not_markup(
    client: TestClient, engine: Engine, query: str, fmt: str
) -> None:
    store_days(engine)
    response = client.get(f"/feeds/topic.{fmt}", params={"q": query})
    assert response.status_code == 200, response.text[:300]
    root = ET.fromstring(response.content)
    assert not [e for e in root.iter() if e.tag.rsplit("}", 1)[-1].lower() == "script"]
    title = root.findtext("channel/title") if fmt == "rss" else root.findtext(f"{ATOM}title")
    assert title is not None
    # An RSS title is read as HTML, so it is HTML-escaped once more (Atom's is plain text).
    shown = html.unescape(title) if fmt == "rss" else title
    # A title is one line: the query's line breaks (U+2028 too) are spaces there.
    assert shown.endswith(one_line(query)[:80])


@SQLITE_ONLY
@pytest.mark.parametrize("interests", HOSTILE)
def test_hostile_stored_interests_fill_the_preferences_page_as_text(
    client: TestClient, engine: Engine, clock: Clock, interests: str
) -> None:
    with session_scope(engine) as session:
        plain = create_subscriber(
            session, email="plain@example.com", interests="llm", now=clock(), confirmed=True
        ).token
        hostile = create_subscriber(
            session, email="eve@example.com", interests=interests, now=clock(), confirmed=True
        ).token
    baseline = client.get(f"/u/{plain}")
    page = client.get(f"/u/{hostile}")
    assert page.status_code == baseline.status_code == 200
    # The page lists what it understood, one <li> per clause; every other element is fixed.
    shown, expected = elements(page.text), elements(baseline.text)
    del shown["li"], expected["li"]
    assert shown == expected, "the interests added an element"
    textarea = LexborHTMLParser(page.text).css_first("textarea")
    assert textarea is not None
    assert one_line(textarea.text()) == one_line(interests)
