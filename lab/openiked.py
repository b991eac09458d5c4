"""OpenIKED (OpenBSD's iked, Debian's `openiked`) as a third IKEv2 client
(tests/xfrm/test_openiked.py).

iked reads its CA, certificate and key from the compiled-in /etc/iked: it
runs with a private folder bound over /etc/iked, in the mount namespace of
its own that `ip netns exec` gives it, so the host's /etc is never touched.
It programs the kernel through PF_KEY (af_key), so it needs the user-mode
Linux guest, like libreswan.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lab.netns import Namespace
from lab.process import Daemon, NotReady, last_lines, read_log, spawn, wait_ready

IKED = "iked"
IKECTL = "ikectl"
_ETC_DIRS = ("ca", "certs", "crls", "private", "pubkeys/fqdn", "pubkeys/ipv4", "pubkeys/ipv6", "pubkeys/ufqdn")


def openiked_missing() -> str | None:
    if shutil.which(IKED) is None:
        return "iked is missing: install openiked (lab/setup.sh does)"
    return None


@dataclass(frozen=True)
class Policy:
    """One active policy: a certificate identity (an FQDN the certificate
    carries as a dNSName), an address requested from the headend's pool."""

    name: str
    local_addr: str
    remote_addr: str
    local_id: str
    remote_id: str

    def text(self) -> str:
        return (f'ikev2 "{self.name}" active esp from dynamic to 0.0.0.0/0 '
                f"local {self.local_addr} peer {self.remote_addr} "
                "ikesa enc aes-256 prf hmac-sha2-512 auth hmac-sha2-512 group modp3072 "
                "childsa enc aes-256 auth hmac-sha2-512 "
                f'srcid "{self.local_id}" dstid "{self.remote_id}" request address any\n')


class Iked(Daemon):
    def __init__(self, ns: Namespace, folder: Path) -> None:
        self.ns = ns
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None

    etc = property(lambda self: self.folder / "etc-iked")
    config_path = property(lambda self: self.folder / "iked.conf")
    log_path = property(lambda self: self.folder / "iked.log")
    socket = property(lambda self: self.folder / "iked.sock")

    def install_identity(self, ca_cert: Path, cert: Path, key: Path) -> None:
        for d in _ETC_DIRS:
            (self.etc / d).mkdir(parents=True, exist_ok=True)
        shutil.copy(ca_cert, self.etc / "ca" / "ca.crt")
        shutil.copy(cert, self.etc / "certs" / cert.name)
        shutil.copy(key, self.etc / "private" / "local.key")
        (self.etc / "private" / "local.key").chmod(0o600)

    def start(self, policy: Policy, timeout: float = 30.0) -> "Iked":
        self.config_path.write_text(policy.text())
        self.config_path.chmod(0o600)  # iked refuses a configuration others can read
        bind = ["sh", "-c", 'mount --bind "$0" /etc/iked && exec "$@"', str(self.etc)]
        argv = [IKED, "-d", "-v", "-f", str(self.config_path), "-s", str(self.socket)]
        self.proc = spawn(self.ns.argv([*bind, *argv]), self.log_path, cwd=self.folder)
        try:
            wait_ready(self.proc, self.socket.exists, timeout, waiting_for=f"no {self.socket}")
        except NotReady as exc:
            self.stop()
            raise RuntimeError(f"iked {exc}:\n{self.tail()}") from None
        return self

    def reset_sas(self) -> subprocess.CompletedProcess[str]:
        """`ikectl reset sa`: iked deletes its IKE SAs (telling the peer)."""
        return subprocess.run([IKECTL, "-s", str(self.socket), "reset", "sa"], capture_output=True, text=True,
                              timeout=30)

    def stop(self) -> int | None:
        return self._stop_process()

    def log(self) -> str:
        return read_log(self.log_path)

    def tail(self, lines: int = 60) -> str:
        return last_lines(self.log(), lines)
