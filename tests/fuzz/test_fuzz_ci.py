"""The short fuzz run of CI: each target, a fixed seed, a fixed number of
sessions. Any oracle violation fails the test and prints the shrunk
reproducer (replay it with `python -m lab.fuzz --replay FILE`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.fuzz.campaign import fuzz
from lab.fuzz.targets import TARGETS

SEED = 13
# about 10 to 20 s each on a laptop core
SESSIONS = {"datagram": 700, "framing": 700, "plaintext": 700, "eap": 1200, "sequence": 250}

pytestmark = pytest.mark.fuzz


def test_every_target_has_a_ci_budget() -> None:
    assert set(SESSIONS) == set(TARGETS)


@pytest.mark.parametrize("target", sorted(SESSIONS))
def test_fuzz_target_finds_nothing(target: str, tmp_path: Path) -> None:
    stats = fuzz(target, SEED, sessions=SESSIONS[target], out=tmp_path)
    print(stats.line())
    assert stats.inputs > 5 * SESSIONS[target] or target == "eap", "the target hardly reached the core"
    assert stats.mutated > 0
    reports = "\n\n".join(f"{r.finding.line()}\n{r.to_json()}" for r in stats.findings)
    assert not stats.findings, f"{len(stats.findings)} finding(s):\n{reports}"
