"""An OPML 2.0 list of a reader's feeds, to import into a feed reader in one step.

It names the personal feed by its own read-only feed token (never the account token, which
opens the preferences page) and the daily feed, both as Atom. Knows nothing of HTTP or SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree import ElementTree as ET

MEDIA_TYPE = "text/x-opml; charset=utf-8"
FILENAME = "paperfeed-feeds.opml"


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    """One feed in the list: its title, its URL, and the site it belongs to."""

    title: str
    xml_url: str
    html_url: str


def render_opml(title: str, feeds: list[OpmlFeed]) -> bytes:
    """The OPML 2.0 document as UTF-8 bytes, feeds in the given order."""
    opml = ET.Element("opml", version="2.0")
    head = ET.SubElement(opml, "head")
    ET.SubElement(head, "title").text = title
    body = ET.SubElement(opml, "body")
    for feed in feeds:
        ET.SubElement(
            body,
            "outline",
            type="rss",
            text=feed.title,
            title=feed.title,
            xmlUrl=feed.xml_url,
            htmlUrl=feed.html_url,
        )
    ET.indent(opml)
    document: bytes = ET.tostring(opml, encoding="utf-8", xml_declaration=True)
    return document + b"\n"
