"""Jinja environments over ``paperfeed/mailer/templates/`` and the one call into MJML.

HTML and MJML templates autoescape, and their ``finalize`` also escapes ``%`` so shared
content cannot forge a per-subscriber slot; text templates do not escape (plain text has no
markup). MJML compiles with no remote fonts. Nothing here knows which mail is being built.
"""

from __future__ import annotations

from functools import cache

import jinja2
import mjml

from paperfeed.errors import TemplateError
from paperfeed.mailer.slots import escape_stage1


@cache
def html_env() -> jinja2.Environment:
    """The environment for ``*.mjml.j2`` and ``*.html.j2``: autoescaped, strict undefined."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("paperfeed.mailer", "templates"),
        autoescape=True,
        finalize=escape_stage1,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
    )


@cache
def text_env() -> jinja2.Environment:
    """The environment for ``*.txt.j2``: no escaping, strict undefined, tidy whitespace."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("paperfeed.mailer", "templates"),
        autoescape=False,  # noqa: S701 (plain text: HTML escaping would corrupt it)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )


def compile_mjml(source: str, *, name: str) -> str:
    """MJML to HTML; ``fonts={}`` so no remote font link or ``@import`` is ever emitted."""
    try:
        html: str = mjml.mjml2html(source, fonts={}, disable_comments=False)
    except Exception as exc:  # mjml raises a bare exception type of its own
        raise TemplateError(
            f"MJML from {name} does not compile: {exc}; fix the template "
            "(run the mailer tests to see the source)"
        ) from exc
    return html
