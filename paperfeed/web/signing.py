"""Signed values: confirmation links that expire and work once, and the form tokens that stop CSRF.

Confirmation links are itsdangerous ``URLSafeTimedSerializer`` values over the subscriber's
id and a digest of their link state (``store.subscribers.link_state``: the token, status,
preferences and last change), signed with the app's secret key. Not the token itself: the
token is the long-lived key to the preferences page, and the link must neither reveal it (a
signed value is readable, not encrypted) nor outlive ``confirm_hours``. Using the link
changes the state, so it works once. A link from the sign-up form also carries the
preferences typed there (signed, so nobody else's can be slipped in), which confirming applies.
Form tokens are signed random values sent both as a cookie and as a hidden field (the
"signed double-submit" pattern): another site can make a browser send the cookie but cannot
read it to copy it into the field. Knows nothing of routes or the database.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from itsdangerous import BadSignature, SignatureExpired, Signer, TimestampSigner
from itsdangerous.url_safe import URLSafeTimedSerializer

from paperfeed.errors import InputError

CONFIRM_SALT = "paperfeed.confirm"
CSRF_SALT = "paperfeed.csrf"
Clock = Callable[[], datetime]


class LinkExpired(InputError):
    """A confirmation link older than ``confirm_hours``."""


class LinkInvalid(InputError):
    """A confirmation link that was not made by this site (or was cut short)."""


@dataclass(frozen=True, slots=True)
class Preferences:
    """What a sign-up form asked for, carried by its confirmation link."""

    interests: str
    timezone: str
    send_hour: int
    frequency: str


@dataclass(frozen=True, slots=True)
class ConfirmationLink:
    """A read confirmation link: whose, in which state it was made, and what it applies."""

    subscriber_id: int
    state: str
    preferences: Preferences | None


def _preferences(value: list[object]) -> Preferences | None:
    if not value:
        return None
    interests, timezone, hour, frequency = value
    if not (
        isinstance(interests, str)
        and isinstance(timezone, str)
        and isinstance(hour, int)
        and isinstance(frequency, str)
    ):
        raise ValueError("malformed preferences")
    return Preferences(interests, timezone, hour, frequency)


class ConfirmationSigner:
    """Makes and reads confirmation links' signed part, on an injectable clock."""

    def __init__(self, secret: str, *, clock: Clock, max_age_seconds: int) -> None:
        class _ClockSigner(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock().timestamp())

        self._serializer = URLSafeTimedSerializer(secret, salt=CONFIRM_SALT, signer=_ClockSigner)
        self.max_age_seconds = max_age_seconds

    def sign(self, subscriber_id: int, state: str, preferences: Preferences | None = None) -> str:
        """The signed part of the link for this subscriber in ``state`` (``link_state``)."""
        value: list[object] = [subscriber_id, state]
        if preferences is not None:
            value += [
                preferences.interests,
                preferences.timezone,
                preferences.send_hour,
                preferences.frequency,
            ]
        # itsdangerous compresses when it pays: 5,000 characters of interests stay a link.
        return str(self._serializer.dumps(value))

    def read(self, signed: str) -> ConfirmationLink:
        """What the link says, or LinkExpired / LinkInvalid."""
        try:
            value = self._serializer.loads(signed, max_age=self.max_age_seconds)
        except SignatureExpired as exc:
            hours = self.max_age_seconds // 3600
            raise LinkExpired(
                f"this confirmation link is more than {hours} hours old; subscribe again to "
                "get a new one"
            ) from exc
        except BadSignature as exc:
            raise LinkInvalid(
                "this confirmation link is not one we sent (it may have been cut short); "
                "copy the whole link from the mail, or subscribe again"
            ) from exc
        malformed = LinkInvalid("this confirmation link is malformed; subscribe again")
        if (
            not isinstance(value, list)
            or len(value) not in (2, 6)
            or not isinstance(value[0], int)
            or not isinstance(value[1], str)
        ):
            raise malformed
        try:
            preferences = _preferences(value[2:])
        except ValueError:
            raise malformed from None
        return ConfirmationLink(value[0], value[1], preferences)

    @staticmethod
    def matches(link: ConfirmationLink, state: str) -> bool:
        """Whether the link was made in this state (unused since), in constant time."""
        return hmac.compare_digest(link.state, state)


class FormTokens:
    """Signed double-submit CSRF tokens."""

    def __init__(self, secret: str) -> None:
        self._signer = Signer(secret, salt=CSRF_SALT)

    def new(self) -> str:
        """A fresh token for the cookie and the hidden field."""
        return self._signer.sign(secrets.token_urlsafe(18)).decode("ascii")

    def valid(self, value: str | None) -> bool:
        """Whether ``value`` was signed by this site."""
        if not value or len(value) > 200:
            return False
        try:
            self._signer.unsign(value)
        except BadSignature:
            return False
        return True

    def check(self, cookie: str | None, field: str | None) -> bool:
        """Whether the form's field and the browser's cookie are the same signed token."""
        if cookie is None or field is None or not (self.valid(cookie) and self.valid(field)):
            return False
        return hmac.compare_digest(cookie, field)
