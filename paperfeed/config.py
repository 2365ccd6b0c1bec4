"""One ``Settings`` object, read from ``PAPERFEED_*`` variables and an optional ``.env``.

Built at the edge (CLI, daemon, tests) and passed in; nothing here runs at import.
Every field has a description, and the README documents each one (a test keeps them in step).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from paperfeed.errors import ConfigError

KEY_FILENAME = "secret_key"


class Settings(BaseSettings):
    """Everything paperfeed can be told, with defaults that run on one machine out of the box."""

    model_config = SettingsConfigDict(
        env_prefix="PAPERFEED_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    var_dir: Path = Field(
        default=Path("var"),
        description="Folder for local state: the SQLite database, the secret key, the file outbox.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL of the store, e.g. postgresql+psycopg://user@host/db. "
        "Empty means a SQLite file at VAR_DIR/paperfeed.db.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Absolute base URL people reach the web app at; used in email links and "
        "feeds. Unset: `paperfeed run`/`serve` use the address they listen on "
        "(--host/--port); other commands http://127.0.0.1:8000.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Key that signs tokens and forms. Unset: generated once and kept in "
        "VAR_DIR/secret_key.",
    )
    smtp_url: str | None = Field(
        default=None,
        description="smtp://user:pass@host:587 (STARTTLS) or smtps://host:465. Unset: messages "
        "are written as .eml files to VAR_DIR/outbox.",
    )
    mail_from: str = Field(
        default="paperfeed <paperfeed@localhost>",
        validation_alias=AliasChoices("PAPERFEED_FROM", "mail_from"),
        description="From address of digests, with a display name (env: PAPERFEED_FROM).",
    )
    smtp_pool_size: Annotated[int, Field(ge=1, le=64)] = Field(
        default=4, description="Persistent SMTP connections per sending process."
    )
    smtp_rate: Annotated[float, Field(ge=0)] = Field(
        default=0.0, description="Messages per second across all connections; 0 means no limit."
    )
    smtp_max_attempts: Annotated[int, Field(ge=1, le=20)] = Field(
        default=4, description="Tries per message on a 4xx or a lost connection within one run."
    )
    smtp_error_threshold: Annotated[int, Field(ge=1)] = Field(
        default=20, description="Failures in a row that pause the send run."
    )
    list_name: str = Field(
        default="paperfeed", description="Name shown in List-Id, the subject and the footer."
    )
    list_id: str | None = Field(
        default=None, description="RFC 2919 List-Id. Unset: <list-name>.<from-domain>."
    )
    list_address: str | None = Field(
        default=None,
        description="The list's postal or contact address shown in the footer. "
        "Unset: the From address.",
    )
    bounce_address: str | None = Field(
        default=None, description="Envelope sender (MAIL FROM). Unset: the From address."
    )
    unsubscribe_mailto: str | None = Field(
        default=None,
        description="Mailbox for the List-Unsubscribe mailto. Unset: unsubscribe@<from-domain>.",
    )
    mail_max_html_bytes: Annotated[int, Field(ge=10_000, le=102_000)] = Field(
        default=100_000, description="HTML size cap; larger digests are cut with a link to all."
    )
    send_batch_size: Annotated[int, Field(ge=1, le=10_000)] = Field(
        default=500, description="Deliveries claimed per batch by a sender."
    )
    send_lease_seconds: Annotated[int, Field(ge=3, le=86_400)] = Field(
        default=30,
        description="How long a sender's claim on a batch lasts unless renewed; a working "
        "sender renews its claims every third of this (a heartbeat), so after a crash the "
        "batch in flight is sent again within about this long.",
    )
    dkim_private_key_path: Path | None = Field(
        default=None,
        description="PEM file of the RSA (or Ed25519) private key that DKIM-signs every "
        "message; needs DKIM_SELECTOR. Unset: messages are not signed (leave signing to the "
        "relay).",
    )
    dkim_selector: str | None = Field(
        default=None,
        description="DKIM selector: the public key is published at "
        "<selector>._domainkey.<domain> in DNS.",
    )
    dkim_domain: str | None = Field(
        default=None, description="DKIM signing domain (d=). Unset: the From address's domain."
    )
    bounce_mailbox_url: SecretStr | None = Field(
        default=None,
        description="IMAP mailbox the bounce address delivers to, polled for bounce reports "
        "(DSNs) and spam complaints (ARF): imaps://user:password@host:993/INBOX, or imap://… "
        "(STARTTLS when the server offers it). Unset: not polled.",
    )
    bounce_poll_minutes: Annotated[int, Field(ge=1, le=1440)] = Field(
        default=5, description="How often the daemon polls the bounce mailbox."
    )
    soft_bounce_limit: Annotated[int, Field(ge=1, le=100)] = Field(
        default=3,
        description="Soft bounces (mailbox full, greylisting…) on this many different days "
        "within SOFT_BOUNCE_DAYS mark an address undeliverable; a hard bounce does at once.",
    )
    soft_bounce_days: Annotated[int, Field(ge=1, le=365)] = Field(
        default=14, description="Window, in days, soft bounces are counted over."
    )
    sns_topic_arns: str = Field(
        default="",
        description="Comma-separated Amazon SNS topic ARNs whose SES bounce and complaint "
        "notifications /hooks/ses accepts (subscription confirmations included); empty: the "
        "endpoint refuses every call.",
    )
    sns_certificate_url_pattern: str = Field(
        default=r"^https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[^?#]*\.pem$",
        description="Regular expression a SigningCertURL must match before the certificate is "
        "fetched to check an SNS message's signature.",
    )
    postmark_webhook_auth: SecretStr | None = Field(
        default=None,
        description="user:password Postmark sends as HTTP basic auth on /hooks/postmark (put "
        "them in the webhook URL there); unset: the endpoint refuses every call.",
    )
    sendgrid_webhook_public_key: str | None = Field(
        default=None,
        description="SendGrid's Signed Event Webhook verification key (base64, from its mail "
        "settings) checking /hooks/sendgrid; unset: the endpoint refuses every call.",
    )
    mailgun_webhook_signing_key: SecretStr | None = Field(
        default=None,
        description="Mailgun's HTTP webhook signing key checking /hooks/mailgun; unset: the "
        "endpoint refuses every call.",
    )
    chat_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = Field(
        default=10.0,
        description="Chat and push channels: seconds to connect to a service and to wait for "
        "its answer before the post is tried again later.",
    )
    chat_concurrency: Annotated[int, Field(ge=1, le=64)] = Field(
        default=4,
        description="Chat and push channels: posts in flight at once (each address gets one "
        "at a time).",
    )
    chat_max_attempts: Annotated[int, Field(ge=1, le=50)] = Field(
        default=8,
        description="Chat and push channels: send passes a post gets (429s and server errors "
        "included) before its delivery is marked failed.",
    )
    chat_retry_seconds: Annotated[int, Field(ge=1, le=86_400)] = Field(
        default=300,
        description="Chat and push channels: how long a post waits before its next try when "
        "the service failed without saying (a 429 waits its Retry-After instead).",
    )
    hf_base_url: str = Field(
        default="https://huggingface.co",
        description="Base URL of Hugging Face; tests and local runs point it at a fake server.",
    )
    hf_token: SecretStr | None = Field(
        default=None,
        description="Optional Hugging Face token, sent as a Bearer header for a higher rate limit.",
    )
    hf_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = Field(
        default=20.0,
        description="Seconds to wait for one Hugging Face answer (connecting is capped at 10).",
    )
    hf_api_calls_per_window: Annotated[int, Field(ge=1, le=500)] = Field(
        default=250, description="API calls per 5 minutes; Hugging Face allows 500 anonymous."
    )
    hf_page_loads_per_window: Annotated[int, Field(ge=1, le=100)] = Field(
        default=50, description="Page loads per 5 minutes; Hugging Face allows 100 anonymous."
    )
    hf_max_attempts: Annotated[int, Field(ge=1, le=20)] = Field(
        default=5,
        description="Tries per URL (timeouts, 5xx, 429/503) before the next source is used.",
    )
    hf_max_response_bytes: Annotated[int, Field(ge=1_000_000, le=1_000_000_000)] = Field(
        default=16 * 1024 * 1024,
        description="Largest Hugging Face answer read, in bytes (a real page is 435 KB); a "
        "larger one is refused while it arrives and the next source is tried.",
    )
    crawl_schedule: str = Field(
        default="0 6-23 * * mon-fri",
        description="Cron expression (UTC) for crawling today plus the re-crawl window.",
    )
    crawl_retry_seconds: Annotated[int, Field(ge=1, le=1800)] = Field(
        default=60,
        description="After a failed crawl (e.g. Hugging Face unreachable) the daemon tries "
        "again this many seconds later, doubling each time up to 30 minutes.",
    )
    compose_interval_minutes: Annotated[int, Field(ge=1, le=1440)] = Field(
        default=5, description="How often the daemon looks for subscribers whose send hour passed."
    )
    send_interval_minutes: Annotated[int, Field(ge=1, le=1440)] = Field(
        default=1, description="How often the daemon drains the outbox."
    )
    recrawl_days: Annotated[int, Field(ge=0, le=60)] = Field(
        default=3, description="Days before today that every crawl fetches again."
    )
    settle_hours: Annotated[int, Field(ge=0, le=168)] = Field(
        default=6, description="Hours after a day ends (UTC) before a crawl marks it settled."
    )
    lookback_days: Annotated[int, Field(ge=1, le=60)] = Field(
        default=7,
        description="Oldest listing day (in days before the edition) an edition may include.",
    )
    max_lateness_hours: Annotated[int, Field(ge=1, le=168)] = Field(
        default=20,
        description="An edition or delivery this many hours past its send time is not sent.",
    )
    also_trending: Annotated[int, Field(ge=0, le=20)] = Field(
        default=3, description="How many top-upvoted unmatched papers an edition adds."
    )
    when_nothing_matches: Literal["trending", "skip"] = Field(
        default="trending",
        description="A subscriber with no match gets the also-trending papers (trending) or "
        "no mail (skip).",
    )
    weekly_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = Field(
        default="mon", description="Local weekday weekly subscribers get their edition on."
    )
    ranker: Literal["lexical", "hybrid"] = Field(
        default="lexical",
        description="lexical (BM25F, no extra) or hybrid (lexical fused with sentence "
        "embeddings; needs the semantic extra).",
    )
    hybrid_lexical_weight: Annotated[float, Field(ge=0, le=10)] = Field(
        default=1.0, description="Weight of the lexical ranking in the hybrid fusion."
    )
    hybrid_semantic_weight: Annotated[float, Field(ge=0, le=10)] = Field(
        default=1.0, description="Weight of the semantic ranking in the hybrid fusion."
    )
    semantic_threshold: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.65,
        description="Hybrid ranker: the topic cosine (soft maximum over a reader's topics) at "
        "which meaning alone picks a paper with no word in common; from 0.15 below it, meaning "
        "adds evidence to the words'.",
    )
    feed_days: Annotated[int, Field(ge=1, le=60)] = Field(
        default=7, description="Newest settled days the daily and topic feeds cover."
    )
    feed_max_items: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=700,
        description="Most items one feed holds (newest first): the default keeps the 7 days of "
        "the daily feed whole on busy days of 100 papers.",
    )
    feed_check_seconds: Annotated[float, Field(ge=0, le=3600)] = Field(
        default=5.0,
        description="Seconds a built feed is served before the store is asked whether it changed.",
    )
    confirm_hours: Annotated[int, Field(ge=1, le=720)] = Field(
        default=48,
        description="Hours a confirmation link works; unconfirmed sign-ups are deleted after it.",
    )
    subscribe_per_ip_per_hour: Annotated[int, Field(ge=1, le=10_000)] = Field(
        default=30,
        description="Different addresses one network (an IPv4 address, an IPv6 /64) may sign "
        "up per hour; signing the same address up again does not count.",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks of the reverse proxies in front of "
        "the web app (e.g. 127.0.0.1 or 10.0.0.0/8). X-Forwarded-For and X-Forwarded-Proto "
        "are believed only from these; empty: from nobody.",
    )
    subscribe_per_address_per_hour: Annotated[int, Field(ge=1, le=100)] = Field(
        default=3, description="Confirmation mails one email address may be sent per hour."
    )
    web_max_connections: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=500,
        description="Open connections (or requests under way) beyond which the web app answers "
        "503 at once; keep it under the process's file descriptor limit.",
    )
    web_header_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = Field(
        default=10.0,
        description="Seconds a client has to send a request's headers, from its first byte (or "
        "from connecting); a slower one gets 408 and is disconnected.",
    )
    web_max_header_bytes: Annotated[int, Field(ge=8_192, le=1_048_576)] = Field(
        default=65_536,
        description="Largest request line plus headers, in bytes; a larger one gets 431 and is "
        "disconnected.",
    )
    web_keep_alive_seconds: Annotated[int, Field(ge=1, le=300)] = Field(
        default=5,
        description="Seconds an idle keep-alive connection stays open between requests.",
    )
    log_level: str = Field(default="INFO", description="Log level: DEBUG, INFO, WARNING, ERROR.")

    @field_validator("public_url", "hf_base_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} must be an absolute http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        entries = [e.strip() for e in value.split(",") if e.strip()]
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network; list the proxies' addresses, "
                    "e.g. 127.0.0.1,10.0.0.0/8"
                ) from None
        return ",".join(entries)

    @model_validator(mode="after")
    def _dkim_complete(self) -> Settings:
        if (self.dkim_private_key_path is None) != (self.dkim_selector is None):
            raise ValueError(
                "DKIM signing needs both PAPERFEED_DKIM_PRIVATE_KEY_PATH and "
                "PAPERFEED_DKIM_SELECTOR (or neither)"
            )
        return self

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir / 'paperfeed.db'}"
        return self

    @property
    def outbox_dir(self) -> Path:
        """Where the file transport writes messages when no SMTP URL is set."""
        return self.var_dir / "outbox"


def redacted_url(url: str) -> str:
    """``url`` fit for an error message or a log: any password replaced by ``***``.

    Works on malformed URLs too (they are the ones that end up in messages): everything
    between ``scheme://`` and the last ``@`` is user information, and only the name before
    its first ``:`` is kept, so a password holding ``/``, ``@`` or ``:`` is still hidden.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    at = rest.rfind("@")
    if at == -1 or rest.startswith("/"):  # no user information (sqlite:///a@b.db)
        return url
    user, colon, _ = rest[:at].partition(":")
    user = user.split("/", 1)[0]
    return f"{scheme}{separator}{user}{':***' if colon else ''}@{rest[at + 1 :]}"


