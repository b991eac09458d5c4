"""Negotiated ESP transforms (IANA numbers) as the kernel's crypto names.

The truncation length is always sent (XFRMA_ALG_AUTH_TRUNC): the kernel's
default for hmac(sha512) would be wrong for RFC 4868 (256 bits).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ikev2d.iana import EncrId, IntegId


class UnsupportedAlgorithm(ValueError):
    """No kernel name for this IANA transform."""


@dataclass(frozen=True)
class KernelAlg:
    """One XFRMA_ALG_* attribute: name, key, and the ICV/truncation in bits."""

    attr: str  # "XFRMA_ALG_CRYPT" | "XFRMA_ALG_AUTH_TRUNC" | "XFRMA_ALG_AEAD"
    name: str
    key: bytes = field(repr=False)
    icv_bits: int = 0  # alg_trunc_len / alg_icv_len; unused for CRYPT

    def nla(self) -> tuple[str, dict[str, object]]:
        value: dict[str, object] = {"alg_name": self.name, "alg_key_len": len(self.key) * 8, "alg_key": self.key}
        if self.attr == "XFRMA_ALG_AUTH_TRUNC":
            value["alg_trunc_len"] = self.icv_bits
        elif self.attr == "XFRMA_ALG_AEAD":
            value["alg_icv_len"] = self.icv_bits
        return self.attr, value


# AEAD: the key includes the 4-byte salt (RFC 4106 §8.1), and so does alg_key_len
_AEAD = {
    EncrId.AES_GCM_8: ("rfc4106(gcm(aes))", 64),
    EncrId.AES_GCM_12: ("rfc4106(gcm(aes))", 96),
    EncrId.AES_GCM_16: ("rfc4106(gcm(aes))", 128),
    EncrId.CHACHA20_POLY1305: ("rfc7539esp(chacha20,poly1305)", 128),
    # RFC 4543 §3.2: AES-GMAC, authentication only, is an AEAD to the kernel
    EncrId.NULL_AUTH_AES_GMAC: ("rfc4543(gcm(aes))", 128),
}
_CIPHERS = {
    EncrId.AES_CBC: "cbc(aes)",
    EncrId.AES_CTR: "rfc3686(ctr(aes))",
    EncrId.TRIPLE_DES: "cbc(des3_ede)",
    EncrId.DES: "cbc(des)",
    EncrId.NULL: "ecb(cipher_null)",  # RFC 2410: a zero-length key
}
_INTEG = {
    IntegId.HMAC_SHA1_96: ("hmac(sha1)", 96),
    IntegId.HMAC_SHA2_256_128: ("hmac(sha256)", 128),
    IntegId.HMAC_SHA2_384_192: ("hmac(sha384)", 192),
    IntegId.HMAC_SHA2_512_256: ("hmac(sha512)", 256),
    IntegId.AES_XCBC_96: ("xcbc(aes)", 96),
    IntegId.HMAC_MD5_96: ("hmac(md5)", 96),
}


def kernel_algs(encr_id: int, integ_id: int, encr_key: bytes, integ_key: bytes) -> list[KernelAlg]:
    """The attributes for one SA's keys, or UnsupportedAlgorithm."""
    if encr_id in _AEAD:
        name, icv = _AEAD[EncrId(encr_id)]
        return [KernelAlg("XFRMA_ALG_AEAD", name, encr_key, icv)]
    if encr_id not in _CIPHERS:
        raise UnsupportedAlgorithm(f"ESP cipher {encr_id} has no kernel name here")
    if integ_id not in _INTEG:
        raise UnsupportedAlgorithm(f"ESP integrity {integ_id} has no kernel name here")
    auth_name, trunc = _INTEG[IntegId(integ_id)]
    return [
        KernelAlg("XFRMA_ALG_CRYPT", _CIPHERS[EncrId(encr_id)], encr_key),
        KernelAlg("XFRMA_ALG_AUTH_TRUNC", auth_name, integ_key, trunc),
    ]
