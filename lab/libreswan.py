"""libreswan's pluto as a second, independent IKEv2 client (tests/xfrm/test_libreswan.py).

Debian's libreswan conflicts with strongSwan's packages, so lab/setup.sh
unpacks it into the ignored `.lab/libreswan` instead of installing it; pluto
runs from there with everything of its own under `folder`: ipsec.conf (one
conn), an NSS database holding the lab CA and the user's certificate and key
(imported as PKCS#12 with pk12util), an empty secrets file, its run
directory with the whack socket. libreswan has no userspace ESP: its Child
SAs go into the kernel, so a tunnel needs the user-mode Linux guest.

Its packaged updown script would rewrite /etc/resolv.conf with the pool's
DNS servers (in the guest that is the host's file): the conn uses
`UPDOWN`, which only puts the pool address on lo and routes the peer's
networks from it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from lab.netns import Namespace
from lab.process import Daemon, NotReady, last_lines, read_log, spawn, wait_ready

REPO = Path(__file__).resolve().parent.parent
PREFIX = REPO / ".lab" / "libreswan"
LIBEXEC = PREFIX / "usr" / "libexec" / "ipsec"
PLUTO, WHACK, ADDCONN = LIBEXEC / "pluto", LIBEXEC / "whack", LIBEXEC / "addconn"
P12_PASSWORD = "lab"  # protects the file for the few moments it exists; NSS rejects some empty ones

UPDOWN = """#!/bin/sh
# pluto's updown (PLUTO_VERB, PLUTO_MY_SOURCEIP: the pool address, PLUTO_PEER_CLIENT: the
# peer's side of the Child SA): put the address on lo and route the peer's side from it
[ -n "$PLUTO_MY_SOURCEIP" ] || exit 0
case "$PLUTO_VERB" in
  up-client)
    ip addr replace "$PLUTO_MY_SOURCEIP/32" dev lo
    ip route replace "$PLUTO_PEER_CLIENT" dev "$PLUTO_INTERFACE" src "$PLUTO_MY_SOURCEIP" ;;
  down-client)
    ip route del "$PLUTO_PEER_CLIENT" dev "$PLUTO_INTERFACE" src "$PLUTO_MY_SOURCEIP" 2>/dev/null
    ip addr del "$PLUTO_MY_SOURCEIP/32" dev lo 2>/dev/null ;;
esac
exit 0
"""


def libreswan_missing() -> str | None:
    """Why libreswan cannot run here (None when it can)."""
    for tool in (PLUTO, WHACK, ADDCONN):
        if not os.access(tool, os.X_OK):
            return f"{tool} is missing: lab/setup.sh unpacks Debian's libreswan there"
    for nss_tool in ("certutil", "pk12util"):
        if shutil.which(nss_tool) is None:
            return f"{nss_tool} is missing: install libnss3-tools (lab/setup.sh does)"
    return None


@dataclass(frozen=True)
class Conn:
    """One remote-access conn: certificate authentication, an address
    from the headend's pool (configuration payload), the whole IPv4
    space behind the headend narrowed to what it offers."""

    name: str
    local_addr: str
    remote_addr: str
    remote_id: str  # "@vpn.example.test" (ID_FQDN) as ikev2d sends it
    cert_nickname: str
    ike: str = "aes256-sha2_512-modp3072"  # the lab's NSA IKE policy
    esp: str = "aes256-sha2_512"
    encapsulation: bool = False  # force ESP in UDP 4500

    def text(self, updown: Path) -> str:
        return f"""conn {self.name}