def load_settings(**overrides: object) -> Settings:
    """Build ``Settings`` from the environment, turning validation errors into a ConfigError."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "PAPERFEED_" + "_".join(str(p) for p in first["loc"]).upper()
        raise ConfigError(f"{name}: {first['msg']} (check the variable or .env)") from exc


MIN_SECRET_KEY_CHARS = 32


def secret_key(settings: Settings) -> str:
    """The signing key: the setting, or one generated once and kept in VAR_DIR/secret_key.

    A key shorter than 32 characters is refused wherever it comes from: an empty or cut
    secret_key file (a full disk, a bad copy) would otherwise sign every link with a key
    anyone can guess.
    """
    if settings.secret_key is not None:
        return _long_enough(settings.secret_key.get_secret_value(), "PAPERFEED_SECRET_KEY")
    path = settings.var_dir / KEY_FILENAME
    try:
        if not path.exists():
            _create_key_file(settings.var_dir, path)
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"cannot keep the secret key at {path}: {exc.strerror}; make PAPERFEED_VAR_DIR "
            "writable or set PAPERFEED_SECRET_KEY"
        ) from exc
    return _long_enough(value, f"the key file {path}")


def _long_enough(value: str, where: str) -> str:
    if len(value) < MIN_SECRET_KEY_CHARS:
        raise ConfigError(
            f"{where} is shorter than {MIN_SECRET_KEY_CHARS} characters ({len(value)}). "
            "Set PAPERFEED_SECRET_KEY to e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`, or delete an "
            "empty key file to have one generated (every mailed link signed with the old key "
            "stops working)"
        )
    return value


def _create_key_file(var_dir: Path, path: Path) -> None:
    """Write a new key where no key file exists yet, never exposing a half-written one."""
    var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = var_dir / f".{KEY_FILENAME}.{secrets.token_hex(6)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        # link() fails when the name exists: of two processes starting at once, the first
        # key wins and the second reads it; nobody ever reads an empty file.
        os.link(temp, path)
    except FileExistsError:
        pass
    finally:
        temp.unlink(missing_ok=True)
