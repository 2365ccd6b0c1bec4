"""``/hooks/…``: the mail providers' bounce and complaint webhooks (SES via SNS, Postmark,
SendGrid, Mailgun).

A small app of its own, which ``create_app`` hands every ``/hooks/`` request to before its
page middleware: providers batch events into bodies far larger than a form (SendGrid up to
~768 KB, SNS 256 KB), so the body limit here is 1 MB instead of the pages' 64 KB.

Each endpoint checks the call the way its provider signs it before it reads anything else,
refuses everything while its setting is unset (404, naming the setting), answers 400 to a
body it cannot read (never a 500), and records a valid call's reports in one transaction
through ``bounces.events.apply_reported`` (on the thread pool), then answers 200. A store that
does not answer is a 503, so the provider retries later. Logs what it did, never a secret.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp

from paperfeed.bounces.events import AppliedEvents, ReportedEvent, apply_reported, policy_of
from paperfeed.bounces.hook_payload import HookRefused, mapping, parse_json
from paperfeed.bounces.mailgun_hook import MailgunVerifier, mailgun_events
from paperfeed.bounces.postmark_hook import check_basic_auth, postmark_events
from paperfeed.bounces.sendgrid_hook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    check_signature,
    load_public_key,
    sendgrid_events,
)
from paperfeed.bounces.ses_notice import ses_events
from paperfeed.bounces.sns_signature import SnsVerifier
from paperfeed.store.db import session_scope
from paperfeed.web.security import BodyLimit, SecurityHeaders
from paperfeed.web.state import AppState

log = structlog.get_logger("paperfeed.web")
HOOK_BODY_BYTES = 1024 * 1024
OK = "ok"
Handler = Callable[[Request], Awaitable[Response]]


def _not_configured(setting: str) -> HookRefused:
    return HookRefused(404, f"this webhook is off: set PAPERFEED_{setting.upper()} to use it")


def _refused(source: str, refusal: HookRefused) -> Response:
    log.warning("hooks.refused", source=source, status=refusal.status, reason=refusal.reason)
    headers = {"www-authenticate": 'Basic realm="paperfeed hooks"'} if refusal.status == 401 else {}
    return PlainTextResponse(refusal.reason, status_code=refusal.status, headers=headers)


def _json_object(body: bytes) -> dict[str, Any]:
    value = parse_json(body)
    if not isinstance(value, dict):
        raise HookRefused(400, "the body is not a JSON object")
    return value


class HookEndpoints:
    """The four endpoints' checks, over one app's state."""

    def __init__(self, state: AppState) -> None:
        settings = state.settings
        self.state = state
        self.policy = policy_of(settings.soft_bounce_limit, settings.soft_bounce_days)
        self.sns = SnsVerifier(
            topics=settings.sns_topic_arns,
            cert_url_pattern=settings.sns_certificate_url_pattern,
        )
        postmark = settings.postmark_webhook_auth
        self.postmark_auth = postmark.get_secret_value() if postmark else None
        mailgun = settings.mailgun_webhook_signing_key
        self.mailgun_check = (
            MailgunVerifier(mailgun.get_secret_value(), clock=state.clock) if mailgun else None
        )
        self.sendgrid_key: ec.EllipticCurvePublicKey | None = None
        if settings.sendgrid_webhook_public_key:
            try:
                self.sendgrid_key = load_public_key(settings.sendgrid_webhook_public_key)
            except ValueError as exc:
                # Refusing every call (404) is what a wrong key does anyway; say why once.
                log.error("hooks.sendgrid_key_unusable", reason=str(exc))

    async def record(self, source: str, events: Sequence[ReportedEvent]) -> Response:
        """Apply ``events`` in one transaction; 200, or 503 when the store fails."""
        if not events:
            log.info("hooks.nothing_to_record", source=source)
            return PlainTextResponse(OK)

        def write() -> AppliedEvents:
            with session_scope(self.state.engine, write_lock=True) as session:
                return apply_reported(session, events, now=self.state.clock(), policy=self.policy)

        try:
            applied = await run_in_threadpool(write)
        except SQLAlchemyError as exc:
            log.warning("hooks.store_failed", source=source, error=type(exc).__name__)
            return PlainTextResponse("the store does not answer; try again", status_code=503)
        log.info(
            "hooks.recorded",
            source=source,
            reported=len(events),
            recorded=applied.recorded,
            repeated=applied.repeated,
            unmatched=applied.unmatched,
            bounced=len(applied.bounced),
            unsubscribed=len(applied.unsubscribed),
        )
        return PlainTextResponse(OK)

    async def ses(self, request: Request) -> Response:
        if not self.sns.configured:
            raise _not_configured("sns_topic_arns")
        message = _json_object(await request.body())
        await self.sns.verify(message)
        kind = message.get("Type")
        if kind == "SubscriptionConfirmation":
            await self.sns.confirm(message)
            log.info("hooks.sns_subscribed", topic=message.get("TopicArn"))
            return PlainTextResponse(OK)
        if kind != "Notification":  # UnsubscribeConfirmation: nothing to do
            log.info("hooks.sns_ignored", type=kind, topic=message.get("TopicArn"))
            return PlainTextResponse(OK)
        try:
            notice = parse_json(str(message.get("Message")).encode("utf-8"))
        except HookRefused:
            # Signed by SNS, so not hostile: a test message from the console, say. Refusing
            # it would only make SNS retry it.
            log.info("hooks.sns_not_ses", topic=message.get("TopicArn"))
            return PlainTextResponse(OK)
        key = str(message.get("MessageId"))
        return await self.record("ses", ses_events(mapping(notice), fallback_key=key))

    async def postmark(self, request: Request) -> Response:
        if self.postmark_auth is None:
            raise _not_configured("postmark_webhook_auth")
        check_basic_auth(request.headers.get("authorization"), self.postmark_auth)
        record = _json_object(await request.body())
        return await self.record("postmark", postmark_events(record))

    async def sendgrid(self, request: Request) -> Response:
        if self.sendgrid_key is None:
            raise _not_configured("sendgrid_webhook_public_key")
        body = await request.body()
        check_signature(
            self.sendgrid_key,
            request.headers.get(SIGNATURE_HEADER),
            request.headers.get(TIMESTAMP_HEADER),
            body,
        )
        return await self.record("sendgrid", sendgrid_events(parse_json(body)))

    async def mailgun(self, request: Request) -> Response:
        verifier = self.mailgun_check
        if verifier is None:
            raise _not_configured("mailgun_webhook_signing_key")
        body = _json_object(await request.body())
        token = verifier.claim(mapping(body.get("signature")))
        try:
            answer = await self.record("mailgun", mailgun_events(body))
        except BaseException:
            verifier.release(token)
            raise
        if answer.status_code != 200:
            verifier.release(token)  # Mailgun retries this call: let the retry in
        return answer


def _guarded(source: str, handler: Handler) -> Handler:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except HookRefused as refusal:
            return _refused(source, refusal)

    return endpoint


def hooks_app(state: AppState) -> ASGIApp:
    """The ``/hooks/`` app over ``state``, with its own body limit and security headers."""
    hooks = HookEndpoints(state)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    for source, handler in (
        ("ses", hooks.ses),
        ("postmark", hooks.postmark),
        ("sendgrid", hooks.sendgrid),
        ("mailgun", hooks.mailgun),
    ):
        app.add_api_route(f"/hooks/{source}", _guarded(source, handler), methods=["POST"])
    https = state.settings.public_url.startswith("https://")
    return BodyLimit(SecurityHeaders(app, https=https), max_bytes=HOOK_BODY_BYTES)
