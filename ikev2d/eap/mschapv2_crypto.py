"""MS-CHAPv2 arithmetic (RFC 2759 §8) and its MPPE/MSK keys (RFC 3079 §3.4).

MD4 comes from pycryptodome: OpenSSL 3 hides it in its legacy provider, and
hand-written hashes are not worth the risk. Single DES is Triple DES with
the one key three times (encrypt-decrypt-encrypt with one key is one
encryption), which OpenSSL's default provider has: a third of the cost of
pycryptodome's DES objects.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from Crypto.Hash import MD4

CHALLENGE_LEN = 16  # authenticator and peer challenges (RFC 2759 §4)
NT_RESPONSE_LEN = 24
MPPE_KEY_LEN = 16  # 128-bit start keys (RFC 3079 §3.3)
MSK_LEN = 64  # RFC 3748 §7.10: at least 64 octets

# RFC 2759 §8.7 GenerateAuthenticatorResponse constants.
_AUTH_MAGIC1 = b"Magic server to client signing constant"
_AUTH_MAGIC2 = b"Pad to make it do more than one iteration"
# RFC 3079 §3.4 constants (the text of the strings is the constant).
_MPPE_MAGIC1 = b"This is the MPPE Master Key"
_MPPE_MAGIC2 = (
    b"On the client side, this is the send key; "
    b"on the server side, it is the receive key."
)
_MPPE_MAGIC3 = (
    b"On the client side, this is the receive key; "
    b"on the server side, it is the send key."
)
_SHS_PAD1 = bytes(40)
_SHS_PAD2 = b"\xf2" * 40


def _sha1(*parts: bytes) -> bytes:
    return hashlib.sha1(b"".join(parts)).digest()


def nt_password_hash(password: str) -> bytes:
    """RFC 2759 §8.3 NtPasswordHash: MD4 of the UTF-16LE password."""
    # surrogatepass: a stray lone surrogate in configuration must not raise
    # here; it simply yields a hash no client will match.
    return MD4.new(password.encode("utf-16-le", "surrogatepass")).digest()


def hash_nt_password_hash(password_hash: bytes) -> bytes:
    """RFC 2759 §8.4 HashNtPasswordHash."""
    return MD4.new(password_hash).digest()


def strip_domain(username: bytes) -> bytes:
    """RFC 2759 §8.2: the hash uses the user name without any "DOMAIN\\" prefix."""
    _, sep, user = username.partition(b"\\")
    return user if sep else username


def challenge_hash(peer_challenge: bytes, authenticator_challenge: bytes, username: bytes) -> bytes:
    """RFC 2759 §8.2 ChallengeHash (username already stripped of its domain)."""
    return _sha1(peer_challenge, authenticator_challenge, username)[:8]


def des_key(seven: bytes) -> bytes:
    """RFC 2759 §8.6: spread 56 key bits over 8 octets, bit 0 of each is odd parity."""
    if len(seven) != 7:
        raise ValueError("a DES key half needs 7 octets")
    bits = int.from_bytes(seven, "big")
    return bytes(_ODD_PARITY[(bits >> shift) & 0x7F] for shift in range(49, -1, -7))


# seven key bits -> their octet with the parity bit (bit 0) set to odd
_ODD_PARITY = bytes((b << 1) | (bin(b).count("1") + 1) % 2 for b in range(128))


def _des_encrypt(key: bytes, block: bytes) -> bytes:
    encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def challenge_response(challenge: bytes, password_hash: bytes) -> bytes:
    """RFC 2759 §8.5 ChallengeResponse: three DES encryptions of the 8-octet challenge."""
    padded = password_hash.ljust(21, b"\x00")
    return b"".join(
        _des_encrypt(des_key(padded[i : i + 7]), challenge)
        for i in (0, 7, 14)
    )


def generate_nt_response(
    authenticator_challenge: bytes, peer_challenge: bytes, username: bytes, password_hash: bytes
) -> bytes:
    """RFC 2759 §8.1 GenerateNTResponse, from the NT hash rather than the password."""
    challenge = challenge_hash(peer_challenge, authenticator_challenge, strip_domain(username))
    return challenge_response(challenge, password_hash)


def generate_authenticator_response(
    password_hash: bytes,
    nt_response: bytes,
    peer_challenge: bytes,
    authenticator_challenge: bytes,
    username: bytes,
) -> str:
    """RFC 2759 §8.7 GenerateAuthenticatorResponse: "S=" and 40 upper-case hex digits."""
    digest = _sha1(hash_nt_password_hash(password_hash), nt_response, _AUTH_MAGIC1)
    challenge = challenge_hash(peer_challenge, authenticator_challenge, strip_domain(username))
    return "S=" + _sha1(digest, challenge, _AUTH_MAGIC2).hex().upper()


def get_master_key(password_hash_hash: bytes, nt_response: bytes) -> bytes:
    """RFC 3079 §3.4 GetMasterKey."""
    return _sha1(password_hash_hash, nt_response, _MPPE_MAGIC1)[:16]


def get_asymmetric_start_key(
    master_key: bytes, key_length: int, *, is_send: bool, is_server: bool
) -> bytes:
    """RFC 3079 §3.4 GetAsymmetricStartKey."""
    # The server's send key is the client's receive key, and vice versa.
    magic = _MPPE_MAGIC3 if is_send == is_server else _MPPE_MAGIC2
    return _sha1(master_key, _SHS_PAD1, magic, _SHS_PAD2)[:key_length]


def eap_mschapv2_msk(password_hash: bytes, nt_response: bytes) -> bytes:
    """The 64-octet MSK that strongSwan's eap-mschapv2 (GenerateMSK) derives.

    Layout: server receive key (= client send key, Magic2) | server send key
    (= client receive key, Magic3) | 32 zero octets. Client and server compute
    the same bytes, so the IKEv2 AUTH payloads (RFC 7296 §2.16) agree.
    """
    master = get_master_key(hash_nt_password_hash(password_hash), nt_response)
    receive = get_asymmetric_start_key(master, MPPE_KEY_LEN, is_send=False, is_server=True)
    send = get_asymmetric_start_key(master, MPPE_KEY_LEN, is_send=True, is_server=True)
    return (receive + send).ljust(MSK_LEN, b"\x00")
