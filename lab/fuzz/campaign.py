"""Fuzzing one target for a number of inputs or seconds: sessions drawn
from the seed, findings confirmed, shrunk and written as reproducers."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from .oracles import Finding
from .plan import Plan
from .replay import confirm_slow, run_plan
from .shrink import shrink
from .targets import TARGETS


@dataclass
class Report:
    """A finding with the shrunk plan that still gives it."""

    finding: Finding
    plan: Plan
    path: Path | None = None

    def to_json(self) -> str:
        return json.dumps({"finding": self.finding.__dict__, "plan": json.loads(self.plan.to_json()),
                           "replay": "python -m lab.fuzz --replay THIS_FILE"}, indent=1)


@dataclass
class Stats:
    target: str
    sessions: int = 0
    inputs: int = 0  # calls into the core (datagrams and timer runs)
    mutated: int = 0  # of which bent by the fuzzer
    seconds: float = 0.0
    max_cpu: float = 0.0  # the slowest single input, in CPU seconds
    findings: list[Report] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.inputs / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (f"{self.target:<10} {self.sessions:>7} sessions {self.inputs:>9} inputs "
                f"({self.mutated} mutated) {self.rate:>7.0f}/s  slowest {self.max_cpu * 1000:.1f} ms  "
                f"findings: {len(self.findings)}")


def fuzz(target: str, seed: int, *, sessions: int | None = None, seconds: float | None = None,
         out: Path | None = None, stats: Stats | None = None, start: int = 0) -> Stats:
    """Run `target` for `sessions` sessions or `seconds` seconds (whichever
    is given), continuing `stats` from session number `start`."""
    spec = TARGETS[target]
    stats = stats or Stats(target)
    seen = {r.finding.signature for r in stats.findings}
    began = time.monotonic()
    n = start
    while True:
        if sessions is not None and n >= start + sessions:
            break
        if seconds is not None and time.monotonic() - began >= seconds:
            break
        # each session from its own seed: a plan replays without the ones before it
        session_seed = random.Random(f"{seed}:{target}:{n}").getrandbits(63)
        draw = random.Random(session_seed)
        config, steps = spec.draw(draw)
        plan = Plan(target, session_seed, config, steps)
        try:
            finding, world = run_plan(plan, spec.chooser(random.Random(session_seed + 1)))
        except Exception as exc:  # noqa: BLE001 - the fuzzer's own bug: reported, and the run goes on
            n += 1
            stats.sessions += 1
            report = Report(Finding("fuzzer-error", repr(exc), f"fuzzer-error:{type(exc).__name__}"), plan)
            if report.finding.signature not in seen:
                seen.add(report.finding.signature)
                stats.findings.append(report)
                _write(report, out, target, seed, n - 1, len(seen))
            continue
        n += 1
        stats.sessions += 1
        stats.inputs += world.inputs
        stats.mutated += world.mutated
        stats.max_cpu = max(stats.max_cpu, world.max_cpu)
        if finding is None:
            for number, _cpu in world.slow[:1]:
                finding = confirm_slow(plan, number)
        if finding is not None and finding.signature not in seen:
            seen.add(finding.signature)
            small = plan if finding.kind == "slow" else shrink(plan, finding)
            report = Report(finding, small)
            _write(report, out, target, seed, n - 1, len(seen))
            stats.findings.append(report)
    stats.seconds += time.monotonic() - began
    return stats


def _write(report: Report, out: Path | None, target: str, seed: int, session: int, number: int) -> None:
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    report.path = out / f"{target}-{report.finding.kind}-{number}-seed{seed}-s{session}.json"
    report.path.write_text(report.to_json())
