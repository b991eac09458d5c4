"""Independent cross-check with scapy's ESP implementation
(`scapy.layers.ipsec.SecurityAssociation`, RFC 4303 tunnel mode + RFC 3948
UDP encapsulation): scapy decrypts what the userspace data plane seals, and
the data plane opens what scapy builds. CBC + HMAC (including the
long-lived-encryptor IV technique) for AES, 3DES and DES, NULL + HMAC
(RFC 2410), AES-GCM (RFC 4106), AES-GMAC (RFC 4543), ChaCha20-Poly1305
(RFC 7634), with and without ESN."""

from __future__ import annotations

import os

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.ipsec import ESP, SecurityAssociation

from esp.spec import EspAlgorithms
from esp.userspace.lifetime import Lifetime, Limits
from esp.userspace.sa import InboundSa, OutboundSa
from esp.userspace.suites import make_opener, make_sealer
from ikev2d.iana import EncrId, IntegId

GATEWAY, CLIENT = "198.18.0.1", "198.18.0.2"
INSIDE, VIP = "198.19.0.1", "198.19.0.200"
SPI = 0x8765_4321

# (our algorithms, scapy's crypt name, scapy's auth name)
SUITES = [
    (EspAlgorithms(EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_512_256, 32, 64, 32), "AES-CBC", "SHA2-512-256"),
    (EspAlgorithms(EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_384_192, 32, 48, 24), "AES-CBC", "SHA2-384-192"),
    (EspAlgorithms(EncrId.AES_CBC, 192, IntegId.HMAC_SHA2_256_128, 24, 32, 16), "AES-CBC", "SHA2-256-128"),
    (EspAlgorithms(EncrId.AES_CBC, 128, IntegId.HMAC_SHA1_96, 16, 20, 12), "AES-CBC", "HMAC-SHA1-96"),
    (EspAlgorithms(EncrId.AES_GCM_16, 256, IntegId.NONE, 36, 0, 16), "AES-GCM", None),
    (EspAlgorithms(EncrId.AES_GCM_16, 128, IntegId.NONE, 20, 0, 16), "AES-GCM", None),
    (EspAlgorithms(EncrId.CHACHA20_POLY1305, 256, IntegId.NONE, 36, 0, 16), "CHACHA20-POLY1305", None),
    # the FTD's legacy and authentication-only choices
    (EspAlgorithms(EncrId.TRIPLE_DES, 0, IntegId.HMAC_SHA1_96, 24, 20, 12), "3DES", "HMAC-SHA1-96"),
    (EspAlgorithms(EncrId.DES, 0, IntegId.HMAC_MD5_96, 8, 16, 12), "DES", "HMAC-MD5-96"),
    (EspAlgorithms(EncrId.AES_CBC, 128, IntegId.HMAC_MD5_96, 16, 16, 12), "AES-CBC", "HMAC-MD5-96"),
    (EspAlgorithms(EncrId.NULL, 0, IntegId.HMAC_SHA2_256_128, 0, 32, 16), "NULL", "SHA2-256-128"),
    (EspAlgorithms(EncrId.NULL_AUTH_AES_GMAC, 256, IntegId.NONE, 36, 0, 16), "AES-NULL-GMAC", None),
    (EspAlgorithms(EncrId.NULL_AUTH_AES_GMAC, 128, IntegId.NONE, 20, 0, 16), "AES-NULL-GMAC", None),
]
IDS = ["cbc256-sha512", "cbc256-sha384", "cbc192-sha256", "cbc128-sha1", "gcm256", "gcm128", "chacha20",
       "3des-sha1", "des-md5", "cbc128-md5", "null-sha256", "gmac256", "gmac128"]


def with_esn(alg: EspAlgorithms) -> EspAlgorithms:
    return EspAlgorithms(alg.encr_id, alg.encr_key_bits, alg.integ_id, alg.encr_key_size, alg.integ_key_size,
                         alg.icv_size, esn=True)


class Peers:
    def __init__(self, alg: EspAlgorithms, crypt: str, auth: str | None, esn_hi: int = 0) -> None:
        ek, ik = os.urandom(alg.encr_key_size), os.urandom(alg.integ_key_size)
        lifetime = Lifetime(SPI, Limits(), 0.0, lambda e: None)
        self.ours_out = OutboundSa(SPI, make_sealer(alg, ek, ik), alg.esn, lifetime, None)
        self.ours_in = InboundSa(SPI, make_opener(alg, ek, ik), alg.esn, 64, lifetime, None)
        if esn_hi:  # both sides in the same 2^32 epoch
            self.ours_out.packets = esn_hi << 32
            self.ours_in.window.accept(esn_hi << 32)
        # scapy takes the AEAD salt as the last 4 bytes of crypt_key, as KEYMAT lays it out
        self.scapy = SecurityAssociation(
            ESP, spi=SPI, crypt_algo=crypt, crypt_key=ek, auth_algo=auth, auth_key=ik or None,
            tunnel_header=IP(src=GATEWAY, dst=CLIENT), nat_t_header=UDP(sport=4500, dport=4500),
            esn_en=alg.esn, esn=esn_hi,
        )


