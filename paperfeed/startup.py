"""What a starting ``paperfeed run``/``serve`` needs to say: the public URL mails will carry,
why it may not work, and which ranker runs.

``PAPERFEED_PUBLIC_URL`` unset means "where I listen": ``run --port 8080`` mails links on port
8080. Listening on every interface (0.0.0.0, ::) says people come from elsewhere, so the
machine's name is used, with a warning to set the real address. A loopback public URL is
worth a warning when mail really leaves the machine (SMTP) or the app listens on every
interface: nobody else can open those links. One warning at most; pure functions.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from paperfeed.config import Settings
from paperfeed.ranking.encoder import semantic_available

ALL_INTERFACES = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 (recognised, not bound)
SET_IT = "set PAPERFEED_PUBLIC_URL to the address people reach the web app at"


@dataclass(frozen=True, slots=True)
class PublicAddress:
    """The base URL of every link paperfeed writes, and what is wrong with it, if anything."""

    url: str
    derived: bool
    warning: str | None = None


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` names this machine only (localhost, 127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def http_url(host: str, port: int) -> str:
    """``http://host:port``, with an IPv6 address in brackets."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}"


def public_address(settings: Settings, *, host: str | None, port: int | None) -> PublicAddress:
    """The public URL for a web app listening on ``host:port`` (None: a command that does not
    listen, e.g. ``tick``), and at most one warning about it."""
    explicit = "public_url" in settings.model_fields_set
    if explicit or host is None or port is None:
        url = settings.public_url
        name = "PAPERFEED_PUBLIC_URL" if explicit else "PAPERFEED_PUBLIC_URL (unset)"
        warning = None
        if is_loopback(urlsplit(url).hostname):
            if host is not None and host in ALL_INTERFACES:
                warning = (
                    f"{name} is {url}, a loopback address, while the web app listens on every "
                    f"interface ({host}): links in mails and feeds work only on this machine; "
                    f"{SET_IT}"
                )
            elif settings.smtp_url:
                warning = (
                    f"{name} is {url}, a loopback address, while PAPERFEED_SMTP_URL sends real "
                    f"mail: its links work only on this machine; {SET_IT}"
                )
        return PublicAddress(url, derived=False, warning=warning)
    if host in ALL_INTERFACES:
        # Whoever binds every interface expects visitors from elsewhere; 127.0.0.1 would be
        # wrong for all of them, the machine's name is right at least on a LAN.
        url = http_url(socket.gethostname() or "127.0.0.1", port)
        return PublicAddress(
            url,
            derived=True,
            warning=f"PAPERFEED_PUBLIC_URL is unset and the web app listens on every interface "
            f"({host}): links in mails and feeds use this machine's name, {url}; {SET_IT}",
        )
    url = http_url(host, port)
    warning = None
    if is_loopback(host) and settings.smtp_url:
        warning = (
            f"PAPERFEED_PUBLIC_URL is unset, so links use {url}, a loopback address, while "
            f"PAPERFEED_SMTP_URL sends real mail: they work only on this machine; {SET_IT}"
        )
    return PublicAddress(url, derived=True, warning=warning)


def ranker_summary(settings: Settings) -> str:
    """Which ranker runs, and how to turn hybrid on when its extra is installed but unused."""
    if settings.ranker == "hybrid":
        return "hybrid (lexical fused with sentence embeddings)"
    if "ranker" in settings.model_fields_set or not semantic_available():
        return "lexical"
    return "lexical (the semantic extra is installed: PAPERFEED_RANKER=hybrid turns on hybrid)"
