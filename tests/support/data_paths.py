"""Where the repository's data lives: the one module that names the paths.

``data/`` at the repository root holds everything the tests, benchmarks and README recipes
read: ``data/hf/`` the real captures of Hugging Face Daily Papers, ``data/ranking/`` the
judged papers, interest profiles, simulated days and their evaluators. A clone needs
nothing outside itself.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data"

HF_FIXTURES = DATA / "hf"

RANKING = DATA / "ranking"
CORPUS = RANKING / "corpus.jsonl"
PROFILES = RANKING / "profiles.jsonl"
QRELS = RANKING / "qrels.jsonl"
SPLIT = RANKING / "split.json"
DAYS = RANKING / "days.jsonl"
EVALUATE = RANKING / "evaluate.py"
EVALUATE_DIGESTS = RANKING / "evaluate_digests.py"
