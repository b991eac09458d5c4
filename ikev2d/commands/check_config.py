"""`ikev2d check-config FILE`: would `run` start on this file, and is it
compliant with the NSA/CNSA guidance?

1. The file loads (FILE:LINE problems, YAML syntax errors with a hint).
2. What `run` needs beyond the file (ikev2d/preflight.py): an access
   interface with IKEv2, certificate files that load and match their keys,
   writable stores and log file, no port given twice; with --here, also
   that this host has the addresses and this user can bind the ports now.
3. The compliance judgement (ikev2d/compliance/).

With --clients, step 3 is replaced by the native clients' verdicts
(ikev2d/compliance/clients.py): exit 0 when all are admitted, 2 when one
is refused.

Exit codes: 0 valid and compliant (warnings and notes allowed), 1 invalid
(`run` would refuse it), 2 valid but not compliant (an error finding; with
--strict, a warning too), 64 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..compliance import Finding, Severity, check_compliance
from ..compliance.clients import judge_clients
from ..conf import Config, ConfigError, load_config
from ..conf.locate import SourceMap
from ..preflight import Check, preflight
from .common import INVALID, NOT_COMPLIANT, OK
from .run import ipv4, port

VALID = OK  # kept for callers of the old names
NON_COMPLIANT = NOT_COMPLIANT


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check-config",
        help="check that `run` would start on a configuration file, and judge it against the NSA/CNSA guidance",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file")
    p.add_argument("--strict", action="store_true",
                   help="warnings (e.g. client services left on) also make it non-compliant")
    p.add_argument("--syntax-only", action="store_true",
                   help="validate the file only: no checks of certificates, folders, ports; no compliance")
    p.add_argument("--here", action="store_true",
                   help="also check this host: the IKE addresses are here and the ports can be bound now")
    p.add_argument("--listen", action="append", default=[], metavar="ADDRESS", type=ipv4,
                   help="with --here: the addresses `run --listen` will serve IKE on")
    p.add_argument("--ike-port", type=port, metavar="PORT", help="with --here: `run --ike-port`")
    p.add_argument("--natt-port", type=port, metavar="PORT", help="with --here: `run --natt-port`")
    p.add_argument("--clients", action="store_true",
                   help="instead of the compliance judgement, say which native IKEv2 clients (Windows, iOS/macOS, "
                        "Android's strongSwan app, AnyConnect in standards mode) this configuration admits, and why "
                        "not (docs/native-clients.md); exit 2 if one is refused")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report: dict[str, object] = {"file": args.file, "valid": False, "compliant": None, "problems": [],
                                 "checks": [], "findings": []}
    try:
        config = load_config(Path(args.file))
    except ConfigError as exc:
        report["problems"] = [{"line": i.line, "problem": i.problem} for i in exc.issues]
        return _finish(args, report, INVALID, [f"ikev2d: configuration error: {exc}"], [])
    where = SourceMap.of_file(Path(args.file))
    checks = [] if args.syntax_only else preflight(config, where, on_this_host=args.here,
                                                   listen=tuple(args.listen), ports=_ports(args, config))
    report["checks"] = [c.as_json() for c in checks]
    if any(c.error for c in checks):
        lines = [c.render(args.file) for c in checks]
        lines.append(f"{args.file}: `ikev2d run` would refuse this configuration")
        return _finish(args, report, INVALID, [], lines)
    report["valid"] = True
    if args.syntax_only:
        return _finish(args, report, OK, [], [f"{args.file}: configuration is valid"])
    if args.clients:
        verdicts = judge_clients(config)
        report["clients"] = [v.as_json() for v in verdicts]
        refused = sum(1 for v in verdicts if not v.admitted)
        lines = [c.render(args.file) for c in checks] + [v.render() for v in verdicts]
        lines.append(f"{args.file}: {len(verdicts) - refused} of {len(verdicts)} native clients admitted")
        return _finish(args, report, NOT_COMPLIANT if refused else OK, [], lines)
    findings = check_compliance(config, where)
    report["findings"] = [_finding_json(f) for f in findings]
    failing = Severity.WARNING if args.strict else Severity.ERROR
    compliant = not any(f.severity >= failing for f in findings)
    report["compliant"] = compliant
    lines = [c.render(args.file) for c in checks] + [f.render(args.file) for f in findings]
    lines.append(summary(args.file, findings, compliant))
    return _finish(args, report, OK if compliant else NOT_COMPLIANT, [], lines)


def _finish(args: argparse.Namespace, report: dict[str, object], code: int, errors: list[str],
            lines: list[str]) -> int:
    report["exit"] = code
    if args.json:
        print(json.dumps(report, indent=2))
        return code
    for line in errors:
        print(line, file=sys.stderr)
    # a refusal goes to stderr like a load error; findings and the verdict to stdout
    out = sys.stderr if code == INVALID else sys.stdout
    for line in lines:
        print(line, file=out)
    return code


def _ports(args: argparse.Namespace, config: Config) -> tuple[int, int] | None:
    if args.ike_port is None and args.natt_port is None:
        return None
    ra = config.remote_access_vpn
    return (args.ike_port or ra.ike_port, args.natt_port or ra.nat_t_port)


def _finding_json(f: Finding) -> dict[str, object]:
    return {"severity": str(f.severity), "subject": f.subject, "line": f.line, "problem": f.problem, "fix": f.fix}


def summary(file: str, findings: list[Finding], compliant: bool) -> str:
    counts = [
        f"{n} {str(severity)}{'s' if n != 1 else ''}"
        for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO)
        if (n := sum(1 for f in findings if f.severity == severity))
    ]
    verdict = "compliant" if compliant else "NOT compliant"
    tally = f" ({', '.join(counts)})" if counts else ""
    return f"{file}: configuration is valid; {verdict} with the NSA/CNSA guidance{tally}"


__all__ = ["Check", "run", "register", "summary"]
