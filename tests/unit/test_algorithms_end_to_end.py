"""Every algorithm the configuration accepts works on the wire (issue 9,
point 2): each FTD IKEv2 policy suite and DH group, and each IPsec proposal,
negotiated by two peers in one process (lab.initiator against the
responder), then carried by the userspace data plane and named for the
kernel's. And the guard that keeps it so: every name the loader's tables
accept resolves in the crypto registries and both data planes."""

from __future__ import annotations

from pathlib import Path

import pytest

from esp.spec import EspAlgorithms
from esp.userspace.suites import check_algorithms, make_opener, make_sealer
from esp.xfrm.algorithms import kernel_algs
from ikev2d.conf import algorithms as conf_alg
from ikev2d.core import Responder
from ikev2d.crypto.dh import get_dh_group
from ikev2d.crypto.keymat import derive_child_keys
from ikev2d.crypto.transforms import get_encr, get_integ, get_prf
from ikev2d.effects import InstallChildSa
from ikev2d.iana import DhId, EncrId, IntegId, PrfId
from ikev2d.settings import build_settings
from lab.initiator import IkeFailure
from responder_harness import Harness, make_config

NSA_POLICY = ("      encryption: [AES-256]\n      integrity: [SHA512]\n      prf: [SHA512]\n"
              "      dh_groups: [15]\n")
NSA_PROPOSAL = "      esp_encryption: [AES-256]\n      esp_hash: [SHA-512]\n"


def harness_with(tmp_path: Path, policy: str = NSA_POLICY, proposal: str = NSA_PROPOSAL) -> Harness:
    pki = tmp_path / "pki-store"
    pki.mkdir(exist_ok=True)
    config = make_config(tmp_path, **{f"store: {tmp_path / 'pki'}": f"store: {pki}",
                                      NSA_POLICY: policy, NSA_PROPOSAL: proposal})
    return Harness(Responder(build_settings(config)))


# (FTD names, wire: (encr id, bits or None), integ, prf)
IKE_SUITES = [
    ("AES", "SHA256", (EncrId.AES_CBC, 128), IntegId.HMAC_SHA2_256_128, PrfId.HMAC_SHA2_256),
    ("AES-192", "SHA384", (EncrId.AES_CBC, 192), IntegId.HMAC_SHA2_384_192, PrfId.HMAC_SHA2_384),
    ("AES-256", "SHA512", (EncrId.AES_CBC, 256), IntegId.HMAC_SHA2_512_256, PrfId.HMAC_SHA2_512),
    ("3DES", "SHA", (EncrId.TRIPLE_DES, None), IntegId.HMAC_SHA1_96, PrfId.HMAC_SHA1),
    ("DES", "MD5", (EncrId.DES, None), IntegId.HMAC_MD5_96, PrfId.HMAC_MD5),
    ("AES-256", "MD5", (EncrId.AES_CBC, 256), IntegId.HMAC_MD5_96, PrfId.HMAC_MD5),
    ("AES-GCM", "NULL", (EncrId.AES_GCM_16, 128), IntegId.NONE, PrfId.HMAC_SHA2_256),
    ("AES-GCM-192", "NULL", (EncrId.AES_GCM_16, 192), IntegId.NONE, PrfId.HMAC_SHA2_384),
    ("AES-GCM-256", "NULL", (EncrId.AES_GCM_16, 256), IntegId.NONE, PrfId.HMAC_SHA2_512),
]


@pytest.mark.parametrize(("encr_name", "integ_name", "encr", "integ", "prf"), IKE_SUITES,
                         ids=[f"{s[0]}-{s[1]}" for s in IKE_SUITES])
