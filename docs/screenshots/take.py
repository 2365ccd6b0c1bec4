"""Regenerate the README's screenshots: ``python docs/screenshots/take.py`` from the repository.

Runs the browser test that walks every page and mail (tests/web/test_web_pages_browser.py,
headless Debian Chromium through Playwright, the test's fixed sample data and clock) with
PAPERFEED_SCREENSHOTS set, so it saves each page's first screen at 390 and 1280 px, light
and dark; keeps the pages the README shows (light at both widths, a few in dark) and
replaces the PNGs here. The test's contrast and layout checks must pass, or nothing changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PAGES = (
    "home",
    "check-inbox",
    "confirm",
    "preferences",
    "editions",
    "edition",
    "archive",
    "feed",
    "unsubscribe",
)
DARK = ("home", "preferences", "edition")


def wanted() -> list[str]:
    """The file names the README shows."""
    light = [f"{page}-{width}-light.png" for page in PAGES for width in (390, 1280)]
    dark = [f"{page}-{width}-dark.png" for page in DARK for width in (390, 1280)]
    return light + dark


def main() -> int:
    with tempfile.TemporaryDirectory() as shots:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:randomly",
                "-p",
                "no:cacheprovider",
                "tests/web/test_web_pages_browser.py",
            ],
            cwd=ROOT,
            env={**os.environ, "PAPERFEED_SCREENSHOTS": shots, "CI": "true"},
            check=False,
        )
        if run.returncode != 0:
            print("the browser test failed; screenshots left as they were", file=sys.stderr)
            return run.returncode
        names = wanted()
        missing = [n for n in names if not (Path(shots) / n).exists()]
        if missing:
            print(f"the test saved no {', '.join(missing)}", file=sys.stderr)
            return 1
        for old in HERE.glob("*.png"):
            old.unlink()
        for name in names:
            shutil.copyfile(Path(shots) / name, HERE / name)
    size = sum(p.stat().st_size for p in HERE.glob("*.png"))
    print(f"{len(names)} screenshots in {HERE.relative_to(ROOT)} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
