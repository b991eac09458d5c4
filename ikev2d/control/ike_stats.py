"""Counts for `show crypto ikev2 stats`: what the core reported (its events
and its init_refusals counter) since the daemon started, and the IKE SAs it
holds now. Only counts that are kept are shown: nothing is printed as a
count that nobody counted."""

from __future__ import annotations

from typing import Any

from .. import events as ev
from ..core import Responder
from ..sa_types import State


class IkeStats:
    """Fed every event the core emits (SyslogPipeline.observers)."""

    def __init__(self) -> None:
        self.init_requests = 0  # IKE_SA_INIT requests, retransmits aside
        self.init_rejected = 0  # answered with an error notify or a cookie, no SA kept
        self.dropped = 0  # datagrams dropped before any SA took them (MessageDropped)

    def observe(self, event: ev.Event) -> None:
        if isinstance(event, ev.IkeInitReceived):
            self.init_requests += 1
        elif isinstance(event, ev.IkeInitRejected):
            self.init_rejected += 1
        elif isinstance(event, ev.MessageDropped):
            self.dropped += 1

    def values(self, responder: Responder) -> dict[str, Any]:
        live = [sa for sa in responder.sas.values() if sa.state in (State.CONNECTING, State.ESTABLISHED)]

        def count(initiator: bool) -> dict[str, int]:
            mine = [sa for sa in live if sa.original_initiator == initiator]
            return {"total": len(mine), "active": sum(sa.state is State.ESTABLISHED for sa in mine),
                    "negotiating": sum(sa.state is State.CONNECTING for sa in mine)}

        refusals = responder.init_refusals
        resource = refusals["max in negotiation"] + refusals["per-address limit"]
        return {
            "max_in_negotiation": responder.settings.max_half_open,
            "incoming_sas": count(False),
            # an IKE SA our own rekey made: we are its original initiator
            "outgoing_sas": count(True),
            "incoming_requests": {"total": self.init_requests, "accepted": self.init_requests - self.init_rejected,
                                  "rejected": self.init_rejected},
            # ikev2d has no SA limit beside the negotiation limits (CAC)
            "cac_rejected": {"total": resource, "resource_low": resource, "sa_limit": 0},
            "dropped_at_dispatch": self.dropped,
            "cookie_challenged": refusals["cookie challenge"],
        }
