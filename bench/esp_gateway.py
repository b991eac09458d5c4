"""Gateway figures for bench_esp.py: one ESP gateway under test in its own
lab namespaces, pinned to CPU 0, with a strongSwan client (kernel-libipsec)
connected from a client namespace; load generators, sinks and the bench on
CPU 1. The same harness runs against ikev2d (--dataplane userspace) and
against strongSwan's own responder with kernel-libipsec, with identical
traffic, so the figures compare like with like.

encrypt: plain IPv4/UDP of SIZE bytes, inside address -> the client's
  virtual IP, offered at RATE packets/s into the gateway's TUN device;
  counted: ESP datagrams received on the client's eth0.
decrypt: ESP-in-UDP from the client's address and port 4500, built with
  the client's own outbound SA (keys from the client's charon log at
  level 4) and fresh, increasing sequence numbers, offered at RATE;
  counted: inner packets the gateway writes into its TUN device.
Both count at the far side over WINDOW seconds after WARMUP, while the
offered load goes on, reading the counters from /proc/PID/net/dev of a
process in the namespace (no process started while counting). The client's
charon is stopped (SIGSTOP) during each run, so it costs no CPU. Each
gateway's port 4500 socket gets the same 4 MiB receive buffer (RCVBUF), and
the kernel work of taking in what a gateway sends stays on its core (RPS).
Each run also reports the share of its core the gateway's threads got and
how the core spent the window (idle, steal), so a run disturbed by other
jobs on the machine shows as such.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import socket
import threading
import subprocess
import sys
import time
from collections.abc import Callable
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
GATEWAY_CPU, LOAD_CPU = 0, 1
WARMUP, WINDOW = 0.3, 1.0  # seconds of load before and while counting
# Receive Packet Steering of what the gateway sends toward the far side. Off:
# the kernel work of taking in each packet the gateway sends (veth has no
# NIC to hand it to) runs on the gateway's core, as forwarding would on a
# real gateway; both gateways pay it alike. On: it moves to the load CPU,
# but in this VM each hand-off costs the gateway's core an IPI, which
# costs more than the work it moves.
RPS = False
# Receive buffer given to each gateway's port 4500 socket(s): with the 208 KiB
# default a burst of the load overflows the socket while the gateway's core
# then idles, which measures the load's burstiness, not the gateway.
RCVBUF = 4 << 20

# per suite: (strongSwan proposal, FTD config esp_encryption, esp_hash)
SUITES = {
    "CBC+SHA512": ("aes256-sha512", ["AES-256"], ["SHA-512"]),
    "GCM": ("aes256gcm16", ["AES-GCM-256"], ["NULL"]),
}


@dataclass(frozen=True)
class Figure:
    pps: float  # delivered at the far side
    offered: float  # what the load generator sent, packets/s
    size: int
    cpu: float  # cores' worth the gateway's threads ran during the window, over its CPUs' count (1.0: all of them)
    core: dict[str, float]  # how the gateway's cores spent the window (/proc/stat shares: idle, softirq, steal, ...)
    settle: float  # seconds the gateway kept working after the load stopped (what it had queued)
    check: float = 0.0  # encrypt: the same delivery counted by the client's UDP layer, packets/s (a cross-check)

    @property
    def mbps(self) -> float:
        return self.pps * self.size * 8 / 1e6


def _pin(pid: int, cpus: int | set[int]) -> None:
    which = ",".join(map(str, sorted(cpus))) if isinstance(cpus, set) else str(cpus)
    subprocess.run(["taskset", "-a", "-p", "-c", which, str(pid)], check=True, capture_output=True)


def _dev_counters(pid: int, dev: str) -> tuple[int, int, int]:
    """(rx_packets, tx_packets, rx_bytes) of `dev` in the network namespace of `pid`."""
    with open(f"/proc/{pid}/net/dev") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name.strip() == dev:
                fields = rest.split()
                return int(fields[1]), int(fields[9]), int(fields[0])
    raise RuntimeError(f"no device {dev} in the namespace of process {pid}")


# Ethernet + IPv4 + UDP headers of one frame on the client's veth (its rx_bytes count them).
FRAME_HEADERS = 14 + 20 + 8


def esp_length(suite: str, size: int) -> int:
    """Bytes of the ESP packet carrying a `size`-byte inner packet (RFC 4303 padding to the block)."""
    if suite == "GCM":
        return 8 + 8 + (size + 2 + 3) // 4 * 4 + 16
    return 8 + 16 + (size + 2 + 15) // 16 * 16 + 32


def _udp_arrived(pid: int) -> int:
    """UDP datagrams the kernel of `pid`'s namespace took in (read, or dropped
    at a full socket: the stopped client's), each GSO segment apart."""
    with open(f"/proc/{pid}/net/snmp") as f:
        names, values = [line.split() for line in f if line.startswith("Udp:")]
    udp = dict(zip(names[1:], map(int, values[1:])))
    return udp["InDatagrams"] + udp["InErrors"]


