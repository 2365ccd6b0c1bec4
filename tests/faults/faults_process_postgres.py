"""A private, throwaway PostgreSQL cluster that a test may stop and start at will.

The shared server on 127.0.0.1:5432 serves every other test and must never be restarted, so
a test that restarts its database gets its own cluster: Debian's binaries
(/usr/lib/postgresql/*/bin), run as the ``postgres`` user (we are root), data and socket in a
temporary folder that user can reach, a free port on 127.0.0.1, trust authentication.
Durability is switched off (``fsync=off``): the tests restart the server cleanly, they do
not crash the machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ports import free_port

POSTGRES_USER = "postgres"


def _bin_dir() -> Path | None:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


class PrivatePostgres:
    """One cluster under ``root``: ``start``, ``stop`` (fast shutdown) and its ``url``."""

    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data = root / "data"
        self.port = 0

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of its ``postgres`` database over TCP."""
        return f"postgresql+psycopg://{POSTGRES_USER}@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = ["runuser", "-u", POSTGRES_USER, "--", *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()}\n{tail}")
        return done

    def init(self) -> None:
        """Create the cluster (trust authentication, UTF-8, no fsync of the new files)."""
        self._as_postgres(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            POSTGRES_USER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections (a fresh port the first
        time, the same one after a stop)."""
        for _ in range(3 if self.port == 0 else 1):  # another process may take the port first
            port = self.port or free_port()
            options = (
                f"-p {port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off"
            )
            try:
                self._as_postgres(
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.root / "server.log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "30",
                    "start",
                )
            except RuntimeError:
                if self.port:
                    raise
                continue
            self.port = port
            return
        raise RuntimeError("the private PostgreSQL did not start on 3 free ports")

    def stop(self, mode: str = "fast") -> None:
        """Shut the server down (``fast``: roll back open transactions, drop every client)."""
        self._as_postgres(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"
        )

    def running(self) -> bool:
        """True while the server's postmaster is up."""
        status = subprocess.run(
            [
                "runuser",
                "-u",
                POSTGRES_USER,
                "--",
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data),
                "status",
            ],
            capture_output=True,
            timeout=30,
        )
        return status.returncode == 0


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private cluster, stopped and deleted afterwards.

    Needs root (to run as ``postgres``) and Debian's server binaries; without them the test
    is skipped locally and fails in CI, where faults must always run.
    """
    bin_dir = _bin_dir()
    problem = None
    if bin_dir is None:
        problem = "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
    elif os.geteuid() != 0 or shutil.which("runuser") is None:
        problem = "starting a private PostgreSQL needs root and runuser"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    assert bin_dir is not None
    # Not under pytest's tmp_path: its parents are root-only, and postgres must reach it.
    root = Path(tempfile.mkdtemp(prefix="paperfeed-pg-"))
    shutil.chown(root, user=POSTGRES_USER)
    cluster = PrivatePostgres(bin_dir, root)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
