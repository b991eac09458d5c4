"""A PEAPv0 + EAP-MSCHAPv2 client for the lab initiator, as Microsoft's
PEAPv0 does it (draft-josefsson-pppext-eap-tls-eap-10 and Microsoft's
[MS-PEAP]): Debian 12's strongSwan has no eap-peap plugin, so this is how
the lab shows that ikev2d relays PEAP to a RADIUS server.

Outer layer (RFC 5216 §3 framing, EAP type 25): a Flags octet L (length
included) / M (more fragments) / S (start) with the PEAP version in its low
three bits, then TLS records. The TLS 1.2 client is Python's `ssl` over
`ssl.MemoryBIO`; the server's fragmented records are reassembled (each
fragment acknowledged with an empty Response), ours fragmented if longer
than `fragment_size`.

Phase 2 inside the tunnel, PEAPv0 style: inner EAP packets travel without
their 4-octet header (Identity, MS-CHAPv2), except the EAP-TLV Result
(type 33), which keeps its full header.

MSK (RFC 5216 §2.3, which PEAPv0 without cryptobinding uses too): the first
64 octets of TLS-PRF(master_secret, "client EAP encryption",
client_random || server_random). `ssl` does not expose the master secret,
so it comes from the NSS key log (`SSLContext.keylog_filename`), the
server random from the ServerHello we received.
"""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes, hmac

from ikev2d.eap.mschapv2_crypto import generate_authenticator_response, generate_nt_response, nt_password_hash
from ikev2d.eap.packet import EapPacket
from ikev2d.iana import EapCode

PEAP = 25
TLV = 33  # EAP-TLV (Microsoft's "Extensions" type), with its full header in the tunnel
IDENTITY = 1
MSCHAPV2 = 26
FLAG_L, FLAG_M, FLAG_S = 0x80, 0x40, 0x20
VERSION_MASK = 0x07
TLV_RESULT = 3  # Result TLV (mandatory bit 0x8000 set on the wire)
RESULT_SUCCESS, RESULT_FAILURE = 1, 2
MSK_LABEL = b"client EAP encryption"
# TLS 1.2 suites whose PRF is P_SHA256 (the MSK below assumes it)
SHA256_SUITES = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                 "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256")


class PeapError(Exception):
    """The server broke the PEAP protocol, or the TLS handshake failed."""


