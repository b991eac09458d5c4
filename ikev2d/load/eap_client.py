"""The EAP peer of a remote-access client (RFC 3748): Identity,
MSCHAPv2 (RFC 2759, draft-kamath-pppext-eap-mschapv2), MD5-Challenge,
GTC; a Nak for any other method. Shared by `ikev2d load` and the lab's
in-process initiator."""

from __future__ import annotations

import hashlib
import os
from typing import Callable

from ikev2d.eap.mschapv2_crypto import (eap_mschapv2_msk, generate_authenticator_response, generate_nt_response,
                                        nt_password_hash)
from ikev2d.eap.packet import EapPacket
from ikev2d.iana import EapCode, EapType

MSCHAPV2_CHALLENGE, MSCHAPV2_RESPONSE, MSCHAPV2_SUCCESS, MSCHAPV2_FAILURE = 1, 2, 3, 4


class EapClientError(Exception):
    """The server's EAP made no sense (or did not prove it knows the password)."""


class EapClient:
    """Answers one conversation's requests; `msk` is set once MSCHAPv2
    succeeded (MD5 and GTC derive none: the IKE AUTH then uses SK_p)."""

    def __init__(self, username: str, password: str, method: int = EapType.MSCHAPV2,
                 random: Callable[[int], bytes] = os.urandom) -> None:
        self.username = username
        self.password = password
        self.method = method
        self.random = random
        self.msk: bytes | None = None
        self._nt_response = b""
        self._peer_challenge = b""
        self._auth_challenge = b""

    def reply(self, req: EapPacket) -> EapPacket:
        ident = req.identifier
        if req.type == EapType.IDENTITY:
            return EapPacket(EapCode.RESPONSE, ident, EapType.IDENTITY, self.username.encode())
        if req.type != self.method:
            return EapPacket(EapCode.RESPONSE, ident, EapType.NAK, bytes([self.method]))
        if req.type == EapType.MD5_CHALLENGE:
            if not req.data or len(req.data) < 1 + req.data[0]:
                raise EapClientError("short MD5-Challenge")
            challenge = req.data[1:1 + req.data[0]]
            value = hashlib.md5(bytes([ident]) + self.password.encode() + challenge).digest()
            return EapPacket(EapCode.RESPONSE, ident, EapType.MD5_CHALLENGE, bytes([16]) + value)
        if req.type == EapType.GTC:
            return EapPacket(EapCode.RESPONSE, ident, EapType.GTC, self.password.encode())
        if req.type == EapType.MSCHAPV2:
            return self._mschapv2(req)
        raise EapClientError(f"unexpected EAP type {req.type}")

    def _mschapv2(self, req: EapPacket) -> EapPacket:
        if len(req.data) < 2:
            raise EapClientError("short MSCHAPv2 request")
        opcode, ms_id = req.data[0], req.data[1]
        if opcode == MSCHAPV2_CHALLENGE:
            if len(req.data) < 5 or len(req.data) < 5 + req.data[4]:
                raise EapClientError("short MSCHAPv2 challenge")
            self._auth_challenge = req.data[5:5 + req.data[4]]
            self._peer_challenge = self.random(16)
            user = self.username.encode()
            self._nt_response = generate_nt_response(self._auth_challenge, self._peer_challenge, user,
                                                     nt_password_hash(self.password))
            value = self._peer_challenge + bytes(8) + self._nt_response + b"\x00"
            body = (bytes([MSCHAPV2_RESPONSE, ms_id]) + (5 + len(value) + len(user)).to_bytes(2, "big")
                    + bytes([49]) + value + user)
            return EapPacket(EapCode.RESPONSE, req.identifier, EapType.MSCHAPV2, body)
        if opcode == MSCHAPV2_SUCCESS:  # check the authenticator response first
            password_hash = nt_password_hash(self.password)
            expected = generate_authenticator_response(password_hash, self._nt_response, self._peer_challenge,
                                                       self._auth_challenge, self.username.encode()).encode()
            if not self._nt_response or expected not in req.data[4:]:
                raise EapClientError("MSCHAPv2 authenticator response mismatch")
            self.msk = eap_mschapv2_msk(password_hash, self._nt_response)
            return EapPacket(EapCode.RESPONSE, req.identifier, EapType.MSCHAPV2, bytes([MSCHAPV2_SUCCESS]))
        if opcode == MSCHAPV2_FAILURE:
            return EapPacket(EapCode.RESPONSE, req.identifier, EapType.MSCHAPV2, bytes([MSCHAPV2_FAILURE]))
        raise EapClientError(f"unexpected MSCHAPv2 opcode {opcode}")
