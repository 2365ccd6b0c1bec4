"""Schemathesis against the web app: no request the schema allows (or nearly allows) gets a 5xx.

The app serves no OpenAPI document (``openapi_url=None``), and its forms are read from the
request rather than declared, so the schema FastAPI builds is completed here with the form
bodies, query parameters and feed routes the pages really take. Every generated request
carries a valid CSRF cookie and field, so the fuzzing reaches the code behind the form check.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from sqlalchemy import Engine

from paperfeed.store.db import session_scope
from paperfeed.store.subscribers import create_subscriber
from paperfeed.web.pages import CSRF_COOKIE, CSRF_FIELD
from tests.web.web_samples import SQLITE_ONLY, Clock, store_days

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TEXT = {"type": "string", "maxLength": 80}
PATH_TEXT = {"type": "string", "minLength": 1, "maxLength": 60}


def form_body(*fields: str) -> dict[str, Any]:
    properties = {name: TEXT for name in (CSRF_FIELD, *fields)}
    return {
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": properties}
            }
        }
    }


def query(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "query", "required": False, "schema": TEXT} for n in names]


def path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": PATH_TEXT}


def completed_schema(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus what the routes read by hand: forms, queries, the feeds app."""
    schema = app.openapi()
    paths = schema["paths"]
    subscribe = ("email", "interests", "timezone", "send_hour", "frequency")
    paths["/subscribe"]["post"]["requestBody"] = form_body(*subscribe)
    paths["/u/{token}"]["post"]["requestBody"] = form_body(
        "interests", "timezone", "send_hour", "frequency", "paused"
    )
    paths["/u/{token}/delete"]["post"]["requestBody"] = form_body("sure")
    paths["/u/{token}/resubscribe"]["post"]["requestBody"] = form_body()
    paths["/confirm/{signed}"]["post"]["requestBody"] = form_body()
    paths["/unsubscribe/{token}"]["post"]["requestBody"] = form_body("List-Unsubscribe")
    paths["/u/{token}"]["get"].setdefault("parameters", []).extend(query("saved", "welcome"))
    paths["/u/{token}/preview"]["get"].setdefault("parameters", []).extend(
        query("interests", "fragment")
    )
    feed = {"responses": {"200": {"description": "a feed"}}}
    paths["/feeds/daily.{suffix}"] = {"get": {**feed, "parameters": [path("suffix")]}}
    paths["/feeds/topic.{suffix}"] = {"get": {**feed, "parameters": [path("suffix"), *query("q")]}}
    paths["/feeds/u/{name}"] = {"get": {**feed, "parameters": [path("name")]}}
    return schema


@pytest.fixture
def fuzzed_app(
    make_app: Callable[..., FastAPI], engine: Engine, clock: Clock
) -> tuple[FastAPI, str, str]:
    """The app over the sample lists and one subscriber, with limits out of the fuzzer's way;
    its CSRF token and the subscriber's link token."""
    store_days(engine)
    with session_scope(engine) as session:
        ada = create_subscriber(
            session, email="ada@example.com", interests="llm", now=clock(), confirmed=True
        )
        subscriber_token = ada.token
    app = make_app(subscribe_per_ip_per_hour=10_000, subscribe_per_address_per_hour=100)
    with TestClient(app) as client:
        match = CSRF.search(client.get("/").text)
    assert match is not None
    return app, match.group(1), subscriber_token


@SQLITE_ONLY
@pytest.mark.filterwarnings(
    # schemathesis' own transport and strategies warn about things that are not our app's.
    "ignore::DeprecationWarning",
    "ignore::hypothesis.errors.NonInteractiveExampleWarning",
)
def test_no_generated_request_gets_a_server_error(fuzzed_app: tuple[FastAPI, str, str]) -> None:
    app, token, subscriber_token = fuzzed_app
    schema = schemathesis.openapi.from_dict(completed_schema(app))
    schema.app = app
    # A real subscriber's token too: random tokens only ever reach the 404 page.
    personal = schema.include(path_regex=r"^/(u|unsubscribe)/\{token\}")
    cases = st.one_of(
        schema.as_strategy(GenerationMode.POSITIVE),
        schema.as_strategy(GenerationMode.NEGATIVE),
        personal.as_strategy(GenerationMode.POSITIVE, path_parameters={"token": subscriber_token}),
    )
    seen: list[int] = []

    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(cases)
    def request_anything(case: Any) -> None:
        if isinstance(case.body, dict):
            case.body[CSRF_FIELD] = token
        case.cookies = {**(case.cookies or {}), CSRF_COOKIE: token}
        response = case.call()
        seen.append(response.status_code)
        case.validate_response(response, checks=[not_a_server_error])

    request_anything()
    assert len(seen) >= 150
    assert {200, 404} <= set(seen), "the fuzzing never reached a page"
