"""Algorithm names as an FTD admin writes them, mapped to IANA numbers.

FMC and the ASA CLI spell these differently (`AES-256` / `aes-256`,
`SHA512` / `sha512`, ESP `SHA-512` / `sha-512`); matching ignores case. Weak
algorithms (DES, 3DES, MD5, SHA-1, small DH groups) are accepted on purpose:
a real FTD accepts them too, ikev2d implements every one of them on the wire,
and flagging them is `check-config`'s job. The lists are the FMC's IKEv2
policy and IKEv2 IPsec proposal objects (docs/ftd-behaviour.md, "Algorithms").
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Hashable, Mapping, TypeVar

from ikev2d.iana import DhId, EncrId, IntegId, PrfId

V = TypeVar("V", bound=Hashable)

# 0 bits: a fixed-length cipher, sent without a Key Length attribute.
FIXED_KEY_LENGTH = 0

# FTD's AES-GCM is the 16-octet ICV variant (ENCR_AES_GCM_16).
ENCRYPTION: Mapping[str, tuple[EncrId, int]] = MappingProxyType(
    {
        "AES": (EncrId.AES_CBC, 128),
        "AES-192": (EncrId.AES_CBC, 192),
        "AES-256": (EncrId.AES_CBC, 256),
        "AES-GCM": (EncrId.AES_GCM_16, 128),
        "AES-GCM-192": (EncrId.AES_GCM_16, 192),
        "AES-GCM-256": (EncrId.AES_GCM_16, 256),
        "DES": (EncrId.DES, FIXED_KEY_LENGTH),
        "3DES": (EncrId.TRIPLE_DES, FIXED_KEY_LENGTH),
    }
)

# The IPsec proposal's encryption adds the ESP-only transforms: AES-GMAC
# (RFC 4543: authentication only, ENCR_NULL_AUTH_AES_GMAC) and NULL (RFC 2410).
ESP_ENCRYPTION: Mapping[str, tuple[EncrId, int]] = MappingProxyType(
    {
        **ENCRYPTION,
        "AES-GMAC": (EncrId.NULL_AUTH_AES_GMAC, 128),
        "AES-GMAC-192": (EncrId.NULL_AUTH_AES_GMAC, 192),
        "AES-GMAC-256": (EncrId.NULL_AUTH_AES_GMAC, 256),
        "NULL": (EncrId.NULL, FIXED_KEY_LENGTH),
    }
)

# FMC offers NULL in the IKEv2 policy's encryption list too, but IKE has no
# NULL cipher (RFC 7296 §3.3.2; IANA marks ENCR_NULL "not allowed" for IKEv2):
# nothing could negotiate it, so the loader refuses it (our choice).
IKE_NULL_ENCRYPTION = "NULL"

# Combined-mode ciphers: they carry their own ICV, so their integrity is NULL.
AEAD_ENCRYPTION = frozenset({EncrId.AES_GCM_8, EncrId.AES_GCM_12, EncrId.AES_GCM_16,
                             EncrId.NULL_AUTH_AES_GMAC})

INTEGRITY: Mapping[str, IntegId] = MappingProxyType(
    {
        "SHA512": IntegId.HMAC_SHA2_512_256,
        "SHA384": IntegId.HMAC_SHA2_384_192,
        "SHA256": IntegId.HMAC_SHA2_256_128,
        "SHA": IntegId.HMAC_SHA1_96,
        "SHA1": IntegId.HMAC_SHA1_96,
        "MD5": IntegId.HMAC_MD5_96,
        "NULL": IntegId.NONE,  # only with AES-GCM, which carries its own ICV
    }
)

PRF: Mapping[str, PrfId] = MappingProxyType(
    {
        "SHA512": PrfId.HMAC_SHA2_512,
        "SHA384": PrfId.HMAC_SHA2_384,
        "SHA256": PrfId.HMAC_SHA2_256,
        "SHA": PrfId.HMAC_SHA1,
        "SHA1": PrfId.HMAC_SHA1,
        "MD5": PrfId.HMAC_MD5,
    }
)

# ESP hash names carry a hyphen on FTD (`protocol esp integrity sha-512`).
ESP_INTEGRITY: Mapping[str, IntegId] = MappingProxyType(
    {
        "SHA-512": IntegId.HMAC_SHA2_512_256,
        "SHA-384": IntegId.HMAC_SHA2_384_192,
        "SHA-256": IntegId.HMAC_SHA2_256_128,
        "SHA-1": IntegId.HMAC_SHA1_96,
        "MD5": IntegId.HMAC_MD5_96,
        "NULL": IntegId.NONE,
    }
)

# The PRF an IKEv2 policy uses when it names none: ASA/FTD take the
# integrity algorithm's hash ("prf ... defaults to the integrity algorithm").
PRF_FOR_INTEGRITY: Mapping[IntegId, PrfId] = MappingProxyType(
    {
        IntegId.HMAC_SHA2_512_256: PrfId.HMAC_SHA2_512,
        IntegId.HMAC_SHA2_384_192: PrfId.HMAC_SHA2_384,
        IntegId.HMAC_SHA2_256_128: PrfId.HMAC_SHA2_256,
        IntegId.HMAC_SHA1_96: PrfId.HMAC_SHA1,
        IntegId.HMAC_MD5_96: PrfId.HMAC_MD5,
    }
)

DH_GROUPS: Mapping[int, DhId] = MappingProxyType(
    {
        1: DhId.MODP_768,
        2: DhId.MODP_1024,
        5: DhId.MODP_1536,
        14: DhId.MODP_2048,
        15: DhId.MODP_3072,
        16: DhId.MODP_4096,
        19: DhId.ECP_256,
        20: DhId.ECP_384,
        21: DhId.ECP_521,
        24: DhId.MODP_2048_256,
        31: DhId.CURVE25519,
    }
)


def _names(table: Mapping[str, V]) -> Mapping[V, str]:
    """Value -> the first name written for it (SHA before SHA1: FTD's own spelling)."""
    names: dict[V, str] = {}
    for name, value in table.items():
        names.setdefault(value, name)
    return MappingProxyType(names)


# Back from IANA numbers to FTD names, for check-config and show running-config.
ENCRYPTION_NAMES: Mapping[tuple[EncrId, int], str] = _names(ESP_ENCRYPTION)
INTEGRITY_NAMES: Mapping[IntegId, str] = _names(INTEGRITY)
PRF_NAMES: Mapping[PrfId, str] = _names(PRF)
ESP_INTEGRITY_NAMES: Mapping[IntegId, str] = _names(ESP_INTEGRITY)
DH_GROUP_NUMBERS: Mapping[DhId, int] = MappingProxyType({v: k for k, v in DH_GROUPS.items()})