def tls12_prf(secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """RFC 5246 §5: PRF(secret, label, seed) = P_SHA256(secret, label + seed)."""
    def mac(data: bytes) -> bytes:
        h = hmac.HMAC(secret, hashes.SHA256())
        h.update(data)
        return h.finalize()

    seed = label + seed
    out, a = b"", seed
    while len(out) < length:
        a = mac(a)
        out += mac(a + seed)
    return out[:length]


def peap_msk(master_secret: bytes, client_random: bytes, server_random: bytes) -> bytes:
    return tls12_prf(master_secret, MSK_LABEL, client_random + server_random, 128)[:64]


def server_random(records: bytes) -> bytes | None:
    """The random of the ServerHello in the server's first flight: the
    first handshake record's first message, which must be a ServerHello."""
    if len(records) < 5 + 4 + 2 + 32 or records[0] != 22:  # record type handshake
        return None
    body = records[5:]
    if body[0] != 2:  # handshake type server_hello
        return None
    return body[4 + 2:4 + 2 + 32]


def client_random_and_master(keylog: str) -> tuple[bytes, bytes] | None:
    """The NSS key log's `CLIENT_RANDOM <client random> <master secret>` line."""
    for line in keylog.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "CLIENT_RANDOM":
            return bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
    return None


def fragments(data: bytes, size: int) -> list[bytes]:
    """PEAP Type-Data for `data` (TLS records): one fragment, or L on the
    first (with the total length) and M on all but the last."""
    if len(data) <= size:
        return [bytes([0]) + data]
    pieces = [data[i:i + size] for i in range(0, len(data), size)]
    out = [bytes([FLAG_L | FLAG_M]) + len(data).to_bytes(4, "big") + pieces[0]]
    out += [bytes([FLAG_M]) + p for p in pieces[1:-1]]
    out.append(bytes([0]) + pieces[-1])
    return out


class Reassembly:
    """The server's fragments of one TLS message: `add` returns the whole
    once its last fragment (no M flag) is in, else None (acknowledge)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.expected: int | None = None

    def add(self, type_data: bytes) -> bytes | None:
        flags, rest = type_data[0], type_data[1:]
        if flags & FLAG_L:
            if len(rest) < 4:
                raise PeapError("PEAP L flag without a length")
            length, rest = int.from_bytes(rest[:4], "big"), rest[4:]
            if self.expected is None:
                self.expected = length
        self.parts.append(rest)
        if flags & FLAG_M:
            return None
        whole = b"".join(self.parts)
        if self.expected is not None and len(whole) != self.expected:
            raise PeapError(f"PEAP message of {len(whole)} octets, announced {self.expected}")
        self.parts, self.expected = [], None
        return whole


class PeapClient:
    """One PEAPv0 conversation: `respond(request)` gives the Response to
    each EAP-Request/PEAP; `msk` is set once the inner method succeeded."""

    def __init__(self, username: str, password: str, ca_file: Path | None = None,
                 fragment_size: int = 1000, random: Callable[[int], bytes] = os.urandom) -> None:
        self.username = username
        self.password = password
        self.fragment_size = fragment_size
        self.random = random
        self._dir = tempfile.mkdtemp(prefix="peap-keylog-")
        self._keylog = Path(self._dir) / "keys"
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(SHA256_SUITES)
        ctx.check_hostname = False
        if ca_file is None:
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx.load_verify_locations(cafile=str(ca_file))
        ctx.keylog_filename = str(self._keylog)
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = ctx.wrap_bio(self._in, self._out, server_side=False)
        self._reassembly = Reassembly()
        self._pending: list[bytes] = []  # our fragments not yet sent
        self._server_random: bytes | None = None
        self._handshaken = False
        self._keys: tuple[bytes, bytes] | None = None  # client random, master secret
        self.msk: bytes | None = None
        self.inner_succeeded = False
        self.result: int | None = None  # the server's EAP-TLV Result
        self._nt_response = self._peer_challenge = self._auth_challenge = b""

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- outer layer --------------------------------------------------------------

    def respond(self, req: EapPacket) -> EapPacket:
        data = req.data
        if not data:
            raise PeapError("PEAP request without a Flags octet")
        if self._pending:  # the server acknowledged our previous fragment
            return self._reply(req, self._pending.pop(0))
        if data[0] & FLAG_S:
            self._handshake()
            return self._send(req)
        whole = self._reassembly.add(data)
        if whole is None:
            return self._reply(req, bytes([0]))  # acknowledge the fragment
        if self._server_random is None:
            self._server_random = server_random(whole)
        self._in.write(whole)
        if not self._handshaken:
            self._handshake()
        if self._handshaken:
            self._tunnel()
        return self._send(req)

    def _reply(self, req: EapPacket, type_data: bytes) -> EapPacket:
        return EapPacket(EapCode.RESPONSE, req.identifier, PEAP, type_data)

    def _send(self, req: EapPacket) -> EapPacket:
        """Whatever TLS wrote, fragmented; nothing: an empty acknowledgement."""
        outgoing = self._out.read()
        if not outgoing:
            return self._reply(req, bytes([0]))
        first, *self._pending = fragments(outgoing, self.fragment_size)
        return self._reply(req, first)

    def _handshake(self) -> None:
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            return
        except ssl.SSLError as exc:
            self.close()
            raise PeapError(f"TLS handshake failed: {exc}") from None
        self._handshaken = True
        self._derive_msk_inputs()

    def _derive_msk_inputs(self) -> None:
        keys = client_random_and_master(self._keylog.read_text() if self._keylog.exists() else "")
        self.close()  # the master secret leaves the disk at once
        if keys is None or self._server_random is None:
            raise PeapError("no master secret in the key log or no ServerHello seen")
        self._keys = keys

    # -- phase 2 ------------------------------------------------------------------

    def _tunnel(self) -> None:
        while True:
            try:
                inner = self._tls.read(65535)
            except ssl.SSLWantReadError:
                return
            except ssl.SSLError as exc:
                raise PeapError(f"TLS record refused: {exc}") from None
            if not inner:
                return
            answer = self._inner(inner)
            if answer is not None:
                self._tls.write(answer)

    def _inner(self, data: bytes) -> bytes | None:
        """One tunnelled message, answered in kind."""
        if len(data) >= 11 and data[0] == EapCode.REQUEST and data[4] == TLV:
            return self._tlv_result(data)
        method = data[0]
        if method == IDENTITY:
            return bytes([IDENTITY]) + self.username.encode()
        if method == MSCHAPV2:
            return self._mschapv2(data[1:])
        return bytes([3, MSCHAPV2])  # Nak: we speak MS-CHAPv2 only

    def _tlv_result(self, data: bytes) -> bytes:
        """The Result TLV (type 3, mandatory): echo it; on Success the MSK."""
        tlv_type = int.from_bytes(data[5:7], "big") & 0x3FFF
        if tlv_type != TLV_RESULT:
            raise PeapError(f"EAP-TLV of type {tlv_type}, not Result")
        self.result = int.from_bytes(data[9:11], "big")
        if self.result == RESULT_SUCCESS and self.inner_succeeded and self._keys is not None \
                and self._server_random is not None:
            client_random, master = self._keys
            self.msk = peap_msk(master, client_random, self._server_random)
        body = bytes([TLV]) + (0x8000 | TLV_RESULT).to_bytes(2, "big") + (2).to_bytes(2, "big") \
            + self.result.to_bytes(2, "big")
        return bytes([EapCode.RESPONSE, data[1]]) + (4 + len(body)).to_bytes(2, "big") + body

    def _mschapv2(self, data: bytes) -> bytes:
        opcode, ms_id = data[0], data[1]
        user = self.username.encode()
        if opcode == 1:  # Challenge
            size = data[4]
            self._auth_challenge = data[5:5 + size]
            self._peer_challenge = self.random(16)
            self._nt_response = generate_nt_response(self._auth_challenge, self._peer_challenge, user,
                                                     nt_password_hash(self.password))
            value = self._peer_challenge + bytes(8) + self._nt_response + b"\x00"
            return bytes([MSCHAPV2, 2, ms_id]) + (5 + len(value) + len(user)).to_bytes(2, "big") \
                + bytes([49]) + value + user
        if opcode == 3:  # Success request: the server proves it knows the password too
            expected = generate_authenticator_response(nt_password_hash(self.password), self._nt_response,
                                                       self._peer_challenge, self._auth_challenge, user).encode()
            if expected not in data[4:]:
                raise PeapError("MS-CHAPv2 authenticator response mismatch")
            self.inner_succeeded = True
            return bytes([MSCHAPV2, 3])
        if opcode == 4:  # Failure request
            return bytes([MSCHAPV2, 4])
        raise PeapError(f"unexpected MS-CHAPv2 opcode {opcode}")
