"""What a load run measured: per-phase latency percentiles, connects per
second, errors counted by notify (or by what went wrong), as text and JSON."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

PERCENTILES = (50, 90, 99, 100)
PHASES = ("IKE_SA_INIT", "IKE_AUTH", "total")  # and "ping" (echo round trip) with --ping


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (the smallest value with at least pct % of
    the values at or below it); 0.0 for no values."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class LoadStats:
    attempted: int = 0
    established: int = 0
    deleted: int = 0
    cookies: int = 0  # COOKIE challenges answered
    ke_retries: int = 0  # IKE_SA_INITs sent again for INVALID_KE_PAYLOAD
    retransmits: int = 0
    fragments: int = 0  # RFC 7383 fragments of the responder's answers, reassembled
    pings_sent: int = 0  # ICMP echo requests through the Child SAs (--ping)
    pings_lost: int = 0  # no reply within the timeout
    esp_dropped: int = 0  # ESP for a pinger that did not open or held no reply of ours
    first_start: float | None = None
    last_established: float | None = None
    cpu_seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PHASES})
    errors: Counter[str] = field(default_factory=Counter)

    def connected(self, started: float, init_done: float, auth_done: float) -> None:
        self.established += 1
        self.latencies["IKE_SA_INIT"].append(init_done - started)
        self.latencies["IKE_AUTH"].append(auth_done - init_done)
        self.latencies["total"].append(auth_done - started)
        self.first_start = started if self.first_start is None else min(self.first_start, started)
        self.last_established = auth_done if self.last_established is None else max(self.last_established, auth_done)

    def pinged(self, round_trip: float) -> None:
        self.latencies.setdefault("ping", []).append(round_trip)

    @property
    def pings_answered(self) -> int:
        return len(self.latencies.get("ping", ()))

    def merge(self, other: "LoadStats") -> None:
        """Add another process's figures to these (one run in workers)."""
        for name in ("attempted", "established", "deleted", "cookies", "ke_retries", "retransmits", "fragments",
                     "pings_sent", "pings_lost", "esp_dropped", "cpu_seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for phase, values in other.latencies.items():
            self.latencies.setdefault(phase, []).extend(values)
        self.errors.update(other.errors)
        # time.monotonic() is one clock for every process of the machine
        starts = [t for t in (self.first_start, other.first_start) if t is not None]
        ends = [t for t in (self.last_established, other.last_established) if t is not None]
        self.first_start = min(starts) if starts else None
        self.last_established = max(ends) if ends else None

    def failed(self, error: str) -> None:
        self.errors[error] += 1

    @property
    def connects_per_second(self) -> float:
        if not self.established or self.first_start is None or self.last_established is None:
            return 0.0
        span = self.last_established - self.first_start
        return self.established / span if span > 0 else 0.0

    def percentiles(self) -> dict[str, dict[str, float]]:
        """Milliseconds, by phase, by percentile ('p50' ...)."""
        out: dict[str, dict[str, float]] = {}
        for phase, values in self.latencies.items():
            ordered = sorted(values)
            out[phase] = {f"p{p}": round(percentile(ordered, p) * 1000, 3) for p in PERCENTILES}
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "attempted": self.attempted,
            "established": self.established,
            "failed": sum(self.errors.values()),
            "deleted": self.deleted,
            "connects_per_second": round(self.connects_per_second, 2),
            "latency_ms": self.percentiles(),
            "errors": dict(self.errors.most_common()),
            "cookies": self.cookies,
            "invalid_ke_retries": self.ke_retries,
            "retransmits": self.retransmits,
            "fragments_received": self.fragments,
            "pings_sent": self.pings_sent,
            "pings_answered": self.pings_answered,
            "pings_lost": self.pings_lost,
            "esp_dropped": self.esp_dropped,
            "cpu_ms_per_connect": round(self.cpu_seconds * 1000 / self.established, 3) if self.established else None,
        }

    def text(self) -> str:
        d = self.as_dict()
        lines = [f"sessions: {d['attempted']} attempted, {d['established']} established, {d['failed']} failed,"
                 f" {d['deleted']} deleted",
                 f"connects/s: {d['connects_per_second']}"
                 + (f"  (load generator CPU {d['cpu_ms_per_connect']} ms per connect)"
                    if d["cpu_ms_per_connect"] is not None else ""),
                 f"COOKIE challenges: {d['cookies']}  INVALID_KE retries: {d['invalid_ke_retries']}"
                 f"  retransmits: {d['retransmits']}  fragments received: {d['fragments_received']}",
                 *([f"ESP pings: {d['pings_sent']} sent, {d['pings_answered']} answered, {d['pings_lost']} lost"
                    f"  ESP dropped: {d['esp_dropped']}"] if "ping" in self.latencies else []),
                 "latency ms     " + "".join(f"{'p' + str(p):>10}" for p in PERCENTILES)]
        for phase, row in d["latency_ms"].items():
            lines.append(f"  {phase:<12} " + "".join(f"{row['p' + str(p)]:>10.1f}" for p in PERCENTILES))
        if d["errors"]:
            lines.append("errors:")
            lines += [f"  {name:<28} {count}" for name, count in d["errors"].items()]
        return "\n".join(lines)

    def progress(self, in_flight: int) -> str:
        return (f"{self.established}/{self.attempted} established, {sum(self.errors.values())} failed,"
                f" {in_flight} in negotiation, {self.connects_per_second:.1f} connects/s")
