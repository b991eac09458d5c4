"""`ikev2d check-config FILE`: validate a configuration file, then judge its
cryptography and SSL/TLS exposure against the NSA/CNSA guidance.

Exit codes: 0 valid and compliant (warnings and notes allowed), 1 invalid
(the file cannot be used; FILE:LINE problems on stderr), 2 valid but not
compliant (at least one error finding; with --strict, a warning too).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..compliance import Finding, Severity, check_compliance
from ..conf.locate import SourceMap
from .common import load_or_report

VALID, INVALID, NON_COMPLIANT = 0, 1, 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check-config",
        help="validate a configuration file and judge it against the NSA/CNSA guidance",
        description="Validate FILE, then print one line per compliance finding:"
        " FILE:LINE: severity: object: problem. Fix: change."
        " Exit 0 compliant, 1 invalid, 2 not compliant.",
    )
    p.add_argument("file")
    p.add_argument("--strict", action="store_true",
                   help="warnings (e.g. client services left on) also make it non-compliant")
    p.add_argument("--syntax-only", action="store_true",
                   help="validate only; skip the compliance judgement")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args.file)
    if config is None:
        return INVALID
    if args.syntax_only:
        print(f"{args.file}: configuration is valid")
        return VALID
    findings = check_compliance(config, SourceMap.of_file(Path(args.file)))
    for finding in findings:
        print(finding.render(args.file))
    failing = Severity.WARNING if args.strict else Severity.ERROR
    compliant = not any(f.severity >= failing for f in findings)
    print(summary(args.file, findings, compliant))
    return VALID if compliant else NON_COMPLIANT


def summary(file: str, findings: list[Finding], compliant: bool) -> str:
    counts = [
        f"{n} {str(severity)}{'s' if n != 1 else ''}"
        for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO)
        if (n := sum(1 for f in findings if f.severity == severity))
    ]
    verdict = "compliant" if compliant else "NOT compliant"
    tally = f" ({', '.join(counts)})" if counts else ""
    return f"{file}: configuration is valid; {verdict} with the NSA/CNSA guidance{tally}"
