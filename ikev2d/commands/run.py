"""`ikev2d run --config FILE`: serve IKEv2 remote access."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from ..control.protocol import DEFAULT_PATH as DEFAULT_CONTROL_PATH
from ..logsink import configure_logging
from .common import load_or_report

log = logging.getLogger("ikev2d")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="serve IKEv2 remote access on the configuration")
    p.add_argument("--config", required=True, help="configuration file (see config/ikev2d.yaml)")
    p.add_argument("--dataplane", choices=["auto", "kernel", "userspace", "none"], default="auto",
                   help="ESP back end: the kernel's XFRM, ESP in Python over TUN, or none (SAs recorded only); "
                        "auto: kernel when it accepts ESP, else userspace")
    p.add_argument("--tun", default="ikev2d0", metavar="NAME", help="TUN device of the userspace data plane")
    p.add_argument("--replay-window", type=int, default=64, metavar="N",
                   help="ESP anti-replay window in packets (0 disables the check)")
    p.add_argument("--crypto-workers", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="processes for DH and signatures (0: inline on the event loop)")
    p.add_argument("--control", default=DEFAULT_CONTROL_PATH, metavar="PATH",
                   help="control socket for `ikev2d show`, `vpn-sessiondb logoff` and `reload` "
                        f"(default {DEFAULT_CONTROL_PATH}; '' for none)")
    p.add_argument("-v", "--verbose", action="store_true", help="also log dropped messages")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    configure_logging(args.verbose)  # a full disk under stdout costs lines, not the daemon
    config = load_or_report(args.config)
    if config is None:
        return 1
    try:
        return asyncio.run(_serve(config, args, max(0, args.crypto_workers)))
    except OSError as exc:
        print(f"ikev2d: cannot serve: {exc}", file=sys.stderr)
        return 1


async def _serve(config, args: argparse.Namespace, crypto_workers: int) -> int:
    from esp.dataplane import DataPlaneError
    from esp.select import make_dataplane

    from ..daemon import Daemon, serve_until_signalled
    from ..identity import IdentityError

    try:
        dataplane, why = make_dataplane(args.dataplane, replay_window=args.replay_window, tun_name=args.tun)
    except DataPlaneError as exc:
        log.error("data plane: %s", exc)
        return 1
    log.info("%s", why)
    try:
        daemon = Daemon(config, dataplane=dataplane, crypto_workers=crypto_workers,
                        control_path=args.control or None)
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
