"""How the ASA/FTD CLI names things: algorithms, durations, session numbers.

Every naming decision the `show` renderers share lives here, so a fact found
wrong about the FTD is corrected in one place. Sources: the samples in
docs/ftd-behaviour.md ("CLI outputs": real ASA outputs and their sources); guesses say so.
"""

from __future__ import annotations

import ipaddress
import time

from ..iana import EncrId, IntegId, PrfId

# ikev2d.core numbers sessions from 0x6000, the whitepaper's first IPAA
# session; vpn-sessiondb and `show crypto ikev2 sa` count from 1.
FIRST_SESSION_HANDLE = 0x6000

# FTDv capacity for RA VPN sessions; the FTDv tier is not modelled
# (unconfirmed: FTDv 7.0 at its smallest tier).
DEVICE_VPN_CAPACITY = 250

_AEAD = {EncrId.AES_GCM_8, EncrId.AES_GCM_12, EncrId.AES_GCM_16}
_GMAC = EncrId.NULL_AUTH_AES_GMAC  # RFC 4543: an AEAD that does not encrypt


def session_index(unique_id: int) -> int:
    """`Index` of vpn-sessiondb and `Session-id` of `show crypto ikev2 sa`."""
    return unique_id - FIRST_SESSION_HANDLE + 1


def is_aead(encr_id: int) -> bool:
    return encr_id in _AEAD or encr_id == _GMAC


# -- show crypto ikev2 sa: "Encr: AES-CBC, keysize: 256, Hash: SHA512" --------

def ikev2_encr(encr_id: int) -> str:
    # Tables are keyed by the IANA enums but looked up by the plain int a
    # proposal carries (IntEnum members hash and compare as their values).
    names: dict[int, str] = {
        EncrId.DES: "DES", EncrId.TRIPLE_DES: "3DES", EncrId.NULL: "NULL",
        EncrId.AES_CBC: "AES-CBC", EncrId.AES_CTR: "AES-CTR",
        EncrId.AES_GCM_8: "AES-GCM", EncrId.AES_GCM_12: "AES-GCM", EncrId.AES_GCM_16: "AES-GCM",
        EncrId.CHACHA20_POLY1305: "CHACHA20-POLY1305",
    }
    return names.get(encr_id, str(encr_id))


def ikev2_hash(integ_id: int) -> str:
    # IOS/ASA print SHA96 for HMAC-SHA1-96 (seen in the public samples);
    # an AEAD cipher has no integrity transform: N/A
    names: dict[int, str] = {
        IntegId.NONE: "N/A", IntegId.HMAC_MD5_96: "MD596", IntegId.HMAC_SHA1_96: "SHA96",
        IntegId.AES_XCBC_96: "XCBC96", IntegId.HMAC_SHA2_256_128: "SHA256",
        IntegId.HMAC_SHA2_384_192: "SHA384", IntegId.HMAC_SHA2_512_256: "SHA512",
    }
    return names.get(integ_id, str(integ_id))


# -- vpn-sessiondb: "Encryption : IKEv2: (1)AES256", "Hashing : ... SHA512" -----

def session_encr(encr_id: int, bits: int) -> str:
    if encr_id == EncrId.AES_CBC:
        return f"AES{bits}"
    if encr_id == _GMAC:
        return f"AES-GMAC-{bits}"
    if is_aead(encr_id):
        return f"AES-GCM-{bits}"
    names: dict[int, str] = {EncrId.DES: "DES", EncrId.TRIPLE_DES: "3DES", EncrId.NULL: "none",
                             EncrId.AES_CTR: f"AES-CTR-{bits}"}
    return names.get(encr_id, str(encr_id))


def session_hash(integ_id: int) -> str:
    names: dict[int, str] = {
        IntegId.NONE: "none", IntegId.HMAC_MD5_96: "MD5", IntegId.HMAC_SHA1_96: "SHA1",
        IntegId.AES_XCBC_96: "XCBC", IntegId.HMAC_SHA2_256_128: "SHA256",
        IntegId.HMAC_SHA2_384_192: "SHA384", IntegId.HMAC_SHA2_512_256: "SHA512",
    }
    return names.get(integ_id, str(integ_id))


def prf_hash(prf_id: int) -> str:
    names: dict[int, str] = {
        PrfId.HMAC_MD5: "MD5", PrfId.HMAC_SHA1: "SHA1", PrfId.HMAC_SHA2_256: "SHA256",
        PrfId.HMAC_SHA2_384: "SHA384", PrfId.HMAC_SHA2_512: "SHA512",
    }
    return names.get(prf_id, str(prf_id))


