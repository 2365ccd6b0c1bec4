"""The shared client: who we say we are, where we go, how long we wait."""

from __future__ import annotations

from pathlib import Path

import httpx
import respx

from paperfeed.config import Settings
from paperfeed.crawler.client import USER_AGENT, make_client


def test_client_names_the_project_and_its_url(hf_settings: Settings) -> None:
    with make_client(hf_settings) as client:
        assert client.headers["User-Agent"] == USER_AGENT
        assert USER_AGENT.startswith("paperfeed/")
        assert "(+https://github.com/paperfeed/paperfeed)" in USER_AGENT
        assert "Authorization" not in client.headers
        assert client.timeout.read == 20.0
        assert client.timeout.connect == 10.0


def test_client_sends_the_token_as_a_bearer_header_to_the_base_url(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, hf_base_url="http://hf.test/", hf_token="hf_secret")

    with respx.mock(base_url="http://hf.test") as hf, make_client(settings) as client:
        route = hf.get("/api/daily_papers").respond(json=[])
        client.get("/api/daily_papers")

    request: httpx.Request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer hf_secret"
    assert request.url == "http://hf.test/api/daily_papers"
