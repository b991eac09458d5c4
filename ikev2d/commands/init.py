"""`ikev2d init [DIR]`: write a starter configuration (and with --systemd,
a service unit) that `ikev2d check-config` passes and `ikev2d run` serves.

By default it is made for trying ikev2d on one machine without root:
IKE on 127.0.0.1, UDP ports 10500/14500. With --systemd the ports default
to the FTD's 500/4500. The local user `alice` gets a fresh random password,
printed once here and kept only in the file (mode 0600). Existing files
are never overwritten unless --force.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import shutil
import sys
from importlib import resources
from pathlib import Path

from .common import INVALID, OK, USAGE

CONFIG_NAME = "ikev2d.yaml"
UNIT_NAME = "ikev2d.service"
TRY_PORTS = (10500, 14500)  # above 1023: no privilege needed
FTD_PORTS = (500, 4500)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("init", help="write a starter configuration (and a systemd unit)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", nargs="?", default=".", help="folder to write into (created; default: here)")
    p.add_argument("--address", default="127.0.0.1", help="IPv4 address to serve IKE on (default 127.0.0.1)")
    p.add_argument("--ike-port", type=int, help="IKE port (default 10500; 500 with --systemd)")
    p.add_argument("--natt-port", type=int, help="NAT-T port (default 14500; 4500 with --systemd)")
    p.add_argument("--systemd", action="store_true", help=f"also write {UNIT_NAME}, with the capabilities it needs")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        address = str(ipaddress.IPv4Address(args.address))
    except ValueError:
        print(f"ikev2d init: '{args.address}' is not an IPv4 address", file=sys.stderr)
        return USAGE
    default_ike, default_nat_t = FTD_PORTS if args.systemd else TRY_PORTS
    ike = args.ike_port if args.ike_port is not None else default_ike
    nat_t = args.natt_port if args.natt_port is not None else default_nat_t
    if not (1 <= ike <= 65535 and 1 <= nat_t <= 65535) or ike == nat_t:
        print("ikev2d init: the IKE and NAT-T ports must be two different ports in 1-65535", file=sys.stderr)
        return USAGE
    folder = Path(args.dir).absolute()
    config = folder / CONFIG_NAME
    unit = folder / UNIT_NAME
    targets = [config, unit] if args.systemd else [config]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not args.force:
        print(f"ikev2d init: {', '.join(existing)} already exist(s); --force overwrites", file=sys.stderr)
        return INVALID
    password = secrets.token_urlsafe(12)
    text = _template("ikev2d.yaml.in").format(config=config, address=address, ike_port=ike, nat_t_port=nat_t,
                                               password=password)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write(config, text, 0o600)  # it holds passwords
        if args.systemd:
            _write(unit, _template("ikev2d.service.in").format(
                ikev2d=_ikev2d_path(), config=config, folder=folder, unit_name=unit), 0o644)
        examples = folder / "examples"
        _copy_examples(examples)
    except OSError as exc:
        print(f"ikev2d init: cannot write in {folder}: {exc.strerror or exc}", file=sys.stderr)
        return INVALID
    print(f"wrote {config} (IKE on {address} UDP {ike}/{nat_t}; local user alice, password {password})")
    if args.systemd:
        print(f"wrote {unit}: cp {unit} /etc/systemd/system/ && systemctl daemon-reload"
              f" && systemctl enable --now ikev2d")
    print(f"wrote {examples}/ (the whitepaper's configurations, for reading)")
    print(f"next: ikev2d check-config {config}")
    return OK


def _template(name: str) -> str:
    return resources.files("ikev2d.starter").joinpath(name).read_text(encoding="utf-8")


def _copy_examples(target: Path) -> None:
    target.mkdir(exist_ok=True)
    for entry in resources.files("ikev2d").joinpath("examples").iterdir():
        if entry.name.endswith(".yaml"):
            (target / entry.name).write_text(entry.read_text(encoding="utf-8"), encoding="utf-8")


def _write(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _ikev2d_path() -> str:
    """The ikev2d launcher beside this interpreter (a venv's), else on PATH."""
    beside = Path(sys.executable).parent / "ikev2d"
    return str(beside) if beside.exists() else (shutil.which("ikev2d") or "/usr/local/bin/ikev2d")
