"""python -m lab.fuzz --minutes 30 --target all --seed 1 [--out DIR]
python -m lab.fuzz --sessions 200 --target plaintext --seed 7
python -m lab.fuzz --replay FILE"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .campaign import Stats, fuzz
from .plan import Plan
from .replay import run_plan
from .targets import TARGETS

SLICE_SECONDS = 30.0  # round-robin over targets, so a long run reports early


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.fuzz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="all", choices=["all", *TARGETS])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--minutes", type=float, help="run for this long in total")
    parser.add_argument("--sessions", type=int, help="or this many sessions per target")
    parser.add_argument("--out", type=Path, default=Path("fuzz-findings"), help="where reproducers go")
    parser.add_argument("--replay", type=Path, help="replay one reproducer file and print what it finds")
    args = parser.parse_args(argv)
    if args.replay:
        plan = Plan.from_json(json.dumps(json.loads(args.replay.read_text())["plan"]))
        finding, world = run_plan(plan)
        print(f"{world.inputs} inputs; " + (finding.line() if finding else "no finding"))
        return 1 if finding else 0
    names = list(TARGETS) if args.target == "all" else [args.target]
    stats = {name: Stats(name) for name in names}
    if args.minutes is None:
        for name in names:
            fuzz(name, args.seed, sessions=args.sessions or 100, out=args.out, stats=stats[name])
            print(stats[name].line(), flush=True)
    else:
        total = args.minutes * 60
        spent = 0.0
        while spent < total:
            for name in names:
                part = min(SLICE_SECONDS, (total - spent) / len(names))
                fuzz(name, args.seed, seconds=part, out=args.out, stats=stats[name], start=stats[name].sessions)
            spent = sum(s.seconds for s in stats.values())
            print(f"-- {spent / 60:.1f} min", flush=True)
            for s in stats.values():
                print("  " + s.line(), flush=True)
    all_findings = [r for s in stats.values() for r in s.findings]
    print(f"total {sum(s.inputs for s in stats.values())} inputs, "
          f"{sum(s.inputs for s in stats.values()) / max(1e-9, sum(s.seconds for s in stats.values())):.0f}/s, "
          f"{len(all_findings)} findings")
    for r in all_findings:
        print(f"  {r.finding.line()}\n    -> {r.path}")
    return 1 if all_findings else 0


if __name__ == "__main__":
    sys.exit(main())
