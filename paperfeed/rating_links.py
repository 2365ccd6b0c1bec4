"""The signed "more like this" / "less like this" links of a digest's papers.

A link carries (subscriber id, paper id, +1 or -1) signed with the app's secret key
(itsdangerous, a salt of its own), and is read back with a lifetime of
``RATING_LINK_DAYS`` (180 days: a digest read months later still works). It never carries
the account token or the feed key, so it survives their rotation (a token reset does not
kill every old digest's buttons) and reveals nothing that opens the account: a forwarded
digest lets its reader rate that digest's papers, no more. The signature binds all three
values: changing the paper or the subscriber in the link breaks it. Knows nothing of
routes: mail, chat and feeds call ``rating_url`` to put the buttons in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from itsdangerous.url_safe import URLSafeTimedSerializer

from paperfeed.errors import InputError

RATING_SALT = "paperfeed.rating"
RATING_LINK_DAYS = 180
Clock = Callable[[], datetime]


class RatingLinkInvalid(InputError):
    """A rating link this site did not make, cut short, altered, or past its lifetime."""


@dataclass(frozen=True, slots=True)
class RatingLink:
    """What a rating link asks: this subscriber rates this paper ``value`` (+1 or -1)."""

    subscriber_id: int
    paper_id: str
    value: int

    @property
    def more(self) -> bool:
        """True for "more like this"."""
        return self.value > 0


class RatingSigner:
    """Makes and reads rating links' signed part, on an injectable clock."""

    def __init__(self, secret: str, *, clock: Clock, max_age_days: int = RATING_LINK_DAYS) -> None:
        class _ClockSigner(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock().timestamp())

        self._serializer = URLSafeTimedSerializer(secret, salt=RATING_SALT, signer=_ClockSigner)
        self.max_age_seconds = max_age_days * 86400

    def sign(self, subscriber_id: int, paper_id: str, *, more: bool) -> str:
        """The signed part for one subscriber, one paper and one direction."""
        return str(self._serializer.dumps([subscriber_id, paper_id, 1 if more else -1]))

    def read(self, signed: str) -> RatingLink:
        """What the link asks, or ``RatingLinkInvalid`` (forged, altered, expired)."""
        try:
            value = self._serializer.loads(signed, max_age=self.max_age_seconds)
        except SignatureExpired as exc:
            raise RatingLinkInvalid(
                f"this rating link is more than {self.max_age_seconds // 86400} days old"
            ) from exc
        except BadSignature as exc:
            raise RatingLinkInvalid("this rating link is not one we sent") from exc
        if (
            not isinstance(value, list)
            or len(value) != 3
            or not isinstance(value[0], int)
            or not isinstance(value[1], str)
            or value[2] not in (1, -1)
        ):
            raise RatingLinkInvalid("this rating link is malformed")
        return RatingLink(value[0], value[1], value[2])


def rating_url(
    public_url: str, signer: RatingSigner, subscriber_id: int, paper_id: str, *, more: bool
) -> str:
    """The absolute link a digest puts behind "more like this" (``more``) or "less like this"."""
    signed = signer.sign(subscriber_id, paper_id, more=more)
    return f"{public_url}/r/{quote(signed, safe='')}"
