"""UDP GRO on the ESP-in-UDP receive path, A/B in one run (issue 11 point 4):
one ikev2d gateway (`--dataplane userspace`, one process pinned to CPU 0)
decrypting CBC+SHA512 1400 B, its port-4500 socket's UDP_GRO switched off
and on between runs from outside (pidfd_getfd(2), as bench/esp_gateway.py
grows its receive buffer; the daemon reads with recvmsg either way and cuts
a run apart only when the kernel hands one over). Two loads, alternating:

- gso: ESP sent in UDP GSO runs (bench/esp_load.py --gso), what a NIC whose
  GRO coalesces one peer's datagrams hands the socket;
- single: one datagram per packet (the other benches' load): veth hands
  them on one by one, so GRO has nothing to coalesce; the socket option
  must then cost nothing.

    sudo .venv/bin/python bench/esp_gro.py [--repeats 5] [--rate 150000] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from esp_gateway import (  # noqa: E402
    INSIDE, LOAD_CPU, LOAD, WARMUP, WINDOW, Gateway, _dev_counters, on_udp_sockets,
)

from lab.pki import make_lab_pki  # noqa: E402

SUITE, SIZE = "CBC+SHA512", 1400
SOL_UDP, UDP_GRO = 17, 104


def set_gro(pid: int, on: bool) -> int:
    """UDP_GRO on every UDP socket of `pid` bound to port 4500; how many."""
    def switch(sock: socket.socket) -> None:
        sock.setsockopt(SOL_UDP, UDP_GRO, int(on))
        assert sock.getsockopt(SOL_UDP, UDP_GRO) == int(on)
    return on_udp_sockets(pid, 4500, switch)


def decrypt(gw: Gateway, rate: float, gso: bool):
    seconds = WARMUP + WINDOW + 0.2
    argv = [sys.executable, str(LOAD), "--cpu", str(LOAD_CPU)] + (["--gso"] if gso else []) + [
        "esp", gw.topo.client_addrs[0], gw.topo.gateway_addr, gw.vip, INSIDE, str(SIZE), str(rate), str(seconds)]
    load = subprocess.Popen(gw.cl.argv(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=Path(LOAD).parent.parent, start_new_session=True)
    assert load.stdin is not None
    sa = {"spi": gw.spi, "seq": gw.next_seq, "suite": SUITE, "encr_key": gw.encr_key.hex(),
          "integ_key": gw.integ_key.hex()}
    gw.next_seq += int(rate * seconds) + 1
    load.stdin.write(json.dumps(sa) + "\n")
    load.stdin.flush()
    return gw._run(load, lambda: _dev_counters(gw.pid, gw.tun)[0], SIZE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rate", type=float, default=150_000, help="offered packets/s (above one core's figure)")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    load_start = os.getloadavg()
    folder = Path(tempfile.mkdtemp(prefix="bench-espgro-"))
    pki = make_lab_pki(folder / "pki")
    runs: list[dict] = []
    cases = [("gso", True, False), ("gso", True, True), ("single", False, False), ("single", False, True)]
    with ExitStack() as stack:
        gw = Gateway("ikev2d", SUITE, pki, folder / "gw", stack)
        for rep in range(args.repeats):
            for load, gso, gro in (cases if rep % 2 == 0 else [c for pair in zip(cases[1::2], cases[0::2])
                                                                for c in pair]):
                set_gro(gw.pid, gro)
                fig = decrypt(gw, args.rate, gso)
                if not gw.alive():
                    raise RuntimeError("the gateway or its client's SA is gone")
                runs.append({"rep": rep, "load": load, "gro": gro, "pps": fig.pps, "mbps": fig.mbps,
                             "offered": fig.offered, "cpu": fig.cpu, "core": fig.core})
                print(f"rep {rep + 1} {load} load, GRO {'on' if gro else 'off'}: {fig.pps:.0f} pkt/s "
                      f"{fig.mbps:.0f} Mbit/s (offered {fig.offered:.0f}; gateway on {100 * fig.cpu:.0f}% of its "
                      f"core, idle {100 * fig.core['idle']:.0f}%, steal {100 * fig.core['steal']:.0f}%)",
                      file=sys.stderr, flush=True)
    subprocess.run(["rm", "-rf", str(folder)], check=False)
    med = statistics.median
    lines = ["| load | GRO off Mbit/s | GRO on Mbit/s | on / off, run by run (median, min-max) "
             "| gateway core share off / on | per core-worth, on / off (median) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for load in ("gso", "single"):
        off = {r["rep"]: r for r in runs if r["load"] == load and not r["gro"]}
        on = {r["rep"]: r for r in runs if r["load"] == load and r["gro"]}
        ratios = [on[k]["mbps"] / off[k]["mbps"] for k in off if off[k]["mbps"]]
        a, b = [r["mbps"] for r in off.values()], [r["mbps"] for r in on.values()]
        per_core = [(on[k]["mbps"] / on[k]["cpu"]) / (off[k]["mbps"] / off[k]["cpu"]) for k in off
                    if off[k]["cpu"] and on[k]["cpu"] and off[k]["mbps"]]
        lines.append(f"| {load} | {med(a):.0f} ({min(a):.0f}-{max(a):.0f}) | {med(b):.0f} ({min(b):.0f}-{max(b):.0f}) "
                     f"| {med(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) "
                     f"| {100 * med(r['cpu'] for r in off.values()):.0f}% / {100 * med(r['cpu'] for r in on.values()):.0f}% "
                     f"| {med(per_core):.2f}x |")
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        end = os.getloadavg()
        args.markdown.write_text(
            f"# bench/esp_gro.py: UDP GRO off/on, {SUITE}, {SIZE} B decrypt, one process on CPU 0, "
            f"{args.repeats} alternating repeats\n\nload average (1/5/15 min) at the start "
            f"{load_start[0]:.1f} / {load_start[1]:.1f} / {load_start[2]:.1f}, at the end {end[0]:.1f} / {end[1]:.1f} / "
            f"{end[2]:.1f}; nproc {os.cpu_count()}; shared machine: ratios within this run only. Offered "
            f"{args.rate:.0f} pkt/s.\n\n{table}\n\nEvery run:\n\n"
            + "\n".join(f"- rep {r['rep'] + 1} {r['load']} GRO {'on' if r['gro'] else 'off'}: {r['pps']:.0f} pkt/s, "
                        f"{r['mbps']:.0f} Mbit/s, offered {r['offered']:.0f}, core share {100 * r['cpu']:.0f}%, idle "
                        f"{100 * r['core']['idle']:.0f}%, steal {100 * r['core']['steal']:.0f}%" for r in runs) + "\n")
    if args.json:
        args.json.write_text(json.dumps({"suite": SUITE, "size": SIZE, "rate": args.rate, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
