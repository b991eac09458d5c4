"""Wireshark's decryption tables for the SAs ikev2d makes: the explicit key
export (`run --keylog DIR`, `logging.wireshark_keys`, `ikev2d keys`).

Two files in the formats of Wireshark's user access tables, which it reads
from its configuration folder: `ikev2_decryption_table` (IKE SA keys, by
SPI pair) and `esp_sa` (one row per ESP direction, by addresses and SPI).
Rows are only appended: a capture taken while SAs came, rekeyed and went
needs every key it ever saw. Lines starting with `#` are comments to
Wireshark; they say which session a row belongs to, never a key.

This is the only place secrets leave the process.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from esp.spec import ChildSaSpec

from .crypto.keymat import IkeKeys
from .iana import EncrId, IntegId

log = logging.getLogger("ikev2d")

IKE_TABLE = "ikev2_decryption_table"
ESP_TABLE = "esp_sa"

# Wireshark's names (epan/dissectors/packet-isakmp.c, packet-ipsec.c); what
# Wireshark cannot decrypt has no name, and its row becomes a comment
_IKE_ENCR: dict[tuple[int, int], str] = {
    (EncrId.TRIPLE_DES, 192): "3DES [RFC2451]",
    (EncrId.NULL, 0): "NULL [RFC2410]",
    **{(EncrId.AES_CBC, bits): f"AES-CBC-{bits} [RFC3602]" for bits in (128, 192, 256)},
    **{(EncrId.AES_CTR, bits): f"AES-CTR-{bits} [RFC5930]" for bits in (128, 192, 256)},
    **{(cipher, bits): f"AES-GCM-{bits} with {icv} octet ICV [RFC5282]"
       for cipher, icv in ((EncrId.AES_GCM_8, 8), (EncrId.AES_GCM_12, 12), (EncrId.AES_GCM_16, 16))
       for bits in (128, 192, 256)},
}
_IKE_INTEG: dict[int, str] = {
    IntegId.NONE: "NONE [RFC4306]",
    IntegId.HMAC_MD5_96: "HMAC_MD5_96 [RFC2403]",
    IntegId.HMAC_SHA1_96: "HMAC_SHA1_96 [RFC2404]",
    IntegId.HMAC_SHA2_256_128: "HMAC_SHA2_256_128 [RFC4868]",
    IntegId.HMAC_SHA2_384_192: "HMAC_SHA2_384_192 [RFC4868]",
    IntegId.HMAC_SHA2_512_256: "HMAC_SHA2_512_256 [RFC4868]",
}
_ESP_ENCR: dict[int, str] = {
    EncrId.NULL: "NULL",
    EncrId.DES: "DES-CBC [RFC2405]",
    EncrId.TRIPLE_DES: "TripleDES-CBC [RFC2451]",
    EncrId.AES_CBC: "AES-CBC [RFC3602]",
    EncrId.AES_CTR: "AES-CTR [RFC3686]",
    EncrId.AES_GCM_8: "AES-GCM with 8 octet ICV [RFC4106]",
    EncrId.AES_GCM_12: "AES-GCM with 12 octet ICV [RFC4106]",
    EncrId.AES_GCM_16: "AES-GCM with 16 octet ICV [RFC4106]",
}
_ESP_INTEG: dict[int, str] = {
    IntegId.NONE: "NULL",
    IntegId.HMAC_MD5_96: "HMAC-MD5-96 [RFC2403]",
    IntegId.HMAC_SHA1_96: "HMAC-SHA-1-96 [RFC2404]",
    IntegId.HMAC_SHA2_256_128: "HMAC-SHA-256-128 [RFC4868]",
    IntegId.HMAC_SHA2_384_192: "HMAC-SHA-384-192 [RFC4868]",
    IntegId.HMAC_SHA2_512_256: "HMAC-SHA-512-256 [RFC4868]",
}


@dataclass(frozen=True, repr=False)
class IkeSaKeys:
    """One IKE SA's keys as Wireshark wants them: by the SPI pair of the
    SA's original initiator and responder (RFC 7296 §2.18 after a rekey)."""

    spi_i: bytes
    spi_r: bytes
    encr_id: int
    encr_bits: int
    integ_id: int
    keys: IkeKeys
    name: str  # the SA's name in logs, for the comment line

    def __repr__(self) -> str:
        return f"IkeSaKeys({self.name})"


def ike_rows(sa: IkeSaKeys) -> list[str]:
    """The `ikev2_decryption_table` line for one IKE SA, after a comment."""
    comment = f"# IKE SA {sa.name}"
    encr = _IKE_ENCR.get((sa.encr_id, sa.encr_bits))
    integ = _IKE_INTEG.get(sa.integ_id)
    if encr is None or integ is None:
        return [f"{comment}: Wireshark cannot decrypt {_name(EncrId, sa.encr_id)}-{sa.encr_bits}"
                f"/{_name(IntegId, sa.integ_id)}"]
    k = sa.keys
    return [comment, ",".join((sa.spi_i.hex(), sa.spi_r.hex(), k.sk_ei.hex(), k.sk_er.hex(), _quoted(encr),
                               k.sk_ai.hex(), k.sk_ar.hex(), _quoted(integ)))]


def esp_rows(spec: ChildSaSpec) -> list[str]:
    """The two `esp_sa` lines of a Child SA pair (inbound, outbound), after
    a comment naming the session."""
    a = spec.algorithms
    comment = (f"# Child SA of {spec.ike_sa_id} ({spec.username or 'no user'}): "
               f"in 0x{spec.spi_in:08x}, out 0x{spec.spi_out:08x}")
    encr = _ESP_ENCR.get(a.encr_id)
    # with AES-GCM the cipher names the ICV and checks it; authentication is NULL
    integ = _ESP_INTEG.get(a.integ_id)
    if encr is None or integ is None:
        return [f"{comment}: Wireshark cannot decrypt {_name(EncrId, a.encr_id)}/{_name(IntegId, a.integ_id)}"]
    family = "IPv6" if ":" in spec.local_address else "IPv4"

    def row(src: str, dst: str, spi: int, encr_key: bytes, integ_key: bytes) -> str:
        return ",".join(_quoted(f) for f in (family, src, dst, f"0x{spi:08x}", encr, f"0x{encr_key.hex()}",
                                             integ, f"0x{integ_key.hex()}"))

    return [comment,
            row(spec.remote_address, spec.local_address, spec.spi_in, spec.encr_key_in, spec.integ_key_in),
            row(spec.local_address, spec.remote_address, spec.spi_out, spec.encr_key_out, spec.integ_key_out)]


class KeyLog:
    """Appends rows to the two tables in `directory` (created 0700, the
    files 0600: they hold every session's keys)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._failed = False

    def ike_sa(self, sa: IkeSaKeys) -> None:
        self._append(IKE_TABLE, ike_rows(sa))

    def child_sa(self, spec: ChildSaSpec) -> None:
        self._append(ESP_TABLE, esp_rows(spec))

    def _append(self, table: str, lines: list[str]) -> None:
        path = self.directory / table
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="ascii") as f:
                f.write("".join(line + "\n" for line in lines))
        except OSError as exc:
            # a lab aid: the headend goes on; said once, not per SA
            if not self._failed:
                log.error("cannot write Wireshark keys to %s: %s", path, exc.strerror or exc)
            self._failed = True
        else:
            self._failed = False


def _quoted(field: str) -> str:
    return f'"{field}"'


def _name(enum: type[EncrId] | type[IntegId], value: int) -> str:
    try:
        return enum(value).name
    except ValueError:
        return str(value)
