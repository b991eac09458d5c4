"""`ikev2d reload` and SIGHUP: re-read the configuration file and apply it
to the running daemon, or keep the running one and say why.

Applied at once: IKEv2 policies and IPsec proposals (the next IKE_SA_INIT
or rekey), connection profiles, group policies, pools, local users, the
identity certificate (the signing workers restart with its key), RADIUS
server groups, IKEv2 parameters (DPD, cookies, limits), logging. Sessions
whose profile, group policy or pool changed end (see `plan`). Not applied,
reported as needing a restart (and reported again at each reload until
then): interfaces and access interfaces (the listening addresses), the web
access and DTLS ports, client services' listener; the running configuration
keeps them as they run (`live_config`). The data plane and the control socket come from `ikev2d run`'s
options, not from the file, so a reload never touches them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from ..aaa.radius.client import RadiusClients
from ..conf import ConfigError, load_config
from ..conf.model import Config
from ..core import Responder
from ..effects import Effect
from ..identity import IdentityError
from ..settings import ResponderSettings, build_settings
from ..syslog import SyslogPipeline, pipeline_from_config
from ..transport import CryptoRunner, Transport
from .diff import Change, config_changes
from .plan import Ended, keep_pools, move_to

log = logging.getLogger("ikev2d.reload")

# a retired RADIUS client closes once its last request surely ended
# (servers x (retries + 1) x timeout stays well under this for sane groups)
RADIUS_RETIRE_SECONDS = 120.0
RETIRING = "reload: retired RADIUS clients"  # the task a stop may cut short


@dataclass
class ReloadReport:
    applied: bool
    lines: list[str] = field(default_factory=list)

    def as_answer(self) -> dict[str, object]:
        return {"ok": True, "applied": self.applied, "lines": self.lines}


class Reloadable(Protocol):
    """What a reload changes in `ikev2d.daemon.Daemon`."""

    config: Config
    settings: ResponderSettings
    responder: Responder
    transport: Transport | None
    crypto: CryptoRunner
    crypto_workers: int
    radius: RadiusClients
    syslog: SyslogPipeline

    def perform(self, effects: list[Effect]) -> None: ...

    def has_client_services(self) -> bool: ...

    def route_pools(self) -> None: ...

    def keep_until_stop(self, task: asyncio.Task) -> None: ...


def reload(daemon: Reloadable, now: float) -> ReloadReport:
    """Re-read `daemon.config.source`; apply it or refuse it whole."""
    path = daemon.config.source
    try:
        new = load_config(path)
        settings = build_settings(new)
    except ConfigError as exc:
        return _refused(f"configuration error: {exc}")
    except IdentityError as exc:
        return _refused(f"identity certificate: {exc}")
    old = daemon.config
    changes = config_changes(old, new)
    if daemon.has_client_services() and any(
            c.text.startswith(("connection profile", "identity certificate", "group policy")) for c in changes):
        changes.append(Change("client services: the TLS listener and the profile it serves keep the "
                              "configuration they started with", restart=True))
    keep_pools(old, new, daemon.settings, settings)
    effects, ended = move_to(daemon.responder, old, new, settings, now)
    # the ended sessions' Deletes, SA-down lines and Stops leave through the
    # RADIUS clients and syslog destinations they were set up with
    daemon.perform(effects)
    _swap_crypto(daemon, settings)
    _swap_radius(daemon, old, new)
    _swap_syslog(daemon, old, new)
    daemon.config, daemon.settings = live_config(old, new), settings
    daemon.route_pools()  # after the ended sessions left the data plane
    report = ReloadReport(True, _lines(path, changes, ended))
    for line in report.lines:
        log.info("reload: %s", line)
    return report


def live_config(old: Config, new: Config) -> Config:
    """The new configuration with what was not applied kept as it runs
    (interfaces, access interfaces, ports), so `show running-config` and the
    sessions' interface names tell what is live. Interfaces only the new
    file has are added: its syslog or RADIUS servers may name them."""
    kept = {i.name for i in old.interfaces}
    interfaces = old.interfaces + tuple(i for i in new.interfaces if i.name not in kept)
    ra = dataclasses.replace(new.remote_access_vpn, access_interfaces=old.remote_access_vpn.access_interfaces,
                             web_access_port=old.remote_access_vpn.web_access_port,
                             dtls_port=old.remote_access_vpn.dtls_port,
                             ike_port=old.remote_access_vpn.ike_port,
                             nat_t_port=old.remote_access_vpn.nat_t_port)
    return dataclasses.replace(new, interfaces=interfaces, remote_access_vpn=ra)


def _refused(why: str) -> ReloadReport:
    lines = why.splitlines() + ["refused: the running configuration is kept"]
    for line in lines:
        log.error("reload: %s", line)
    return ReloadReport(False, lines)


def _lines(path: object, changes: list[Change], ended: list[Ended]) -> list[str]:
    if not changes:
        return [f"{path}: no change"]
    restarts = sum(1 for c in changes if c.restart)
    applied = len(changes) - restarts
    return ([str(c) for c in changes] + [str(e) for e in ended]
            + [f"{path}: {applied} change(s) applied, {restarts} need(s) a restart, "
               f"{len(ended)} session(s) ended"])


def _key_pems(settings: ResponderSettings) -> dict[str, bytes]:
    return {name: key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
            for name, key in settings.signing_keys.items()}


def _swap_crypto(daemon: Reloadable, new: ResponderSettings) -> None:
    # the workers were handed the signing keys at start: new keys, new workers
    if _key_pems(daemon.settings) == _key_pems(new):
        return
    old, daemon.crypto = daemon.crypto, CryptoRunner(new.signing_keys, daemon.crypto_workers)
    if daemon.transport is not None:
        daemon.transport.crypto = daemon.crypto
    old.retire()  # jobs already running finish; their exchanges go on


def _swap_radius(daemon: Reloadable, old: Config, new: Config) -> None:
    if old.radius_server_groups == new.radius_server_groups:
        return
    fresh = RadiusClients({g.name: g for g in new.radius_server_groups})
    before = {g.name: g for g in old.radius_server_groups}
    retired = RadiusClients({})
    for name, client in daemon.radius.groups.items():
        if name in fresh.groups and before.get(name) in new.radius_server_groups:
            fresh.groups[name] = client  # unchanged: keeps its sockets and dead-server state
        else:
            retired.groups[name] = client
    daemon.radius = fresh
    if daemon.transport is not None:
        daemon.transport.radius = fresh
    daemon.keep_until_stop(asyncio.get_running_loop().create_task(_close_later(retired), name=RETIRING))


async def _close_later(clients: RadiusClients) -> None:
    # requests already sent through these clients may still be waiting
    try:
        await asyncio.sleep(RADIUS_RETIRE_SECONDS)
    finally:
        await clients.close()


def _swap_syslog(daemon: Reloadable, old: Config, new: Config) -> None:
    if old.logging == new.logging and old.device.hostname == new.device.hostname:
        return
    # the same pipeline, new destinations: per-session byte counts survive
    fresh = pipeline_from_config(new)
    retired = daemon.syslog.reconfigure(fresh)
    daemon.keep_until_stop(asyncio.get_running_loop().create_task(_close_destinations(retired)))


async def _close_destinations(destinations: list) -> None:
    for destination in destinations:
        await destination.aclose()
