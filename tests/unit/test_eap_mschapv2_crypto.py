"""MS-CHAPv2 arithmetic against the RFC's own worked examples."""

from __future__ import annotations

import hashlib

import pytest

from ikev2d.eap.mschapv2_crypto import (
    MSK_LEN,
    challenge_hash,
    challenge_response,
    des_key,
    eap_mschapv2_msk,
    generate_authenticator_response,
    generate_nt_response,
    get_asymmetric_start_key,
    get_master_key,
    hash_nt_password_hash,
    nt_password_hash,
    strip_domain,
)

# RFC 2759 §9.2 "Hash Example" (also the inputs of RFC 3079 §3.5).
USER = b"User"
PASSWORD = "clientPass"
AUTH_CHALLENGE = bytes.fromhex("5B5D7C7D7B3F2F3E3C2C602132262628")
PEER_CHALLENGE = bytes.fromhex("21402324255E262A28295F2B3A337C7E")
CHALLENGE = bytes.fromhex("D02E4386BCE91226")
PASSWORD_HASH = bytes.fromhex("44EBBA8D5312B8D611474411F56989AE")
NT_RESPONSE = bytes.fromhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
PASSWORD_HASH_HASH = bytes.fromhex("41C00C584BD2D91C4017A2A12FA59F3F")
AUTHENTICATOR_RESPONSE = "S=407A5589115FD0D6209F510FE9C04566932CDA56"
# RFC 3079 §3.5.3 "Sample 128-bit Key Derivation".
MASTER_KEY = bytes.fromhex("FDECE3717A8C838CB388E527AE3CDD31")
SEND_START_KEY_128 = bytes.fromhex("8B7CDC149B993A1BA118CB153F56DCCB")


def test_rfc2759_9_2_nt_password_hash() -> None:
    # The password is hashed as UTF-16LE: "c\0l\0i\0..." (§8.3).
    assert nt_password_hash(PASSWORD) == PASSWORD_HASH


def test_rfc2759_9_2_password_hash_hash() -> None:
    assert hash_nt_password_hash(PASSWORD_HASH) == PASSWORD_HASH_HASH


def test_rfc2759_9_2_challenge_hash() -> None:
    assert challenge_hash(PEER_CHALLENGE, AUTH_CHALLENGE, USER) == CHALLENGE


def test_rfc2759_9_2_challenge_response() -> None:
    assert challenge_response(CHALLENGE, PASSWORD_HASH) == NT_RESPONSE


def test_rfc2759_9_2_nt_response() -> None:
    assert generate_nt_response(AUTH_CHALLENGE, PEER_CHALLENGE, USER, PASSWORD_HASH) == NT_RESPONSE


def test_rfc2759_9_2_authenticator_response() -> None:
    got = generate_authenticator_response(PASSWORD_HASH, NT_RESPONSE, PEER_CHALLENGE, AUTH_CHALLENGE, USER)
    assert got == AUTHENTICATOR_RESPONSE


def test_rfc2759_9_3_des_key_generation() -> None:
    # §9.3: password "MyPw"; each 7-octet third of the hash becomes a
    # parity-corrected 8-octet DES key (§8.6).
    password_hash = nt_password_hash("MyPw")
    assert password_hash == bytes.fromhex("FC156AF7EDCD6C0EDDE3337D427F4EAC")
    assert des_key(password_hash[0:7]) == bytes.fromhex("FD0B5B5E7F6E34D9")
    assert des_key(password_hash[7:14]) == bytes.fromhex("0E6E796737EA08FE")


def test_des_keys_have_odd_parity() -> None:
    for seed in range(64):
        key = des_key(hashlib.sha1(bytes([seed])).digest()[:7])
        assert all(bin(octet).count("1") % 2 == 1 for octet in key)


def test_rfc2759_8_2_domain_is_stripped_from_the_hashed_name() -> None:
    assert strip_domain(b"CORP\\User") == b"User"
    assert strip_domain(b"User") == b"User"
    with_domain = generate_nt_response(AUTH_CHALLENGE, PEER_CHALLENGE, b"CORP\\User", PASSWORD_HASH)
    assert with_domain == NT_RESPONSE


def test_rfc3079_3_5_3_master_key() -> None:
    assert get_master_key(PASSWORD_HASH_HASH, NT_RESPONSE) == MASTER_KEY


def test_rfc3079_3_5_3_send_start_key_is_the_servers_send_key() -> None:
    # The RFC prints the key from the server's side (IsSend, IsServer), and the
    # server's send key must be the client's receive key (§3.4 Magic2/Magic3).
    server_send = get_asymmetric_start_key(MASTER_KEY, 16, is_send=True, is_server=True)
    client_receive = get_asymmetric_start_key(MASTER_KEY, 16, is_send=False, is_server=False)
    assert server_send == client_receive == SEND_START_KEY_128
    server_receive = get_asymmetric_start_key(MASTER_KEY, 16, is_send=False, is_server=True)
    client_send = get_asymmetric_start_key(MASTER_KEY, 16, is_send=True, is_server=False)
    assert server_receive == client_send != server_send


def _client_send_key_from_rfc3079_text(master_key: bytes) -> bytes:
    # RFC 3079 §3.4, written out again here: SHA1(MasterKey | SHSpad1 | Magic2 | SHSpad2).
    magic2 = (
        b"On the client side, this is the send key; on the server side, it is the receive key."
    )
    return hashlib.sha1(master_key + b"\x00" * 40 + magic2 + b"\xf2" * 40).digest()[:16]


def test_msk_layout_matches_strongswan_generate_msk() -> None:
    # strongSwan 5.9.8 eap_mschapv2.c GenerateMSK, used by its client and its
    # server alike: SHA1(...Magic2...)[:16] | SHA1(...Magic3...)[:16] | 32 zeros.
    msk = eap_mschapv2_msk(PASSWORD_HASH, NT_RESPONSE)
    assert len(msk) == MSK_LEN == 64
    assert msk[0:16] == _client_send_key_from_rfc3079_text(MASTER_KEY)
    assert msk[0:16] == bytes.fromhex("D5F0E9521E3EA9589645E86051C82226")
    assert msk[16:32] == SEND_START_KEY_128
    assert msk[32:] == bytes(32)


@pytest.mark.parametrize("password", ["", "ünïcødé", "emoji 🔑", "a" * 256])
def test_nt_hash_uses_utf16le_with_surrogate_pairs(password: str) -> None:
    from Crypto.Hash import MD4

    assert nt_password_hash(password) == MD4.new(password.encode("utf-16-le")).digest()
