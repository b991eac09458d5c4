"""Trace records of what the core does: messages in and out, retransmits,
SA state changes. Built only when a listener wants them (Tracer.wants)."""

from __future__ import annotations

from dataclasses import dataclass

from ..task_manager import Passed, Resent
from ..wire.message import Message
from .decode import message_fields, name, summary
from ..iana import ExchangeType
from .record import DETAIL, PACKETS, PROTOCOL, STATES, TraceRecord, address

Address = tuple[str, int]


@dataclass(frozen=True)
class TraceContext:
    """Whose record it is: the IKE SA and its peer."""

    sa: str
    sa_id: int
    remote: Address
    local: Address
    user: str = ""


def message_record(inbound: bool, message: Message, ctx: TraceContext, datagrams: int = 1,
                   octets: int | None = None) -> TraceRecord:
    fields = message_fields(message)
    kind = "response" if message.is_response else "request"
    verb = "parsed" if inbound else "generating"
    fragments = f" in {datagrams} fragments" if datagrams > 1 else ""
    text = (f"{verb} {fields['exchange']} {kind} {message.message_id} {summary(fields['payloads'])}{fragments}")
    fields.update(direction="in" if inbound else "out", datagrams=datagrams, octets=octets)
    return TraceRecord(PROTOCOL, PACKETS, "message", text, ctx.sa, ctx.sa_id, address(ctx.remote),
                       address(ctx.local), ctx.user, fields)


def wire_record(passed: Passed | Resent, ctx: TraceContext) -> TraceRecord:
    if isinstance(passed, Passed):
        return message_record(passed.inbound, passed.message, ctx, passed.datagrams, passed.octets)
    exchange = name(ExchangeType, passed.exchange)
    if passed.ours:
        text = f"retransmit {passed.tries - 1} of {exchange} request {passed.message_id}"
    else:
        text = (f"received a retransmit of {exchange} request {passed.message_id}: "
                f"resending our answer (time {passed.tries})")
    return TraceRecord(PROTOCOL, DETAIL, "retransmit", text, ctx.sa, ctx.sa_id, address(ctx.remote),
                       address(ctx.local), ctx.user,
                       {"ours": passed.ours, "exchange": exchange, "message_id": passed.message_id,
                        "tries": passed.tries})


def state_record(old: str, new: str, ctx: TraceContext) -> TraceRecord:
    return TraceRecord(PROTOCOL, STATES, "state", f"IKE SA state {old} -> {new}", ctx.sa, ctx.sa_id,
                       address(ctx.remote), address(ctx.local), ctx.user, {"from": old, "to": new})
