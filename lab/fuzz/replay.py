"""Running a recorded plan again: to confirm a slow input, to shrink a
finding, and for `python -m lab.fuzz --replay FILE`."""

from __future__ import annotations

from .configs import reset_pools, settings_for
from .oracles import SLOW_SECONDS, Finding
from .plan import Plan
from .world import Chooser, World


def run_plan(plan: Plan, chooser: Chooser | None = None, measure: int | None = None) -> tuple[Finding | None, World]:
    settings = settings_for(plan.config)
    reset_pools(settings)  # a finding may have left leases behind
    world = World(settings, plan, chooser, measure)
    return world.run(), world


def confirm_slow(plan: Plan, input_number: int, tries: int = 3) -> Finding | None:
    """An input slower than the bound every time it runs (the least of
    `tries` CPU times), not a one-off pause of the machine."""
    times = []
    for _ in range(tries):
        _, world = run_plan(plan.copy(), measure=input_number)
        if world.measured is None:
            return None
        times.append(world.measured)
        if world.measured <= SLOW_SECONDS:
            return None
    best = min(times)
    return Finding("slow", f"input {input_number} of the session took {best * 1000:.0f} ms of CPU "
                           f"(least of {tries} runs; bound {SLOW_SECONDS * 1000:.0f} ms)",
                   f"slow:{input_number}")
