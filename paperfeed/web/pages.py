"""Rendering pages: templates with the form token, error pages, and the form token check.

Every HTML response goes through ``render``: it adds what all pages share, issues the CSRF
cookie when the browser has none, and marks the page uncacheable (pages hold tokens).
Error pages say what happened and what to do, with a 4xx status. Knows nothing of the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from paperfeed.web.state import AppState, get_state

CSRF_COOKIE = "pf_csrf"
CSRF_FIELD = "csrf"
TITLES = {
    400: "That did not work",
    403: "This form has expired",
    404: "Not found",
    405: "Not allowed",
    410: "This link has expired",
    413: "Request too large",
    429: "Too many requests",
}


class PageError(Exception):
    """Stop a request with an error page: status, a short title and what to do."""

    def __init__(self, status: int, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.title = title or TITLES.get(status, "Something went wrong")


def sentence(text: str) -> str:
    """An error message as a sentence: first letter up, a full stop at the end."""
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def link_lifetime(hours: int) -> str:
    """A confirmation link's lifetime in the one wording every page uses: "48 hours"."""
    return f"{hours} hour" if hours == 1 else f"{hours} hours"


def render(
    request: Request,
    state: AppState,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    forms: bool = False,
) -> HTMLResponse:
    """The page from ``template`` with the shared context; ``forms`` adds a CSRF token.

    Only pages with a protected form set the token's cookie: the RFC 8058 answer and the
    other pages set none.
    """
    token = request.cookies.get(CSRF_COOKIE)
    issued = None
    if forms and not state.forms.valid(token):
        token = issued = state.forms.new()
    values = {
        "csrf": token,
        "csrf_field": CSRF_FIELD,
        "list_name": state.settings.list_name,
        "public_url": state.public_url,
        # How long a confirmation link works: every page says it in these words, from here.
        "link_lifetime": link_lifetime(state.settings.confirm_hours),
        **(context or {}),
    }
    response = state.templates.TemplateResponse(request, template, values, status_code=status)
    if issued is not None:
        response.set_cookie(
            CSRF_COOKIE,
            issued,
            httponly=True,
            samesite="lax",
            secure=state.public_url.startswith("https://"),
            path="/",
        )
    response.headers["cache-control"] = "no-store"
    return response


def error_page(request: Request, state: AppState, error: PageError) -> HTMLResponse:
    """An error page with the error's status."""
    return render(
        request,
        state,
        "problem.html.j2",
        {"title": error.title, "message": error.message},
        status=error.status,
    )


def check_form(request: Request, state: AppState, form: Mapping[str, Any]) -> None:
    """Refuse (403) a form post without the matching token or from another site."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and not _same_origin(origin, request, state):
        raise PageError(403, "This form was sent from another site, so nothing was changed.")
    field = form.get(CSRF_FIELD)
    if not state.forms.check(
        request.cookies.get(CSRF_COOKIE), field if isinstance(field, str) else None
    ):
        raise PageError(
            403,
            "The form's security token is missing or old (cookies may be blocked), so nothing "
            "was changed. Reload the page and send the form again.",
        )


def _same_origin(origin: str, request: Request, state: AppState) -> bool:
    public = urlsplit(state.public_url)
    allowed = {f"{public.scheme}://{public.netloc}", f"{request.url.scheme}://{request.url.netloc}"}
    return origin.rstrip("/") in allowed


async def page_error_handler(request: Request, exc: Exception) -> Response:
    """PageError → its page."""
    assert isinstance(exc, PageError)
    return error_page(request, get_state(request), exc)


async def input_error_handler(request: Request, exc: Exception) -> Response:
    """InputError (bad address, time zone, ...) → 400 with the error's own words."""
    return error_page(request, get_state(request), PageError(400, str(exc)))


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """404, 405 and friends → a page, not JSON."""
    assert isinstance(exc, StarletteHTTPException)
    messages = {
        404: "There is no page at this address. Check the link for a typo, or start again "
        "from the front page.",
        405: "This address does not take that kind of request.",
    }
    message = messages.get(exc.status_code, str(exc.detail))
    return error_page(request, get_state(request), PageError(exc.status_code, message))


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    """A malformed path or form value → 400 naming the field."""
    assert isinstance(exc, RequestValidationError)
    fields = sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")})
    named = ", ".join(fields) or "the request"
    return error_page(
        request,
        get_state(request),
        PageError(400, f"Some values were not understood ({named}); nothing was changed."),
    )
