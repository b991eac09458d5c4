"""What the NSA/CNSA guidance says of each algorithm ikev2d can be given.

Sources: NSA "Configuring IPsec Virtual Private Networks" (June 2020), which
applies CNSSP 15 (the CNSA suite): IKEv2 only, AES-256, SHA-384 or
stronger, and as its minimum IKE example DH group 16; remove DES, 3DES, DH
groups 1, 2 and 5 and every unused or non-compliant suite. CNSA 1.0 sets the
key-exchange floor at 3072-bit MODP or ECDH P-384 (RFC 9206 profiles it for
IPsec), which is why group 15 (3072-bit, the whitepaper's) passes, and why
groups 14 (2048-bit) and 19 (P-256) fail although RFC 8247 still allows
them: they give 112 and 128 bits of strength, CNSA asks for 192.
Group 21 (P-521) is stronger than P-384 but is not the CNSA curve; the
project's issue lists it as acceptable, so it is a note, not a failure.

Each table maps an algorithm to None (compliant) or a Verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from ikev2d.iana import DhId, EncrId, IntegId, PrfId

from .findings import Severity

ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


@dataclass(frozen=True, slots=True)
class Verdict:
    severity: Severity
    why: str


USE_AES_256 = "use AES-256 or AES-GCM-256"
USE_SHA_384 = "use SHA384 or SHA512"
USE_ESP_SHA_384 = "use SHA-384 or SHA-512 (or NULL with AES-GCM-256)"
USE_GROUP = "use DH group 20 (ECDH P-384), 15 or 16 (3072/4096-bit MODP)"

_DES = Verdict(ERROR, "DES has a 56-bit key and is broken; NSA: remove DES")
_3DES = Verdict(ERROR, "3DES has a 64-bit block (Sweet32) and is deprecated; NSA: remove 3DES")
_SHORT_AES = Verdict(ERROR, "CNSSP 15 requires 256-bit AES keys")
_NO_CONFIDENTIALITY = Verdict(ERROR, "the traffic is not encrypted at all (authentication only);"
                              " CNSSP 15 requires AES-256 encryption")

ENCRYPTION: Mapping[tuple[EncrId, int], Verdict | None] = MappingProxyType(
    {
        (EncrId.AES_CBC, 256): None,
        (EncrId.AES_GCM_16, 256): None,
        (EncrId.AES_CBC, 128): _SHORT_AES,
        (EncrId.AES_CBC, 192): _SHORT_AES,
        (EncrId.AES_GCM_16, 128): _SHORT_AES,
        (EncrId.AES_GCM_16, 192): _SHORT_AES,
        (EncrId.DES, 0): _DES,
        (EncrId.TRIPLE_DES, 0): _3DES,
        # ESP only: GMAC authenticates and does not encrypt, NULL neither
        (EncrId.NULL_AUTH_AES_GMAC, 128): _NO_CONFIDENTIALITY,
        (EncrId.NULL_AUTH_AES_GMAC, 192): _NO_CONFIDENTIALITY,
        (EncrId.NULL_AUTH_AES_GMAC, 256): _NO_CONFIDENTIALITY,
        (EncrId.NULL, 0): _NO_CONFIDENTIALITY,
    }
)

_MD5 = Verdict(ERROR, "MD5 is broken; CNSSP 15 requires SHA-384 or stronger")
_SHA1 = Verdict(ERROR, "SHA-1 is deprecated (collisions); CNSSP 15 requires SHA-384 or stronger")
_SHA256 = Verdict(ERROR, "SHA-256 is below CNSSP 15, which requires SHA-384 or stronger")

INTEGRITY: Mapping[IntegId, Verdict | None] = MappingProxyType(
    {
        IntegId.HMAC_SHA2_512_256: None,
        IntegId.HMAC_SHA2_384_192: None,
        IntegId.NONE: None,  # AES-GCM's own 16-octet ICV (the loader allows nothing else)
        IntegId.HMAC_SHA2_256_128: _SHA256,
        IntegId.HMAC_SHA1_96: _SHA1,
        IntegId.HMAC_MD5_96: _MD5,
    }
)

PRF: Mapping[PrfId, Verdict | None] = MappingProxyType(
    {
        PrfId.HMAC_SHA2_512: None,
        PrfId.HMAC_SHA2_384: None,
        PrfId.HMAC_SHA2_256: _SHA256,
        PrfId.HMAC_SHA1: _SHA1,
        PrfId.HMAC_MD5: _MD5,
    }
)

_LEGACY_GROUP = "NSA: remove DH groups 1, 2 and 5"
DH_GROUPS: Mapping[DhId, Verdict | None] = MappingProxyType(
    {
        DhId.MODP_3072: None,
        DhId.MODP_4096: None,
        DhId.ECP_384: None,
        DhId.ECP_521: Verdict(INFO, "P-521 is stronger than needed but not the CNSA curve"
                              " (P-384, group 20); some clients do not offer it"),
        DhId.MODP_768: Verdict(ERROR, f"768-bit MODP is broken; {_LEGACY_GROUP}"),
        DhId.MODP_1024: Verdict(ERROR, f"1024-bit MODP is breakable (Logjam); {_LEGACY_GROUP}"),
        DhId.MODP_1536: Verdict(ERROR, f"1536-bit MODP is too weak; {_LEGACY_GROUP}"),
        DhId.MODP_2048_256: Verdict(ERROR, "2048-bit MODP with a 256-bit subgroup (RFC 5114) is below"
                                    " CNSSP 15's 3072-bit minimum, and RFC 8247 says SHOULD NOT"),
        DhId.MODP_2048: Verdict(ERROR, "2048-bit MODP (112-bit strength) is below CNSSP 15's"
                                " 3072-bit minimum"),
        DhId.ECP_256: Verdict(ERROR, "P-256 (128-bit strength) is below CNSSP 15, which"
                              " names P-384"),
        DhId.CURVE25519: Verdict(ERROR, "Curve25519 is not a CNSA curve"),
    }
)

# The identity certificate signs IKE_AUTH. CNSA: RSA 3072 or ECDSA P-384.
# A warning, not an error: the whitepaper deliberately stays out of Suite B
# (ECDSA certificates need AnyConnect Apex), and the IKE and ESP suites
# decide the confidentiality of the traffic.
KEY_TYPES: Mapping[str, Verdict | None] = MappingProxyType(
    {
        "rsa-3072": None,
        "ecdsa-p384": None,
        "rsa-2048": Verdict(WARNING,
                            "RSA-2048 signatures are below CNSA (RSA-3072 or ECDSA P-384)"),
        "ecdsa-p256": Verdict(WARNING, "ECDSA P-256 signatures are below CNSA (ECDSA P-384)"),
    }
)
USE_KEY = "use key_type rsa-3072 or ecdsa-p384"


# FTD names whose strength is not in the name.
SPELLED_OUT: Mapping[str, str] = MappingProxyType(
    {"AES": "AES (AES-128)", "AES-GCM": "AES-GCM (128-bit)", "SHA": "SHA (SHA-1)"}
)


def unknown(what: str) -> Verdict:
    """An algorithm the tables do not know is not compliant until judged."""
    return Verdict(ERROR, f"{what} is not in the NSA/CNSA guidance")
