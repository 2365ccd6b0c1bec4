"""Choosing the mail transport: SMTP when a URL is set, else ``.eml`` files in the outbox folder.

The one place that knows both transports, so callers (the email channel, the CLI, the web
app) only pass settings. Opening is cheap: no connection is made until the first message.
With a DKIM key configured the transport signs every message it hands over (dkim_sign.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from paperfeed.config import Settings
from paperfeed.mailer.files import FileTransport
from paperfeed.mailer.smtp import SmtpTransport, parse_smtp_url
from paperfeed.mailer.transport import Transport

if TYPE_CHECKING:
    from paperfeed.mailer.dkim_sign import DkimSigner


def open_transport(
    *,
    smtp_url: str | None,
    outbox_dir: Path,
    pool_size: int = 4,
    rate: float = 0.0,
    max_attempts: int = 4,
    error_threshold: int = 20,
    dkim: DkimSigner | None = None,
) -> Transport:
    """An ``SmtpTransport`` for ``smtp_url``, or a ``FileTransport`` writing to ``outbox_dir``;
    with ``dkim``, wrapped to sign each message once before it is handed over."""
    if dkim is not None:
        from paperfeed.mailer.dkim_sign import SigningTransport

        inner = open_transport(
            smtp_url=smtp_url,
            outbox_dir=outbox_dir,
            pool_size=pool_size,
            rate=rate,
            max_attempts=max_attempts,
            error_threshold=error_threshold,
        )
        return SigningTransport(inner, dkim)
    if not smtp_url:
        return FileTransport(outbox_dir)
    return SmtpTransport(
        parse_smtp_url(smtp_url),
        pool_size=pool_size,
        rate=rate,
        max_attempts=max_attempts,
        error_threshold=error_threshold,
    )


def transport_for(settings: Settings) -> Transport:
    """The transport the settings name: SMTP with its pool and limits, or the file outbox,
    DKIM-signing when a key is configured."""
    return open_transport(
        smtp_url=settings.smtp_url,
        outbox_dir=settings.outbox_dir,
        pool_size=settings.smtp_pool_size,
        rate=settings.smtp_rate,
        max_attempts=settings.smtp_max_attempts,
        error_threshold=settings.smtp_error_threshold,
        dkim=dkim_for(settings),
    )


def dkim_for(settings: Settings) -> DkimSigner | None:
    """The settings' DKIM signer (key read once per process), or None when not configured."""
    if settings.dkim_private_key_path is None:
        return None  # no need to load cryptography
    from paperfeed.mailer.dkim_sign import dkim_signer

    return dkim_signer(settings)
