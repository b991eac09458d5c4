"""One compliance finding: how bad, which object, which line, what to change."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Severity(IntEnum):
    """Ordered: `error` is non-compliant, `warning` a risk the admin may accept
    (the whitepaper calls keeping client services "a local decision"),
    `info` a note."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    subject: str  # the FMC object, e.g. "IKEv2 policy 'NSA'"
    line: int  # of the offending value, or of its object when a default applies
    problem: str  # what is wrong and why, with the guidance it breaks
    fix: str  # what to change

    def render(self, file: str) -> str:
        """`FILE:LINE: severity: subject: problem. Fix: ...` — one line, like a compiler's."""
        where = f"{file}:{self.line}: {self.severity}: {self.subject}"
        return f"{where}: {self.problem}. Fix: {self.fix}"
