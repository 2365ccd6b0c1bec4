"""The subscriber's status and frequency values, without SQLModel.

The command line offers these as choices in its ``--help``, which must not pay for loading
the ORM; ``models`` uses the same enums for its columns.
"""

from __future__ import annotations

from enum import StrEnum


class SubscriberStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    OFF = "off"
