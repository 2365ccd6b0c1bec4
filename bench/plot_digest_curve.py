"""Plot the digest precision-recall curves written by ``bench/digest_curve.py``.

Usage:
    python bench/plot_digest_curve.py [bench/results/digest_curve_lexical.json ...] \
        [--out bench/results/digest_curve.png]

One line per ranker over its threshold, the default marked, the issue 15 targets drawn as
boxes (lexical: precision >= 0.60 at recall >= 0.80; hybrid: >= 0.70 at >= 0.85).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_INPUTS = [HERE / "results" / f"digest_curve_{r}.json" for r in ("lexical", "hybrid")]
TARGETS = {"lexical": (0.80, 0.60), "hybrid": (0.85, 0.70)}


def main(argv: list[str] | None = None) -> int:
    """Draw the curves; write the PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="*", type=Path, default=DEFAULT_INPUTS)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "digest_curve.png")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for path, colour in zip(args.inputs, ("tab:blue", "tab:orange"), strict=False):
        data = json.loads(path.read_text(encoding="utf-8"))
        points = data["points"]
        ranker = data["ranker"]
        recall = [p["recall"] for p in points]
        precision = [p["precision"] for p in points]
        ax.plot(recall, precision, "o-", color=colour, markersize=3, label=ranker)
        for p in points:
            if p["default"]:
                ax.plot(p["recall"], p["precision"], "*", color=colour, markersize=16)
                ax.annotate(
                    f"  default {p['threshold']:g}: P {p['precision']:.2f}, "
                    f"R {p['recall']:.2f}, junk {p['junk_on_empty_days']:.1f}",
                    (p["recall"], p["precision"]),
                    color=colour,
                    fontsize=8,
                    va="bottom" if ranker == "hybrid" else "top",
                )
        r_min, p_min = TARGETS.get(ranker, (None, None))
        if r_min is not None and p_min is not None:
            ax.fill_between([r_min, 1.0], p_min, 1.0, color=colour, alpha=0.08)
            ax.text(r_min + 0.003, p_min + 0.005, f"{ranker} target", color=colour, fontsize=8)
    ax.set_xlabel("recall (relevant sent / min(relevant that day, 10))")
    ax.set_ylabel("precision (relevant among matched papers sent)")
    ax.set_title("Simulated digests, dev split: the threshold swept (bench/digest_curve.py)")
    ax.set_xlim(0.5, 0.95)
    ax.set_ylim(0.3, 1.0)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
