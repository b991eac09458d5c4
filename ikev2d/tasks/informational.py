"""INFORMATIONAL exchanges (RFC 7296 §1.4, §1.5, §2.4, §2.21).

The peer's request: a Delete of the IKE SA or of Child SAs, an error that
ends a negotiation, or nothing at all (a liveness check, answered empty).
Ours, queued by the task manager behind any request in flight: the IKE SA's
Delete, a Child SA's Delete, and dead peer detection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..effects import Effect
from ..iana import ERROR_NOTIFY_LIMIT, ExchangeType, ProtocolId
from ..sa_types import State
from ..wire.message import Message
from ..wire.payloads import Delete, Payload
from . import mobike

if TYPE_CHECKING:
    from ..sa import IkeSa


def informational(sa: "IkeSa", message: Message, now: float, effects: list[Effect]) -> list[Payload]:
    """Answer the peer's INFORMATIONAL request."""
    if sa.state is not State.ESTABLISHED and any(n.type < ERROR_NOTIFY_LIMIT for n in message.notifies()):
        # the initiator gave up on the negotiation (e.g. AUTHENTICATION_FAILED
        # after an EAP failure): §2.21.2, the IKE SA is gone
        sa.delete(now, "Peer aborted the negotiation", effects)
        return []
    out: list[Payload] = []
    if sa.state is State.ESTABLISHED and mobike.is_mobike_request(message):
        out += mobike.informational(sa, message, *sa.request_addresses, effects)
    for delete in message.get_all(Delete):
        if delete.protocol == ProtocolId.IKE:
            sa.delete(now, "User Requested", effects)
            return []
        if delete.protocol == ProtocolId.ESP:
            # §1.4.1: answer with the inbound SPIs of the pairs we close too
            ours = []
            for spi_bytes in delete.spis:
                child = sa.remove_child_by_out_spi(int.from_bytes(spi_bytes, "big"), effects)
                if child is not None:
                    ours.append(child.spec.spi_in.to_bytes(4, "big"))
            if ours:
                out.append(Delete(ProtocolId.ESP, ours))
    return out  # an empty INFORMATIONAL is a liveness check: answer empty


class IkeDelete:
    """Our Delete of the IKE SA (logoff, idle or connect-time limits, a data
    plane that failed): children and lease go at once, the SA when the
    client answers or, unanswered, when the task manager gives up (§2.4)."""

    def __init__(self, sa: "IkeSa", reason: str) -> None:
        self.sa = sa
        self.reason = reason

    def start(self, now: float) -> list[Effect]:
        sa = self.sa
        effects: list[Effect] = []
        if sa.state in (State.DELETED, State.DELETING):
            return effects
        established = sa.state is State.ESTABLISHED
        sa.release(now, self.reason, effects)
        if not established:
            sa.move_to(State.DELETED)
            return effects
        sa.move_to(State.DELETING)
        sa.delete_reason = self.reason
        sa.tasks.drop_queued()  # what we had still to ask is moot now
        return effects + sa.send_request(ExchangeType.INFORMATIONAL, [Delete(ProtocolId.IKE, [])], now,
                                         self._answered)

    def _answered(self, message: Message, now: float, effects: list[Effect]) -> None:
        self.sa.move_to(State.DELETED)


class ChildDelete:
    """Our Delete of one Child SA (its hard lifetime, a rekey the client did
    not finish): the pair goes at once, the client is told (§1.4.1)."""

    def __init__(self, sa: "IkeSa", spi_in: int) -> None:
        self.sa = sa
        self.spi_in = spi_in

    def start(self, now: float) -> list[Effect]:
        sa = self.sa
        child = next((c for c in sa.children if c.spec.spi_in == self.spi_in), None)
        if child is None or sa.state is not State.ESTABLISHED:
            return []
        effects: list[Effect] = []
        sa.remove_child_by_out_spi(child.spec.spi_out, effects)
        return effects + sa.send_request(ExchangeType.INFORMATIONAL,
                                         [Delete(ProtocolId.ESP, [self.spi_in.to_bytes(4, "big")])], now)


def liveness_check(sa: "IkeSa", now: float) -> list[Effect]:
    """Dead peer detection: an empty INFORMATIONAL request (§1.4). Its
    answer needs no handling; its absence ends the SA (§2.4)."""
    return sa.send_request(ExchangeType.INFORMATIONAL, [], now)
