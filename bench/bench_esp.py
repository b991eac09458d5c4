"""Benchmark of the userspace ESP data plane (issue 3). Not a test.

    sudo .venv/bin/python bench/bench_esp.py [--sizes 64,512,1400] [--no-gateways] [--markdown]

Prints, measured in one run on this machine:
1. the crypto-only ceiling (cryptography's primitives alone) and the userspace
   back end's encrypt/decrypt paths in-process (no I/O), one core;
2. gateways under the same load harness (bench/esp_gateway.py): ikev2d with
   --dataplane userspace and strongSwan's responder with kernel-libipsec, each
   pinned to one core, a strongSwan client in another namespace;
3. iperf3 UDP through the tunnel, strongSwan client -> each gateway (bounded
   by the client's own kernel-libipsec, so an end-to-end sanity figure).
Absolute figures drift +-25 % on a shared machine; the ratios are measured
side by side. The issue's bar (1400 B, one core, CBC + HMAC-SHA-512/256):
>= 0.8 Gbit/s encrypting, >= 1.1 Gbit/s decrypting, >= 3x kernel-libipsec.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import esp_paths  # noqa: E402

BAR = {"encrypt": 800.0, "decrypt": 1100.0}  # Mbit/s at 1400 B, CBC


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    flags = open("/proc/cpuinfo").read()
    extras = [f for f in ("aes", "vaes", "sha_ni", "avx512f") if f" {f} " in flags]
    swan = subprocess.run(["/usr/lib/ipsec/charon", "--version"], capture_output=True, text=True).stdout.strip()
    return (f"{os.cpu_count()} cores ({cpu}; {', '.join(extras)}), Linux {platform.release()}, "
            f"Python {platform.python_version()}, {swan or 'strongSwan ?'}")


def row(cells: list[str], md: bool) -> str:
    return ("| " + " | ".join(cells) + " |") if md else "  ".join(f"{c:>14}" for c in cells)


def in_process(sizes: list[int], md: bool) -> dict[tuple[str, int, str], float]:
    print("\n## 1. In-process, one core: crypto-only ceiling vs the back end's per-packet paths\n")
    print(row(["suite", "size B", "dir", "ceiling Mbit/s", "back end Mbit/s", "back end pkt/s", "% of ceiling"], md))
    if md:
        print(row(["---"] * 7, md))
    out = {}
    for name, alg in esp_paths.SUITES.items():
        short = "CBC+SHA512" if "CBC" in name else "GCM"
        for size in sizes:
            n = 20000 if size < 1000 else 10000
            ce, cd = esp_paths.ceiling(alg, size, n)
            pe, pd = esp_paths.paths(alg, size, n)
            for d, c, p in (("encrypt", ce, pe), ("decrypt", cd, pd)):
                out[(short, size, d)] = p.mbps
                print(row([short, str(size), d, f"{c.mbps:.0f}", f"{p.mbps:.0f}", f"{p.pps:.0f}",
                           f"{100 * p.mbps / c.mbps:.0f}%"], md))
    return out


def gateways(sizes: list[int], md: bool) -> None:
    from esp_gateway import SUITES, Gateway

    from lab.pki import make_lab_pki

    folder = Path(tempfile.mkdtemp(prefix="bench-esp-"))
    pki = make_lab_pki(folder / "pki")
    results: dict[tuple[str, str, str, int], float] = {}
    pps: dict[tuple[str, str, str, int], float] = {}
    e2e: dict[tuple[str, str, str], float] = {}
    for suite in SUITES:
        short = "CBC+SHA512" if "CBC" in suite else "GCM"
        for kind in ("ikev2d", "strongswan"):
            with ExitStack() as stack:
                gw = Gateway(kind, suite, pki, folder / f"{kind}-{short}", stack)
                for size in sizes:
                    for d in ("encrypt", "decrypt"):
                        fig = gw.encrypt(size) if d == "encrypt" else gw.decrypt(size)
                        results[(short, kind, d, size)] = fig.mbps
                        pps[(short, kind, d, size)] = fig.pps
                        print(f"  {kind:10} {short:10} {d:7} {size:5} B: {fig.pps:9.0f} pkt/s {fig.mbps:7.0f} Mbit/s",
                              file=sys.stderr)
                up = gw.iperf(max(sizes))
                e2e[(short, kind, "client->gateway")] = up.mbps
                print(f"  {kind:10} {short:10} iperf3 UDP {max(sizes)} B client->gateway: {up.mbps:.0f} Mbit/s",
                      file=sys.stderr)

    print("\n## 2. Gateway on one core, same harness: ikev2d userspace vs strongSwan kernel-libipsec\n")
    print(row(["suite", "size B", "dir", "ikev2d pkt/s", "ikev2d Mbit/s", "libipsec pkt/s", "libipsec Mbit/s",
               "ratio"], md))
    if md:
        print(row(["---"] * 8, md))
    for suite in SUITES:
        short = "CBC+SHA512" if "CBC" in suite else "GCM"
        for size in sizes:
            for d in ("encrypt", "decrypt"):
                ours, theirs = results[(short, "ikev2d", d, size)], results[(short, "strongswan", d, size)]
                print(row([short, str(size), d, f"{pps[(short, 'ikev2d', d, size)]:.0f}", f"{ours:.0f}",
                           f"{pps[(short, 'strongswan', d, size)]:.0f}", f"{theirs:.0f}",
                           f"{ours / theirs:.1f}x" if theirs else "-"], md))

    print(f"\n## 3. End to end: iperf3 UDP, {max(sizes)} B packets, strongSwan client (kernel-libipsec) -> gateway\n")
    print(row(["suite", "direction", "ikev2d Mbit/s", "strongSwan Mbit/s", "ratio"], md))
    if md:
        print(row(["---"] * 5, md))
    for suite in SUITES:
        short = "CBC+SHA512" if "CBC" in suite else "GCM"
        for d in ("client->gateway",):
            ours, theirs = e2e[(short, "ikev2d", d)], e2e[(short, "strongswan", d)]
            print(row([short, d, f"{ours:.0f}", f"{theirs:.0f}", f"{ours / theirs:.1f}x" if theirs else "-"], md))

    if 1400 in sizes:
        print("\n## The issue's bar (1400 B, one core, CBC + HMAC-SHA-512/256)\n")
        for d in ("encrypt", "decrypt"):
            ours, theirs = results[("CBC+SHA512", "ikev2d", d, 1400)], results[("CBC+SHA512", "strongswan", d, 1400)]
            ratio = ours / theirs if theirs else float("inf")
            verdict = "met" if ours >= BAR[d] and ratio >= 3 else "NOT met"
            print(f"- {d}: {ours:.0f} Mbit/s (bar {BAR[d]:.0f}), {ratio:.1f}x kernel-libipsec (bar 3x): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="64,512,1400", help="inner packet sizes in bytes")
    parser.add_argument("--no-gateways", action="store_true", help="only the in-process figures (no root needed)")
    parser.add_argument("--markdown", action="store_true", help="print tables as Markdown")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"Machine: {machine()}")
    os.sched_setaffinity(0, {0})
    in_process(sizes, args.markdown)
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    if not args.no_gateways:
        gateways(sizes, args.markdown)


if __name__ == "__main__":
    main()