def inner_packet(size: int) -> IP:
    return IP(bytes(IP(src=INSIDE, dst=VIP, id=size) / ICMP(id=7, seq=size) / (b"p" * (size - 28))))


def on_the_wire(esp_payload: bytes) -> IP:
    """The datagram our socket sends, as IP/UDP bytes scapy parses."""
    return IP(bytes(IP(src=GATEWAY, dst=CLIENT) / UDP(sport=4500, dport=4500) / esp_payload))


SIZES = [28, 64, 65, 512, 1400]


@pytest.mark.parametrize(("alg", "crypt", "auth"), SUITES, ids=IDS)
def test_scapy_decrypts_what_we_seal(alg: EspAlgorithms, crypt: str, auth: str | None) -> None:
    peers = Peers(alg, crypt, auth)
    for size in SIZES:
        inner = inner_packet(size)
        wire = on_the_wire(peers.ours_out.seal(bytes(inner)))  # type: ignore[arg-type]
        assert wire[ESP].spi == SPI
        decrypted = peers.scapy.decrypt(wire)  # raises on a bad ICV or padding
        assert bytes(decrypted) == bytes(inner)
        assert decrypted[ICMP].seq == size


@pytest.mark.parametrize(("alg", "crypt", "auth"), SUITES, ids=IDS)
def test_we_open_what_scapy_seals(alg: EspAlgorithms, crypt: str, auth: str | None) -> None:
    peers = Peers(alg, crypt, auth)
    for seq, size in enumerate(SIZES, start=1):
        inner = inner_packet(size)
        wire = peers.scapy.encrypt(inner, seq_num=seq)
        payload = bytes(IP(bytes(wire))[UDP].payload)
        assert peers.ours_in.open(payload) == bytes(inner)
    assert peers.ours_in.packets == len(SIZES)
    assert peers.ours_in.integrity_failures == 0


def test_cbc_long_lived_encryptor_many_packets_in_a_row() -> None:
    """Each packet's IV is the previous chain's output: scapy, decrypting each
    packet on its own with the IV on the wire, must see every one."""
    alg, crypt, auth = SUITES[0]
    peers = Peers(alg, crypt, auth)
    for i in range(300):
        inner = inner_packet(28 + (i * 37) % 1400)
        wire = on_the_wire(peers.ours_out.seal(bytes(inner)))  # type: ignore[arg-type]
        assert bytes(peers.scapy.decrypt(wire)) == bytes(inner)


def test_scapy_rejects_our_packet_once_tampered() -> None:
    """The cross-check can fail: a flipped ciphertext bit breaks scapy's ICV check."""
    alg, crypt, auth = SUITES[0]
    peers = Peers(alg, crypt, auth)
    esp = bytearray(peers.ours_out.seal(bytes(inner_packet(100))))  # type: ignore[arg-type]
    esp[40] ^= 1
    with pytest.raises(Exception):
        peers.scapy.decrypt(on_the_wire(bytes(esp)))


@pytest.mark.parametrize(("alg", "crypt", "auth"), [SUITES[0], SUITES[4], SUITES[7], SUITES[10], SUITES[11]],
                         ids=["cbc", "gcm", "3des", "null", "gmac"])
def test_esn_both_ways(alg: EspAlgorithms, crypt: str, auth: str | None) -> None:
    """RFC 4303 §2.2.1: the high 32 bits enter the ICV (CBC) or the AAD
    (GCM, RFC 4106 §5) but never the wire; scapy's esn= is that high half."""
    esn_alg = with_esn(alg)
    peers = Peers(esn_alg, crypt, auth, esn_hi=3)
    inner = inner_packet(200)
    wire = on_the_wire(peers.ours_out.seal(bytes(inner)))  # type: ignore[arg-type]
    assert wire[ESP].seq == 1  # low half of 3 * 2^32 + 1
    assert bytes(peers.scapy.decrypt(wire)) == bytes(inner)
    back = peers.scapy.encrypt(inner, seq_num=2)
    assert peers.ours_in.open(bytes(IP(bytes(back))[UDP].payload)) == bytes(inner)
    assert peers.ours_in.window.top == (3 << 32) + 2
