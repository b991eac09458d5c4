"""`ikev2d run --config FILE`: serve IKEv2 remote access."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import sys
from pathlib import Path

from ..conf import Config
from ..control.protocol import DEFAULT_PATH as DEFAULT_CONTROL_PATH
from ..logsink import configure_logging
from ..udp import BindError
from .common import CONTROL_ENV, USAGE, default_control_path, load_or_report

log = logging.getLogger("ikev2d")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="serve IKEv2 remote access on the configuration")
    p.add_argument("--config", required=True, help="configuration file (see config/ikev2d.yaml)")
    p.add_argument("--dataplane", choices=["auto", "kernel", "userspace", "none"], default="auto",
                   help="ESP back end: the kernel's XFRM, ESP in Python over TUN, or none (SAs recorded only); "
                        "auto: kernel when it accepts ESP, else userspace")
    p.add_argument("--tun", default="ikev2d0", metavar="NAME", help="TUN device of the userspace data plane")
    p.add_argument("--dataplane-workers", type=worker_count, default=1, metavar="N|auto",
                   help="processes carrying userspace ESP, each Child SA in one (1: in the daemon's process; "
                        "auto: one per CPU the daemon may use, when ESP runs in user space)")
    p.add_argument("--replay-window", type=int, default=64, metavar="N",
                   help="ESP anti-replay window in packets (0 disables the check)")
    p.add_argument("--crypto-workers", type=int, metavar="N",
                   help="processes for DH and signatures (0: inline on the event loop); default: one per CPU "
                        "the daemon may run on, or inline when that is one CPU")
    p.add_argument("--control", default=default_control_path(), metavar="PATH",
                   help="control socket for `ikev2d show`, `vpn-sessiondb logoff` and `reload` "
                        f"(default ${CONTROL_ENV} or {DEFAULT_CONTROL_PATH}; '' for none)")
    p.add_argument("--listen", action="append", default=[], metavar="ADDRESS", type=ipv4,
                   help="serve IKE on this IPv4 address instead of the access interfaces' (repeatable); "
                        "e.g. 127.0.0.1 to try ikev2d on one machine")
    p.add_argument("--ike-port", type=port, metavar="PORT",
                   help="UDP port for IKE (default: remote_access_vpn.ike_port, 500); above 1023 needs no root")
    p.add_argument("--natt-port", type=port, metavar="PORT",
                   help="UDP port for NAT-T and ESP-in-UDP (default: remote_access_vpn.nat_t_port, 4500)")
    p.add_argument("--keylog", type=Path, metavar="DIR",
                   help="lab only: write every SA's keys to Wireshark's decryption tables in DIR "
                        "(default: logging.wireshark_keys; see `ikev2d keys`)")
    p.add_argument("-v", "--verbose", action="store_true", help="also log dropped messages")
    p.set_defaults(func=run)


def ipv4(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an IPv4 address") from None


def port(text: str) -> int:
    if not text.isdecimal() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port (1-65535)")
    return int(text)


def ports(args: argparse.Namespace, config: Config) -> tuple[int, int]:
    """(IKE, NAT-T) ports: the flags over the configuration."""
    ra = config.remote_access_vpn
    ike = args.ike_port if args.ike_port is not None else ra.ike_port
    nat_t = args.natt_port if args.natt_port is not None else ra.nat_t_port
    return ike, nat_t


def run(args: argparse.Namespace) -> int:
    configure_logging(args.verbose)  # a full disk under stdout costs lines, not the daemon
    config = load_or_report(args.config)
    if config is None:
        return 1
    ike, nat_t = ports(args, config)
    if ike == nat_t:
        print(f"ikev2d: the IKE and NAT-T ports are both {ike}: IKE needs two UDP ports", file=sys.stderr)
        return USAGE
    try:
        return asyncio.run(_serve(config, args, crypto_workers(args.crypto_workers)))
    except BindError as exc:
        print(f"ikev2d: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"ikev2d: cannot serve: {exc}", file=sys.stderr)
        return 1


def worker_count(text: str) -> int | None:
    """--dataplane-workers: a count, or auto (None)."""
    if text == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a count nor auto") from None


def crypto_workers(asked: int | None) -> int:
    """--crypto-workers, or its default for the CPUs this process may use
    (said in the log: the count decides where DH and signatures run)."""
    from ..workers import default_workers, usable_cpus

    if asked is not None:
        return max(0, asked)
    cpus = usable_cpus()
    workers = default_workers(cpus)
    log.info("crypto: %s (%d CPU%s usable)", f"{workers} worker processes" if workers else "inline on the event loop",
             cpus, "" if cpus == 1 else "s")
    return workers


async def _serve(config: Config, args: argparse.Namespace, crypto_workers: int) -> int:
    from esp.dataplane import DataPlaneError
    from esp.select import make_dataplane

    from ..daemon import Daemon, serve_until_signalled
    from ..identity import IdentityError

    try:
        dataplane, why = make_dataplane(args.dataplane, replay_window=args.replay_window, tun_name=args.tun,
                                        workers=args.dataplane_workers)
    except DataPlaneError as exc:
        log.error("data plane: %s", exc)
        return 1
    log.info("%s", why)
    try:
        daemon = Daemon(config, dataplane=dataplane, crypto_workers=crypto_workers,
                        control_path=args.control or None, listen=tuple(args.listen), ports=ports(args, config),
                        keylog_dir=args.keylog or config.logging.wireshark_keys)
    except IdentityError as exc:
        dataplane.close()
        log.error("identity certificate: %s", exc)
        return 1
    try:
        return await serve_until_signalled(daemon)
    except (RuntimeError, DataPlaneError) as exc:
        dataplane.close()
        log.error("%s", exc)
        return 1
