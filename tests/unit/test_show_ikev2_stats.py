"""`show crypto ikev2 stats`: the layout of Cisco's output (genieparser's
IOS XE golden output, trailing blanks aside) and the counts kept for it."""

from __future__ import annotations

from ikev2d import events as ev
from ikev2d.control.ike_stats import IkeStats
from ikev2d.show import ikev2_stats

FTD, PEER = ("198.18.0.1", 500), ("198.18.0.2", 500)


def values(**changes: object) -> dict:
    base = {"max_in_negotiation": 40, "incoming_sas": {"total": 0, "active": 0, "negotiating": 0},
            "outgoing_sas": {"total": 1, "active": 1, "negotiating": 0},
            "incoming_requests": {"total": 13, "accepted": 13, "rejected": 0},
            "cac_rejected": {"total": 0, "resource_low": 0, "sa_limit": 0},
            "dropped_at_dispatch": 0, "cookie_challenged": 0}
    return {**base, **changes}


def test_lines_as_cisco_prints_them() -> None:
    lines = ikev2_stats.render(values()).splitlines()
    assert lines == [
        "-" * 80,
        "                          Crypto IKEv2 SA Statistics",
        "-" * 80,
        "System Resource Limit:   0        Max IKEv2 SAs: 0        Max in nego(in/out): 40/0",
        "Total incoming IKEv2 SA Count:    0        active:        0        negotiating: 0",
        "Total outgoing IKEv2 SA Count:    1        active:        1        negotiating: 0",
        "Incoming IKEv2 Requests: 13       accepted:      13       rejected:    0",
        "Rejected IKEv2 Requests: 0        rsrc low:      0        SA limit:    0",
        "IKEv2 packets dropped at dispatch: 0",
        "Incoming IKEV2 Cookie Challenged Requests: 0",
    ]


def test_events_are_counted() -> None:
    stats = IkeStats()
    for event in [ev.IkeInitReceived("a", FTD, PEER), ev.IkeInitRejected("a", FTD, PEER, "COOKIE"),
                  ev.IkeInitReceived("b", FTD, PEER), ev.IkeInitReceived("c", FTD, PEER),
                  ev.IkeInitRejected("c", FTD, PEER, "NO_PROPOSAL_CHOSEN"),
                  ev.MessageDropped("", FTD, PEER, "unknown IKE SPI")]:
        stats.observe(event)
    assert (stats.init_requests, stats.init_rejected, stats.dropped) == (3, 2, 1)
