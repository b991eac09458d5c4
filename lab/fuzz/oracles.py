"""What must hold after every call into the core, whatever the input.

Each check returns a list of problems (empty: fine); the world turns the
first into a `Finding`. The checks read the responder's tables directly:
they bound state the protocol cannot see from outside."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from ikev2d.core import Responder
from ikev2d.effects import Effect, InstallChildSa, RemoveChildSa, SendDatagram
from ikev2d.protect import SkKeys, unprotect_message
from ikev2d.protect.fragments import authentic_fragment_number
from ikev2d.crypto.errors import CryptoError, IntegrityError
from ikev2d.protect.sk import locate_encrypted, open_sealed
from ikev2d.wire.errors import WireError
from ikev2d.sa_types import State
from ikev2d.tasks import rekey
from ikev2d.tasks.traffic_selectors import MAX_CHILD_NETWORKS
from ikev2d.wire.header import Header
from ikev2d.wire.message import decode_message

# how many datagrams one input may make us send (a fragmented IKE_AUTH
# answer with a certificate is about ten at 576 octets)
MAX_DATAGRAMS_PER_INPUT = 64
# per remote host: its half-open SAs (the responder's own limit) plus, per
# session, the SA, its rekeyed successor and one being deleted
SAS_PER_SESSION = 3
SLOW_SECONDS = 0.050


@dataclass
class Finding:
    kind: str  # "crash" | "unparseable" | "install-before-auth" | "unbounded" | "slow" | "leak"
    detail: str
    signature: str  # what must match for a shrunk input to count as the same finding

    def line(self) -> str:
        return f"{self.kind}: {self.detail}"


def sa_states(responder: Responder) -> dict[bytes, State]:
    return {spi: sa.state for spi, sa in responder.sas.items()}


def check_install(responder: Responder, effects: list[Effect], before: dict[bytes, State],
                  installed: dict[int, object]) -> list[str]:
    """An InstallChildSa only for an SA whose AUTH completed, never twice;
    a RemoveChildSa only for what was installed. `installed` mirrors the
    data plane and is updated here."""
    problems = []
    for e in effects:
        if isinstance(e, InstallChildSa):
            spi = e.spec.spi_in
            owner = next((sa for sa in responder.sas.values() if any(c.spec.spi_in == spi for c in sa.children)),
                         None)
            if spi in installed:
                problems.append(f"Child SA {spi:#x} installed twice")
            elif owner is None:
                problems.append(f"Child SA {spi:#x} installed for no IKE SA")
            else:
                prior = before.get(owner.spi_r)
                if prior is None and owner.predecessor is not None:  # an IKE rekey made it
                    prior = before.get(owner.predecessor.spi_r)
                if (owner.state is not State.ESTABLISHED or owner.established_at is None
                        or prior not in (State.EAP_DONE, State.AUTH_PENDING, State.ESTABLISHED)):
                    problems.append(f"Child SA {spi:#x} installed on an IKE SA in {owner.state.name} "
                                    f"(before: {prior.name if prior else None})")
            installed[spi] = e.spec
        elif isinstance(e, RemoveChildSa):
            if installed.pop(e.spec.spi_in, None) is None:
                problems.append(f"Child SA {e.spec.spi_in:#x} removed but never installed")
    tracked = {c.spec.spi_in for sa in responder.sas.values() for c in sa.children}
    if tracked != set(installed):
        problems.append(f"data plane holds {sorted(set(installed) - tracked)} no IKE SA owns, "
                        f"IKE SAs own {sorted(tracked - set(installed))} never installed")
    return problems


def check_responses(effects: list[Effect], request: Header | None,
                    keys: Callable[[bytes, bytes], SkKeys | None]) -> list[str]:
    """Every datagram we send parses back; with the peer's keys, it opens."""
    problems = []
    datagrams = [e.data for e in effects if isinstance(e, SendDatagram)]
    if len(datagrams) > MAX_DATAGRAMS_PER_INPUT:
        problems.append(f"{len(datagrams)} datagrams for one input")
    for raw in datagrams:
        try:
            header = Header.parse(raw)
        except Exception as exc:  # noqa: BLE001 - any failure to parse our own output is the finding
            problems.append(f"sent a datagram whose header does not parse: {exc!r}")
            continue
        if header.exchange == 34:
            try:
                decode_message(raw)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"sent an IKE_SA_INIT that does not decode: {exc!r}")
            continue
        peer = keys(header.spi_i, header.spi_r)
        try:
            if peer is None:
                locate_encrypted(raw, header.next_payload)  # at least framed
            elif header.next_payload == 53:
                if authentic_fragment_number(raw, peer) is None:
                    problems.append("sent an SKF fragment the peer cannot authenticate")
            else:
                unprotect_message(raw, peer)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"sent a protected message the peer cannot open: {exc!r}")
        if (request is not None and header.is_response and request.exchange != 34
                and (header.message_id, header.spi_i) != (request.message_id, request.spi_i)):
            problems.append(f"answered request {request.message_id} with response {header.message_id}")
    return problems


