"""In-process figures for bench_esp.py: the crypto-only ceiling and the
userspace back end's per-packet encrypt/decrypt paths, no I/O, one core.

Ceiling: cryptography's primitives alone doing the ESP work for one packet
of that size (AES-CBC over the padded payload + HMAC-SHA-512 over header,
IV and ciphertext; or one AES-GCM seal/open), with long-lived contexts
and no framing, sequence numbers, replay window or checks.
Paths: `OutboundSa.seal_staged` and `InboundSa.open_view` of esp.userspace,
as the data plane calls them (replay window on, every packet a new
sequence number). Timed in this thread's CPU time (per core-second).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from esp.spec import EspAlgorithms
from esp.userspace.lifetime import Lifetime, Limits
from esp.userspace.sa import STAGE_TAIL, InboundSa, OutboundSa
from esp.userspace.suites import STAGE_HEAD, make_opener, make_sealer
from ikev2d.iana import EncrId, IntegId

CBC = EspAlgorithms(EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_512_256, 32, 64, 32)
GCM = EspAlgorithms(EncrId.AES_GCM_16, 256, IntegId.NONE, 36, 0, 16)
SUITES = {"AES-256-CBC + HMAC-SHA-512/256": CBC, "AES-256-GCM-16": GCM}
SUITES_BY_SHORT = {"CBC+SHA512": CBC, "GCM": GCM}  # the names the tables and the load generator use


# CPU time of this thread (user + system, its system calls' kernel work
# included), not wall time: on a machine shared with other jobs the figures
# are then per core-second actually got, like the gateways' "per core" ones.
_clock = time.thread_time


@dataclass(frozen=True)
class Rate:
    pps: float
    size: int  # inner packet bytes

    @property
    def mbps(self) -> float:
        return self.pps * self.size * 8 / 1e6


def _inner(size: int) -> bytes:
    """An IPv4/UDP packet of `size` bytes from the inside to a client."""
    total = size.to_bytes(2, "big")
    header = bytes([0x45, 0]) + total + bytes(4) + bytes([64, 17, 0, 0]) + bytes([198, 19, 0, 1, 198, 19, 0, 200])
    return header + bytes(8) + os.urandom(size - 28)


def _rate(fn: Callable[[int], object], n: int, size: int, rounds: int = 5) -> Rate:
    """Median of `rounds` batches of n calls fn(i)."""
    samples = []
    for r in range(rounds):
        start = _clock()
        for i in range(r * n, (r + 1) * n):
            fn(i)
        samples.append(n / (_clock() - start))
    return Rate(sorted(samples)[rounds // 2], size)


def ceiling(alg: EspAlgorithms, size: int, n: int) -> tuple[Rate, Rate]:
    """(encrypt, decrypt) of the primitives alone."""
    if alg is GCM:
        aead, salt = AESGCM(os.urandom(32)), os.urandom(4)
        aad = bytes(8)
        plain = _inner(size) + bytes(((-(size + 2)) % 4) + 2)
        sealed = aead.encrypt(salt + bytes(8), plain, aad)
        enc = _rate(lambda i: aead.encrypt(salt + bytes(8), plain, aad), n, size)
        dec = _rate(lambda i: aead.decrypt(salt + bytes(8), sealed, aad), n, size)
        return enc, dec
    key, mac_key = os.urandom(32), os.urandom(64)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(os.urandom(16))).encryptor()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(os.urandom(16))).decryptor()
    keyed = hmac.HMAC(mac_key, hashes.SHA512())
    plain = bytes(16) + _inner(size) + bytes(((-(size + 2)) % 16) + 2)  # IV block + payload + trailer
    ct = bytes(8) + encryptor.update(plain)

    def encrypt(i: int) -> None:
        body = encryptor.update(plain)
        m = keyed.copy()
        m.update(body)
        m.finalize()

    def decrypt(i: int) -> None:
        m = keyed.copy()
        m.update(ct)
        m.finalize()
        decryptor.update(ct[8:])

    return _rate(encrypt, n, size), _rate(decrypt, n, size)


def paths(alg: EspAlgorithms, size: int, n: int) -> tuple[Rate, Rate]:
    """(encrypt, decrypt) through the back end's SA objects, as the data
    plane calls them: the inner packet read into a staging buffer and sealed
    from there, ESP opened into a view."""
    ek, ik = os.urandom(alg.encr_key_size), os.urandom(alg.integ_key_size)
    lifetime = Lifetime(1, Limits(), 0.0, lambda e: None)
    out = OutboundSa(1, make_sealer(alg, ek, ik), False, lifetime, None)
    inb = InboundSa(1, make_opener(alg, ek, ik), False, 64, lifetime, None)
    inner = _inner(size)
    stage = memoryview(bytearray(STAGE_HEAD + size + STAGE_TAIL))
    seal = out.seal_staged

    def encrypt(i: int) -> None:
        stage[STAGE_HEAD:STAGE_HEAD + size] = inner  # what readv from the TUN device does
        seal(stage, size)

    enc = _rate(encrypt, n, size)
    packets = [out.seal(inner) for _ in range(5 * n)]  # fresh sequence numbers for the decrypt run
    opened = inb.open_view
    dec = _rate(lambda i: opened(packets[i]), n, size)  # type: ignore[arg-type]
    assert inb.packets == 5 * n, "every packet must open"
    return enc, dec


# -- the data plane with its sockets: ESP in UDP vs plain ESP ------------------------

_GATEWAY, _CLIENT = "127.0.0.1", "127.0.0.2"  # the loopback: nothing leaves the machine
_BURST = 64  # packets queued before each timed drain (what one wake-up finds)


class _Tun:
    """A TUN stand-in: one end of a datagram socketpair (readv/write work on it)."""

    def __init__(self, name: str, mtu: int) -> None:
        import socket
        self.name, self.mtu, self.index = name, mtu, 1
        self._ours, self.kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._ours.setblocking(False)
        self.kernel.setblocking(False)
        self.fd = self._ours.fileno()

    def drain(self) -> None:
        while True:
            try:
                self.kernel.recv(65536)
            except BlockingIOError:
                return

    def close(self) -> None:
        self._ours.close()
        self.kernel.close()


class _NoRoutes:
    def replace(self, dst: object, oif: int) -> None:
        pass

    def delete(self, dst: object, oif: int) -> None:
        pass

    def close(self) -> None:
        pass


def socket_paths(alg: EspAlgorithms, size: int, n: int, plain: bool) -> tuple[Rate, Rate]:
    """(encrypt, decrypt) of the whole userspace data plane on the loopback
    (needs root for the raw socket): encrypt is the TUN reader (readv, seal,
    sendto on the UDP or the raw socket); decrypt is the receive drain (UDP:
    recvfrom and esp_received, as ikev2d's transport does; plain ESP: the raw
    socket's reader, which slices off the IP header) and the TUN write. Only
    the drains are timed, `_BURST` packets queued before each."""
    import asyncio
    import socket
    from dataclasses import replace
    from ipaddress import IPv4Network

    from esp.spec import ChildSaSpec
    from esp.userspace import UserspaceDataPlane
    from esp.userspace.dataplane import open_raw_esp

    async def run() -> tuple[Rate, Rate]:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((_GATEWAY, 0))
        udp.setblocking(False)
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        tuns: list[_Tun] = []

        def device(name: str, mtu: int) -> _Tun:
            tuns.append(_Tun(name, mtu))
            return tuns[-1]

        dp = UserspaceDataPlane(device=device, routes=_NoRoutes)  # type: ignore[arg-type]
        dp.attach(udp, lambda e: None)
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the client: never read, drops when full
        sink.bind((_CLIENT, 0))
        client_raw = open_raw_esp(_CLIENT)
        spec = ChildSaSpec(
            ike_sa_id="bench", spi_in=0x1001, spi_out=0x2001, algorithms=alg,
            encr_key_in=os.urandom(alg.encr_key_size), integ_key_in=os.urandom(alg.integ_key_size),
            encr_key_out=os.urandom(alg.encr_key_size), integ_key_out=os.urandom(alg.integ_key_size),
            local_address=_GATEWAY, remote_address=_CLIENT, encap_local_port=None, encap_remote_port=None,
            local_selectors=(IPv4Network("0.0.0.0/0"),), remote_selectors=(IPv4Network("198.19.0.200/32"),),
            lifetime_seconds=0, lifetime_kilobytes=0)
        if not plain:
            spec = replace(spec, encap_local_port=udp.getsockname()[1], encap_remote_port=sink.getsockname()[1])
        dp.install(spec)
        tun = tuns[0]
        lifetime = Lifetime(1, Limits(), 0.0, lambda e: None)
        client = OutboundSa(spec.spi_in, make_sealer(alg, spec.encr_key_in, spec.integ_key_in), False, lifetime,
                            None)
        to_client = _inner(size)
        from_client = bytearray(_inner(size))
        from_client[12:20] = bytes([198, 19, 0, 200, 198, 19, 0, 1])  # VIP -> inside
        try:
            busy = 0.0
            for _ in range(n // _BURST):
                for _ in range(_BURST):
                    tun.kernel.send(to_client)
                start = _clock()
                dp._tun_readable()
                busy += _clock() - start
            enc = Rate(n // _BURST * _BURST / busy, size)
            assert dp.send_errors == 0, "sends failed"

            sealed = [client.seal(bytes(from_client)) for _ in range(n // _BURST * _BURST)]
            recvfrom, esp_received, marker = udp.recvfrom, dp.esp_received, bytes(4)
            gw_raw = dp._raw[_GATEWAY]
            busy = 0.0
            for b in range(n // _BURST):
                for esp in sealed[b * _BURST:(b + 1) * _BURST]:
                    if plain:
                        client_raw.sendto(esp, (_GATEWAY, 0))  # type: ignore[arg-type]
                    else:
                        sink.sendto(esp, udp.getsockname())  # type: ignore[arg-type]
                start = _clock()
                if plain:
                    dp._raw_readable(gw_raw)
                else:
                    for _ in range(_BURST):  # ikev2d/udp.py's drain and transport's dispatch
                        data, remote = recvfrom(65535)
                        if data[:4] != marker and data != b"\xff":
                            esp_received(data, remote)
                busy += _clock() - start
                tun.drain()
            counted = dp.counters(spec.spi_in)
            assert counted is not None and counted.packets_in == len(sealed), (counted, "every packet must open")
            return enc, Rate(len(sealed) / busy, size)
        finally:
            dp.close()
            for s in (udp, sink, client_raw):
                s.close()

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(run())
    finally:
        loop.close()
