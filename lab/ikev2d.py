"""Run `ikev2d run --config FILE` in the lab's gateway namespace.

The configuration is config/ikev2d.yaml with a few knobs turned for a test
(DH groups, fragment size, pool, users, EAP methods, logging level) and the
identity certificate switched to ``enrollment: files`` with the lab PKI's
server certificate and key.  stdout and stderr go to one log file.  Each
daemon gets its own control socket, which `show()` and `vpn_sessiondb()`
drive with the `ikev2d` command line.
"""

from __future__ import annotations

import copy
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from lab.netns import Namespace
from lab.process import Daemon, NotReady, last_lines, read_log, spawn, wait_ready
from lab.pki import LabPki

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO / "config" / "ikev2d.yaml"


class Ikev2dError(RuntimeError):
    """ikev2d did not start or stop as expected."""


@dataclass
class Ikev2dKnobs:
    """What a test may change in the default configuration."""

    # None keeps the file's value for every knob below but logging_level.
    dh_groups: list[int] | None = None
    fragment_size: int | None = None
    pool_range: str | None = None
    users: dict[str, str] | None = None
    eap_methods: list[str] | None = None  # None keeps the file's order
    # The identity certificate's key type (lab.pki.KEY_TYPES): with the lab
    # PKI, its server certificate of that type; self-signed, the key_type.
    key_type: str | None = None
    # The whitepaper raises VPN logging from errors to informational.
    logging_level: str = "informational"
    # Free-form last word on the dict before it is written.
    edit: Callable[[dict[str, Any]], None] | None = None


def load_default_config(path: Path = DEFAULT_CONFIG) -> dict[str, Any]:
    with path.open() as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise Ikev2dError(f"{path}: not a mapping")
    return data


