"""`ikev2d keys [--dir DIR]`: the keys of the running daemon's live SAs in
Wireshark's decryption tables (`ikev2_decryption_table`, `esp_sa`).

With `--dir`, both files are written there (0600), ready to be Wireshark's
configuration folder or copied into one; without it both tables go to
standard output, each after a `# FILE` comment line. For keys of SAs that
have gone too, run the daemon with `--keylog DIR` from the start.

Lab only: whoever reads these decrypts every session they cover.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..control.client import request
from ..control.protocol import ControlError, ControlUnreachable
from ..keylog import ESP_TABLE, IKE_TABLE
from .common import INVALID, UNREACHABLE
from .show import add_control_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keys", help="Wireshark decryption tables for the live SAs (lab only)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", type=Path, metavar="DIR", help="write ikev2_decryption_table and esp_sa here")
    add_control_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        answer = request(args.control, {"op": "keys"})
    except ControlUnreachable as exc:
        print(f"ikev2d: {exc}", file=sys.stderr)
        return UNREACHABLE
    except ControlError as exc:
        print(f"ikev2d: {exc}", file=sys.stderr)
        return INVALID
    tables = {name: [str(line) for line in answer.get(name, [])] for name in (IKE_TABLE, ESP_TABLE)}
    if args.dir is None:
        for name, lines in tables.items():
            sys.stdout.write(f"# {name}\n" + "".join(f"{line}\n" for line in lines))
        return 0
    try:
        args.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name, lines in tables.items():
            fd = os.open(args.dir / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write("".join(f"{line}\n" for line in lines))
    except OSError as exc:
        print(f"ikev2d: cannot write the tables to {args.dir}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"wrote {IKE_TABLE} and {ESP_TABLE} to {args.dir}")
    return 0
