"""A private Debian dovecot for the bounce mailbox tests: its own config, port and maildir.

Started as a plain foreground process (``dovecot -F -c CONFIG``, no systemd), one per test,
with a passwd-file holding one user and its password. It listens on 127.0.0.1 on a free port
(IMAP with plain login, and IMAPS with a trustme certificate when a test asks for it) and is
stopped when the test ends. Mail is put in the way a real MTA would leave it: APPENDed to
INBOX, unread.

Everything lives in a directory of its own under the system temp dir, not in pytest's
tmp_path: when the tests run as root dovecot drops to the ``dovecot``/``dovenull`` users for
its login and mail processes, and they cannot enter root's 0700 pytest directory.

A missing dovecot skips the tests, except on CI (CI=true), where it fails them: ``make
dovecot`` installs it.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import trustme

from tests.support.ports import free_port

DOVECOT = "/usr/sbin/dovecot"
USER = "bounces"
# Characters a URL must escape, so the tests prove the password is decoded and never shown.
PASSWORD = "s3cret@p/ss%w0rd"  # no colon: the passwd-file splits on it
START_SECONDS = 20.0


@dataclass
class Dovecot:
    """A running private dovecot and how to reach it."""

    root: Path
    port: int
    tls_port: int | None
    authority: trustme.CA | None
    process: subprocess.Popen[bytes]

    def url(self, *, password: str = PASSWORD, folder: str = "INBOX") -> str:
        """The plain IMAP URL of the test user's ``folder`` (``imap://`` on localhost)."""
        return f"imap://{USER}:{quote(password, safe='')}@127.0.0.1:{self.port}/{folder}"

    def tls_url(self) -> str:
        """The IMAPS URL; the certificate is signed by ``authority``, not a public CA."""
        assert self.tls_port is not None, "start dovecot with tls=True"
        return f"imaps://{USER}:{quote(PASSWORD, safe='')}@localhost:{self.tls_port}/INBOX"

    def starttls_url(self) -> str:
        """The plain-port URL (``imap://``): with TLS on, dovecot offers STARTTLS there."""
        assert self.tls_port is not None, "start dovecot with tls=True"
        return f"imap://{USER}:{quote(PASSWORD, safe='')}@localhost:{self.port}/INBOX"

    def client_context(self) -> ssl.SSLContext:
        """A TLS context that trusts this instance's certificate."""
        assert self.authority is not None
        context = ssl.create_default_context()
        self.authority.configure_trust(context)
        return context

    @contextlib.contextmanager
    def session(self) -> Iterator[imaplib.IMAP4]:
        """The test user logged in over plain IMAP (to deliver mail and look at flags)."""
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        try:
            imap.login(USER, PASSWORD)
            yield imap
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                imap.logout()

    def deliver(self, *mails: bytes, folder: str = "INBOX") -> None:
        """Put each mail in ``folder`` as new, unread mail."""
        with self.session() as imap:
            for mail in mails:
                status, answer = imap.append(folder, "", None, mail)
                assert status == "OK", answer

    def messages(self, folder: str = "INBOX") -> dict[str, set[str]]:
        """Every mail left in ``folder``: its Subject and its flags (without \\Recent)."""
        with self.session() as imap:
            imap.select(folder, readonly=True)
            _, found = imap.uid("SEARCH", "ALL")
            uids = found[0].split()
            left: dict[str, set[str]] = {}
            for uid in uids:
                _, data = imap.uid("FETCH", uid, "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
                head = data[0]
                assert isinstance(head, tuple)
                flags = imaplib.ParseFlags(head[0])
                subject = head[1].decode().strip().removeprefix("Subject: ")
                left[subject] = {flag.decode() for flag in flags} - {"\\Recent"}
            return left

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _missing(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the bounce mailbox tests: {what} (make dovecot)")
    pytest.skip(what)


def _accounts() -> tuple[pwd.struct_passwd, str, str]:
    """The mail user (owner of the maildir) and the two service users dovecot drops to."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return me, me.pw_name, me.pw_name
    # Debian's package creates these; mail must not be read as root (dovecot refuses).
    return pwd.getpwnam("dovecot"), "dovecot", "dovenull"


def _config(root: Path, port: int, tls_port: int | None, mail_user: pwd.struct_passwd) -> str:
    internal, login = (
        ("dovecot", "dovenull") if os.geteuid() == 0 else (mail_user.pw_name, mail_user.pw_name)
    )
    tls = (
        f"ssl = yes\nssl_cert = <{root}/cert.pem\nssl_key = <{root}/key.pem\n"
        if tls_port is not None
        else "ssl = no\n"
    )
    # Not root: no chroot (it needs root) and every process runs as this user.
    no_chroot = "" if os.geteuid() == 0 else "  chroot =\n"
    return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = {mail_user.pw_uid}
last_valid_uid = {mail_user.pw_uid}
disable_plaintext_auth = no
auth_mechanisms = plain login
# A wrong password is answered at once (default: after 2 s).
auth_failure_delay = 0
mail_location = maildir:~/Maildir
{tls}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
}}
service imap-login {{
{no_chroot}  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port or 0}
  }}
}}
service anvil {{
{no_chroot}}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            return conn.recv(64).startswith(b"* OK")
    except OSError:
        return False


@contextlib.contextmanager
def running_dovecot(*, tls: bool = False) -> Iterator[Dovecot]:
    """Start a private dovecot, wait until it greets, stop it afterwards (a fixture's body).

    With ``tls`` it also serves IMAPS with a certificate from a test CA (``client_context``);
    without, the plain port offers no STARTTLS."""
    if shutil.which("dovecot") is None and not Path(DOVECOT).exists():
        _missing("Debian's dovecot-imapd is not installed")
    mail_user, _, _ = _accounts()
    root = Path(tempfile.mkdtemp(prefix="paperfeed-dovecot-"))
    root.chmod(0o755)  # the login and mail processes run as other users
    home = root / "home"
    home.mkdir()
    os.chown(home, mail_user.pw_uid, mail_user.pw_gid)
    (root / "users").write_text(
        f"{USER}:{{PLAIN}}{PASSWORD}:{mail_user.pw_uid}:{mail_user.pw_gid}::{home}::\n"
    )
    authority = None
    tls_port = None
    if tls:
        authority = trustme.CA()
        issued = authority.issue_cert("localhost", "127.0.0.1")
        issued.cert_chain_pems[0].write_to_path(str(root / "cert.pem"))
        issued.private_key_pem.write_to_path(str(root / "key.pem"))
        tls_port = free_port()
    port = free_port()
    config = root / "dovecot.conf"
    config.write_text(_config(root, port, tls_port, mail_user))
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=(root / "stderr.log").open("wb"),
    )
    server = Dovecot(root, port, tls_port, authority, process)
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                stderr = (root / "stderr.log").read_text(errors="replace")
                pytest.fail(f"dovecot did not start:\n{stderr}\n{server.log()}")
            time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)
