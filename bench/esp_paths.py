"""In-process figures for bench_esp.py: the crypto-only ceiling and the
userspace back end's per-packet encrypt/decrypt paths, no I/O, one core.

Ceiling: cryptography's primitives alone doing the ESP work for one packet
of that size (AES-CBC over the padded payload + HMAC-SHA-512 over header,
IV and ciphertext; or one AES-GCM seal/open), with long-lived contexts
and no framing, sequence numbers, replay window or checks.
Paths: `OutboundSa.seal_staged` and `InboundSa.open_view` of esp.userspace,
as the data plane calls them (replay window on, every packet a new
sequence number).
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
        start = time.perf_counter()
        for i in range(r * n, (r + 1) * n):
            fn(i)
        samples.append(n / (time.perf_counter() - start))
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
