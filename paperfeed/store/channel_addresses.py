"""Chat and push addresses (apprise URLs) a subscriber or a team digest receives at.

An address is checked with apprise when it is added (an unknown scheme or a URL the service
cannot use is an ``InputError`` naming what is wrong, never echoing the URL: it holds the
service's secret). Only its redacted form, ``shown``, leaves this module: pages, the CLI,
logs and exports show ``slack://…/…a1b2``, never the URL. The outbox marks an address
undeliverable when its service refused it for good (a revoked webhook, an unknown channel;
``outbox.ledger.stop_addresses``); adding it again makes it active.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlmodel import Session, col, select

from paperfeed.errors import InputError
from paperfeed.store.models import ChannelAddress, ChannelAddressStatus

MAX_URL_CHARS = 2000
MAX_ADDRESSES = 10  # per subscriber: a digest posted to more places than this is a mistake
SECRET_TAIL = 4  # characters of the longest secret-looking part that ``shown`` keeps
_MIN_SECRET_FOR_TAIL = 12  # a shorter part keeps no tail: four characters would be too much
EXAMPLE_SCHEMES = ("slack", "discord", "msteams", "mmost", "matrix", "tgram", "ntfy", "json")
# Schemes only the operator may add (CLI): they post to any host and port the URL names, or
# reach the server's own desktop, mail or files. Refused on the public preferences page.
OPERATOR_ONLY_SCHEMES = frozenset(
    {
        "json", "jsons", "form", "forms", "xml", "xmls", "mailto", "mailtos", "email",
        "windows", "dbus", "kde", "qt", "glib", "gnome", "macosx", "syslog", "rsyslog",
        "mqtt", "mqtts", "apprise", "apprises", "sns", "ses",
    }
)  # fmt: skip
_HOSTNAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True, slots=True)
class CheckedAddress:
    """An apprise URL that apprise can use, with its service and redacted form."""

    url: str
    service: str
    shown: str


def _scheme(url: str) -> str:
    head, sep, _ = url.partition("://")
    return head.lower() if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", head) else ""


def check_address(raw: str, *, public: bool = False) -> CheckedAddress:
    """``raw`` checked with apprise; ``public`` refuses what only the operator may add.

    Every error names the scheme at most, never the URL.
    """
    from apprise.plugins import N_MGR  # heavy (requests, every plugin): only when needed

    url = raw.strip()
    if not url:
        raise InputError("the chat address is empty; paste the URL your service gave you")
    if len(url) > MAX_URL_CHARS or _CONTROL.search(url):
        raise InputError(
            f"the chat address is longer than {MAX_URL_CHARS} characters or holds spaces "
            "or control characters; paste it again as one line"
        )
    scheme = _scheme(url)
    examples = ", ".join(f"{s}://" for s in EXAMPLE_SCHEMES)
    if scheme in ("http", "https"):
        # A webhook URL as the service shows it (hooks.slack.com, discord.com/api/webhooks):
        # apprise knows several of these and names the service itself.
        native = _instantiate(url)
        scheme = _service_of(native) if native is not None else scheme
    if not scheme or scheme not in N_MGR:
        named = f"{scheme}://" if scheme and len(scheme) <= 16 else "this address"
        raise InputError(
            f"{named} is not a chat or push service paperfeed can post to; "
            f"use an apprise URL such as {examples} "
            "(list: https://github.com/caronc/apprise/wiki)"
        )
    if public and scheme in OPERATOR_ONLY_SCHEMES:
        raise InputError(
            f"{scheme}:// addresses can only be added by the operator; "
            f"here use a chat service such as {examples.replace(', json://', '')}"
        )
    plugin = _instantiate(url)
    if plugin is None:
        raise InputError(
            f"this {scheme}:// address is not one the service can use (a part is missing or "
            f"malformed); see https://github.com/caronc/apprise/wiki/Notify_{scheme}"
        )
    if public and _names_private_host(url):
        raise InputError(
            f"this {scheme}:// address names a local or private host; "
            "the preferences page accepts public services only"
        )
    return CheckedAddress(url=url, service=scheme, shown=redact(url))


def _instantiate(url: str) -> object | None:
    import apprise

    try:
        return apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:  # a plugin that raises on a malformed URL: the address is unusable
        return None


def _service_of(plugin: object) -> str:
    for attribute in ("secure_protocol", "protocol"):
        value = getattr(plugin, attribute, None)
        names = (value,) if isinstance(value, str) else tuple(value or ())
        if names:
            return str(names[0]).lower()
    return ""


def _names_private_host(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host in ("localhost", "") or host.endswith((".localhost", ".local", ".internal")):
        return host != ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not ip.is_global


def redact(url: str) -> str:
    """The form of an address people see: scheme, a server name if any, a secret's tail.

    ``slack://T1/B2/abcdefghijklmnop`` shows as ``slack://…/…mnop``; a server name (a host
    with dots, an IP address) stays, since it is not the secret:
    ``json://127.0.0.1:9000/…cret``. Tokens, topics and chat ids never show in full.
    """
    scheme = _scheme(url) or "chat"
    rest = url.split("://", 1)[1] if "://" in url else url
    rest = rest.split("?", 1)[0].split("#", 1)[0]
    netloc, _, path = rest.partition("/")
    host = netloc.rsplit("@", 1)[-1]  # never the user:password part
    bare = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    port = host.rsplit(":", 1)[1] if host.count(":") == 1 else ""
    server = ""
    if (_HOSTNAME.match(bare) or _is_ip(bare)) and (not port or port.isdigit()):
        server = host
    parts = [p for p in ([] if server else [netloc.rsplit("@", 1)[-1]]) + path.split("/") if p]
    longest = max(parts, key=len, default="")
    tail = longest[-SECRET_TAIL:] if len(longest) >= _MIN_SECRET_FOR_TAIL else ""
    shown = f"{scheme}://{server or '…'}/…{tail}"
    return shown[:200]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def add_address(
    session: Session,
    subscriber_id: int,
    raw: str,
    *,
    now: datetime,
    public: bool = False,
    kind: str = "chat",
) -> ChannelAddress:
    """Check ``raw`` and keep it for the subscriber; the same URL twice is refused, unless
    it was marked undeliverable: adding it again makes it active.

    ``kind`` is the delivery kind (a registered channel) that posts to it: ``chat`` (apprise)
    unless another channel was added for some addresses (a native Slack one, say).
    """
    from paperfeed.outbox.registry import kinds

    if kind == "email" or kind not in kinds():
        others = ", ".join(k for k in kinds() if k != "email")
        raise InputError(f"{kind!r} is not a channel for chat addresses; use one of {others}")
    checked = check_address(raw, public=public)
    known = list_addresses(session, subscriber_id)
    same = next((a for a in known if a.url == checked.url), None)
    if same is not None and same.status == ChannelAddressStatus.UNDELIVERABLE:
        # Added again once fixed (a webhook re-created, the bot let back in): it receives again.
        same.status = ChannelAddressStatus.ACTIVE
        same.last_error = None
        same.updated_at = now
        session.add(same)
        session.flush()
        return same
    if same is not None:
        raise InputError(f"{checked.shown} is added already")
    if len(known) >= MAX_ADDRESSES:
        raise InputError(f"a subscriber can have at most {MAX_ADDRESSES} chat addresses")
    address = ChannelAddress(
        subscriber_id=subscriber_id,
        kind=kind,
        service=checked.service,
        url=checked.url,
        shown=checked.shown,
        created_at=now,
        updated_at=now,
    )
    session.add(address)
    session.flush()
    return address


def list_addresses(session: Session, subscriber_id: int) -> Sequence[ChannelAddress]:
    """The subscriber's chat addresses in the order they were added."""
    query = (
        select(ChannelAddress)
        .where(ChannelAddress.subscriber_id == subscriber_id)
        .order_by(col(ChannelAddress.id))
    )
    return session.exec(query).all()


def remove_address(session: Session, subscriber_id: int, address_id: int) -> ChannelAddress:
    """Delete one of the subscriber's addresses (its deliveries, sent or not, go with it)."""
    address = session.get(ChannelAddress, address_id)
    if address is None or address.subscriber_id != subscriber_id:
        raise InputError(f"no chat address {address_id} for this subscriber")
    session.delete(address)
    session.flush()
    return address
