"""The precision-recall curve of a ranker over its threshold, on simulated digests.

Usage:
    python bench/digest_curve.py --ranker lexical|hybrid [--thresholds 0.02:0.2:0.01] \
        [--vectors bench/results/minilm_vectors.npz] [--out bench/results/digest_curve_lexical.json]

For each threshold, ``bench/digest_run.py`` composes every profile's digest of every day of
``data/ranking/days.jsonl`` (same selection as compose, statistics from the papers seen so
far) and ``data/ranking/evaluate_digests.py`` scores it, unchanged, in a subprocess. Prints one
line per threshold (precision, recall, F1, sent per digest, junk on days with nothing
relevant) with the ranker's default marked, and writes them as JSON. Hybrid vectors are
computed once and kept in ``--vectors`` so a sweep costs no model time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# `python bench/x.py` puts only bench/ on the path; the root makes tests.support importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from digest_run import digests, memory_vectors, read_days
from ranking_run import read_jsonl, to_document

from tests.support.data_paths import CORPUS, DAYS, EVALUATE_DIGESTS, PROFILES, QRELS, SPLIT


def default_threshold(ranker: str) -> float:
    """The threshold the ranker uses when nothing is configured."""
    if ranker == "lexical":
        from paperfeed.ranking.ranker import DEFAULT_THRESHOLD

        return DEFAULT_THRESHOLD
    from paperfeed.ranking.hybrid import HybridSettings

    return HybridSettings().threshold


def evaluate(run: Path, days: Path = DAYS, *, from_day: int | None = None) -> dict[str, float]:
    """evaluate_digests.py's dev row for a run file (scored from ``from_day`` if given)."""
    later = [] if from_day is None else ["--from-day", str(from_day)]
    out = subprocess.run(
        [
            sys.executable,
            str(EVALUATE_DIGESTS),
            "--days",
            str(days),
            "--qrels",
            str(QRELS),
            "--split",
            str(SPLIT),
            "--run",
            str(run),
            *later,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    row = next(line.split() for line in out.splitlines() if line.startswith("dev"))
    keys = ("precision", "recall", "f1", "sent_per_digest", "junk_on_empty_days")
    return dict(zip(keys, (float(v) for v in row[1:6]), strict=True))


def parse_range(text: str) -> list[float]:
    """``start:stop:step`` (stop included) as a list of thresholds."""
    start, stop, step = (float(x) for x in text.split(":"))
    n = round((stop - start) / step)
    return [round(start + i * step, 6) for i in range(n + 1)]


def main(argv: list[str] | None = None) -> int:
    """Sweep the thresholds, print the curve, write it as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranker", choices=("lexical", "hybrid"), default="lexical")
    parser.add_argument("--thresholds", default=None, help="start:stop:step")
    parser.add_argument("--vectors", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--max-papers", type=int, default=10)
    args = parser.parse_args(argv)

    default = default_threshold(args.ranker)
    thresholds = (
        parse_range(args.thresholds)
        if args.thresholds
        else [round(default * f, 6) for f in (0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0)]
    )
    if default not in thresholds:
        thresholds = sorted({*thresholds, default})
    corpus = {d.paper_id: d for d in (to_document(r) for r in read_jsonl(CORPUS))}
    days = read_days(DAYS, corpus)
    profiles = read_jsonl(PROFILES)
    vectors = memory_vectors(args.vectors) if args.ranker == "hybrid" else None
    points: list[dict[str, Any]] = []
    print(f"{args.ranker}: threshold precision recall F1 sent/digest junk-on-empty-days")
    with tempfile.TemporaryDirectory() as scratch:
        run = Path(scratch) / "run.jsonl"
        for threshold in thresholds:
            rows = digests(
                days,
                profiles,
                ranker_kind=args.ranker,
                max_papers=args.max_papers,
                threshold=threshold,
                vectors=vectors,
            )
            run.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            point = {"threshold": threshold, **evaluate(run), "default": threshold == default}
            points.append(point)
            mark = "  <- default" if point["default"] else ""
            print(
                f"{threshold:9.4f} {point['precision']:9.3f} {point['recall']:6.3f} "
                f"{point['f1']:6.3f} {point['sent_per_digest']:6.1f} "
                f"{point['junk_on_empty_days']:6.1f}{mark}",
                flush=True,
            )
    if vectors is not None:
        vectors.save()
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps({"ranker": args.ranker, "points": points}, indent=1) + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
