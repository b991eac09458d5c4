"""`show vpn-sessiondb [summary]`, in the layout of asa-cli-samples/
cisco_asa_show_vpn-sessiondb2.raw.

A standards IKEv2 client (strongSwan, Windows, ...) is a "Generic IKEv2
Remote Access" session on the ASA; an AnyConnect client is an "AnyConnect
Client" session with an "IKEv2 IPsec" sub-row. Tunnels: one IKEv2 tunnel per
session, one IPsec or IPsecOverNatT tunnel per Child SA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .snapshot import Counter, Snapshot

RULE = "-" * 75
LABEL_WIDTH = 29
SESSION_HEADER = " " * 31 + "Active : Cumulative : Peak Concur : Inactive"
TUNNEL_HEADER = " " * 31 + "Active : Cumulative : Peak Concurrent"
SUB_RULE = " " * 29 + "-" * 46


@dataclass(frozen=True)
class Row:
    label: str
    counter: Counter
    inactive: int | None = None  # only AnyConnect rows have the column


def session_rows(snapshot: Snapshot) -> list[Row]:
    t = snapshot.totals
    rows: list[Row] = []
    if t.anyconnect.cumulative:
        rows += [Row("AnyConnect Client", t.anyconnect, 0), Row("  IKEv2 IPsec", t.anyconnect, 0)]
    if t.generic_ikev2.cumulative:
        rows.append(Row("Generic IKEv2 Remote Access", t.generic_ikev2))
    return rows


def tunnel_rows(snapshot: Snapshot) -> list[Row]:
    t = snapshot.totals
    rows = [Row("IKEv2", t.ikev2_tunnels), Row("IPsec", t.ipsec_tunnels), Row("IPsecOverNatT", t.ipsec_natt_tunnels)]
    return [r for r in rows if r.counter.cumulative]


def load_percent(active: int, capacity: int) -> int:
    # any session at all shows as load (the sample: 38 of 5000 is 1%)
    return math.ceil(100 * active / capacity) if capacity else 0


def _session_line(row: Row) -> str:
    c = row.counter
    line = f"{row.label:<{LABEL_WIDTH}}: {c.active:>6} : {c.cumulative:>10} : {c.peak:>11}"
    return line + (f" : {row.inactive:>8}" if row.inactive is not None else "")


def _tunnel_line(row: Row) -> str:
    c = row.counter
    return f"{row.label:<{LABEL_WIDTH}}: {c.active:>6} : {c.cumulative:>10} : {c.peak:>15}"


def render_tables(sessions: list[Row], tunnels: list[Row], capacity: int) -> str:
    """The two tables; separate from `render` so the sample file's own rows
    can be fed through it."""
    top = [r for r in sessions if not r.label.startswith(" ")]
    active = sum(r.counter.active for r in top)
    cumulative = sum(r.counter.cumulative for r in top)
    lines = [
        RULE, "VPN Session Summary", RULE, SESSION_HEADER, SUB_RULE,
        *[_session_line(r) for r in sessions],
        RULE,
        f"{'Total Active and Inactive':<{LABEL_WIDTH}}: {active:>6}             Total Cumulative : {cumulative:>6}",
        f"{'Device Total VPN Capacity':<{LABEL_WIDTH}}: {capacity:>6}",
        f"{'Device Load':<{LABEL_WIDTH}}: {str(load_percent(active, capacity)) + '%':>6}",
        RULE, RULE, "Tunnels Summary", RULE, TUNNEL_HEADER, SUB_RULE,
        *[_tunnel_line(r) for r in tunnels],
        RULE,
        f"{'Totals':<{LABEL_WIDTH}}: {sum(r.counter.active for r in tunnels):>6} : "
        f"{sum(r.counter.cumulative for r in tunnels):>10}",
        RULE,
    ]
    return "\n".join(lines) + "\n"


def render(snapshot: Snapshot) -> str:
    return render_tables(session_rows(snapshot), tunnel_rows(snapshot), snapshot.vpn_capacity)


def as_json(snapshot: Snapshot) -> dict[str, Any]:
    def rows(rs: list[Row]) -> list[dict[str, Any]]:
        return [{"label": r.label.strip(), "active": r.counter.active, "cumulative": r.counter.cumulative,
                 "peak": r.counter.peak, **({"inactive": r.inactive} if r.inactive is not None else {})}
                for r in rs]
    sessions = session_rows(snapshot)
    active = sum(r.counter.active for r in sessions if not r.label.startswith(" "))
    return {
        "vpn_session_summary": rows(sessions),
        "tunnels_summary": rows(tunnel_rows(snapshot)),
        "device_total_vpn_capacity": snapshot.vpn_capacity,
        "device_load_percent": load_percent(active, snapshot.vpn_capacity),
    }
