"""Gateway figures for bench_esp.py: one ESP gateway under test in a lab
namespace, pinned to CPU 0, with a strongSwan client (kernel-libipsec) in a
client namespace; load generators pinned to CPU 1. The same harness runs
against ikev2d (--dataplane userspace) and against strongSwan's own
responder with kernel-libipsec, so the figures compare like with like.

encrypt: plain UDP packets are sent from the gateway's inside address to the
  client's virtual IP; counted: ESP datagrams arriving on the client's eth0
  (the client charon is stopped meanwhile, so it costs no CPU).
decrypt: ESP datagrams the client really sent (fresh sequence numbers) are
  captured on its wire (the gateway is kept from seeing them), then sent to
  the gateway once, in order, faster than it can take them; counted: inner
  packets the gateway delivers to a UDP socket on its inside address, over
  the time the sending took. Anti-replay stays on (64 packets each).
end-to-end: iperf3 UDP through the tunnel, strongSwan client -> gateway.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from lab.ikev2d import Ikev2d, Ikev2dKnobs, lab_config
from lab.netns import Namespace, Topology, run_prefix, stop_process
from lab.pki import LabPki
from lab.strongswan import Charon
from lab.swanctl_conf import ClientConfig, ResponderConfig, responder_swanctl_conf

REPO = Path(__file__).resolve().parent.parent
LOAD = REPO / "bench" / "esp_load.py"
INSIDE = "198.19.0.1"
WARMUP, WINDOW = 0.3, 1.0  # seconds of load before and while counting
RATE = 250_000.0  # ESP datagrams/s offered in the decrypt runs: above what either gateway takes

# per suite: (strongSwan proposal, FTD config esp_encryption, esp_hash)
SUITES = {
    "AES-256-CBC + HMAC-SHA-512/256": ("aes256-sha512", ["AES-256"], ["SHA-512"]),
    "AES-256-GCM-16": ("aes256gcm16", ["AES-GCM-256"], ["NULL"]),
}


@dataclass(frozen=True)
class Figure:
    pps: float
    size: int

    @property
    def mbps(self) -> float:
        return self.pps * self.size * 8 / 1e6


def _pin(pid: int, cpu: int) -> None:
    subprocess.run(["taskset", "-a", "-p", "-c", str(cpu), str(pid)], check=True, capture_output=True)


def _sink_delivered(ns: Namespace, addr: str = INSIDE, port: int = 9) -> int:
    """Datagrams that reached the sink socket (it never reads: all but the
    few queued ones are its drops), from /proc/net/udp."""
    local = f"{int.from_bytes(bytes(map(int, addr.split('.'))), 'little'):08X}:{port:04X}"
    for line in ns.run(["cat", "/proc/net/udp"]).stdout.splitlines()[1:]:
        f = line.split()
        if f[1] == local:
            queued = int(f[4].split(":")[1], 16) // 2048  # rx_queue bytes, ~truesize per datagram
            return int(f[-1]) + queued
    raise RuntimeError(f"no sink socket on {addr}:{port}")


def _rx_packets(ns: Namespace) -> int:
    return int(ns.run(["cat", "/sys/class/net/eth0/statistics/rx_packets"]).stdout)


def _load(ns: Namespace, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(ns.argv([sys.executable, str(LOAD), "--cpu", "1", *args]), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            start_new_session=True)


def _ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.wait(timeout=5)
        raise RuntimeError(f"load generator failed: {line}{proc.stderr.read() if proc.stderr else ''}")


class Gateway:
    """A gateway (ikev2d or strongSwan) and one connected strongSwan client."""

    def __init__(self, kind: str, suite: str, pki: LabPki, folder: Path, stack: ExitStack) -> None:
        self.kind, self.suite = kind, suite
        self.topo = stack.enter_context(Topology(run_prefix(f"b{os.getpid() % 1000}"), 1))
        self.gw, self.cl = self.topo.gateway, self.topo.clients[0]
        proposal, encryption, hashes = SUITES[suite]
        if kind == "ikev2d":
            def edit(cfg: dict) -> None:
                for p in cfg["objects"]["ikev2_ipsec_proposals"]:
                    p["esp_encryption"], p["esp_hash"] = encryption, hashes
            cfg = lab_config(pki, store=folder / "pki", knobs=Ikev2dKnobs(edit=edit, logging_level="errors"))
            server = Ikev2d(self.gw, folder / "ikev2d", cfg,
                            extra_args=["--dataplane", "userspace", "--crypto-workers", "0"])
            stack.callback(server.stop)
            server.start()
            assert server.proc is not None
            self.pid = server.proc.pid
        else:
            responder = Charon(self.gw, folder / "responder", ike_log_level=0)
            stack.callback(responder.stop)
            responder.start()
            self._load_responder(responder, pki, proposal)
            assert responder.proc is not None
            self.pid = responder.proc.pid
        self.client = Charon(self.cl, folder / "client", ike_log_level=0)
        stack.callback(self.client.stop)
        self.client.start()
        self.client.load(ClientConfig(local_addr=self.topo.client_addrs[0], ca_cert=pki.ca_cert,
                                      esp_proposals=proposal))
        result = self.client.initiate()
        if not result.ok:
            raise RuntimeError(f"{kind}: the client did not connect: {result.errmsg}\n{result.text()}")
        self.vip = self.client.list_sas()[0].local_vips[0]
        _pin(self.pid, 0)
        # Packets the gateway sends are received on CPU 1 (RPS), as by another
        # machine: the gateway's core pays for sending, not for the receiver.
        self.cl.run(["sh", "-c", "echo 2 > /sys/class/net/eth0/queues/rx-0/rps_cpus"])
        sink = _load(self.gw, "sink", INSIDE, "9")
        stack.callback(stop_process, sink)  # type: ignore[arg-type]
        _ready(sink)

    @staticmethod
    def _load_responder(charon: Charon, pki: LabPki, proposal: str) -> None:
        """strongSwan's responder as the lab runs it, with a 64-packet replay window like ikev2d's."""
        config = ResponderConfig(server_cert=pki.server_cert, server_key=pki.server_key, esp_proposals=proposal)
        text = responder_swanctl_conf(config)
        text = re.sub(r"(esp_proposals = \S+\n)", r"\1        replay_window = 64\n", text, count=1)
        for sub, src in (("x509", pki.server_cert), ("private", pki.server_key)):
            (charon.swanctl_dir / sub / src.name).write_bytes(src.read_bytes())
        (charon.swanctl_dir / "swanctl.conf").write_text(text)
        out = charon.swanctl("--load-all", "--noprompt")
        if "successfully loaded" not in out:
            raise RuntimeError(f"swanctl --load-all: {out}")

    def _client_paused(self) -> "_Paused":
        assert self.client.proc is not None
        return _Paused(self.client.proc.pid)

    def encrypt(self, size: int) -> Figure:
        with self._client_paused():
            load = _load(self.gw, "plain", INSIDE, self.vip, str(size), str(WARMUP + WINDOW + 0.5))
            time.sleep(WARMUP)
            a, t0 = _rx_packets(self.cl), time.monotonic()
            time.sleep(WINDOW)
            b, t1 = _rx_packets(self.cl), time.monotonic()
            load.wait(timeout=10)
        return Figure((b - a) / (t1 - t0), size)

    def decrypt(self, size: int, rate: float = RATE) -> Figure:
        count = int(rate * (WARMUP + WINDOW + 0.2))
        # While the client's datagrams are captured the gateway must not get them
        # (they would be replays later): the client's frames go to a MAC nobody has.
        real_mac = self.gw.run(["cat", "/sys/class/net/br0/address"]).stdout.strip()
        gw_addr = self.topo.gateway_addr
        self.cl.run(["ip", "neigh", "replace", gw_addr, "lladdr", "02:00:00:00:00:01", "dev", "eth0",
                     "nud", "permanent"])
        load = _load(self.cl, "replay", gw_addr, self.vip, INSIDE, str(size), str(count), str(rate))
        try:
            try:
                _ready(load)
            finally:
                self.cl.run(["ip", "neigh", "replace", gw_addr, "lladdr", real_mac, "dev", "eth0",
                             "nud", "permanent"])
            with self._client_paused():
                assert load.stdin is not None and load.stdout is not None
                a = _sink_delivered(self.gw)
                load.stdin.write("go\n")
                load.stdin.flush()
                sent, seconds = load.stdout.readline().split()  # the whole send, timed by the sender
                time.sleep(0.1)  # what is still queued at the gateway
                b = _sink_delivered(self.gw)
        finally:
            stop_process(load)  # type: ignore[arg-type]
        return Figure((b - a) / float(seconds), size)

    def iperf(self, size: int, seconds: float = 2.0) -> Figure:
        """iperf3 UDP client -> gateway, unlimited rate, `size`-byte inner
        packets; iperf3 and the client's charon on CPU 1, received rate."""
        assert self.client.proc is not None
        _pin(self.client.proc.pid, 1)
        server = subprocess.Popen(self.gw.argv(["taskset", "-c", "1", "iperf3", "-s", "-1", "-B", INSIDE]),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            self._wait_listening()
            run = self.cl.run(["taskset", "-c", "1", "iperf3", "-c", INSIDE, "-u", "-b", "0", "-l", str(size - 28),
                               "-t", str(seconds), "-J"], check=False, timeout=30)
        finally:
            stop_process(server)
        end = json.loads(run.stdout or "{}").get("end", {}).get("sum", {})
        received = end.get("packets", 0) - end.get("lost_packets", 0)
        return Figure(received / end.get("seconds", seconds), size)

    def _wait_listening(self) -> None:
        for _ in range(100):
            if ":5201" in self.gw.run(["ss", "-Htln"], check=False).stdout:
                return
            time.sleep(0.05)


class _Paused:
    """SIGSTOP a process we started for the duration, SIGCONT after."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __enter__(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def __exit__(self, *exc: object) -> None:
        os.kill(self.pid, signal.SIGCONT)
