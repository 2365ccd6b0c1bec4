"""Answers of a mocked huggingface.co (respx) for the crawler tests: API pages, HTML pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx

Items = list[dict[str, Any]]
# The daily list page carries its papers as JSON in this attribute (see data/hf/).
PROPS = re.compile(rb'(data-target="DailyPapers") data-props="[^"]*"')


def paginated(items: Items) -> Callable[[httpx.Request], httpx.Response]:
    """/api/daily_papers answering ``items`` page by page, [] past the end."""

    def answer(request: httpx.Request) -> httpx.Response:
        limit, page = int(request.url.params["limit"]), int(request.url.params["p"])
        return httpx.Response(200, json=items[page * limit : (page + 1) * limit])

    return answer


def html_page(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"Content-Type": "text/html"})


def without_props(page: bytes) -> bytes:
    """The page with its JSON props removed, so only the rendered cards are left to read."""
    return PROPS.sub(rb"\1", page, count=1)
