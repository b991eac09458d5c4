"""Configuration errors that always name the file and the line.

A network engineer fixes a configuration the way they fix a router's: by
going to the line. So every problem carries one, and several problems found
in one pass are reported together, in file order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem at one line (1-based) of one file."""

    file: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.problem}"


class ConfigError(Exception):
    """The configuration cannot be used; `str()` is one `file:line: problem` per issue."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        if not issues:
            raise ValueError("ConfigError needs at least one issue")
        # File order, then message, and no repeats: one bad value must not
        # be reported twice when two checks stumble on it.
        self.issues: tuple[ConfigIssue, ...] = tuple(
            sorted(set(issues), key=lambda i: (i.file, i.line, i.problem))
        )
        super().__init__(str(self))

    @classmethod
    def single(cls, file: Path | str, line: int, problem: str) -> ConfigError:
        return cls([ConfigIssue(str(file), line, problem)])

    @property
    def file(self) -> str:
        return self.issues[0].file

    @property
    def line(self) -> int:
        return self.issues[0].line

    @property
    def problem(self) -> str:
        return self.issues[0].problem

    def __str__(self) -> str:
        return "\n".join(str(issue) for issue in self.issues)
