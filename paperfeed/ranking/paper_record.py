"""The plain paper record ranking works on; the store maps its rows to it.

Owns nothing but the record's shape. Never touches the database or the network.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Document:
    """One paper as ranking sees it: its text, its people and how popular it is."""

    paper_id: str
    title: str
    abstract: str
    authors: tuple[str, ...] = ()
    ai_keywords: tuple[str, ...] = ()
    upvotes: int = 0
    github_stars: int | None = None
