"""Command line: `ikev2d run --config FILE`, `ikev2d check-config FILE`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from . import __version__


def _load(path: str):
    from .conf import ConfigError, load_config
    try:
        return load_config(Path(path))
    except ConfigError as exc:
        print(f"ikev2d: configuration error: {exc}", file=sys.stderr)
        return None


async def _serve(config, dataplane_name: str, crypto_workers: int) -> int:
    from .core import Responder
    from .identity import IdentityError
    from .settings import build_settings
    from esp.dataplane import RecordingDataPlane

    from .transport import CryptoRunner, Transport

    try:
        settings = build_settings(config)
    except IdentityError as exc:
        logging.getLogger("ikev2d").error("identity certificate: %s", exc)
        return 1
    responder = Responder(settings)
    addresses = [config.interface(a.interface).address for a in config.remote_access_vpn.access_interfaces
                 if a.enable_ipsec_ikev2]
    if not addresses:
        logging.getLogger("ikev2d").error("no access interface has IPsec-IKEv2 enabled: nothing to serve")
        return 1
    crypto = CryptoRunner(settings.signing_keys, crypto_workers)
    transports = [Transport(responder, str(addr), RecordingDataPlane(), crypto) for addr in addresses]
    for t in transports:
        await t.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for t in transports:
        await t.stop()
    crypto.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ikev2d", description=__doc__)
    parser.add_argument("--version", action="version", version=f"ikev2d {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve IKEv2 remote access on the configuration")
    run.add_argument("--config", required=True, help="configuration file (see config/ikev2d.yaml)")
    run.add_argument("--dataplane", choices=["auto", "kernel", "userspace"], default="auto")
    run.add_argument("--crypto-workers", type=int, default=os.cpu_count() or 1, metavar="N",
                     help="processes for DH and signatures (0: inline on the event loop)")
    run.add_argument("-v", "--verbose", action="store_true", help="also log dropped messages")
    check = sub.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file")
    args = parser.parse_args(argv)

    if args.command == "check-config":
        config = _load(args.file)
        if config is None:
            return 1
        print(f"{args.file}: configuration is valid")
        return 0

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stdout)
    config = _load(args.config)
    if config is None:
        return 1
    try:
        return asyncio.run(_serve(config, args.dataplane, max(0, args.crypto_workers)))
    except OSError as exc:
        print(f"ikev2d: cannot serve: {exc}", file=sys.stderr)
        return 1