# -- show crypto ipsec sa: "transform: esp-aes-256 esp-sha-512-hmac" ------------

def esp_transform(encr_id: int, bits: int, integ_id: int) -> str:
    if encr_id == EncrId.AES_CBC:
        encr = "esp-aes" if bits == 128 else f"esp-aes-{bits}"
    elif encr_id == _GMAC:
        encr = "esp-aes-gmac" if bits == 128 else f"esp-aes-gmac-{bits}"
    elif is_aead(encr_id):
        encr = "esp-aes-gcm" if bits == 128 else f"esp-aes-gcm-{bits}"
    else:
        encrs: dict[int, str] = {EncrId.DES: "esp-des", EncrId.TRIPLE_DES: "esp-3des",
                                 EncrId.NULL: "esp-null"}
        encr = encrs.get(encr_id, f"esp-{encr_id}")
    integs: dict[int, str] = {
        IntegId.NONE: "esp-null-hmac", IntegId.HMAC_MD5_96: "esp-md5-hmac", IntegId.HMAC_SHA1_96: "esp-sha-hmac",
        IntegId.HMAC_SHA2_256_128: "esp-sha-256-hmac", IntegId.HMAC_SHA2_384_192: "esp-sha-384-hmac",
        IntegId.HMAC_SHA2_512_256: "esp-sha-512-hmac", IntegId.AES_XCBC_96: "esp-aes-xcbc-mac",
    }
    integ = integs.get(integ_id, f"esp-{integ_id}-hmac")
    return f"{encr} {integ}"


def esp_iv_size(encr_id: int) -> int:
    if is_aead(encr_id):
        return 8  # RFC 4106 §3.1, RFC 4543 §3.1
    if encr_id == EncrId.NULL:
        return 0  # RFC 2410
    return 8 if encr_id in (EncrId.DES, EncrId.TRIPLE_DES) else 16


def esp_block_size(encr_id: int) -> int:
    if is_aead(encr_id) or encr_id == EncrId.NULL:
        return 4  # RFC 4303 §2.4: 4-byte alignment only
    return 8 if encr_id in (EncrId.DES, EncrId.TRIPLE_DES) else 16


def esp_icv_size(encr_id: int, integ_id: int) -> int:
    if is_aead(encr_id):
        aead_icvs: dict[int, int] = {EncrId.AES_GCM_8: 8, EncrId.AES_GCM_12: 12}
        return aead_icvs.get(encr_id, 16)
    icvs: dict[int, int] = {IntegId.NONE: 0, IntegId.HMAC_SHA2_256_128: 16,
                            IntegId.HMAC_SHA2_384_192: 24, IntegId.HMAC_SHA2_512_256: 32}
    return icvs.get(integ_id, 12)


# -- times -----------------------------------------------------------------

def duration(seconds: float) -> str:
    """`2h:21m:21s`, and `10d 7h:26m:52s` past a day (vpn-sessiondb samples)."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours}h:{minutes:02d}m:{secs:02d}s"
    return f"{days}d {clock}" if days else clock


def login_time(epoch: float) -> str:
    """`14:28:09 CDT Tue Mar 17 2020`, in the local time zone."""
    t = time.localtime(epoch)
    return (f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {time.strftime('%Z', t)} "
            f"{time.strftime('%a %b', t)} {t.tm_mday} {t.tm_year}")


def audit_session_id(local_address: str, unique_id: int, established_epoch: float) -> str:
    """`Audt Sess ID`: the ASA's sample `ac1063fe003fa0005e715555` reads as
    device address, session handle and login time, 8 hex digits each. An
    IPv6 device address gives its low 32 bits (*our choice*: no sample)."""
    address = int(ipaddress.ip_address(local_address)) & 0xFFFFFFFF
    return f"{address:08x}{unique_id & 0xFFFFFFFF:08x}{int(established_epoch) & 0xFFFFFFFF:08x}"


def dynamic_crypto_map(interface: str) -> tuple[str, int]:
    """The crypto map an RA VPN's Child SAs hang off: FMC deploys a dynamic
    map `CSM_<nameif>_map_dynamic`, sequence 1, under `CSM_<nameif>_map`
    (unconfirmed beyond public FMC-generated configurations)."""
    return f"CSM_{interface}_map_dynamic", 1
