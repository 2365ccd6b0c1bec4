"""ASGI middleware every response passes: security headers and a request body limit.

Plain ASGI (not ``BaseHTTPMiddleware``) so a cached feed pays a few list appends, not a task
switch. The body limit answers 413 from ``Content-Length`` before reading anything, and
stops a chunked upload as soon as it passes the limit. Knows nothing of routes.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Scripts and styles come only from /static/ (no inline code at all), nothing may frame a
# page, forms post only here, and links carry no Referer (tokens live in URLs).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)
TOO_LARGE_PAGE = (
    b"<!doctype html><html lang=en><meta charset=utf-8><title>Request too large</title>"
    b"<h1>Request too large</h1><p>That request is larger than this site accepts "
    b"(%d KB). Nothing was changed. Go back and shorten what you typed.</p></html>"
)

SERVER_ERROR_PAGE = (
    b"<!doctype html><html lang=en><meta charset=utf-8><title>Something went wrong</title>"
    b"<h1>Something went wrong</h1><p>This is a fault on our side and it has been logged. "
    b"Try again in a moment.</p></html>"
)
_SERVER_ERROR_START: Message = {
    "type": "http.response.start",
    "status": 500,
    "headers": [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(SERVER_ERROR_PAGE)).encode()),
    ],
}


class SecurityHeaders:
    """Adds the security headers (and HSTS on https) to every response."""

    def __init__(self, app: ASGIApp, *, https: bool = False) -> None:
        self.app = app
        extra = ((b"strict-transport-security", b"max-age=31536000"),) if https else ()
        self.headers = SECURITY_HEADERS + extra

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), *self.headers]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # A bug's 500 would otherwise come from Starlette's outermost error middleware,
            # outside this one, without any of the headers: answer it here, then re-raise
            # so the error is still logged (the outer middleware sees the response started).
            if not started:
                await send_with_headers(dict(_SERVER_ERROR_START))  # a copy: headers are added
                await send({"type": "http.response.body", "body": SERVER_ERROR_PAGE})
            raise


class BodyLimit:
    """Answers 413 to request bodies over ``max_bytes``, declared or streamed.

    A body without ``Content-Length`` (chunked) is read here first, up to the limit, and
    handed on whole; forms are small, and the app never sees a partial body.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared: int | None = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                declared = int(value) if value.isdigit() else self.max_bytes + 1
        if declared is not None:
            if declared > self.max_bytes:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(send)
                return
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body = TOO_LARGE_PAGE % (self.max_bytes // 1024)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                    *SECURITY_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
