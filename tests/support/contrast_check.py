"""WCAG 2 contrast of every visible text on a page, computed in the page by Chromium.

``low_contrast(page)`` walks every visible text node (and the text of inputs, selects and
textareas), takes its computed colour and the effective background behind it (each
ancestor's background colour, composited with its alpha, over the canvas), and returns
those below WCAG AA: 4.5:1 for body text, 3:1 for large text (24 px, or 18.66 px bold).
Elements drawn over a background image are reported as unmeasurable rather than passed.
Used on every page and every rendered mail, light and dark.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CONTRAST_JS = Path(__file__).with_name("contrast_check.js").read_text(encoding="utf-8")


def low_contrast(page: Any) -> tuple[int, list[dict[str, Any]]]:
    """How many texts were measured, and those below WCAG AA on the page as it is now."""
    result = page.evaluate(CONTRAST_JS)
    return int(result["checked"]), list(result["failures"])


def report(failures: list[dict[str, Any]]) -> str:
    """One line per failure: the ratio, the colours and where."""
    return "\n".join(
        f"{f['ratio']}:1 < {f['needed']}:1  {f['color']} on {f['background']}  "
        f"{f['where']}  {f['text']!r}"
        for f in failures
    )
