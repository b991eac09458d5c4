"""Would `ikev2d run` start on this configuration? check-config's answer.

The loader judges the file alone; `run` also needs what the file points at:
an access interface with IKEv2, certificate files that load and match
their keys, folders it can write, ports it can bind. Each check here is one
`run` would otherwise fail on, reported with the line to change.

Checks of the file's world (certificate files, stores, the log file, ports
the file gives twice) always run: the file cannot be used as it stands.
Checks of this host (is the address here, is the port free, may this user
bind it) run only `on_this_host` (check-config --here): check-config often
runs on another machine than `run`.
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .client_services import plan_endpoints
from .conf.locate import Named, SourceMap
from .conf.model import Config, IdentityCertificate
from .identity import IdentityError, load_identity, load_trusted_ca
from .listen_errors import Where, diagnose
from .udp import address_family


@dataclass(frozen=True, slots=True)
class Check:
    """One reason `run` would refuse (error) or might fail here (warning)."""

    error: bool
    subject: str
    line: int
    problem: str
    fix: str

    def render(self, file: str) -> str:
        return f"{file}:{self.line}: {'error' if self.error else 'warning'}: {self.subject}: {self.problem}. Fix: {self.fix}"

    def as_json(self) -> dict[str, object]:
        return {"severity": "error" if self.error else "warning", "subject": self.subject, "line": self.line,
                "problem": self.problem, "fix": self.fix}


def preflight(config: Config, where: SourceMap, on_this_host: bool = False,
              listen: tuple[str, ...] = (), ports: tuple[int, int] | None = None) -> list[Check]:
    checks = [*_ike_interface(config, where), *_certificates(config, where), *_trusted_cas(config, where),
              *_log_file(config, where)]
    checks += _sockets(config, where, on_this_host, listen, ports)
    return sorted(checks, key=lambda c: c.line)


def _ike_interface(config: Config, where: SourceMap) -> Iterator[Check]:
    if not any(a.enable_ipsec_ikev2 for a in config.remote_access_vpn.access_interfaces):
        yield Check(True, "remote access VPN", where.line("remote_access_vpn", "access_interfaces", 0,
                                                          "enable_ipsec_ikev2"),
                    "no access interface has IPsec-IKEv2 enabled, so `run` has nothing to serve",
                    "set enable_ipsec_ikev2: true on an access interface")


def _certificates(config: Config, where: SourceMap) -> Iterator[Check]:
    for cert in config.identity_certificates:
        at = ("objects", "identity_certificates", Named(cert.name))
        subject = f"identity certificate '{cert.name}'"
        if cert.enrollment == "files":
            try:
                load_identity(cert)  # reads both files, finds the certificate the key belongs to
            except IdentityError as exc:
                key = "certificate" if str(exc).startswith(str(cert.certificate)) else "private_key"
                yield Check(True, subject, where.line(*at, key), str(exc),
                            "point certificate/private_key at a PEM certificate and its unencrypted key")
        else:
            problem = _unwritable_folder(cert.store) or _unreadable_stored_key(cert)
            if problem:
                yield Check(True, subject, where.line(*at, "store"), problem,
                            "make the store a folder this user can write, or point store elsewhere")


def _trusted_cas(config: Config, where: SourceMap) -> Iterator[Check]:
    for ca in config.trusted_cas:
        try:
            load_trusted_ca(ca.certificate)
        except IdentityError as exc:
            yield Check(True, f"trusted CA certificate '{ca.name}'",
                        where.line("objects", "trusted_ca_certificates", Named(ca.name), "certificate"), str(exc),
                        "point certificate at the CA's PEM certificate")


def _log_file(config: Config, where: SourceMap) -> Iterator[Check]:
    """The files `logging` asks to be written: the syslog file, the debug
    trace file and the key export's folder."""
    logging = config.logging
    files = [(logging.file, ("logging", "file"), "logging.file"),
             (logging.debug_trace.file if logging.debug_trace else None, ("logging", "debug_trace", "file"),
              "logging.debug_trace.file")]
    for path, at, key in files:
        if path is None:
            continue
        if path.exists():
            problem = None if path.is_file() and os.access(path, os.W_OK) else \
                f"{path} cannot be written by this user"
        else:
            problem = _unwritable_folder(path.parent)
        if problem:
            yield Check(True, "logging", where.line(*at), problem, f"point {key} at a file this user can append to")
    keys = logging.wireshark_keys
    problem = None if keys is None else _unwritable_folder(keys)
    if problem:
        yield Check(True, "logging", where.line("logging", "wireshark_keys"), problem,
                    "point logging.wireshark_keys at a folder this user can write")


def _unwritable_folder(folder: Path) -> str | None:
    """Why files cannot be created in `folder` (created first if missing), or None."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        verb = "write" if probe == folder else f"create {folder} in"
        return f"this user cannot {verb} {probe}"
    return None


def _unreadable_stored_key(cert: IdentityCertificate) -> str | None:
    key = cert.store / f"{cert.name}.key"
    if key.exists() and not os.access(key, os.R_OK):
        return f"{key} exists but this user cannot read it"
    return None


# --- this host: addresses and ports -----------------------------------------------


def _sockets(config: Config, where: SourceMap, on_this_host: bool, listen: tuple[str, ...],
             ports: tuple[int, int] | None) -> Iterator[Check]:
    ra = config.remote_access_vpn
    ike, nat_t = ports if ports is not None else (ra.ike_port, ra.nat_t_port)
    line = where.line("remote_access_vpn", "ike_port") if ports is None else 1
    addresses = list(listen) or [address for a in ra.access_interfaces if a.enable_ipsec_ikev2
                                 for address in config.interface(a.interface).addresses()]
    wanted = [Where("UDP", a, p) for a in addresses for p in (ike, nat_t)]
    wanted += [Where("TCP" if e.protocol == "SSL" else "UDP", e.address, e.port) for e in plan_endpoints(config)]
    seen: set[Where] = set()
    for w in wanted:
        if w in seen:
            yield Check(True, "remote access VPN", line, f"{w.protocol} {w.address}:{w.port} is wanted twice"
                        " (IKE, NAT-T and DTLS share it)", "give IKE, NAT-T and DTLS different ports")
            continue
        seen.add(w)
        failure = probe(w) if on_this_host else None
        if failure is not None:
            problem, fix = diagnose(failure, w)
            yield Check(True, "listening socket", line, problem, fix or "free the socket")


def probe(where: Where) -> OSError | None:
    """Bind and close at once: would `run` get this socket now?"""
    kind = socket.SOCK_DGRAM if where.protocol == "UDP" else socket.SOCK_STREAM
    with socket.socket(address_family(where.address), kind) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((where.address, where.port))
        except OSError as exc:
            return exc if exc.errno != errno.EINVAL else None
    return None