def _esp_datagrams(pid: int, dev: str, esp: int) -> int:
    """ESP datagrams received on `dev` so far, counted by bytes: a UDP GSO
    batch crosses the veth as one frame (the far side's socket cuts it), so
    frames undercount; each frame carries one set of headers and whole ESP
    packets, hence (bytes - frames * headers) / ESP length. Without GSO it
    equals the frame count."""
    frames, _, nbytes = _dev_counters(pid, dev)
    return (nbytes - frames * FRAME_HEADERS) // esp


_libc = ctypes.CDLL(None, use_errno=True)
SYS_PIDFD_OPEN, SYS_PIDFD_GETFD = 434, 438
SO_RCVBUFFORCE = 33


def on_udp_sockets(pid: int, port: int, action: Callable[[socket.socket], None]) -> int:
    """`action` on every UDP socket of process `pid` bound to `port`, through
    a copy of its descriptor (pidfd_getfd(2)), the same way for either
    gateway. Returns how many sockets."""
    inodes = set()
    with open(f"/proc/{pid}/net/udp") as f:
        for line in list(f)[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port:
                inodes.add(fields[9])
    pidfd = _libc.syscall(SYS_PIDFD_OPEN, pid, 0)
    if pidfd < 0:
        raise OSError(ctypes.get_errno(), "pidfd_open")
    done = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except FileNotFoundError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                ours = _libc.syscall(SYS_PIDFD_GETFD, pidfd, int(fd), 0)
                if ours < 0:
                    raise OSError(ctypes.get_errno(), "pidfd_getfd")
                with socket.socket(fileno=ours) as sock:
                    action(sock)
                done += 1
    finally:
        os.close(pidfd)
    if not done:
        raise RuntimeError(f"no UDP socket on port {port} in process {pid}")
    return done


def _grow_receive_buffers(pid: int, port: int, size: int) -> int:
    """SO_RCVBUF of every UDP socket of process `pid` bound to `port`."""
    return on_udp_sockets(pid, port, lambda sock: sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size))


