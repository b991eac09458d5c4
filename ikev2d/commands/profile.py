"""`ikev2d profile [--config FILE] [--profile NAME] [-o FILE]`: write the
AnyConnect client profile (XML) for a connection profile, as the Profile
Editor would, to place on clients when client services are off."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..anyconnect_profile import render_profile
from .common import load_or_report

CONFIG_ENV = "IKEV2D_CONFIG"

# the installed daemon's file (`ikev2d init --systemd /etc/ikev2d` writes it), not a
# path relative to wherever the command happens to run
DEFAULT_CONFIG = "/etc/ikev2d/ikev2d.yaml"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("profile", help="write the AnyConnect client profile XML (IPsec, EAP)")
    p.add_argument("--config", default=os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG,
                   help=f"configuration file (default ${CONFIG_ENV} or {DEFAULT_CONFIG})")
    p.add_argument("--profile", metavar="NAME",
                   help="connection profile (default: the RA VPN's default one)")
    p.add_argument("--ike-identity", metavar="TEXT",
                   help="IKEIdentity, the IDi the client sends (left out unless given)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return 1
    known = [p.name for p in config.connection_profiles]
    if args.profile is not None and args.profile not in known:
        print(f"ikev2d: no connection profile '{args.profile}' in {args.config};"
              f" defined: {', '.join(known)}", file=sys.stderr)
        return 1
    xml = render_profile(config, args.profile, ike_identity=args.ike_identity)
    if args.output is None:
        sys.stdout.write(xml)
        return 0
    try:
        Path(args.output).write_text(xml, encoding="utf-8")
    except OSError as exc:
        print(f"ikev2d: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0
