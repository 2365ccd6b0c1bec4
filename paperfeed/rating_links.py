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

import base64
import hashlib
import hmac
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


EDITION_RATING_SALT = "paperfeed.rating.edition"


class EditionRatingSigner:
    """Signs one edition's id once, so a mail's rating links cost no signature per paper.

    A digest mail carries up to a dozen papers, each with two links, for every subscriber;
    signing each link (``RatingSigner``, 15 us) would cost about as much as rendering the
    mail. Here one signature per (subscriber, edition) is made and each link adds the
    paper's position in the edition and the direction: ``/r/e/<signed edition>/<n>/more``.
    The edition row names its subscriber and its papers, so such a link rates only that
    subscriber's papers of that edition; an altered position is just another paper of the
    same edition. The signed part is ``<edition id>.<time, base 36>.<mac>``: keyed BLAKE2b
    (128 bits) under a key derived once from the secret and a salt of its own, about 3 us a
    mail with the clock and encoding (itsdangerous derives its key again on every call).
    Same lifetime as ``RatingSigner``.
    """

    def __init__(self, secret: str, *, clock: Clock, max_age_days: int = RATING_LINK_DAYS) -> None:
        self._key = hashlib.sha256(f"{EDITION_RATING_SALT}\0{secret}".encode()).digest()
        self._clock = clock
        self.max_age_seconds = max_age_days * 86400

    def _tag(self, message: str) -> str:
        # Keyed BLAKE2b is a MAC by design, and a third of HMAC-SHA256's time here.
        mac = hashlib.blake2b(message.encode("ascii"), key=self._key, digest_size=16).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def sign(self, edition_id: int) -> str:
        """The signed part naming one edition."""
        message = f"{edition_id}.{_base36(int(self._clock().timestamp()))}"
        return f"{message}.{self._tag(message)}"

    def read(self, signed: str) -> int:
        """The edition's id, or ``RatingLinkInvalid`` (forged, altered, expired)."""
        message, _, tag = signed.rpartition(".")
        if not message or not hmac.compare_digest(tag, self._tag(message)):
            raise RatingLinkInvalid("this rating link is not one we sent")
        edition, _, stamp = message.partition(".")
        if not edition.isdigit() or not stamp.isalnum():
            raise RatingLinkInvalid("this rating link is malformed")
        age = int(self._clock().timestamp()) - int(stamp, 36)
        if age > self.max_age_seconds:
            raise RatingLinkInvalid(
                f"this rating link is more than {self.max_age_seconds // 86400} days old"
            )
        return int(edition)


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def edition_rating_base(public_url: str, signer: EditionRatingSigner, edition_id: int) -> str:
    """The part every rating link of one edition's mail shares (one signature). The signed
    part is digits, base 36 and URL-safe base64 joined by dots: nothing to quote."""
    return f"{public_url}/r/e/{signer.sign(edition_id)}"


def edition_rating_url(base: str, position: int, *, more: bool) -> str:
    """One paper's link under ``edition_rating_base``: its position in the edition (rank
    order) and the direction."""
    return f"{base}/{position}/{'more' if more else 'less'}"