def _cpu_seconds(pid: int) -> float:
    """CPU time of all threads of `pid` so far (schedstat: nanoseconds on a
    CPU, including softirq work done in their system calls)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:  # a thread that just ended
            pass
    return total / 1e9


_STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def _core_times(cpus: set[int]) -> list[int]:
    """/proc/stat times of `cpus`, summed field by field."""
    total = [0] * len(_STAT_FIELDS)
    found = 0
    with open("/proc/stat") as f:
        for line in f:
            name = line.split(" ", 1)[0]
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                found += 1
                total = [a + int(x) for a, x in zip(total, line.split()[1:1 + len(_STAT_FIELDS)])]
    if found != len(cpus):
        raise RuntimeError(f"not every cpu of {cpus} in /proc/stat")
    return total


def _load(ns: Namespace, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(ns.argv([sys.executable, str(LOAD), "--cpu", str(LOAD_CPU), *args]),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, start_new_session=True)


def _ready(proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.wait(timeout=timeout)
        raise RuntimeError(f"load generator failed: {line}{proc.stderr.read() if proc.stderr else ''}")


def _hex_after(log: str, label: str) -> bytes:
    """The last chunk charon logged as "LABEL => N bytes @ ..." followed by
    hex dump lines ("   0: 01 02 ...")."""
    starts = [m for m in re.finditer(rf"{re.escape(label)} => (\d+) bytes", log)]
    if not starts:
        raise RuntimeError(f"charon did not log {label!r} (chd log level 4)")
    m = starts[-1]
    size = int(m.group(1))
    out = bytearray()
    for line in log[m.end():].splitlines()[1:]:
        dump = re.search(r"\s(\d+): ((?:[0-9A-F]{2} ?){1,16})", line)
        if dump is None or len(out) >= size:
            break
        out += bytes.fromhex(dump.group(2).replace(" ", ""))
    if len(out) != size:
        raise RuntimeError(f"{label}: parsed {len(out)} of {size} bytes")
    return bytes(out)


class Gateway:
    """A gateway (ikev2d or strongSwan) and one connected strongSwan client."""

    def __init__(self, kind: str, suite: str, pki: LabPki, folder: Path, stack: ExitStack) -> None:
        self.kind, self.suite = kind, suite
        self.during_window: Callable[[int, float], None] | None = None
        self.topo = stack.enter_context(Topology(run_prefix(f"b{kind[0]}"), 1))
        self.gw, self.cl = self.topo.gateway, self.topo.clients[0]
        proposal, encryption, hashes = SUITES[suite]
        if kind == "ikev2d":
            def edit(cfg: dict) -> None:
                for p in cfg["objects"]["ikev2_ipsec_proposals"]:
                    p["esp_encryption"], p["esp_hash"] = encryption, hashes
                    p["lifetime_kilobytes"] = 2**31 - 1  # a long bench must not outlive the SA (4.6 GB by default)
            cfg = lab_config(pki, store=folder / "pki", knobs=Ikev2dKnobs(edit=edit, logging_level="errors"))
            server = Ikev2d(self.gw, folder / "ikev2d", cfg,
                            extra_args=["--dataplane", "userspace", "--crypto-workers", "0"])
            stack.callback(server.stop)
            server.start()
            assert server.proc is not None
            self.pid = server.proc.pid
            self.tun = "ikev2d0"
        else:
            responder = Charon(self.gw, folder / "responder", ike_log_level=0)
            stack.callback(responder.stop)
            responder.start()
            self._load_responder(responder, pki, proposal)
            assert responder.proc is not None
            self.pid = responder.proc.pid
            self.tun = "ipsec0"
        self.client = Charon(self.cl, folder / "client", ike_log_level=0)
        stack.callback(self.client.stop)
        self.client.start()
        self._log_child_keys()
        self.client.load(ClientConfig(local_addr=self.topo.client_addrs[0], ca_cert=pki.ca_cert,
                                      esp_proposals=proposal))
        result = self.client.initiate()
        if not result.ok:
            raise RuntimeError(f"{kind}: the client did not connect: {result.errmsg}\n{result.text()}")
        ike = self.client.list_sas()[0]
        self.vip = ike.local_vips[0]
        self.spi = int(ike.children[0].spi_out, 16)  # the gateway's inbound SPI
        log = self.client.log()
        self.encr_key = _hex_after(log, "encryption initiator key")  # the client initiated: its keys are _i
        self.integ_key = _hex_after(log, "integrity initiator key") if suite != "GCM" else b""
        self.next_seq = 1 << 20  # far above what the client itself sends; each run takes fresh numbers
        assert self.client.proc is not None
        self.client_pid = self.client.proc.pid
        _grow_receive_buffers(self.pid, 4500, RCVBUF)
        self.cpus = {GATEWAY_CPU}
        _pin(self.pid, GATEWAY_CPU)
        _pin(self.client_pid, LOAD_CPU)
        if RPS:  # hand the far side's receive work to the load CPU (costs an IPI per burst)
            mask = str(1 << LOAD_CPU)
            self.cl.run(["sh", "-c", f"echo {mask} > /sys/class/net/eth0/queues/rx-0/rps_cpus"])
            self.gw.run(["sh", "-c", f"echo {mask} > /sys/class/net/{self.tun}/queues/rx-0/rps_cpus"])
        for ns, addr in ((self.gw, INSIDE), (self.cl, "0.0.0.0")):  # no ICMP port unreachable on either side
            sink = _load(ns, "sink", addr, "9")
            stack.callback(stop_process, sink)  # type: ignore[arg-type]
            _ready(sink)

    def _log_child_keys(self) -> None:
        """Level 4 of charon's CHD group logs the Child SA keys: the load
        generator needs the client's outbound ones to send fresh ESP."""
        conf = self.client.conf_path
        conf.write_text(conf.read_text().replace("      ike = 0\n", "      ike = 0\n      chd = 4\n", 1))
        out = self.client.swanctl("--reload-settings")
        if "failed" in out:
            raise RuntimeError(f"swanctl --reload-settings: {out}")

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

    def use_cpus(self, cpus: set[int]) -> None:
        """Pin the gateway (every thread) to `cpus`; its core share and the
        core's idle/steal are then over those CPUs. With CPU 1 among them it
        shares that core with the load generator and sinks."""
        if cpus != self.cpus:
            _pin(self.pid, cpus)
            self.cpus = set(cpus)

    def alive(self) -> bool:
        """The gateway still runs and the client still has its SA."""
        try:
            return bool(self.client.list_sas()) and Path(f"/proc/{self.pid}").exists()
        except Exception:
            return False

    def _run(self, load: subprocess.Popen[str], count: Callable[[], int], size: int,
             check: Callable[[], int] = lambda: 0) -> Figure:
        assert load.stdin is not None and load.stdout is not None
        try:
            _ready(load)
            with _Paused(self.client_pid):
                load.stdin.write("go\n")
                load.stdin.flush()
                time.sleep(WARMUP)
                a, t0, c0, k0 = count(), time.monotonic(), _cpu_seconds(self.pid), _core_times(self.cpus)
                x0 = check()
                if self.during_window is not None:  # e.g. a profiler attached for the window
                    threading.Thread(target=self.during_window, args=(self.pid, WINDOW), daemon=True).start()
                time.sleep(WINDOW)
                b, t1, c1, k1 = count(), time.monotonic(), _cpu_seconds(self.pid), _core_times(self.cpus)
                x1 = check()
                sent, seconds = load.stdout.readline().split()
        finally:
            stop_process(load)  # type: ignore[arg-type]
        settle = self._settle()
        ticks = sum(k1) - sum(k0) or 1
        core = {name: (y - x) / ticks for name, x, y in zip(_STAT_FIELDS, k0, k1)}
        return Figure((b - a) / (t1 - t0), int(sent) / float(seconds), size, (c1 - c0) / (t1 - t0) / len(self.cpus),
                      core, settle, (x1 - x0) / (t1 - t0))

    def _settle(self, timeout: float = 60.0) -> float:
        """Wait until the gateway's threads idle (< 5 % of a core over 0.2 s):
        a gateway that queued more than it could send works that off after
        the load stops, and would take the core from the next run."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            c0 = _cpu_seconds(self.pid)
            time.sleep(0.2)
            if _cpu_seconds(self.pid) - c0 < 0.01:
                break
        return time.monotonic() - start - 0.2

    def encrypt(self, size: int, rate: float) -> Figure:
        load = _load(self.gw, "plain", INSIDE, self.vip, str(size), str(rate), str(WARMUP + WINDOW + 0.2))
        esp = esp_length(self.suite, size)
        return self._run(load, lambda: _esp_datagrams(self.client_pid, "eth0", esp), size,
                         lambda: _udp_arrived(self.client_pid))

    def decrypt(self, size: int, rate: float) -> Figure:
        if rate <= 0:
            raise ValueError("decrypt runs need an offered rate: it sets how many sequence numbers a run uses")
        seconds = WARMUP + WINDOW + 0.2
        load = _load(self.cl, "esp", self.topo.client_addrs[0], self.topo.gateway_addr, self.vip, INSIDE,
                     str(size), str(rate), str(seconds))
        assert load.stdin is not None
        sa = {"spi": self.spi, "seq": self.next_seq, "suite": self.suite, "encr_key": self.encr_key.hex(),
              "integ_key": self.integ_key.hex()}
        self.next_seq += int(rate * seconds) + 1
        load.stdin.write(json.dumps(sa) + "\n")
        load.stdin.flush()
        return self._run(load, lambda: _dev_counters(self.pid, self.tun)[0], size)


class _Paused:
    """SIGSTOP a process we started for the duration, SIGCONT after."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __enter__(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def __exit__(self, *exc: object) -> None:
        os.kill(self.pid, signal.SIGCONT)
