"""tcpdump in a lab namespace, and a summary of the IKE packets it saw.

The summary reads only the fixed IKE header (RFC 7296 §3.1): on UDP 4500 it
skips the four-byte non-ESP marker (RFC 3948 §2.2) and ignores ESP.  An SKF
message (RFC 7383 §2.5) is one whose first payload is type 53; its fragment
number and total are the first four bytes after the generic payload header.
"""

from __future__ import annotations

import struct
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from lab.netns import Namespace
from lab.process import Daemon, NotReady, read_log, spawn, wait_ready

IKE_PORTS = (500, 4500)
SK = 46
SKF = 53
EXCHANGES = {34: "IKE_SA_INIT", 35: "IKE_AUTH", 36: "CREATE_CHILD_SA", 37: "INFORMATIONAL"}


@dataclass(frozen=True)
class IkePacket:
    src: str
    sport: int
    dst: str
    dport: int
    exchange: str
    msg_id: int
    response: bool
    first_payload: int
    fragment: tuple[int, int] | None  # (number, total) for SKF
    ip_len: int = 0  # the whole IP datagram, what fragment_size limits


def parse_ike(src: str, sport: int, dst: str, dport: int, payload: bytes, ip_len: int = 0) -> IkePacket | None:
    """The IKE header of one UDP payload, or None (ESP, keepalive, junk)."""
    if 4500 in (sport, dport):
        if len(payload) < 4 or payload[:4] != b"\x00\x00\x00\x00":
            return None  # ESP in UDP or a NAT keepalive (one 0xff byte)
        payload = payload[4:]
    if len(payload) < 28:
        return None
    first, version, exch, flags, msg_id, _length = struct.unpack("!BBBBII", payload[16:28])
    if version >> 4 != 2:
        return None
    fragment = None
    if first == SKF and len(payload) >= 36:
        number, total = struct.unpack("!HH", payload[32:36])
        fragment = (number, total)
    return IkePacket(
        src=src,
        sport=sport,
        dst=dst,
        dport=dport,
        exchange=EXCHANGES.get(exch, str(exch)),
        msg_id=msg_id,
        response=bool(flags & 0x20),
        first_payload=first,
        fragment=fragment,
        ip_len=ip_len,
    )


def read_ike_packets(pcap: Path) -> list[IkePacket]:
    from scapy.layers.inet import IP, UDP
    from scapy.utils import rdpcap

    out: list[IkePacket] = []
    for pkt in rdpcap(str(pcap)):
        if IP not in pkt or UDP not in pkt:
            continue
        udp = pkt[UDP]
        if udp.sport not in IKE_PORTS and udp.dport not in IKE_PORTS:
            continue
        parsed = parse_ike(pkt[IP].src, udp.sport, pkt[IP].dst, udp.dport, bytes(udp.payload), int(pkt[IP].len))
        if parsed is not None:
            out.append(parsed)
    return out


@dataclass(frozen=True)
class IkeSummary:
    packets: list[IkePacket]

    def fragments(self, exchange: str = "IKE_AUTH", response: bool = True, msg_id: int | None = None) -> list[IkePacket]:
        return [
            p
            for p in self.packets
            if p.fragment is not None
            and p.exchange == exchange
            and p.response == response
            and (msg_id is None or p.msg_id == msg_id)
        ]

    def ports(self) -> Counter[tuple[int, int]]:
        return Counter((p.sport, p.dport) for p in self.packets)


class Capture(Daemon):
    """tcpdump -i IFACE in `ns`, writing `pcap`; stop() returns the summary."""

    def __init__(self, ns: Namespace, pcap: Path, iface: str = "br0", bpf: str = "udp") -> None:
        self.ns = ns
        self.pcap = pcap
        self.iface = iface
        self.bpf = bpf
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr_path = pcap.with_suffix(".tcpdump.txt")

    def start(self, timeout: float = 5.0, settle: float = 1.0) -> "Capture":
        self.pcap.parent.mkdir(parents=True, exist_ok=True)
        self.proc = spawn(
            self.ns.argv(["tcpdump", "-i", self.iface, "-n", "-U", "--immediate-mode", "-Z", "root", "-s", "0", "-w", str(self.pcap), self.bpf]),
            self.stderr_path, stdout=False)
        try:
            wait_ready(self.proc, lambda: b"listening on" in self.stderr_path.read_bytes(), timeout,
                       waiting_for="did not start listening", interval=0.05)
        except NotReady as exc:
            self._stop_process()  # not stop(): a pcap cut short may not parse
            raise RuntimeError(f"tcpdump {exc}: {read_log(self.stderr_path)}") from None
        time.sleep(settle)  # it still misses the first packets right after that line
        return self

    def stop(self) -> IkeSummary:
        self._stop_process()
        if not self.pcap.exists():
            return IkeSummary([])
        return IkeSummary(read_ike_packets(self.pcap))

    def __enter__(self) -> "Capture":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.stop()