\tikev2=insist
\tleft={self.local_addr}
\tleftid=%fromcert
\tleftcert={self.cert_nickname}
\tleftsubnet=0.0.0.0/0
\tleftmodecfgclient=yes
\tmodecfgpull=yes
\tleftupdown={updown}
\tright={self.remote_addr}
\trightid={self.remote_id}
\trightsubnet=0.0.0.0/0
\tnarrowing=yes
\tauthby=rsasig
\tike={self.ike}
\tesp={self.esp}
\tencapsulation={"yes" if self.encapsulation else "no"}
\tmobike=no
\tfragmentation=yes
\tauto=add
"""


class Pluto(Daemon):
    """One pluto in namespace `ns`, every file of it under `folder`."""

    def __init__(self, ns: Namespace, folder: Path) -> None:
        self.ns = ns
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None
        # a short folder of its own: the whack socket's path is at most 107 bytes
        self.rundir = Path(tempfile.mkdtemp(prefix="ikv-pluto-"))

    nssdir = property(lambda self: self.folder / "nss")
    config_path = property(lambda self: self.folder / "ipsec.conf")
    log_path = property(lambda self: self.folder / "pluto.log")
    ctl = property(lambda self: self.rundir / "pluto.ctl")

    def _nss(self, *argv: str) -> None:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} -> {proc.returncode}\n{proc.stdout}{proc.stderr}")

    def import_identity(self, ca_cert: Path, cert: Path, key: Path, nickname: str) -> None:
        """A fresh NSS database: the CA trusted for peers, the user's
        certificate and key (PKCS#12, as an admin would import them)."""
        self.nssdir.mkdir(parents=True, exist_ok=True)
        db = f"sql:{self.nssdir}"
        self._nss("certutil", "-N", "-d", db, "--empty-password")
        self._nss("certutil", "-A", "-d", db, "-n", "lab-ca", "-t", "CT,,", "-a", "-i", str(ca_cert))
        private = serialization.load_pem_private_key(key.read_bytes(), password=None)
        user = x509.load_pem_x509_certificate(cert.read_bytes())
        p12 = self.folder / f"{nickname}.p12"
        p12.write_bytes(pkcs12.serialize_key_and_certificates(
            nickname.encode(), private, user, None,  # type: ignore[arg-type]
            serialization.BestAvailableEncryption(P12_PASSWORD.encode())))
        try:
            self._nss("pk12util", "-i", str(p12), "-d", db, "-W", P12_PASSWORD)
        finally:
            p12.unlink()

    def start(self, conn: Conn, timeout: float = 30.0) -> "Pluto":
        """Write the config, start pluto, wait for its whack socket, add `conn`."""
        self.rundir.mkdir(parents=True, exist_ok=True)
        updown = self.folder / "updown.sh"
        updown.write_text(UPDOWN)
        updown.chmod(0o755)
        self.config_path.write_text("config setup\n\tplutodebug=none\n\n" + conn.text(updown))
        secrets = self.folder / "ipsec.secrets"
        secrets.write_text("")
        argv = [str(PLUTO), "--nofork", "--stderrlog", "--config", str(self.config_path),
                "--nssdir", str(self.nssdir), "--rundir", str(self.rundir), "--secretsfile", str(secrets),
                "--ipsecdir", str(self.folder), "--dumpdir", str(self.rundir), "--no-dnssec", "--nhelpers", "1"]
        # pluto runs its helpers (addconn) from the compiled-in /usr/libexec/ipsec: bind the
        # prefix's libexec there, in the private mount namespace `ip netns exec` gives it
        bind = ["sh", "-c", 'mount --bind "$0" /usr/libexec && exec "$@"', str(PREFIX / "usr" / "libexec")]
        self.proc = spawn(self.ns.argv([*bind, *argv]), self.log_path, cwd=self.folder)
        try:
            # pluto's own addconn helper loads the conn, then has it listen: only
            # then does it take --initiate
            wait_ready(self.proc, lambda: self.ctl.exists() and "listening for IKE messages" in self.log()
                       and "adding UDP interface" in self.log(), timeout, waiting_for="not listening")
        except NotReady as exc:
            self.stop()
            raise RuntimeError(f"pluto {exc}:\n{self.tail()}") from None
        added = self.ns.run([str(ADDCONN), "--config", str(self.config_path), "--ctlsocket", str(self.ctl),
                             conn.name], check=False)
        if added.returncode != 0:
            raise RuntimeError(f"addconn {conn.name} -> {added.returncode}\n{added.stdout}{added.stderr}")
        return self

    def whack(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """`whack --ctlsocket <ours> ARGS` (whack talks to pluto over the socket file)."""
        return subprocess.run([str(WHACK), "--ctlsocket", str(self.ctl), *args], capture_output=True,
                              text=True, timeout=timeout)

    def initiate(self, name: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Bring the conn up; whack waits until the Child SA is up or it failed."""
        return self.whack("--initiate", "--name", name, timeout=timeout)

    def terminate(self, name: str) -> subprocess.CompletedProcess[str]:
        return self.whack("--terminate", "--name", name)

    def stop(self) -> int | None:
        """`whack --shutdown` (pluto deletes its SAs, telling the peer), then
        by PID if it is still there."""
        if self.running():
            try:
                self.whack("--shutdown", timeout=15)
                if self.proc is not None:
                    self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        code = self._stop_process()
        shutil.rmtree(self.rundir, ignore_errors=True)
        return code

    def log(self) -> str:
        return read_log(self.log_path)

    def tail(self, lines: int = 60) -> str:
        return last_lines(self.log(), lines)
