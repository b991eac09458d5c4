"""A data-plane worker that dies (`--dataplane-workers N`) is replaced, the
port-4500 group's program follows the sockets' new order, and the pairs it
held are reported: soft at once (the IKE side rekeys them), hard after a
grace (ended if the rekey did not happen); one that hangs is killed and
replaced the same way. A pool's blackhole route keeps
the lost client's traffic from following the default route meanwhile. Real worker processes, TUN
devices and the kernel's steering, in a network namespace of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import asyncio, os, signal, socket, subprocess, sys, time
sys.path.insert(0, "tests/unit")
from dataclasses import replace
from esp.userspace import workers as W
from esp.userspace.steering import reuseport_udp_socket, spi_for_worker, worker_of_spi
from ikev2d.spi_lanes import SpiLanes
from test_esp_dataplane import Client, child_spec
def ip(*a): subprocess.run(["ip", *a], check=True)
ip("link", "set", "lo", "up")
ip("link", "add", "outside", "type", "veth", "peer", "name", "far")  # an interface to hold the gateway address
for dev in ("outside", "far"):
    ip("link", "set", dev, "up")
ip("addr", "add", "198.18.0.1/24", "dev", "outside")
W.LOST_PAIR_GRACE = 1.0
from ipaddress import ip_network
def route(address):  # where the kernel sends a packet to `address`: its device, or "blackhole"
    got = subprocess.run(["ip", "-o", "route", "get", address], capture_output=True, text=True)
    if got.returncode != 0:  # a blackhole route: the lookup itself fails with EINVAL
        return "blackhole" if "Invalid argument" in got.stderr else got.stderr.strip()
    return got.stdout.split(" dev ")[1].split()[0]
def esp(client, spec):  # one ESP-in-UDP datagram the client seals: ICMP from its address
    src = spec.remote_selectors[0].network_address.packed
    header = bytearray(bytes.fromhex("4500001c00000000400100000000000000000000"))
    header[12:16], header[16:20] = src, socket.inet_aton("198.18.0.1")
    total = sum(int.from_bytes(header[i:i + 2], "big") for i in range(0, 20, 2))
    total = (total & 0xFFFF) + (total >> 16)
    header[10:12] = (~total & 0xFFFF).to_bytes(2, "big")
    return client.out.seal(bytes(header) + bytes.fromhex("0800f7ff00000000"))  # an ICMP echo request
async def main():
    reports = []
    dp = W.WorkerDataPlane(2)
    lanes = SpiLanes(2)  # the responder's, told by the plane which lanes are down (as ikev2d/daemon.py wires it)
    dp.watch_lanes(lanes.lane_changed)
    nat_t = reuseport_udp_socket("198.18.0.1", 4500)
    dp.attach(nat_t, reports.append)
    def lanes_placed():
        return sorted({worker_of_spi(lanes.place(int.from_bytes(os.urandom(4), "big")), 2) for _ in range(64)})
    pairs = [child_spec(spi_in=spi_for_worker(int.from_bytes(os.urandom(4), "big"), w, 2), spi_out=0x3000 + w,
                        vip=f"198.19.0.{200 + w}") for w in range(2)]
    for spec in pairs:
        dp.install(spec)
    dp.route_pools([ip_network("198.19.0.0/24")])
    print("routes-before", route("198.19.0.200"), route("198.19.0.201"), route("198.19.0.250"))
    dead = dp._workers[0].proc.pid
    gaps = []
    async def ticker():  # the event loop's pulse while the replacement starts
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now
    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    killed = time.monotonic()
    os.kill(dead, signal.SIGKILL)
    down_seen = []
    for _ in range(200):
        await asyncio.sleep(0.01)
        down_seen.append(tuple(sorted(lanes.down)))
        if dp._workers[0].proc.pid != dead and reports:
            break
    back_in = time.monotonic() - killed
    tick.cancel()
    print("replaced", dp._workers[0].proc.pid != dead, dp.restarts)
    # the loop kept its pulse: no pause near the replacement's start time (a blocking start is one long pause)
    print("loop-free", max(gaps) < back_in / 2, round(max(gaps), 3), round(back_in, 3))
    print("lane-down-meanwhile", (0,) in down_seen, sorted(lanes.down))
    print("soft", [(hex(r.spi_in), r.hard, r.reason) for r in reports])
    print("lost-counters", dp.counters(pairs[0].spi_in), "kept", dp.counters(pairs[1].spi_in) is not None)
    fresh = child_spec(spi_in=spi_for_worker(int.from_bytes(os.urandom(4), "big"), 0, 2), spi_out=0x4000,
                       vip="198.19.0.210")
    dp.install(fresh)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        for spec in (fresh, pairs[1]):
            c = Client(spec)
            for _ in range(3):
                client.sendto(esp(c, spec), ("198.18.0.1", 4500))
    await asyncio.sleep(0.5)
    print("steered", [dp.counters(s.spi_in).packets_in for s in (fresh, pairs[1])])
    asked = []
    for worker in dp._workers:
        worker.call = (lambda call: lambda op, *a: (asked.append((op, len(a[0]))), call(op, *a))[1])(worker.call)
    counted = dp.counters_of([fresh.spi_in, pairs[1].spi_in, 0xDEAD, fresh.spi_in])
    print("batched", sorted(asked), sorted(c.packets_in for c in counted.values()), len(counted))
    for worker in dp._workers:
        del worker.call
    await asyncio.sleep(1.0)
    print("hard", [(hex(r.spi_in), r.hard) for r in reports if r.hard])
    print("lost", hex(pairs[0].spi_in))
    print("routes-after", route("198.19.0.200"), route("198.19.0.201"), route("198.19.0.210"))
    hung = dp._workers[1].proc.pid
    os.kill(hung, signal.SIGSTOP)  # a worker that no longer answers
    started = time.monotonic()
    try:
        dp.counters(pairs[1].spi_in)
        print("hung-answered")
    except W.DataPlaneError as exc:
        print("hung", round(time.monotonic() - started), exc)
    for _ in range(100):
        await asyncio.sleep(0.05)
        if dp._workers[1].proc.pid != hung and any(r.spi_in == pairs[1].spi_in for r in reports):
            break
    print("hung-replaced", dp._workers[1].proc.pid != hung, dp.restarts,
          [(hex(r.spi_in), r.hard) for r in reports if r.spi_in == pairs[1].spi_in])
    print("kept", hex(pairs[1].spi_in))
    # a replacement that cannot start: the survivor keeps its ESP meanwhile, and the start is tried again
    def new_pair(lane, vip):
        spec = child_spec(spi_in=spi_for_worker(int.from_bytes(os.urandom(4), "big"), lane, 2),
                          spi_out=0x5000 + lane, vip=vip)
        dp.install(spec)
        return spec, Client(spec)
    survivor, survivor_client = new_pair(1, "198.19.0.220")
    real, failed = W._Worker, []
    class FailingOnce(real):
        def __init__(self, *args, **kwargs):
            if not failed:
                failed.append(True)
                raise W.DataPlaneError("no TUN device today")
            super().__init__(*args, **kwargs)
    W._Worker, W.RESTART_RETRY = FailingOnce, 1.5
    before, gone = dp.restarts, dp._workers[0].proc.pid
    os.kill(gone, signal.SIGKILL)
    await asyncio.sleep(0.3)  # dead, its first replacement failed, the next not yet tried
    print("placed-meanwhile", lanes_placed(), sorted(lanes.down))
    try:
        new_pair(0, "198.19.0.240")
        print("down-install", "installed")
    except W.DataPlaneError as exc:
        print("down-install", exc)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        for _ in range(3):
            client.sendto(esp(survivor_client, survivor), ("198.18.0.1", 4500))
    await asyncio.sleep(0.3)
    print("meanwhile", dp.restarts - before, dp.counters(survivor.spi_in).packets_in)
    for _ in range(60):
        await asyncio.sleep(0.05)
        if dp._workers[0].proc.pid != gone and dp._workers[0].proc.poll() is None:
            break
    print("placed-after", lanes_placed(), sorted(lanes.down))
    back, back_client = new_pair(0, "198.19.0.230")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        for _ in range(3):
            client.sendto(esp(back_client, back), ("198.18.0.1", 4500))
    await asyncio.sleep(0.3)
    print("retried", dp.restarts - before, dp.counters(back.spi_in).packets_in)
    # a replacement that starts but never says it is ready: killed at the deadline, and another one started
    stuck = []
    class StuckOnce(real):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if not stuck:
                stuck.append(self.proc)
                os.kill(self.proc.pid, signal.SIGSTOP)  # alive, silent
    W._Worker, W.START_SECONDS, W.RESTART_RETRY = StuckOnce, 2.0, 0.3
    gone = dp._workers[1].proc.pid
    os.kill(gone, signal.SIGKILL)
    for _ in range(200):
        await asyncio.sleep(0.05)
        if stuck and dp._workers[1].proc not in stuck and dp._workers[1].proc.pid != gone:
            break
    late, late_client = new_pair(1, "198.19.0.250")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        for _ in range(3):
            client.sendto(esp(late_client, late), ("198.18.0.1", 4500))
    await asyncio.sleep(0.3)
    print("stuck", stuck[0].poll(), dp.counters(late.spi_in).packets_in, sorted(lanes.down))
    dp.close()
    print("routes-closed", subprocess.run(["ip", "-o", "route", "show", "198.19.0.0/24"], capture_output=True,
                                          text=True).stdout.strip() or "none")
asyncio.run(main())
"""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or not os.path.exists("/dev/net/tun"),
                    reason="needs root, unshare(1) and /dev/net/tun")