def authentic(responder: Responder, raw: bytes) -> bool:
    """Whether `raw` carries a valid ICV under the IKE SA it names: only
    such a datagram (or an IKE_SA_INIT) may make us send anything, or a
    forged one could reflect or amplify our answers at any address."""
    try:
        header = Header.parse(raw)
        sa = responder.sas.get(header.spi_r)
        if sa is None or sa.spi_i != header.spi_i:
            return False
        at, ptype = locate_encrypted(raw, header.next_payload)
        open_sealed(raw, at + (8 if ptype == 53 else 4), sa.sk)
    except IntegrityError:
        return False
    except (WireError, CryptoError):
        return True  # the ICV held; the content is the responder's to judge
    return True


def check_bounds(responder: Responder, hosts_sessions: dict[str, int]) -> list[str]:
    """State per SA and per table stays within what the protocol allows."""
    problems = []
    settings = responder.settings
    per_host: dict[str, int] = {}
    for sa in responder.sas.values():
        per_host[sa.remote[0]] = per_host.get(sa.remote[0], 0) + 1
        if len(sa.children) > rekey.MAX_CHILD_SAS:
            problems.append(f"{len(sa.children)} Child SAs on one IKE SA")
        for c in sa.children:
            for name in ("local_selectors", "remote_selectors"):
                if len(getattr(c.spec, name)) > MAX_CHILD_NETWORKS:
                    problems.append(f"a Child SA with {len(getattr(c.spec, name))} {name}")
        if sa.reassembler.pending > sa.reassembler.max_messages:
            problems.append(f"{sa.reassembler.pending} messages in reassembly")
        if sa.waiting is not None:
            problems.append("an SA still waits for a job after settle")
        if len(sa.last_response) > MAX_DATAGRAMS_PER_INPUT:
            problems.append(f"{len(sa.last_response)} cached response datagrams")
    for host, count in per_host.items():
        limit = settings.max_half_open_per_address + SAS_PER_SESSION * hosts_sessions.get(host, 0)
        if count > limit:
            problems.append(f"{count} IKE SAs for {host} (bound {limit})")
    sas = len(responder.sas)
    tables: Iterable[tuple[str, int, int]] = (
        ("_pending_init", len(responder._pending_init), 0),
        ("_half_open", len(responder._half_open), sas),
        ("_timers", len(responder._timers), sas),
        ("_init_index", len(responder._init_index), sas),
        ("_init_key_of", len(responder._init_key_of), sas),
    )
    for name, size, bound in tables:
        if size > bound:
            problems.append(f"responder.{name} holds {size} entries for {sas} IKE SAs")
    leases = [sa.lease[1] for sa in responder.sas.values() if sa.lease is not None]
    pooled = {a for pool in settings.pools.values() for a in pool.leases()}
    if pooled != set(leases) or len(leases) != len(set(leases)):
        problems.append(f"pool leases {sorted(map(str, pooled))} but IKE SAs hold {sorted(map(str, leases))}")
    return problems


def check_drained(responder: Responder, installed: dict[int, object]) -> list[str]:
    """Once every peer has gone quiet and every timer has run, nothing is left."""
    problems = []
    if responder.sas:
        states = sorted(f"{sa.state.name}{'/rekeyed' if sa.rekeyed else ''}" for sa in responder.sas.values())
        problems.append(f"{len(responder.sas)} IKE SAs outlive every timer: {states}")
    if installed:
        problems.append(f"{len(installed)} Child SAs never removed")
    for name in ("_pending_init", "_half_open", "_timers", "_init_index", "_init_key_of"):
        if len(getattr(responder, name)):
            problems.append(f"responder.{name} not empty after every timer ran")
    leases = sum(len(pool.leases()) for pool in responder.settings.pools.values())
    if leases:
        problems.append(f"{leases} pool addresses still leased")
    return problems
