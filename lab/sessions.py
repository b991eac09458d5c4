"""Many established IKEv2 sessions in one process, for the control
socket's scale tests (tests/unit/test_control_scale.py) and
bench/bench_control.py.

One session is negotiated for real: lab.initiator against the sans-I/O
responder (DH, certificate, EAP, configuration payload, Child SA). The
others are copies of its IKE SA, each with what makes a session its own
and what a snapshot reads of it: unique ID, IKE SPIs, user and identity,
peer address, a lease from the pool, Child SA SPIs and selectors. Their
keys are the template's (nothing here encrypts with them): negotiating
10,000 sessions would cost minutes of DH for nothing a listing shows.
"""

from __future__ import annotations

import dataclasses
import os
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Protocol

from esp.spec import ChildSaSpec
from ikev2d.conf import Config, load_config
from ikev2d.core import Responder, settle
from ikev2d.crypto.jobs import CryptoWorker
from ikev2d.effects import SendDatagram
from ikev2d.sa import IkeSa
from ikev2d.sa_types import ChildSa, State
from lab.initiator import Initiator, InitiatorOptions

ROOT = Path(__file__).resolve().parents[1]
GATEWAY = ("198.18.0.1", 500)
FIRST_PEER = IPv4Address("198.18.16.1")  # clients' public addresses count up from here
# the default configuration's pool holds 51 addresses; this one 65,534
WIDE_POOL = ("198.19.0.200-198.19.0.250", "198.19.0.1-198.19.255.254")
WIDE_MASK = ("mask: 255.255.255.0", "mask: 255.255.0.0")


class Installs(Protocol):
    def install(self, spec: ChildSaSpec) -> None: ...


def wide_pool_config(folder: Path) -> Config:
    """config/ikev2d.yaml with its PKI under `folder` and a /16 pool."""
    text = (ROOT / "config" / "ikev2d.yaml").read_text()
    text = text.replace("store: ../run/pki", f"store: {folder / 'pki'}")
    for old, new in (WIDE_POOL, WIDE_MASK):
        assert old in text, old
        text = text.replace(old, new)
    path = folder / "ikev2d.yaml"
    path.write_text(text)
    return load_config(path)


def negotiate(responder: Responder, now: float) -> IkeSa:
    """One session the whole way through the responder, as `alice`."""
    worker = CryptoWorker(responder.settings.signing_keys)
    client = (str(FIRST_PEER), 500)

    def send(datagram: bytes) -> list[bytes]:
        effects = settle(responder, responder.datagram_received(datagram, GATEWAY, client, now), worker, now)
        return [e.data for e in effects if isinstance(e, SendDatagram)]

    Initiator(InitiatorOptions(local=client, remote=GATEWAY), send).connect()
    (sa,) = [sa for sa in responder.sas.values() if sa.remote == client and sa.state is State.ESTABLISHED]
    return sa


def establish(responder: Responder, count: int, dataplane: Installs, now: float) -> list[IkeSa]:
    """`count` established sessions: one negotiated, the rest its copies,
    their Child SAs installed in `dataplane` (whose counters `show` reads)."""
    template = negotiate(responder, now)
    sessions = [template]
    taken = {c.spec.spi_in for sa in responder.sas.values() for c in sa.children}
    for i in range(1, count):
        sessions.append(_copy(responder, template, i, taken, now))
    for sa in sessions:
        for child in sa.children:
            dataplane.install(child.spec)
    return sessions


def _copy(responder: Responder, template: IkeSa, i: int, taken: set[int], now: float) -> IkeSa:
    user = f"user{i:05d}"
    spi_r = os.urandom(8)
    while spi_r in responder.sas:
        spi_r = os.urandom(8)
    # next of the responder's own counter, so a session connected later gets a new ID
    unique_id = next(responder._ids)  # noqa: SLF001 (lab code, the responder has no public hook)
    remote = (str(FIRST_PEER + i), template.remote[1])
    sa = dataclasses.replace(
        template, unique_id=unique_id, spi_i=os.urandom(8), spi_r=spi_r, remote=remote,
        username=user, idi_body=bytes([template.idi_body[0], 0, 0, 0]) + user.encode(),
        created=now, established_at=now, children=[], lease=None, successor=None)
    assert sa.profile is not None
    leased = sa.profile.pools.allocate(sa.session_id)
    if leased is None:
        raise RuntimeError(f"the pool ran out at session {i}: use wide_pool_config")
    pool, address = leased
    sa.lease = (pool.name, address)
    for child in template.children:
        sa.children.append(ChildSa(_child_spec(child.spec, sa, address, taken), child.suite, now))
    responder.sas[spi_r] = sa
    return sa


def _child_spec(spec: ChildSaSpec, sa: IkeSa, address: IPv4Address, taken: set[int]) -> ChildSaSpec:
    spi_in = int.from_bytes(os.urandom(4), "big")
    while spi_in < 0x100 or spi_in in taken:  # SPIs 1-255 are reserved (RFC 4303)
        spi_in = int.from_bytes(os.urandom(4), "big")
    taken.add(spi_in)
    return dataclasses.replace(
        spec, ike_sa_id=sa.name, spi_in=spi_in, spi_out=int.from_bytes(os.urandom(4), "big") | 0x100,
        remote_address=sa.remote[0], remote_selectors=(IPv4Network(f"{address}/32"),), username=sa.username,
        encap_remote_port=sa.remote[1] if spec.encap_remote_port is not None else None)
