"""RADIUS server groups (FTD AAA): EAP relay and PAP for authentication,
accounting Start/Stop, failover between the servers of a group.

`messages` holds the values the sans-I/O core exchanges with the adapter;
`client` is the asyncio side, over pyrad.
"""

from ikev2d.aaa.radius.messages import (
    AccessAnswer,
    AccessCode,
    AccessRequest,
    AccountingRecord,
    AcctStatus,
    NasContext,
    RadiusResult,
    RadiusUnreachable,
    TerminateCause,
    TrafficCounters,
)

__all__ = [
    "AccessAnswer",
    "AccessCode",
    "AccessRequest",
    "AccountingRecord",
    "AcctStatus",
    "NasContext",
    "RadiusResult",
    "RadiusUnreachable",
    "TerminateCause",
    "TrafficCounters",
]