def lab_config(
    pki: LabPki | None,
    store: Path,
    knobs: Ikev2dKnobs | None = None,
    base: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The default config with the lab PKI and the knobs applied.

    With `pki` None the identity stays self-signed, kept under `store`.
    """
    k = knobs or Ikev2dKnobs()
    cfg = copy.deepcopy(base if base is not None else load_default_config())
    ra = cfg["remote_access_vpn"]
    if k.fragment_size is not None:
        ra["fragment_size"] = k.fragment_size
    objects = cfg["objects"]
    policy_names = set(ra.get("ike_policies", []))
    if k.dh_groups is not None:
        for pol in objects["ikev2_policies"]:
            if not policy_names or pol["name"] in policy_names:
                pol["dh_groups"] = list(k.dh_groups)
    if k.pool_range is not None:
        for pool in objects["ipv4_pools"]:
            pool["range"] = k.pool_range
    if k.users is not None:
        objects["local_users"] = [{"username": u, "password": p} for u, p in k.users.items()]
    for ident in objects["identity_certificates"]:
        ident["store"] = str(store)
        if k.key_type is not None:
            ident["key_type"] = k.key_type
        if pki is not None:
            server = pki.server_identity(k.key_type)
            ident["enrollment"] = "files"
            ident["certificate"] = str(server.cert)
            ident["private_key"] = str(server.key)
            ident["key_type"] = server.key_type
    if k.eap_methods is not None:
        for profile in cfg["connection_profiles"]:
            profile["authentication"]["eap_methods"] = list(k.eap_methods)
    cfg.setdefault("logging", {})["vpn_logging_level"] = k.logging_level
    if k.edit is not None:
        k.edit(cfg)
    return cfg


class Ikev2d(Daemon):
    """One ikev2d process in namespace `ns`, files under `folder`."""

    def __init__(self, ns: Namespace, folder: Path, config: dict[str, Any], extra_args: Sequence[str] = (),
                 launcher: Sequence[str] = ()) -> None:
        self.ns = ns
        self.folder = folder
        self.config = config
        self.extra_args = list(extra_args)  # more `ikev2d run` options, e.g. ["--dataplane", "userspace"]
        # an argv prefix that takes over stdout (lab.fulldisk): then only stderr is in the log
        self.launcher = list(launcher)
        self.proc: subprocess.Popen[bytes] | None = None
        self._control_dir: Path | None = None

    @property
    def control_path(self) -> Path:
        if self._control_dir is None:
            # a short folder of its own: a Unix socket path is at most 107 bytes
            self._control_dir = Path(tempfile.mkdtemp(prefix="ikv-ctl-"))
        return self._control_dir / "control.sock"

    @property
    def config_path(self) -> Path:
        return self.folder / "ikev2d.yaml"

    @property
    def log_path(self) -> Path:
        return self.folder / "ikev2d.log"

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "ikev2d", "run", "--config", str(self.config_path),
                "--control", str(self.control_path), *self.extra_args]

    def cli(self, *words: str, json: bool = False, timeout: float = 15.0) -> "subprocess.CompletedProcess[str]":
        """`ikev2d WORDS --control <this daemon's socket>`, e.g.
        cli("show", "crypto", "ikev2", "sa"); the socket is a file, so
        this runs from the root namespace."""
        argv = [sys.executable, "-m", "ikev2d", *words, "--control", str(self.control_path)]
        return subprocess.run(argv + (["--json"] if json else []), capture_output=True, text=True,
                              timeout=timeout, cwd=REPO)

    def show(self, *words: str, json: bool = False) -> "subprocess.CompletedProcess[str]":
        return self.cli("show", *words, json=json)

    def vpn_sessiondb(self, *words: str, json: bool = False) -> "subprocess.CompletedProcess[str]":
        return self.cli("vpn-sessiondb", *words, json=json)

    def debug(self, *words: str, out: Path, json: bool = True) -> "DebugStream":
        """`ikev2d debug WORDS` against this daemon, in the background,
        writing to `out`; started once its header line is written."""
        argv = [sys.executable, "-m", "ikev2d", "debug", *words, "--control", str(self.control_path)]
        return DebugStream(argv + (["--json"] if json else []), out).start()

    def start(self, timeout: float = 15.0, port: int = 500) -> "Ikev2d":
        """Start and wait until UDP `port` is bound inside the namespace and
        the control socket exists: the daemon opens it last, after the
        client services' TLS and DTLS listeners, so a test that looks at
        sockets or `show` right away sees the whole daemon."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        control = self.control_path
        self.proc = spawn(self.launcher + self.ns.argv(self.argv()), self.log_path, cwd=self.folder,
                          stdout=not self.launcher)
        try:
            wait_ready(self.proc, lambda: self.ns.udp_listening(port) and control.exists(), timeout,
                       waiting_for=f"not listening on UDP {port}, or no control socket {control}")
        except NotReady as exc:
            self.stop()
            raise Ikev2dError(f"ikev2d {exc}:\n{self.tail()}") from None
        return self

    def stop(self) -> int | None:
        """Stop by PID (SIGTERM, then SIGKILL); returns the exit status."""
        code = self._stop_process()
        if self._control_dir is not None:
            shutil.rmtree(self._control_dir, ignore_errors=True)
            self._control_dir = None
        return code

    def log(self) -> str:
        return read_log(self.log_path)

    def tail(self, lines: int = 60) -> str:
        return last_lines(self.log(), lines)

    def __enter__(self) -> "Ikev2d":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class DebugStream:
    """A running `ikev2d debug` client; stop() ends it (SIGINT, as Ctrl-C)
    and returns what it printed."""

    def __init__(self, argv: list[str], out: Path) -> None:
        self.argv = argv
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> "DebugStream":
        with self.out.open("wb") as f:
            self.proc = subprocess.Popen(self.argv, stdout=f, stderr=subprocess.STDOUT, cwd=REPO)
        wait_ready(self.proc, lambda: self.out.stat().st_size > 0, timeout, waiting_for="no debug header")
        return self

    def stop(self) -> str:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.out.read_text(errors="replace")
