"""Run a strongSwan charon in a lab namespace and drive it over VICI.

Each daemon gets a private folder (strongswan.conf, swanctl/, run/, logs)
and its own mount namespace whose /run is that folder's run/, because
charon's pid file path is compiled in.  Configuration is loaded with
``swanctl --load-all``; initiate, terminate and SA listings go over the
VICI socket with strongSwan's ``vici`` package (through
:mod:`lab.vicicalls`, which adds str answers and a deadline per call) so the
answers arrive as structured data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab import vicicalls
from lab.vicicalls import Message, ViciError
from lab.netns import Namespace
from lab.process import Daemon, NotReady, read_log, spawn, wait_ready
from lab.swanctl_conf import (
    ClientConfig,
    DaemonSettings,
    ResponderConfig,
    client_swanctl_conf,
    responder_swanctl_conf,
    strongswan_conf,
)

CHARON = Path("/usr/lib/ipsec/charon")


class CharonError(RuntimeError):
    """charon did not start, or a command to it failed."""


@dataclass(frozen=True)
class ChildSa:
    name: str
    state: str
    protocol: str
    encap: bool
    proposal: str  # e.g. AES_CBC-256/HMAC_SHA2_512_256
    spi_in: str
    spi_out: str
    local_ts: list[str]
    remote_ts: list[str]


@dataclass(frozen=True)
class IkeSa:
    name: str
    uniqueid: str
    state: str
    initiator: bool
    local_host: str
    local_port: int
    local_id: str
    remote_host: str
    remote_port: int
    remote_id: str
    proposal: str  # e.g. AES_CBC-256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/MODP_3072
    local_vips: list[str]
    remote_vips: list[str]
    children: list[ChildSa]
    raw: Message = field(repr=False)


@dataclass(frozen=True)
class CommandResult:
    """Outcome of a VICI initiate/terminate, with the control-log it streamed."""

    ok: bool
    errmsg: str
    log: list[str]

    def text(self) -> str:
        return "\n".join(self.log)


def _s(msg: Message, key: str) -> str:
    value = msg.get(key, "")
    return value if isinstance(value, str) else ""


def _l(msg: Message, key: str) -> list[str]:
    value = msg.get(key, [])
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _proposal(msg: Message, with_prf: bool) -> str:
    parts: list[str] = []
    encr = _s(msg, "encr-alg")
    if encr:
        size = _s(msg, "encr-keysize")
        parts.append(f"{encr}-{size}" if size else encr)
    for key in ("integ-alg",) + (("prf-alg",) if with_prf else ()) + ("dh-group",):
        if _s(msg, key):
            parts.append(_s(msg, key))
    if not with_prf and _s(msg, "esn") == "1":
        parts.append("ESN")
    return "/".join(parts)


def parse_child(name: str, msg: Message) -> ChildSa:
    return ChildSa(
        name=_s(msg, "name") or name,
        state=_s(msg, "state"),
        protocol=_s(msg, "protocol"),
        encap=_s(msg, "encap") == "yes",
        proposal=_proposal(msg, with_prf=False),
        spi_in=_s(msg, "spi-in"),
        spi_out=_s(msg, "spi-out"),
        local_ts=_l(msg, "local-ts"),
        remote_ts=_l(msg, "remote-ts"),
    )


def parse_ike(name: str, msg: Message) -> IkeSa:
    children_raw = msg.get("child-sas", {})
    children = (
        [parse_child(k, v) for k, v in children_raw.items() if isinstance(v, dict)]
        if isinstance(children_raw, dict)
        else []
    )
    return IkeSa(
        name=name,
        uniqueid=_s(msg, "uniqueid"),
        state=_s(msg, "state"),
        initiator=_s(msg, "initiator") == "yes",
        local_host=_s(msg, "local-host"),
        local_port=int(_s(msg, "local-port") or 0),
        local_id=_s(msg, "local-id"),
        remote_host=_s(msg, "remote-host"),
        remote_port=int(_s(msg, "remote-port") or 0),
        remote_id=_s(msg, "remote-id"),
        proposal=_proposal(msg, with_prf=True),
        local_vips=_l(msg, "local-vips"),
        remote_vips=_l(msg, "remote-vips"),
        children=children,
        raw=msg,
    )


def _log_lines(events: list[Message]) -> list[str]:
    return [_s(e, "msg") for e in events if _s(e, "msg")]


class Charon(Daemon):
    """One charon daemon in namespace `ns`, with its files under `folder`."""

    def __init__(
        self,
        ns: Namespace,
        folder: Path,
        *,
        fragment_size: int = 1280,
        retransmit_tries: int = 2,
        retransmit_timeout: float = 1.0,
        ike_log_level: int = 2,
        signature_authentication: bool = True,
        kernel_esp: bool = False,
        cookie_threshold: int | None = None,
    ) -> None:
        self.ns = ns
        self.folder = folder
        self.settings = DaemonSettings(
            folder=folder,
            fragment_size=fragment_size,
            retransmit_tries=retransmit_tries,
            retransmit_timeout=retransmit_timeout,
            ike_log_level=ike_log_level,
            signature_authentication=signature_authentication,
            kernel_esp=kernel_esp,
            cookie_threshold=cookie_threshold,
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.config: ClientConfig | ResponderConfig | None = None

    # -- files ---------------------------------------------------------------

    @property
    def conf_path(self) -> Path:
        return self.folder / "strongswan.conf"

    @property
    def swanctl_dir(self) -> Path:
        return self.folder / "swanctl"

    @property
    def stdout_path(self) -> Path:
        return self.folder / "charon.out"

    @property
    def log_path(self) -> Path:
        return self.settings.log_file

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["STRONGSWAN_CONF"] = str(self.conf_path)
        env["SWANCTL_DIR"] = str(self.swanctl_dir)
        return env

    # -- lifecycle -----------------------------------------------------------

    def start(self, timeout: float = 10.0) -> "Charon":
        if not CHARON.exists():
            raise CharonError(f"{CHARON} is missing (run lab/setup.sh)")
        self.folder.mkdir(parents=True, exist_ok=True)
        run = self.folder / "run"
        run.mkdir(exist_ok=True)
        for sub in ("x509ca", "x509", "private", "conf.d"):
            (self.swanctl_dir / sub).mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(strongswan_conf(self.settings))
        self.settings.vici_socket.unlink(missing_ok=True)
        script = f"mount --bind {run} /run && exec {CHARON}"
        self.proc = spawn(self.ns.argv(["unshare", "-m", "--propagation", "private", "sh", "-c", script]),
                          self.stdout_path, env=self._env())
        try:
            wait_ready(self.proc, self._vici_answers, timeout, waiting_for="did not open its VICI socket",
                       interval=0.05)
        except NotReady as exc:
            self.stop()
            raise CharonError(f"charon {exc}:\n{self._tail()}") from None
        return self

    def _vici_answers(self) -> bool:
        if not self.settings.vici_socket.exists():
            return False
        try:
            vicicalls.request(self.settings.vici_socket, "version", deadline=2.0)
        except (OSError, ViciError):
            return False
        return True

    def stop(self) -> None:
        self._stop_process()

    def __enter__(self) -> "Charon":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- configuration -------------------------------------------------------

    def load(self, config: ClientConfig | ResponderConfig) -> None:
        """Write swanctl.conf (and credentials) and load it all into charon."""
        if isinstance(config, ClientConfig):
            text = client_swanctl_conf(config)
            if config.ca_cert is not None:
                shutil.copy(config.ca_cert, self.swanctl_dir / "x509ca" / "ca.pem")
            if config.client_cert is not None and config.client_key is not None:
                shutil.copy(config.client_cert, self.swanctl_dir / "x509" / config.client_cert.name)
                shutil.copy(config.client_key, self.swanctl_dir / "private" / config.client_key.name)
        else:
            text = responder_swanctl_conf(config)
            shutil.copy(config.server_cert, self.swanctl_dir / "x509" / config.server_cert.name)
            shutil.copy(config.server_key, self.swanctl_dir / "private" / config.server_key.name)
        (self.swanctl_dir / "swanctl.conf").write_text(text)
        self.config = config
        proc = subprocess.run(
            ["swanctl", "--load-all", "--noprompt"],
            capture_output=True,
            text=True,
            env=self._env(),
            timeout=30,
        )
        if proc.returncode != 0:
            raise CharonError(f"swanctl --load-all failed:\n{proc.stdout}{proc.stderr}")

    # -- commands ------------------------------------------------------------

    def _streamed(self, command: str, call: vicicalls.StreamCall, deadline: float) -> vicicalls.Streamed:
        return vicicalls.streamed(self.settings.vici_socket, command, call, deadline)

    def initiate(
        self,
        child: str = "ftd-ra",
        ike: str | None = None,
        timeout: float = 15.0,
        deadline: float | None = None,
    ) -> CommandResult:
        """Initiate `child` of `ike` and wait until it is up or has failed.

        charon itself gives up after `timeout`; the call as a whole is cut
        at `deadline` (default `timeout` + 10 s) with :class:`lab.vicicalls.ViciTimeout`,
        so a daemon that never answers cannot hang a test.
        """
        msg: Message = {
            "child": child,
            "ike": ike or child,
            "timeout": str(int(timeout * 1000)),
            "init-limits": "no",
            "loglevel": "1",
        }
        out = self._streamed("initiate", lambda s: s.initiate(msg), deadline or timeout + 10)
        return CommandResult(ok=out.ok, errmsg=out.errmsg, log=_log_lines(out.events))

    def terminate(self, ike: str = "ftd-ra", timeout: float = 10.0) -> CommandResult:
        msg: Message = {"ike": ike, "timeout": str(int(timeout * 1000)), "loglevel": "1"}
        out = self._streamed("terminate", lambda s: s.terminate(msg), timeout + 10)
        return CommandResult(ok=out.ok, errmsg=out.errmsg, log=_log_lines(out.events))

    def list_sas(self) -> list[IkeSa]:
        out = self._streamed("list-sas", lambda s: s.list_sas(), 10)
        if not out.ok:
            raise CharonError(f"list-sas failed: {out.errmsg}")
        sas: list[IkeSa] = []
        for event in out.events:
            for name, body in event.items():
                if isinstance(body, dict):
                    sas.append(parse_ike(name, body))
        return sas

    def wait_for_sas(self, count: int, timeout: float = 5.0) -> list[IkeSa]:
        """Poll until exactly `count` IKE SAs are listed (e.g. 0 after a delete)."""
        deadline = time.monotonic() + timeout
        sas = self.list_sas()
        while len(sas) != count and time.monotonic() < deadline:
            time.sleep(0.1)
            sas = self.list_sas()
        return sas

    def swanctl(self, *args: str, timeout: float = 30.0) -> str:
        """Run swanctl against this daemon (e.g. "--list-sas") and return its output."""
        proc = subprocess.run(
            ["swanctl", *args], capture_output=True, text=True, env=self._env(), timeout=timeout
        )
        return proc.stdout + proc.stderr

    # -- logs ----------------------------------------------------------------

    def log(self) -> str:
        """The charon filelog (ike level 2 by default)."""
        return read_log(self.log_path)

    def _tail(self, lines: int = 40) -> str:
        text = ""
        for path in (self.stdout_path, self.log_path):
            if path.exists():
                text += f"--- {path}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text
