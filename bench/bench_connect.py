"""Responder CPU per full connect (DH 15, RSA-2048 certificate, EAP-MSCHAPv2),
measured in-process: a Python initiator drives the sans-I/O responder and
only the time spent inside the responder (and its crypto jobs) is counted.

    .venv/bin/python bench/bench_connect.py [--connects N]

The issue's bar: >= 300 connects/s per core, i.e. <= 3.3 ms of responder CPU
per connect (strongSwan's responder: ~10.7 ms here).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ikev2d.conf import load_config
from ikev2d.core import Responder
from ikev2d.crypto.jobs import CryptoWorker
from ikev2d.effects import Compute, SendDatagram
from ikev2d.settings import build_settings
from lab.initiator import Initiator, InitiatorOptions

ROOT = Path(__file__).resolve().parents[1]
GATEWAY = ("198.18.0.1", 500)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connects", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        text = (ROOT / "config/ikev2d.yaml").read_text().replace("store: ../run/pki", f"store: {tmp}")
        text = text.replace("198.19.0.200-198.19.0.250", "198.19.0.1-198.19.255.254").replace(
            "mask: 255.255.255.0", "mask: 255.255.0.0")
        path = Path(tmp) / "c.yaml"
        path.write_text(text)
        responder = Responder(build_settings(load_config(path)))
        worker = CryptoWorker(responder.settings.signing_keys)
        spent = {"core": 0.0, "crypto": 0.0}

        def send_from(client):
            def send(datagram: bytes) -> list[bytes]:
                t0 = time.process_time()
                queue = responder.datagram_received(datagram, GATEWAY, client, 0.0)
                out = []
                while queue:
                    effect = queue.pop(0)
                    if isinstance(effect, Compute):
                        t1 = time.process_time()
                        result = worker.run(effect.job)
                        spent["crypto"] += time.process_time() - t1
                        queue = responder.job_done(effect.token, result, 0.0) + queue
                    elif isinstance(effect, SendDatagram):
                        out.append(effect.data)
                spent["core"] += time.process_time() - t0
                return out
            return send

        for n in range(args.connects):
            client = (f"198.18.{1 + n // 250}.{1 + n % 250}", 500)
            Initiator(InitiatorOptions(local=client, remote=GATEWAY), send_from(client)).connect()
        total = spent["core"]
        per = total / args.connects
        crypto = spent["crypto"] / args.connects
        print(f"{args.connects} connects: responder CPU {per * 1e3:.2f} ms/connect "
              f"(crypto jobs {crypto * 1e3:.2f} ms, the rest {(per - crypto) * 1e3:.2f} ms) "
              f"-> {1 / per:.0f} connects/s per core")


if __name__ == "__main__":
    main()
