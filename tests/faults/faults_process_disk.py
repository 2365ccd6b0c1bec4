"""A real full disk: a tiny tmpfs mounted over a folder, and a file that takes its space.

Mounting needs root (CI runs as root); elsewhere the test is skipped, and in CI it fails
rather than skip. The mount is private to the test's folder and always unmounted.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def tiny_disk(folder: Path, *, size_kib: int) -> Iterator[Path]:
    """``folder`` as a tmpfs of ``size_kib`` KiB, unmounted (and emptied) afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mount.returncode != 0:
        problem = f"cannot mount a tmpfs for the full-disk test: {mount.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True, check=True)


def fill(path: Path, *, leave_kib: int) -> None:
    """Write ``path`` until its file system has about ``leave_kib`` KiB free."""
    stat = os.statvfs(path.parent)
    free = stat.f_bavail * stat.f_frsize
    with path.open("wb") as ballast:
        ballast.write(b"\0" * max(0, free - leave_kib * 1024))
    stat = os.statvfs(path.parent)
    assert stat.f_bavail * stat.f_frsize <= (leave_kib + 4) * 1024, "the disk did not fill"