def test_each_ike_suite_connects(tmp_path: Path, encr_name: str, integ_name: str,
                                 encr: tuple[int, int | None], integ: int, prf: int) -> None:
    prf_name = conf_alg.PRF_NAMES[PrfId(prf)]
    policy = (f"      encryption: [{encr_name}]\n      integrity: [{integ_name}]\n      prf: [{prf_name}]\n"
              "      dh_groups: [2]\n")
    h = harness_with(tmp_path, policy)
    client = h.client(ike_encr=encr, ike_integ=integ, ike_prf=prf, dh_groups=(DhId.MODP_1024,))
    assert client.connect().address is not None
    assert (client.encr.transform_id, client.prf.transform_id) == (encr[0], prf)
    (sa,) = h.responder.sas.values()
    assert (sa.suite.encr_id, sa.suite.integ_id, sa.suite.prf_id) == (encr[0], integ, prf)


# every DH group of the FTD's IKEv2 policy (docs/ftd-behaviour.md)
DH_GROUPS = [1, 2, 5, 14, 15, 16, 19, 20, 21, 24, 31]


@pytest.mark.parametrize("group", DH_GROUPS)
def test_each_dh_group_connects(tmp_path: Path, group: int) -> None:
    policy = NSA_POLICY.replace("dh_groups: [15]", f"dh_groups: [{group}]")
    h = harness_with(tmp_path, policy)
    client = h.client(dh_groups=(group,))
    assert client.connect().address is not None
    (sa,) = h.responder.sas.values()
    assert sa.suite.dh_id == group


def test_the_policys_group_is_asked_for_with_invalid_ke(tmp_path: Path) -> None:
    # RFC 7296 §1.3: a KE in another offered group gets INVALID_KE_PAYLOAD naming
    # the policy's (here Windows' default, group 2), and the retry connects
    h = harness_with(tmp_path, NSA_POLICY.replace("dh_groups: [15]", "dh_groups: [2]"))
    client = h.client(dh_groups=(DhId.ECP_256, DhId.MODP_1024))
    assert client.connect().address is not None
    assert client.dh_group == DhId.MODP_1024


def test_a_group_outside_the_policy_is_no_proposal_chosen_not_invalid_syntax(tmp_path: Path) -> None:
    # what failed before: a weak group the policy lists was chosen, then the DH
    # job could not compute it and the client got INVALID_SYNTAX
    h = harness_with(tmp_path, NSA_POLICY.replace("dh_groups: [15]", "dh_groups: [5]"))
    with pytest.raises(IkeFailure) as caught:
        h.client(dh_groups=(DhId.MODP_1024,)).connect()
    assert caught.value.notify == 14  # NO_PROPOSAL_CHOSEN
    assert h.client(3, dh_groups=(DhId.MODP_1536,)).connect().address is not None


# (FTD names, wire: (encr id, bits or None), integ)
ESP_SUITES = [
    ("AES", "SHA-1", (EncrId.AES_CBC, 128), IntegId.HMAC_SHA1_96),
    ("AES-192", "SHA-256", (EncrId.AES_CBC, 192), IntegId.HMAC_SHA2_256_128),
    ("AES-256", "SHA-384", (EncrId.AES_CBC, 256), IntegId.HMAC_SHA2_384_192),
    ("3DES", "SHA-1", (EncrId.TRIPLE_DES, None), IntegId.HMAC_SHA1_96),
    ("DES", "MD5", (EncrId.DES, None), IntegId.HMAC_MD5_96),
    ("NULL", "SHA-512", (EncrId.NULL, None), IntegId.HMAC_SHA2_512_256),
    ("AES-GCM", "NULL", (EncrId.AES_GCM_16, 128), IntegId.NONE),
    ("AES-GCM-192", "NULL", (EncrId.AES_GCM_16, 192), IntegId.NONE),
    ("AES-GCM-256", "NULL", (EncrId.AES_GCM_16, 256), IntegId.NONE),
    ("AES-GMAC", "NULL", (EncrId.NULL_AUTH_AES_GMAC, 128), IntegId.NONE),
    ("AES-GMAC-192", "NULL", (EncrId.NULL_AUTH_AES_GMAC, 192), IntegId.NONE),
    ("AES-GMAC-256", "NULL", (EncrId.NULL_AUTH_AES_GMAC, 256), IntegId.NONE),
]


