"""Reading the sign-up and preferences forms: every field checked before anything is stored.

Single-line fields (address, time zone, hour, frequency) refuse line breaks and control
characters outright, so nothing typed can reach a mail header; the interests may span lines
but not hold NUL or other control characters. The sign-up form is read through
``SubscriberInput``, the model ``subscribers add`` and the CSV import use too. Errors are
``InputError`` with the field's name and the fix. Knows nothing of the store or HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from paperfeed.errors import InputError
from paperfeed.store.models import Frequency
from paperfeed.subscriber_input import (
    SubscriberInput,
    frequency_value,
    interest_text,
    read_subscriber,
    send_hour_value,
    timezone_value,
)

SIGN_UP_FREQUENCIES = (Frequency.DAILY, Frequency.WEEKLY)
INTEREST_EXAMPLES = (
    '"speculative decoding"',
    "diffusion models for video -survey",
    'author:"Tri Dao"',
    "like:2312.00752",
)


SubscribeForm = SubscriberInput  # what the home page's form asks for


@dataclass(frozen=True, slots=True)
class PreferencesForm:
    """What the preferences page's form sends."""

    interests: str
    timezone: str
    send_hour: int
    frequency: str
    paused: bool


def _field(form: Mapping[str, Any], name: str, default: str = "") -> object:
    value = form.get(name, default)
    if not isinstance(value, str):
        raise InputError(f"{name.replace('_', ' ')} must be text, not a file")
    return value


def interests_field(form: Mapping[str, Any]) -> str:
    """The interest text: lines kept (one topic per line), other control characters refused."""
    return interest_text(_field(form, "interests"))


def hour_field(form: Mapping[str, Any]) -> int:
    """The send hour, 0 to 23."""
    return send_hour_value(_field(form, "send_hour", "7"))


def frequency_field(form: Mapping[str, Any], *, allowed: tuple[str, ...]) -> str:
    """How often digests come: one of ``allowed``."""
    return frequency_value(_field(form, "frequency", Frequency.DAILY), allowed=allowed)


def timezone_field(form: Mapping[str, Any]) -> str:
    """An IANA time zone name (the page fills in the browser's)."""
    return timezone_value(_field(form, "timezone", "UTC"))


def read_subscribe(form: Mapping[str, Any]) -> SubscriberInput:
    """The sign-up form, checked by the one subscriber model; the address is normalised."""
    # "off" is a preference, not a sign-up: checked here before the shared model.
    frequency_field(form, allowed=SIGN_UP_FREQUENCIES)
    return read_subscriber(
        {
            "email": _field(form, "email"),
            "interests": _field(form, "interests"),
            "timezone": _field(form, "timezone", "UTC"),
            "send_hour": _field(form, "send_hour", "7"),
            "frequency": _field(form, "frequency", Frequency.DAILY),
        }
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
