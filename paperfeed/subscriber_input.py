"""One checked description of a new subscriber, for the web form, ``subscribers add`` and CSV.

Every way in takes the same values through the same checks, so a value the sign-up form
refuses (a control character, a NUL, ``send_hour=²``, ``timezone=America``, an address no
relay can carry, interests that can pick no paper) is refused by the command line and the
CSV import too, with the same reason, instead of crashing one of them or being stored.
Fields arrive as text (a form, a CSV cell) or as typed values (typer); errors are one
``InputError`` naming the field and the fix. Knows nothing of HTTP or the database session.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from paperfeed.cli_interests import usable_interests
from paperfeed.errors import InputError
from paperfeed.store.choices import Frequency
from paperfeed.store.subscribers import MAX_INTERESTS_CHARS, check_timezone, normalise_email

MAX_LINE_CHARS = 320
SIGN_UP_FREQUENCIES = (Frequency.DAILY, Frequency.WEEKLY, Frequency.OFF)
_HOUR_RANGE = range(24)
T = TypeVar("T")


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character (NUL, ESC, a line break…)."""
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def _refuse(message: str) -> PydanticCustomError:
    # A custom error keeps the message as written (no "Value error, " in front).
    return PydanticCustomError("paperfeed_input", message)


def one_line_value(value: object, *, label: str) -> str:
    """A one-line text value, trimmed; line breaks and control characters are refused."""
    if not isinstance(value, str):
        raise InputError(f"{label} must be text")
    if has_control(value):
        raise InputError(
            f"{label} holds a line break or another control character; type it on one line"
        )
    value = value.strip()
    if len(value) > MAX_LINE_CHARS:
        raise InputError(f"{label} is {len(value)} characters; the limit is {MAX_LINE_CHARS}")
    return value


def interest_text(value: object) -> str:
    """Interest text: lines kept (one topic per line), other control characters refused."""
    if not isinstance(value, str):
        raise InputError("interests must be text")
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if has_control(value.replace("\n", "").replace("\t", "")):
        raise InputError(
            "interests hold a control character (such as NUL); type them as plain text"
        )
    value = value.strip()
    if len(value) > MAX_INTERESTS_CHARS:
        raise InputError(
            f"interests are {len(value)} characters; the limit is {MAX_INTERESTS_CHARS}"
        )
    return value


def send_hour_value(value: object) -> int:
    """A send hour 0 to 23 from an int or from ASCII digits ("²" and "٣" are digits to Python)."""
    if isinstance(value, bool):
        raise InputError(f"the send hour {value!r} is not a whole hour from 0 to 23")
    if isinstance(value, int):
        hour = value
    else:
        raw = one_line_value(value, label="the send hour")
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 2):
            raise InputError(f"the send hour {raw[:20]!r} is not a whole hour from 0 to 23")
        hour = int(raw)
    if hour not in _HOUR_RANGE:
        raise InputError(f"the send hour {hour} is not a whole hour from 0 to 23")
    return hour


def timezone_value(value: object) -> str:
    """An IANA time zone name; empty means UTC."""
    return check_timezone(one_line_value(value, label="the time zone") or "UTC")


def frequency_value(value: object, *, allowed: tuple[str, ...]) -> str:
    """How often digests come: one of ``allowed`` (case does not matter)."""
    raw = one_line_value(value, label="how often").lower() or Frequency.DAILY
    if raw not in allowed:
        raise InputError(f"how often {raw[:20]!r} is not one of {', '.join(allowed)}")
    return str(raw)


def email_value(value: object) -> str:
    """A mailable address, normalised (lower case, ASCII domain)."""
    address = one_line_value(value, label="the email address")
    if not address:
        raise InputError("the email address is empty; type the address digests should go to")
    return normalise_email(address)


class SubscriberInput(BaseModel):
    """A new subscriber's values, each checked: what every sign-up path stores."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    email: str
    interests: str
    timezone: str = "UTC"
    send_hour: int = 7
    frequency: str = Frequency.DAILY

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: object) -> str:
        return _checked(email_value, value)

    @field_validator("interests", mode="before")
    @classmethod
    def _interests(cls, value: object) -> str:
        def usable(raw: object) -> str:
            # A typed \n starts a line (a shell argument, a CSV cell); text that can pick
            # no paper is refused with the parser's notes, as the command line always did.
            return usable_interests(interest_text(raw))[0]

        return _checked(usable, value)

    @field_validator("timezone", mode="before")
    @classmethod
    def _timezone(cls, value: object) -> str:
        return _checked(timezone_value, value if value is not None else "UTC")

    @field_validator("send_hour", mode="before")
    @classmethod
    def _send_hour(cls, value: object) -> int:
        return _checked(send_hour_value, value if value is not None else 7)

    @field_validator("frequency", mode="before")
    @classmethod
    def _frequency(cls, value: object) -> str:
        raw = value if value is not None else Frequency.DAILY
        return _checked(lambda v: frequency_value(v, allowed=SIGN_UP_FREQUENCIES), raw)


def _checked(check: Callable[[object], T], value: object) -> T:
    try:
        return check(value)
    except InputError as exc:
        raise _refuse(str(exc)) from exc


def read_subscriber(values: Mapping[str, object]) -> SubscriberInput:
    """The checked subscriber, or an InputError with every field's reason, in form order."""
    try:
        return SubscriberInput.model_validate(dict(values))
    except ValidationError as exc:
        reasons = [str(error["msg"]) for error in exc.errors()]
        raise InputError("; ".join(reasons)) from None