def test_a_dead_worker_is_replaced_its_pairs_reported_and_steering_follows() -> None:
    done = subprocess.run(["unshare", "--net", sys.executable, "-c", SCRIPT], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    out = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    lost = out["lost"]
    assert out["replaced"] == "True 1", done.stdout + done.stderr
    # the replacement starts while the event loop serves on; meanwhile its lane takes no new SPI
    assert out["loop-free"].startswith("True "), done.stdout
    assert out["lane-down-meanwhile"] == "True []", done.stdout
    assert out["soft"] == f"[('{lost}', False, 'worker')]", done.stdout
    assert out["lost-counters"] == "None kept True"
    # ESP of a new pair in the replacement and of the other worker's pair reach their workers
    assert out["steered"] == "[3, 3]", done.stdout + done.stderr
    # several pairs' counters: one request to each worker holding some, the unknown SPI left out
    assert out["batched"] == "[('counters', 1), ('counters', 2)] [3, 3] 2", done.stdout
    assert out["hard"] == f"[('{lost}', True)]", done.stdout
    assert "died (exit status -9) holding 1 Child SA pair(s): starting another, rekeying them" in done.stderr
    # the pool's blackhole route under the clients' own: a client whose worker died is not routed in the clear
    assert out["routes-before"] == "ikev2d0w0 ikev2d0w1 blackhole", done.stdout
    assert out["routes-after"] == "blackhole ikev2d0w1 ikev2d0w0", done.stdout
    assert out["routes-closed"] == "none", done.stdout
    # a hung worker: the request fails after REPLY_SECONDS, the worker is killed, replaced, its pair reported
    assert out["hung"] == "2 data-plane worker 1 did not answer 'counters': killed", done.stdout
    assert out["hung-replaced"] == f"True 2 [('{out['kept']}', False)]", done.stdout
    # a replacement that fails to start is tried again; meanwhile the other worker's ESP still reaches it
    assert out["meanwhile"] == "1 3", done.stdout + done.stderr
    assert out["retried"] == "2 3", done.stdout + done.stderr
    assert "cannot start data-plane worker 0 again: no TUN device today; trying again in 1.5 s" in done.stderr
    # while worker 0 cannot be replaced, new SPIs go to worker 1 only, and one placed in 0 anyway says why it fails
    assert out["placed-meanwhile"] == "[1] [0]", done.stdout
    assert out["down-install"].startswith("data-plane worker 0 is down and its replacement not up yet: no Child SA 0x")
    assert out["placed-after"] == "[0, 1] []", done.stdout
    # a replacement that never says ready is killed at the deadline (SIGKILL: -9) and another takes its place
    assert out["stuck"] == "-9 3 []", done.stdout + done.stderr
    assert "cannot start data-plane worker 1 again: not ready in 2 s: killed; trying again in 0.3 s" in done.stderr
