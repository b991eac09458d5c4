"""Debian's FreeRADIUS 3 for the radius tests, in a lab namespace.

A private copy of /etc/freeradius/3.0 is configured for the lab (docs/lab.md):
EAP-MSCHAPv2 as the default EAP type (or TLS, TTLS, PEAP), our
secret for the lab's client addresses, one `Cleartext-Password` line per
user (which serves PAP, EAP-MD5 and EAP-MSCHAPv2 alike). It runs as
`freeradius -X -d <copy>` in the foreground (its debug output is the log),
with its log, accounting and run folders inside the copy's folder and as
root (the copy lives in a private temp folder freerad cannot read). Started
and stopped by PID. Accounting records land in detail files under
``log/radacct/<client address>/``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lab.netns import Namespace
from lab.process import Daemon, NotReady, last_lines, read_log, spawn, wait_ready

SYSTEM_RADDB = Path("/etc/freeradius/3.0")
READY = "Ready to process requests"


class FreeRadiusError(RuntimeError):
    """FreeRADIUS could not be configured or did not start."""


def available() -> bool:
    return shutil.which("freeradius") is not None and SYSTEM_RADDB.is_dir()


@dataclass
class FreeRadius(Daemon):
    """One FreeRADIUS in namespace `ns`, everything under `folder`."""

    ns: Namespace
    folder: Path
    secret: str = field(repr=False)
    users: dict[str, str] = field(repr=False)
    # who may ask (FreeRADIUS `client` blocks): the lab's addresses only
    clients: tuple[str, ...] = ("127.0.0.0/8", "198.18.0.0/15")
    # the outer EAP method FreeRADIUS starts with: mschapv2, tls, ttls or
    # peap (PEAP's inner method is Debian's default, MS-CHAPv2 in the
    # inner-tunnel server, against the same Cleartext-Password lines)
    default_eap_type: str = "mschapv2"
    # per user, the reply attributes of an Access-Accept (users-file syntax:
    # {"alice": {"Class": '"OU=GP-Engineering;"', "Session-Timeout": "3600"}})
    replies: dict[str, dict[str, str]] = field(default_factory=dict)
    # EAP-TLS/TTLS: the server's certificate and key and the CA its users'
    # certificates come from (None: Debian's snakeoil pair, no client CA)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def raddb(self) -> Path:
        return self.folder / "raddb"

    @property
    def log_path(self) -> Path:
        return self.folder / "radiusd.log"

    # -- configuration ----------------------------------------------------------

    def configure(self) -> None:
        if not available():
            raise FreeRadiusError("FreeRADIUS is not installed (apt-get install freeradius)")
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.raddb.exists():
            shutil.rmtree(self.raddb)
        shutil.copytree(SYSTEM_RADDB, self.raddb, symlinks=True)
        for sub in ("log", "run"):
            (self.folder / sub).mkdir(exist_ok=True)
        self._edit("radiusd.conf", [
            (r"(?m)^logdir = .*$", f"logdir = {self.folder / 'log'}"),
            (r"(?m)^run_dir = .*$", f"run_dir = {self.folder / 'run'}"),
            # stay root: freerad cannot read a private temp folder
            (r"(?m)^(\s*)(user|group) = freerad$", r"\1#\2 = freerad"),
        ])
        # the module's first default_eap_type is the outer one (the others
        # sit inside the TTLS and PEAP sections)
        self._edit("mods-available/eap", [(r"default_eap_type = \w+", f"default_eap_type = {self.default_eap_type}")],
                   count=1)
        if self.tls_cert is not None and self.tls_key is not None:
            tls = [(r"(?m)^(\s*)private_key_file = .*$", rf"\1private_key_file = {self.tls_key}"),
                   (r"(?m)^(\s*)certificate_file = .*$", rf"\1certificate_file = {self.tls_cert}")]
            if self.tls_ca is not None:
                tls.append((r"(?m)^(\s*)ca_file = .*$", rf"\1ca_file = {self.tls_ca}"))
            self._edit("mods-available/eap", tls, count=1)
        blocks = [f"client lab{i} {{\n\tipaddr = {net}\n\tsecret = {_quoted(self.secret)}\n}}\n"
                  for i, net in enumerate(self.clients)]
        (self.raddb / "clients.conf").write_text("\n".join(blocks))
        authorize = self.raddb / "mods-config/files/authorize"
        lines = [f"{_quoted(u)} Cleartext-Password := {_quoted(p)}\n{self._reply_lines(u)}"
                 for u, p in self.users.items()]
        authorize.write_text("".join(lines) + authorize.read_text())

    def _reply_lines(self, user: str) -> str:
        items = self.replies.get(user, {})
        if not items:
            return ""
        return "\t" + ",\n\t".join(f"{name} := {value}" for name, value in items.items()) + "\n"

    def _edit(self, name: str, subs: list[tuple[str, str]], count: int = 0) -> None:
        path = self.raddb / name
        text = path.read_text()
        for pattern, replacement in subs:
            text, n = re.subn(pattern, replacement, text, count=count)
            if n == 0:
                raise FreeRadiusError(f"{path}: nothing matches {pattern!r}; has Debian's layout changed?")
        path.write_text(text)

    # -- process ---------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> FreeRadius:
        self.configure()
        self.proc = spawn(self.ns.argv(["freeradius", "-X", "-d", str(self.raddb)]), self.log_path)
        try:
            wait_ready(self.proc, lambda: READY in self.log(), timeout)
        except NotReady as exc:
            self.stop()
            raise FreeRadiusError(f"freeradius {exc}:\n{self.tail()}") from None
        return self

    def stop(self) -> int | None:
        return self._stop_process()

    def log(self) -> str:
        return read_log(self.log_path)

    def tail(self, lines: int = 60) -> str:
        return last_lines(self.log(), lines)

    # -- what it recorded ---------------------------------------------------------

    def accounting_records(self) -> list[dict[str, str]]:
        """Every record of the detail files, oldest first, values unquoted."""
        records: list[dict[str, str]] = []
        for path in sorted((self.folder / "log" / "radacct").glob("*/detail-*")):
            records += parse_detail(path.read_text(errors="replace"))
        return records

    def wait_for_records(self, predicate: Callable[[list[dict[str, str]]], bool],
                         timeout: float = 10.0) -> list[dict[str, str]]:
        """Poll the detail files until `predicate(records)` holds; the records."""
        deadline = time.monotonic() + timeout
        records = self.accounting_records()
        while not predicate(records) and time.monotonic() < deadline:
            time.sleep(0.2)
            records = self.accounting_records()
        return records

    def __enter__(self) -> FreeRadius:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def parse_detail(text: str) -> list[dict[str, str]]:
    """FreeRADIUS detail file: a date line, then tab-indented `Name = value`
    lines, records separated by a blank line."""
    records: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if not line.strip():
            current = None
            continue
        if not line[0].isspace():
            current = {}
            records.append(current)
            continue
        name, sep, value = line.strip().partition(" = ")
        if current is not None and sep:
            current[name] = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    return records


def _quoted(text: str) -> str:
    if any(c in text for c in '"\\\n'):
        raise FreeRadiusError("lab names and secrets must not contain quotes, backslashes or newlines")
    return f'"{text}"'
