"""Text processing is linear in its input (issue 14, item 2): a 1 MB adversarial text is turned
into index features within a generous time budget, in a process of its own so a regression
that goes quadratic (hours on 1 MB) is killed and reported instead of hanging the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from paperfeed.ranking.features import acronym_definitions, document_features
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.text import MAX_TOKEN_CHARS, word_runs
from tests.support.hostile_day import ADVERSARIAL_TEXT, HOSTILE_STRINGS, MEGABYTE

# The child imports the hostile texts as ``tests.support.hostile_day``: it runs in the
# repository root, where ``python -c`` finds the ``tests`` package.
ROOT = Path(__file__).resolve().parents[2]
# Linear work on 1 MB takes well under a second per text here; the quadratic pattern of
# issue 14 took 6 s on 20 KB and would take hours on 1 MB. 60 s leaves room for a busy machine.
BUDGET_SECONDS = 60

_FEATURES_OF_EVERY_HOSTILE_TEXT = """
from tests.support.hostile_day import ADVERSARIAL_TEXT, HOSTILE_STRINGS
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.features import document_features

for name, text in [("adversarial", ADVERSARIAL_TEXT), *HOSTILE_STRINGS.items()]:
    document_features(Document(paper_id="x", title=text, abstract=text, ai_keywords=(text,)))
    print(name, flush=True)
print("done")
"""


def test_a_megabyte_of_adversarial_text_is_indexed_within_the_budget() -> None:
    assert len(ADVERSARIAL_TEXT) >= MEGABYTE
    try:
        finished = subprocess.run(
            [sys.executable, "-c", _FEATURES_OF_EVERY_HOSTILE_TEXT],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=BUDGET_SECONDS,
        )
    except subprocess.TimeoutExpired as exc:
        done = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout
        raise AssertionError(
            f"indexing 1 MB texts took over {BUDGET_SECONDS} s; finished only: {done!r}"
        ) from None
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert finished.stdout.split() == ["adversarial", *HOSTILE_STRINGS, "done"]


def test_one_long_alphanumeric_word_is_not_a_term() -> None:
    word = "a1" * (MAX_TOKEN_CHARS // 2)

    assert word_runs(f"{word} attention") == [[word, "attention"]]
    assert word_runs(f"{word}b attention") == [["attention"]]
    assert word_runs(HOSTILE_STRINGS["long_word"]) == []


def test_acronym_definitions_still_found_beside_hostile_text() -> None:
    text = f"{HOSTILE_STRINGS['long_alnum'][:50_000]} state space models (SSMs) and 3D (GS)"

    assert acronym_definitions(text) == {"ssm": ["state", "space", "model"]}
    features = document_features(Document(paper_id="x", title="SSMs", abstract=text))
    assert features.fields["abstract"].counts["state space"] >= 1
