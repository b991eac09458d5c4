"""Read the running daemon into a `Snapshot` for the `show` commands.

Only reads: the IKE SAs of the responder, the data plane's counters, the
configuration and the listeners. Facts the core does not keep (the IKE
policy's lifetime, the interface name, the peer's identity as text) are
derived here from what it does keep.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
import math
from typing import Iterable, Iterator, Mapping, Protocol, Sequence

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from esp.dataplane import DataPlane, SaCounters

from ..conf.model import Config
from ..core import Responder
from ..iana import IdType
from ..sa import IkeSa
from ..task_manager import RETRANSMIT_TRIES
from ..sa_types import ChildSa, State
from ..show.names import DEVICE_VPN_CAPACITY
from ..show.snapshot import ChildSnapshot, ListenerSnapshot, SessionSnapshot, Snapshot
from ..tasks.proposals import ike_lifetime
from .stats import Presence, SessionStats

# SAs on their way out or failed are not sessions any more
_SHOWN = {State.CONNECTING, State.ESTABLISHED, State.DELETING}


class Listening(Protocol):
    """A listening socket as the collector reads it (read only: the
    daemon's `Listener` is frozen)."""

    @property
    def protocol(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def socket_id(self) -> int: ...


class DaemonView(Protocol):
    """What the collector needs of `ikev2d.daemon.Daemon`."""

    @property
    def config(self) -> Config: ...

    @property
    def responder(self) -> Responder: ...

    @property
    def dataplane(self) -> DataPlane: ...

    @property
    def listeners(self) -> Sequence[Listening]: ...


def client_type(sa: IkeSa) -> str:
    # ikev2d speaks standards EAP only (no EAP-AnyConnect), so every
    # session is a standards ("generic") IKEv2 client to the FTD's eyes
    return "generic"


def identity_text(body: bytes) -> str:
    """An ID payload body (type, 3 reserved, data) as the CLI shows it."""
    if len(body) < 4:
        return ""
    kind, data = body[0], body[4:]
    if kind == IdType.ID_IPV4_ADDR and len(data) == 4:
        return str(ipaddress.IPv4Address(data))
    if kind == IdType.ID_IPV6_ADDR and len(data) == 16:
        return str(ipaddress.IPv6Address(data))
    if kind in (IdType.ID_FQDN, IdType.ID_RFC822_ADDR, IdType.ID_KEY_ID):
        text = data.decode("utf-8", "replace")
        return text if text.isprintable() else data.hex()
    return data.hex()  # a DN or a general name: no client of ours sends one


def local_identity(sa: IkeSa) -> str:
    profile = sa.profile
    if profile is None:
        return ""
    # the profile's FQDN or address, else (FTD default) our subject DN
    return profile.profile.ike_identity or profile.identity.certificate.subject.rfc4514_string()


def _auth_sign(sa: IkeSa) -> str:
    key = sa.profile.identity.private_key if sa.profile is not None else None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ECDSA"
    return "RSA" if isinstance(key, rsa.RSAPrivateKey) or key is None else type(key).__name__


def interface_of(config: Config, address: str) -> str:
    for interface in config.interfaces:
        if str(interface.address) == address:
            return interface.name
    return address


COUNTED_TOGETHER = 64  # sessions whose pairs' counters one request asks for (a listing streams: a few kB held)


def _child(child: ChildSa, counted: Mapping[int, SaCounters], now_mono: float) -> ChildSnapshot:
    spec = child.spec
    counters = counted.get(spec.spi_in)
    values = {}
    if counters is not None:
        values = dict(packets_in=counters.packets_in, bytes_in=counters.bytes_in, packets_out=counters.packets_out,
                      bytes_out=counters.bytes_out, replay_drops=counters.replay_drops,
                      integrity_failures=counters.integrity_failures, other_drops=counters.other_drops,
                      seq_out=counters.seq_out, seq_in_highest=counters.seq_in_highest)
    return ChildSnapshot(
        spi_in=spec.spi_in, spi_out=spec.spi_out,
        local_selectors=tuple(str(n) for n in spec.local_selectors),
        remote_selectors=tuple(str(n) for n in spec.remote_selectors),
        encr_id=child.suite.encr_id, encr_bits=child.suite.encr_bits, integ_id=child.suite.integ_id,
        lifetime_seconds=spec.lifetime_seconds, lifetime_kilobytes=spec.lifetime_kilobytes,
        age_seconds=max(0.0, now_mono - child.created), nat_t=spec.encap_local_port is not None,
        **values,
    )


def session(sa: IkeSa, daemon: DaemonView, now_mono: float, now_wall: float,
            counted: Mapping[int, SaCounters] | None = None) -> SessionSnapshot:
    """One SA's snapshot; `counted`: its pairs' counters, when the caller
    asked the data plane for many sessions' at once."""
    spis = [c.spec.spi_in for c in sa.children]
    if counted is None or any(spi not in counted for spi in spis):  # (a pair rekeyed since the chunk's request)
        counted = daemon.dataplane.counters_of(spis)

    def wall(mono: float) -> float:
        return now_wall - (now_mono - mono)

    profile = sa.profile
    settings = daemon.responder.settings
    since = sa.established_at if sa.established_at is not None else sa.created
    return SessionSnapshot(
        unique_id=sa.unique_id, state=sa.state.value, username=sa.username,
        tunnel_group=profile.name if profile else "",
        group_policy=sa.group_policy.name if sa.group_policy else "",
        interface=interface_of(daemon.config, sa.local[0]),
        local_address=sa.local[0], local_port=sa.local[1],
        remote_address=sa.remote[0], remote_port=sa.remote[1],
        assigned_ip=str(sa.lease[1]) if sa.lease else None, pool=sa.lease[0] if sa.lease else None,
        assigned_ipv6=str(sa.lease6[1]) if sa.lease6 else None,
        spi_i=sa.spi_i.hex(), spi_r=sa.spi_r.hex(),
        encr_id=sa.suite.encr_id, encr_bits=sa.suite.encr_bits, integ_id=sa.suite.integ_id,
        prf_id=sa.suite.prf_id, dh_id=sa.suite.dh_id,
        auth_sign=_auth_sign(sa), auth_verify=sa.peer_auth,
        local_id=local_identity(sa),
        remote_id=identity_text(sa.idi_body),
        ike_lifetime_seconds=ike_lifetime(sa.suite, settings.ike_policies),
        created_epoch=wall(sa.created),
        established_epoch=wall(sa.established_at) if sa.established_at is not None else None,
        active_seconds=max(0.0, now_mono - since),
        nat_peer=sa.nat_peer, nat_local=sa.nat_local,
        local_next_message_id=sa.tasks.next_own_id, remote_next_message_id=sa.tasks.next_request_id,
        dpd_interval=settings.dpd_interval, dpd_retries=RETRANSMIT_TRIES,
        idle_timeout_minutes=math.ceil(sa.idle_timeout / 60),
        client_type=client_type(sa),
        children=tuple(_child(c, counted, now_mono) for c in sa.children),
        initiator=sa.original_initiator,
        idle_seconds=max(0.0, now_mono - sa.last_traffic) if sa.established_at is not None else 0.0,
    )


def presence(responder: Responder) -> list[Presence]:
    return [Presence(sa.unique_id, client_type(sa),
                     tuple((c.spec.spi_in, c.spec.encap_local_port is not None) for c in sa.children))
            for sa in responder.sas.values() if sa.state is State.ESTABLISHED]


def listeners(entries: Iterable[Listening]) -> tuple[ListenerSnapshot, ...]:
    # any foreign address of the listener's family: `0.0.0.0:*`, or `:::*`
    # for an IPv6 one (*unconfirmed*, docs/ftd-behaviour.md)
    return tuple(ListenerSnapshot(e.protocol, e.address, e.port, e.socket_id,
                                  foreign=":::*" if ":" in e.address else "0.0.0.0:*") for e in entries)


def shown(responder: Responder) -> list[IkeSa]:
    """The SAs a listing shows, in session order."""
    return sorted((sa for sa in responder.sas.values() if sa.state in _SHOWN), key=lambda sa: sa.unique_id)


def sessions(daemon: DaemonView, sas: Iterable[IkeSa], now_mono: float, now_wall: float) -> Iterator[SessionSnapshot]:
    """Each SA as it is when its turn comes: a streamed listing lets IKE
    run between records, so an SA that went meanwhile is left out. The
    pairs' counters are asked COUNTED_TOGETHER sessions at a time (one
    request per data-plane worker, not one per pair)."""
    pending = iter(sas)
    while chunk := list(itertools.islice(pending, COUNTED_TOGETHER)):
        counted = daemon.dataplane.counters_of([c.spec.spi_in for sa in chunk for c in sa.children])
        for sa in chunk:
            if sa.state in _SHOWN:
                yield session(sa, daemon, now_mono, now_wall, counted)


def head(daemon: DaemonView, stats: SessionStats, now_wall: float) -> Snapshot:
    """Everything of a snapshot but its sessions."""
    return Snapshot(
        hostname=daemon.config.device.hostname,
        taken_epoch=now_wall,
        vpn_capacity=DEVICE_VPN_CAPACITY,
        listeners=listeners(daemon.listeners),
        totals=stats.observe(presence(daemon.responder)),
    )


def snapshot(daemon: DaemonView, stats: SessionStats, now_mono: float, now_wall: float) -> Snapshot:
    """The whole snapshot at once (tests; the control socket streams it)."""
    listed = tuple(sessions(daemon, shown(daemon.responder), now_mono, now_wall))
    return dataclasses.replace(head(daemon, stats, now_wall), sessions=listed)
