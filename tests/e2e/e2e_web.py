"""What a reader does on the daemon's web app, over HTTP: sign up, confirm, leave, read a feed.

Links in mails carry the public URL (the address of the reverse proxy people would reach);
``Site`` plays that proxy, sending each request to whichever port the current daemon
listens on. Forms are sent as a browser would: the page first (its CSRF cookie and hidden
field), then the POST with both.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

import httpx

CSRF_FIELD = re.compile(r'<input type="hidden" name="csrf" value="([^"]+)">')
FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)"')


@dataclass(frozen=True)
class FeedEntry:
    """One item of a personal feed: the paper, its edition and when it was published.

    The item's id names the paper in its edition (``tag:…:edition/<edition>/<paper>``).
    """

    paper_id: str
    edition: str
    published: datetime


class Site:
    """A browser on the daemon's web app, which people reach at ``public_url``."""

    def __init__(self, public_url: str, daemon_url: str) -> None:
        self.public_url = public_url
        self.client = httpx.Client(base_url=daemon_url, timeout=30)

    def close(self) -> None:
        """Close the connections."""
        self.client.close()

    def path(self, link: str) -> str:
        """A link from a mail, relative to the site."""
        assert link.startswith(self.public_url + "/"), f"{link} is not on {self.public_url}"
        return link.removeprefix(self.public_url)

    def form_token(self, path: str = "/") -> str:
        """Open a page with a form; its CSRF token (the cookie is kept by the client)."""
        page = self.client.get(path)
        assert page.status_code == 200, f"GET {path}: {page.status_code} {page.text[:300]}"
        found = CSRF_FIELD.search(page.text)
        assert found, f"no CSRF field on {path}"
        return found.group(1)

    def sign_up(self, csrf: str, *, email: str, interests: str, zone: str, hour: int) -> None:
        """Send the front page's form."""
        answer = self.client.post(
            "/subscribe",
            data={
                "csrf": csrf,
                "email": email,
                "interests": interests,
                "timezone": zone,
                "send_hour": str(hour),
                "frequency": "daily",
            },
            follow_redirects=True,  # a sign-up answers 303 to "check your inbox"
        )
        assert answer.status_code == 200, f"sign-up of {email}: {answer.status_code}"
        assert "inbox" in answer.text.lower(), f"sign-up of {email} did not say check the inbox"

    def confirm(self, link: str) -> str:
        """Open the confirmation link and press its button; returns the subscriber's token."""
        path = self.path(link)
        csrf = self.form_token(path)
        answer = self.client.post(path, data={"csrf": csrf})
        assert answer.status_code == 303, f"confirming {path}: {answer.status_code}"
        location = answer.headers["location"]
        found = re.search(r"/u/([^/?]+)\?welcome=1$", location)
        assert found, f"confirming led to {location}, not the preferences page"
        return unquote(found.group(1))

    def unsubscribe_one_click(self, link: str) -> None:
        """What a mail client does with List-Unsubscribe-Post (RFC 8058): POST, no cookie."""
        answer = httpx.post(
            str(self.client.base_url).rstrip("/") + self.path(link),
            data={"List-Unsubscribe": "One-Click"},
            timeout=30,
        )
        assert answer.status_code == 200, f"one-click unsubscribe: {answer.status_code}"

    def unsubscribe_on_page(self, link: str) -> None:
        """Follow the mail's visible unsubscribe link and press the page's button."""
        path = self.path(link)
        page = self.client.get(path)
        assert page.status_code == 200, f"GET {path}: {page.status_code}"
        action = FORM_ACTION.search(page.text)
        assert action, f"no unsubscribe form on {path}"
        answer = self.client.post(action.group(1), data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 200, f"unsubscribing on {path}: {answer.status_code}"
        assert "unsubscribed" in answer.text.lower()

    def feed(self, link: str) -> list[FeedEntry]:
        """A personal RSS feed's items (paper id, edition, publication moment)."""
        answer = self.client.get(self.path(link))
        assert answer.status_code == 200, f"GET {link}: {answer.status_code}"
        entries = []
        for item in ET.fromstring(answer.content).iter("item"):
            guid = item.findtext("guid") or ""
            published = parsedate_to_datetime(item.findtext("pubDate") or "")
            _, edition, paper_id = guid.rsplit("/", 2)
            entries.append(FeedEntry(paper_id, edition, published))
        return entries