@pytest.mark.parametrize(("encr_name", "hash_name", "encr", "integ"), ESP_SUITES,
                         ids=[f"{s[0]}-{s[1]}" for s in ESP_SUITES])
def test_each_esp_proposal_connects_and_carries_packets(tmp_path: Path, encr_name: str, hash_name: str,
                                                        encr: tuple[int, int | None], integ: int) -> None:
    h = harness_with(tmp_path, proposal=f"      esp_encryption: [{encr_name}]\n      esp_hash: [{hash_name}]\n")
    client = h.client(esp_encr=encr, esp_integ=integ)
    assert client.connect().address is not None
    (install,) = [e for e in h.effects if isinstance(e, InstallChildSa)]
    spec = install.spec
    alg = spec.algorithms
    assert (alg.encr_id, alg.integ_id) == (encr[0], integ)
    # the initiator's own KEYMAT split (RFC 7296 §2.17) for the negotiated sizes:
    # what we seal with our outbound keys, the client's inbound keys open
    keys = derive_child_keys(client.prf, client.keys.sk_d, client.nonce_i, client.nonce_r,
                             alg.encr_key_size, alg.integ_key_size)
    assert (keys.encr_r, keys.integ_r) == (spec.encr_key_out, spec.integ_key_out)
    inner = bytes.fromhex("45000054") + bytes(80)
    header = spec.spi_out.to_bytes(4, "big") + (1).to_bytes(4, "big")
    pad = (-(len(inner) + 2)) % make_sealer(alg, spec.encr_key_out, spec.integ_key_out).align
    padded = inner + bytes(range(1, pad + 1)) + bytes([pad, 4])
    esp = make_sealer(alg, spec.encr_key_out, spec.integ_key_out).seal(header, padded, b"")
    assert make_opener(alg, keys.encr_r, keys.integ_r).open(esp, b"") == padded
    tampered = esp[:-1] + bytes([esp[-1] ^ 1])
    assert make_opener(alg, keys.encr_r, keys.integ_r).open(tampered, b"") is None
    assert kernel_algs(alg.encr_id, alg.integ_id, spec.encr_key_in, spec.integ_key_in)


# -- the guard: nothing accepted that is not implemented ---------------------------


def test_every_ike_policy_name_is_implemented() -> None:
    for encr_id, bits in conf_alg.ENCRYPTION.values():
        assert get_encr(encr_id, bits).ike
    for integ_id in conf_alg.INTEGRITY.values():
        if integ_id != IntegId.NONE:
            get_integ(integ_id)
    for prf_id in conf_alg.PRF.values():
        get_prf(prf_id)
    for group in conf_alg.DH_GROUPS.values():
        for backend in ("gmpy2", "openssl") if group in (1, 2, 5, 14, 15, 16, 24) else ("auto",):
            key = get_dh_group(group, backend).generate()
            other = get_dh_group(group, backend).generate()
            assert key.exchange(other.public_bytes) == other.exchange(key.public_bytes)


def test_every_ipsec_proposal_pairing_is_implemented_in_both_data_planes() -> None:
    for encr_id, bits in conf_alg.ESP_ENCRYPTION.values():
        encr = get_encr(encr_id, bits)
        integs = [IntegId.NONE] if encr_id in conf_alg.AEAD_ENCRYPTION else [
            i for i in conf_alg.ESP_INTEGRITY.values() if i != IntegId.NONE]
        for integ_id in integs:
            integ = get_integ(integ_id) if integ_id else None
            alg = EspAlgorithms(encr_id, bits, integ_id, encr.key_size, integ.key_size if integ else 0,
                                encr.icv_size if encr.is_aead else (integ.icv_size if integ else 0))
            check_algorithms(alg)
            assert kernel_algs(encr_id, integ_id, bytes(encr.key_size), bytes(alg.integ_key_size))
