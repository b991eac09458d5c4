"""Stateless cookies against IKE_SA_INIT floods (RFC 7296 §2.6).

Cookie = <secret version> | SHA-256(Ni | IPi | SPIi | <secret>); the secret
changes every few minutes and the previous one stays valid for a while, so a
client that got a cookie just before a change still gets in.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import Callable

SECRET_LIFETIME = 300.0


class CookieJar:
    def __init__(self, random: Callable[[int], bytes]) -> None:
        self._random = random
        self._version = 0
        self._secret = random(32)
        self._previous: bytes | None = None
        self._rotated_at: float | None = None

    def _rotate(self, now: float) -> None:
        if self._rotated_at is None:
            self._rotated_at = now
        elif now - self._rotated_at >= SECRET_LIFETIME:
            self._previous, self._secret = self._secret, self._random(32)
            self._version = (self._version + 1) % 2**32
            self._rotated_at = now

    @staticmethod
    def _digest(secret: bytes, nonce_i: bytes, address: str, spi_i: bytes) -> bytes:
        return hashlib.sha256(nonce_i + ipaddress.ip_address(address).packed + spi_i + secret).digest()

    def make(self, nonce_i: bytes, address: str, spi_i: bytes, now: float) -> bytes:
        self._rotate(now)
        return self._version.to_bytes(4, "big") + self._digest(self._secret, nonce_i, address, spi_i)

    def valid(self, cookie: bytes, nonce_i: bytes, address: str, spi_i: bytes, now: float) -> bool:
        self._rotate(now)
        if len(cookie) != 36:
            return False
        version = int.from_bytes(cookie[:4], "big")
        if version == self._version:
            secret = self._secret
        elif self._previous is not None and version == (self._version - 1) % 2**32:
            secret = self._previous
        else:
            return False
        return hmac.compare_digest(cookie[4:], self._digest(secret, nonce_i, address, spi_i))
