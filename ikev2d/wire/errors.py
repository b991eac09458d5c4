"""What the decoder raises. Each error maps to what the peer may see
(RFC 7296 §2.21): the caller chooses between a notify and a silent drop."""

from __future__ import annotations


class WireError(Exception):
    """Base class: the only exception type the decoder lets escape."""


class InvalidSyntax(WireError):
    """Malformed bytes -> INVALID_SYNTAX, or a silent drop before
    authentication (RFC 7296 §2.21.1)."""


class UnsupportedCriticalPayload(WireError):
    """An unknown payload with the critical bit set (RFC 7296 §2.5, §3.2)
    -> UNSUPPORTED_CRITICAL_PAYLOAD carrying the one-octet payload type."""

    def __init__(self, payload_type: int) -> None:
        super().__init__(f"unsupported critical payload type {payload_type}")
        self.payload_type = payload_type


class InvalidMajorVersion(WireError):
    """The header's major version is not 2 (RFC 7296 §2.5).

    Carries what an INVALID_MAJOR_VERSION reply needs (the SPIs, exchange and
    message ID), since the caller never gets a Header for this datagram.
    IKEv1 (major 1) should simply be dropped by the caller.
    """

    def __init__(
        self,
        major: int,
        *,
        spi_i: bytes = b"",
        spi_r: bytes = b"",
        exchange: int = 0,
        message_id: int = 0,
    ) -> None:
        super().__init__(f"unsupported IKE major version {major}")
        self.major = major
        self.spi_i = spi_i
        self.spi_r = spi_r
        self.exchange = exchange
        self.message_id = message_id
