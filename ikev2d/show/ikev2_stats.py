"""`show crypto ikev2 stats`: the counters of IKEv2 SAs and IKE_SA_INIT
requests, in the layout of Cisco's `show crypto ikev2 stats` (column widths
from real IOS XE output kept as parser test data by Cisco's genieparser;
docs/ftd-behaviour.md, "show commands"). Lines whose values ikev2d does not
count (outgoing requests, cookie outcomes, PPK) are left out."""

from __future__ import annotations

from typing import Any

RULE = "-" * 80
TITLE = " " * 26 + "Crypto IKEv2 SA Statistics"


def _cells(*pairs: tuple[str, object, int]) -> str:
    """Label and value, each value padded to its column."""
    return "".join(f"{label}{str(value).ljust(width)}" for label, value, width in pairs).rstrip()


def render(v: dict[str, Any]) -> str:
    inc, out = v["incoming_sas"], v["outgoing_sas"]
    req, cac = v["incoming_requests"], v["cac_rejected"]
    lines = [
        RULE, TITLE, RULE,
        f"System Resource Limit:   0        Max IKEv2 SAs: 0        Max in nego(in/out): {v['max_in_negotiation']}/0",
        _cells(("Total incoming IKEv2 SA Count:    ", inc["total"], 9), ("active:        ", inc["active"], 9),
               ("negotiating: ", inc["negotiating"], 6)),
        _cells(("Total outgoing IKEv2 SA Count:    ", out["total"], 9), ("active:        ", out["active"], 9),
               ("negotiating: ", out["negotiating"], 6)),
        _cells(("Incoming IKEv2 Requests: ", req["total"], 9), ("accepted:      ", req["accepted"], 9),
               ("rejected:    ", req["rejected"], 8)),
        _cells(("Rejected IKEv2 Requests: ", cac["total"], 9), ("rsrc low:      ", cac["resource_low"], 9),
               ("SA limit:    ", cac["sa_limit"], 8)),
        f"IKEv2 packets dropped at dispatch: {v['dropped_at_dispatch']}",
        f"Incoming IKEV2 Cookie Challenged Requests: {v['cookie_challenged']}",
    ]
    return "\n".join(lines) + "\n"
