"""Sign-up limits and the consent record behind a reverse proxy (issue 14, item 7).

uvicorn believed X-Forwarded-For from any local peer, so one client rotating the header
signed up 40 addresses of 40 and had any address it liked stored as the consent IP; behind
a remote proxy every visitor shared the proxy's bucket. Now the header counts only from
PAPERFEED_TRUSTED_PROXIES. These run a real ``paperfeed serve`` and post the real form.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from paperfeed.config import Settings
from paperfeed.store.db import session_scope
from paperfeed.store.models import Subscriber
from paperfeed.web.pages import CSRF_COOKIE
from tests.web.web_process import served
from tests.web.web_samples import SQLITE_ONLY, MemoryTransport, sign_up_form

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
LIMIT = 5
SIGN_UPS = 40
# A sign-up that was taken answers 303 to the "check your inbox" page (redirect after POST).
SENT = 303


def sign_up_all(url: str, forwarded_for: list[str]) -> list[int]:
    """Post the sign-up form once per entry, each with that X-Forwarded-For header."""
    statuses = []
    with httpx.Client(base_url=url, timeout=30) as http:
        token = CSRF.search(http.get("/").text)
        assert token, "the home page has no form token"
        for i, header in enumerate(forwarded_for):
            answer = http.post(
                "/subscribe",
                data={
                    "csrf": token.group(1),
                    "email": f"reader{i}@example.com",
                    "interests": "speculative decoding",
                    "timezone": "UTC",
                    "send_hour": "8",
                    "frequency": "daily",
                },
                headers={"x-forwarded-for": header},
            )
            statuses.append(answer.status_code)
    return statuses


def consent_ips(engine: Engine) -> dict[str, str | None]:
    with session_scope(engine) as session:
        return {s.email: s.opt_in_ip for s in session.exec(select(Subscriber)).all()}


def settings_for(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    return {
        "PAPERFEED_DATABASE_URL": database_url,
        "PAPERFEED_VAR_DIR": str(tmp_path / "var"),
        "PAPERFEED_SECRET_KEY": "forwarded-secret-" + "y" * 32,
        "PAPERFEED_SUBSCRIBE_PER_IP_PER_HOUR": str(LIMIT),
        "PAPERFEED_SUBSCRIBE_PER_ADDRESS_PER_HOUR": "3",
        **extra,
    }


@SQLITE_ONLY
def test_a_forwarded_header_from_an_untrusted_peer_changes_nothing(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    rotated = [f"198.51.100.{i}" for i in range(SIGN_UPS)]
    with served(tmp_path, settings_for(tmp_path, database_url)) as url:
        statuses = sign_up_all(url, rotated)
    assert statuses == [SENT] * LIMIT + [429] * (SIGN_UPS - LIMIT)
    assert set(consent_ips(engine).values()) == {"127.0.0.1"}


@SQLITE_ONLY
def test_behind_a_trusted_proxy_each_visitor_has_their_own_limit_and_consent_ip(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    # The proxy appends the address it saw; what a client put before it is not believed.
    visitors = [f"203.0.113.{i}" for i in range(SIGN_UPS - 1)]
    headers = [*visitors, "6.6.6.6, 192.0.2.99"]
    settings = settings_for(tmp_path, database_url, PAPERFEED_TRUSTED_PROXIES="127.0.0.1, ::1")
    with served(tmp_path, settings) as url:
        statuses = sign_up_all(url, headers)
    assert statuses == [SENT] * SIGN_UPS
    stored = consent_ips(engine)
    assert [stored[f"reader{i}@example.com"] for i in range(SIGN_UPS - 1)] == visitors
    assert stored[f"reader{SIGN_UPS - 1}@example.com"] == "192.0.2.99"


@SQLITE_ONLY
def test_one_visitor_behind_the_proxy_is_still_held_to_the_limit(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, database_url, PAPERFEED_TRUSTED_PROXIES="127.0.0.1")
    with served(tmp_path, settings) as url:
        statuses = sign_up_all(url, ["192.0.2.7"] * 8)
    assert statuses == [SENT] * LIMIT + [429] * 3
    assert set(consent_ips(engine).values()) == {"192.0.2.7"}


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert Settings(trusted_proxies=" 10.0.0.0/8 ,127.0.0.1,").trusted_proxies == (
        "10.0.0.0/8,127.0.0.1"
    )
    with pytest.raises(ValueError, match="not an IP address or network"):
        Settings(trusted_proxies="proxy.example.org")


def post_from(client: TestClient, address: str, emails: list[str]) -> list[int]:
    """Sign each address up from client ``address``, through the app itself."""
    token = CSRF.search(client.get("/").text)
    assert token

    async def posts() -> list[int]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=client.app, client=(address, 4000)),
            base_url="http://testserver",
            cookies={CSRF_COOKIE: client.cookies[CSRF_COOKIE]},
        ) as http:
            return [
                (await http.post("/subscribe", data=sign_up_form(e, token.group(1)))).status_code
                for e in emails
            ]

    return asyncio.run(posts())


@SQLITE_ONLY
def test_a_lab_behind_one_nat_can_all_sign_up_and_retries_cost_nobody(
    make_client: Callable[..., TestClient], transport: MemoryTransport
) -> None:
    client = make_client(subscribe_per_ip_per_hour=25, subscribe_per_address_per_hour=3)
    lab = [f"student{i}@uni.example" for i in range(25)]
    # Everyone signs up, and a few send the form again (a typo, a mail not seen yet).
    statuses = post_from(client, "192.0.2.1", [*lab, lab[0], lab[1], lab[0]])
    assert statuses == [SENT] * 28
    assert len(transport.sent) == 28
    # The network's budget is for different people: a 26th address waits.
    assert post_from(client, "192.0.2.1", ["stranger@uni.example"]) == [429]
    assert post_from(client, "192.0.2.2", ["stranger@uni.example"]) == [SENT]


@SQLITE_ONLY
def test_rotating_addresses_within_one_ipv6_block_gains_nothing(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(subscribe_per_ip_per_hour=3)
    statuses = [
        post_from(client, f"2001:db8:1:2::{i:x}", [f"v6-{i}@example.com"])[0] for i in range(6)
    ]
    assert statuses == [SENT, SENT, SENT, 429, 429, 429]
    assert post_from(client, "2001:db8:1:3::1", ["other@example.com"]) == [SENT]
