"""Reading the sign-up and preferences forms: every field checked before anything is stored.

Single-line fields (address, time zone, hour, frequency) refuse line breaks and control
characters outright, so nothing typed can reach a mail header; the interests may span lines
but not hold NUL or other control characters. Errors are ``InputError`` with the field's
name and the fix. Knows nothing of the store or HTTP.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from paperfeed.errors import InputError
from paperfeed.store.models import Frequency
from paperfeed.store.subscribers import MAX_INTERESTS_CHARS, check_timezone, normalise_email

MAX_LINE_CHARS = 320
INTEREST_EXAMPLES = (
    '"speculative decoding"',
    "diffusion models for video -survey",
    'author:"Tri Dao"',
    "like:2312.00752",
)


@dataclass(frozen=True, slots=True)
class SubscribeForm:
    """What the home page's form asks for."""

    email: str
    interests: str
    timezone: str
    send_hour: int
    frequency: str


@dataclass(frozen=True, slots=True)
class PreferencesForm:
    """What the preferences page's form sends."""

    interests: str
    timezone: str
    send_hour: int
    frequency: str
    paused: bool


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def single_line(form: Mapping[str, Any], name: str, *, label: str, default: str = "") -> str:
    """A one-line text field, trimmed; line breaks and control characters are refused."""
    value = form.get(name, default)
    if not isinstance(value, str):
        raise InputError(f"{label} must be text, not a file")
    if _has_control(value):
        raise InputError(
            f"{label} holds a line break or another control character; type it on one line"
        )
    value = value.strip()
    if len(value) > MAX_LINE_CHARS:
        raise InputError(f"{label} is {len(value)} characters; the limit is {MAX_LINE_CHARS}")
    return value


def interests_field(form: Mapping[str, Any]) -> str:
    """The interest text: lines kept (one topic per line), other control characters refused."""
    value = form.get("interests", "")
    if not isinstance(value, str):
        raise InputError("interests must be text, not a file")
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if _has_control(value.replace("\n", "").replace("\t", "")):
        raise InputError(
            "interests hold a control character (such as NUL); type them as plain text"
        )
    value = value.strip()
    if len(value) > MAX_INTERESTS_CHARS:
        raise InputError(
            f"interests are {len(value)} characters; the limit is {MAX_INTERESTS_CHARS}"
        )
    return value


def hour_field(form: Mapping[str, Any]) -> int:
    """The send hour, 0 to 23."""
    raw = single_line(form, "send_hour", label="the send hour", default="7")
    if not raw.isdigit() or not 0 <= int(raw) <= 23:
        raise InputError(f"the send hour {raw[:20]!r} is not a whole hour from 0 to 23")
    return int(raw)


def frequency_field(form: Mapping[str, Any], *, allowed: tuple[str, ...]) -> str:
    """How often digests come: one of ``allowed``."""
    raw = single_line(form, "frequency", label="how often", default=Frequency.DAILY)
    if raw not in allowed:
        raise InputError(f"how often {raw[:20]!r} is not one of {', '.join(allowed)}")
    return raw


def timezone_field(form: Mapping[str, Any]) -> str:
    """An IANA time zone name (the page fills in the browser's)."""
    raw = single_line(form, "timezone", label="the time zone", default="UTC") or "UTC"
    return check_timezone(raw)


def read_subscribe(form: Mapping[str, Any]) -> SubscribeForm:
    """The sign-up form, checked; the address is normalised."""
    address = single_line(form, "email", label="the email address")
    if not address:
        raise InputError("the email address is empty; type the address digests should go to")
    return SubscribeForm(
        email=normalise_email(address),
        interests=interests_field(form),
        timezone=timezone_field(form),
        send_hour=hour_field(form),
        frequency=frequency_field(form, allowed=(Frequency.DAILY, Frequency.WEEKLY)),
    )


def read_preferences(form: Mapping[str, Any]) -> PreferencesForm:
    """The preferences form, checked."""
    return PreferencesForm(
        interests=interests_field(form),
        timezone=timezone_field(form),
        send_hour=hour_field(form),
        frequency=frequency_field(form, allowed=(Frequency.DAILY, Frequency.WEEKLY, Frequency.OFF)),
        paused=form.get("paused") == "on",
    )
