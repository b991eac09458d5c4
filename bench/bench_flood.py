"""What an IKE_SA_INIT flood from forged sources costs the responder,
in-process (no sockets): per datagram CPU and memory, side by side.

    .venv/bin/python bench/bench_flood.py [--datagrams N]

Three runs over the same forged datagrams (fresh SPIi, source addresses from
198.18.0.0/15), each on a fresh responder:
- `cookie`: the FTD's custom cookie challenge at 50 % of 100 in negotiation
  (the default configuration): past the threshold every datagram gets a
  stateless COOKIE notify.
- `no cookie, capped`: cookies off, max 100 in negotiation: past the cap a
  stateless TEMPORARY_FAILURE.
- `no cookie, uncapped`: cookies off and a cap above the flood: every
  datagram becomes a half-open IKE_SA_INIT waiting for its DH job, which
  shows what one half-open SA costs (its DH job is not run: a forged source
  never completes, and the CPU of a DH is measured by bench_crypto.py).

Memory is what tracemalloc sees still allocated after the run (the state the
flood left), divided by the datagrams; CPU is the responder's own time, on a
separate run without tracemalloc. Syslog rendering and the socket send are
not counted (the interop flood test covers the whole daemon).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Callable

from ikev2d.conf import load_config
from ikev2d.core import Responder
from ikev2d.effects import Compute
from ikev2d.settings import build_settings
from lab.initiator import Initiator, InitiatorOptions

ROOT = Path(__file__).resolve().parents[1]
GATEWAY = ("198.18.0.1", 500)


def responder(tmp: str) -> Responder:
    text = (ROOT / "config/ikev2d.yaml").read_text().replace("store: ../run/pki", f"store: {tmp}")
    path = Path(tmp) / "c.yaml"
    path.write_text(text)
    return Responder(build_settings(load_config(path)))


def template() -> bytes:
    sent: list[bytes] = []

    def capture(datagram: bytes) -> list[bytes]:
        sent.append(datagram)
        return []

    try:
        Initiator(InitiatorOptions(local=("198.18.0.254", 500), remote=GATEWAY), capture).ike_sa_init()
    except Exception:
        pass
    return sent[0]


def forged(request: bytes, n: int) -> list[tuple[bytes, tuple[str, int]]]:
    return [(os.urandom(8) + request[8:], (f"198.{18 + i // 65536 % 2}.{i // 256 % 256}.{1 + i % 254}", 500))
            for i in range(n)]


def feed(r: Responder, datagrams: list[tuple[bytes, tuple[str, int]]]) -> int:
    """The datagrams, 10,000 a second of responder clock; the DH jobs asked."""
    computes = 0
    for i, (data, source) in enumerate(datagrams):
        computes += sum(isinstance(e, Compute) for e in r.datagram_received(data, GATEWAY, source, 1000.0 + i * 1e-4))
    return computes


def run(make: Callable[[], Responder], datagrams: list[tuple[bytes, tuple[str, int]]]) -> dict[str, float]:
    # CPU and memory on two fresh responders: tracemalloc slows the first ~4x
    r = make()
    started = time.process_time()
    computes = feed(r, datagrams)
    cpu = time.process_time() - started
    r = make()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    feed(r, datagrams)
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    n = len(datagrams)
    return {"us_per_datagram": cpu / n * 1e6, "bytes_kept_per_datagram": kept / n, "dh_jobs": computes,
            "half_open": len(r._half_open)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datagrams", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        request = template()
        datagrams = forged(request, args.datagrams)
        results = {}
        for name, challenge, cap in (("cookie", "custom", 100), ("no cookie, capped", "never", 100),
                                     ("no cookie, uncapped", "never", args.datagrams + 1)):
            def make(challenge: str = challenge, cap: int = cap) -> Responder:
                r = responder(tmp)
                r.settings.cookie_challenge, r.settings.max_half_open = challenge, cap
                r.settings.max_half_open_per_address = cap
                return r
            results[name] = run(make, datagrams)
    print(f"{args.datagrams} forged IKE_SA_INIT datagrams, distinct SPIi and sources")
    print(f"{'run':<22}{'us/datagram':>12}{'bytes kept/datagram':>21}{'DH jobs':>9}{'half-open':>11}")
    for name, m in results.items():
        print(f"{name:<22}{m['us_per_datagram']:>12.1f}{m['bytes_kept_per_datagram']:>21.0f}"
              f"{m['dh_jobs']:>9}{m['half_open']:>11}")
    uncapped = results["no cookie, uncapped"]
    print(f"one half-open SA waiting for its DH job keeps ~{uncapped['bytes_kept_per_datagram'] / 1024:.1f} KiB; "
          f"with cookies the flood keeps {results['cookie']['bytes_kept_per_datagram']:.1f} bytes a datagram "
          f"({uncapped['bytes_kept_per_datagram'] / max(results['cookie']['bytes_kept_per_datagram'], 1):.0f}x less)")


if __name__ == "__main__":
    main()
