"""The lab's PEAPv0 client (lab/peap.py): the TLS 1.2 PRF, PEAP framing
(flags, fragments, acknowledgements), the tunnel's inner messages, and a
whole TLS handshake against an in-process stand-in server (Python's ssl on
the server side), down to the MSK. The real PEAP server is FreeRADIUS in
tests/interop/test_radius.py."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from ikev2d.eap.packet import EapPacket
from ikev2d.iana import EapCode
from lab.peap import (FLAG_L, FLAG_M, FLAG_S, PEAP, PeapClient, PeapError, Reassembly, client_random_and_master,
                      fragments, peap_msk, server_random, tls12_prf)
from lab.pki import make_lab_pki


def test_tls12_prf_sha256_known_vector() -> None:
    """The widely used P_SHA256 vector (also what `openssl kdf TLS1-PRF` gives)."""
    out = tls12_prf(bytes.fromhex("9bbe436ba940f017b17652849a71db35"), b"test label",
                    bytes.fromhex("a0ba9f936cda311827a6f796ffd5198c"), 100)
    assert out.hex() == (
        "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af"
        "0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701"
        "87347b66")


def test_msk_is_the_first_64_octets_of_client_eap_encryption() -> None:
    master, cr, sr = bytes(range(48)), b"c" * 32, b"s" * 32
    assert peap_msk(master, cr, sr) == tls12_prf(master, b"client EAP encryption", cr + sr, 64)
    assert peap_msk(master, cr, sr) != peap_msk(master, sr, cr)  # client random first


def test_fragments_carry_l_on_the_first_and_m_on_all_but_the_last() -> None:
    data = bytes(range(250))
    assert fragments(data, 250) == [b"\x00" + data]
    first, middle, last = fragments(data, 100)
    assert first[0] == FLAG_L | FLAG_M and int.from_bytes(first[1:5], "big") == 250 and first[5:] == data[:100]
    assert middle == bytes([FLAG_M]) + data[100:200]
    assert last == b"\x00" + data[200:]


def test_reassembly_joins_fragments_and_checks_the_announced_length() -> None:
    r = Reassembly()
    assert r.add(bytes([FLAG_L | FLAG_M]) + (6).to_bytes(4, "big") + b"abc") is None
    assert r.add(bytes([FLAG_M]) + b"de") is None
    assert r.add(b"\x00f") == b"abcdef"
    assert Reassembly().add(b"\x00whole") == b"whole"  # unfragmented, no L
    short = Reassembly()
    short.add(bytes([FLAG_L | FLAG_M]) + (9).to_bytes(4, "big") + b"abc")
    with pytest.raises(PeapError, match="announced 9"):
        short.add(b"\x00de")


def test_server_random_and_key_log_parsing() -> None:
    hello = b"\x16\x03\x03\x00\x46" + b"\x02\x00\x00\x42" + b"\x03\x03" + bytes(range(32)) + bytes(40)
    assert server_random(hello) == bytes(range(32))
    assert server_random(b"\x15\x03\x03\x00\x02\x02\x28") is None  # an alert, no ServerHello
    log = "# comment\nCLIENT_RANDOM " + "ab" * 32 + " " + "cd" * 48 + "\n"
    assert client_random_and_master(log) == (b"\xab" * 32, b"\xcd" * 48)
    assert client_random_and_master("SERVER_HANDSHAKE_TRAFFIC_SECRET x y\n") is None


def _request(ident: int, type_data: bytes) -> EapPacket:
    return EapPacket(EapCode.REQUEST, ident, PEAP, type_data)


def test_start_gives_a_version_0_client_hello_fragmented_and_fragments_are_acked() -> None:
    client = PeapClient("alice", "pw", fragment_size=60)
    try:
        first = client.respond(_request(1, bytes([FLAG_S])))
        assert first.code == EapCode.RESPONSE and first.type == PEAP and first.identifier == 1
        assert first.data[0] == FLAG_L | FLAG_M  # version 0 in the low bits, our ClientHello is longer than 60
        total = int.from_bytes(first.data[1:5], "big")
        assert first.data[5] == 22 and first.data[6:8] == b"\x03\x01"  # a TLS handshake record
        got = first.data[5:]
        ident = 2
        while len(got) < total:  # the server acknowledges each fragment with an empty Request
            nxt = client.respond(_request(ident, b"\x00"))
            got += nxt.data[1:]
            ident += 1
        assert len(got) == total and nxt.data[0] == 0  # the last one without M
        # a fragment of the server's with M set: acknowledged with an empty Response
        ack = client.respond(_request(ident, bytes([FLAG_L | FLAG_M]) + (100).to_bytes(4, "big") + b"x" * 50))
        assert ack.data == b"\x00" and ack.identifier == ident
    finally:
        client.close()


def test_inner_messages_as_peapv0_sends_them() -> None:
    """Identity and MS-CHAPv2 without the EAP header; the EAP-TLV Result
    with it, echoed back with our Identifier-matched full header."""
    client = PeapClient("alice", "pw")
    client.close()
    assert client._inner(b"\x01") == b"\x01alice"
    assert client._inner(b"\x04\x10") == b"\x03\x1a"  # Nak to another inner method, MS-CHAPv2 wanted
    tlv = bytes([EapCode.REQUEST, 9, 0, 11, 33, 0x80, 3, 0, 2, 0, 2])  # Result: Failure
    assert client._inner(tlv) == bytes([EapCode.RESPONSE, 9, 0, 11, 33, 0x80, 3, 0, 2, 0, 2])
    assert client.result == 2 and client.msk is None


class StandInServer:
    """The PEAP server's TLS side in process: Python's ssl as server, its
    records cut into `size`-octet fragments, L on the first."""

    def __init__(self, folder: Path, size: int = 300) -> None:
        pki = make_lab_pki(folder)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(pki.server_cert), str(pki.server_key))
        ctx.keylog_filename = str(folder / "server-keys")
        self.keylog = folder / "server-keys"
        self.ca = pki.ca_cert
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.out, server_side=True)
        self.size = size
        self.ident = 0
        self.pending: list[bytes] = []
        self.inbox = b""
        self.first_flight = b""
        self.received: list[bytes] = []  # application data from the client

    def request(self, type_data: bytes) -> EapPacket:
        self.ident = (self.ident + 1) % 256
        return _request(self.ident, type_data)

    def answer(self, response: EapPacket) -> EapPacket:
        data = response.data
        if self.pending:
            assert data == b"\x00", "the client must acknowledge our fragment"
            return self.request(self.pending.pop(0))
        self.inbox += data[5:] if data[0] & FLAG_L else data[1:]
        if data[0] & FLAG_M:
            return self.request(b"\x00")
        self.inc.write(self.inbox)
        self.inbox = b""
        try:
            self.tls.do_handshake()
            while True:
                self.received.append(self.tls.read())
        except ssl.SSLWantReadError:
            pass
        return self.send()

    def send(self) -> EapPacket:
        records = self.out.read()
        self.first_flight = self.first_flight or records
        first, *self.pending = fragments(records, self.size) if records else [b"\x00"]
        return self.request(first)


def test_whole_handshake_tunnel_and_msk_against_a_stand_in_server(tmp_path: Path) -> None:
    server = StandInServer(tmp_path)
    client = PeapClient("alice", "pw", ca_file=server.ca, fragment_size=120)
    try:
        req = server.request(bytes([FLAG_S]))
        for _ in range(40):
            req = server.answer(client.respond(req))
            if client._handshaken and server.tls.version() and not server.pending:
                break
        assert server.tls.version() == "TLSv1.2" and server.tls.cipher()[0].endswith("SHA256")
        # the client's acknowledgement of the server's Finished: nothing to say
        server.tls.write(b"\x01")  # inner Identity Request, no EAP header
        reply = client.respond(server.send())
        server.answer(reply)
        assert server.received == [b"\x01alice"]
        # inner method done (as after MS-CHAPv2's Success), then the Result TLV
        client.inner_succeeded = True
        server.tls.write(bytes([EapCode.REQUEST, 7, 0, 11, 33, 0x80, 3, 0, 2, 0, 1]))
        server.answer(client.respond(server.send()))
        assert server.received[-1] == bytes([EapCode.RESPONSE, 7, 0, 11, 33, 0x80, 3, 0, 2, 0, 1])
        keys = client_random_and_master(server.keylog.read_text())
        assert keys is not None
        sr = server_random(server.first_flight)
        assert sr is not None
        assert client.msk == peap_msk(keys[1], keys[0], sr) and len(client.msk) == 64
    finally:
        client.close()


def test_a_server_certificate_of_another_ca_is_refused(tmp_path: Path) -> None:
    server = StandInServer(tmp_path / "a")
    other = make_lab_pki(tmp_path / "b")
    client = PeapClient("alice", "pw", ca_file=other.ca_cert)
    req = server.request(bytes([FLAG_S]))
    with pytest.raises(PeapError, match="certificate verify failed"):
        for _ in range(20):
            req = server.answer(client.respond(req))
