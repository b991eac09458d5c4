"""Proposal selection (RFC 7296 §2.7, §3.3) against FTD IKEv2 policies."""

from __future__ import annotations

from ikev2d.conf.model import IkePolicy, IpsecProposal
from ikev2d.iana import DhId, EncrId, EsnId, IntegId, PrfId, ProtocolId, TransformType as T
from ikev2d.tasks.proposals import esp_offer, select_esp, select_ike
from ikev2d.wire.payloads import Proposal, Transform

NSA = IkePolicy(name="NSA", priority=10, encryption=((EncrId.AES_CBC, 256),), integrity=(IntegId.HMAC_SHA2_512_256,),
                prf=(PrfId.HMAC_SHA2_512,), dh_groups=(DhId.MODP_3072,), lifetime_seconds=86400)
GCM = IkePolicy(name="GCM", priority=20, encryption=((EncrId.AES_GCM_16, 256),), integrity=(IntegId.NONE,),
                prf=(PrfId.HMAC_SHA2_384,), dh_groups=(DhId.ECP_384,), lifetime_seconds=86400)


def ike(*transforms: Transform, number: int = 1) -> Proposal:
    return Proposal(number, ProtocolId.IKE, b"", list(transforms))


NSA_OFFER = [Transform(T.ENCR, EncrId.AES_CBC, 256), Transform(T.PRF, PrfId.HMAC_SHA2_512),
             Transform(T.INTEG, IntegId.HMAC_SHA2_512_256), Transform(T.DH, DhId.MODP_3072)]


def test_nsa_suite_is_selected() -> None:
    chosen = select_ike([ike(*NSA_OFFER)], [NSA])
    assert chosen is not None
    assert chosen[1].describe() == "AES_CBC-256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/MODP_3072"


def test_key_length_must_match() -> None:
    offer = [Transform(T.ENCR, EncrId.AES_CBC, 128)] + NSA_OFFER[1:]
    assert select_ike([ike(*offer)], [NSA]) is None


def test_unknown_transform_attribute_makes_the_transform_unacceptable() -> None:
    """RFC 7296 §3.3.6."""
    odd = Transform(T.ENCR, EncrId.AES_CBC, 256, other_attributes=b"\x80\x63\x00\x01")
    assert select_ike([ike(odd, *NSA_OFFER[1:])], [NSA]) is None


def test_policies_in_priority_order_win_over_the_peers_order() -> None:
    gcm_offer = ike(Transform(T.ENCR, EncrId.AES_GCM_16, 256), Transform(T.PRF, PrfId.HMAC_SHA2_384),
                    Transform(T.DH, DhId.ECP_384), number=1)
    nsa_offer = ike(*NSA_OFFER, number=2)
    proposal, suite, policy = select_ike([gcm_offer, nsa_offer], [NSA, GCM])
    assert policy.name == "NSA" and proposal.number == 2
    assert suite.is_aead is False


def test_aead_proposal_with_real_integrity_is_refused() -> None:
    bad = ike(Transform(T.ENCR, EncrId.AES_GCM_16, 256), Transform(T.PRF, PrfId.HMAC_SHA2_384),
              Transform(T.INTEG, IntegId.HMAC_SHA2_256_128), Transform(T.DH, DhId.ECP_384))
    assert select_ike([bad], [GCM]) is None


def test_esp_needs_a_four_byte_spi_and_no_esn() -> None:
    ours = IpsecProposal(name="NSA", encryption=((EncrId.AES_CBC, 256),), integrity=(IntegId.HMAC_SHA2_512_256,),
                         lifetime_seconds=28800, lifetime_kilobytes=4608000)
    transforms = [Transform(T.ENCR, EncrId.AES_CBC, 256), Transform(T.INTEG, IntegId.HMAC_SHA2_512_256)]
    good = Proposal(1, ProtocolId.ESP, b"\x01\x02\x03\x04", transforms + [Transform(T.ESN, EsnId.NO_ESN)])
    esn_only = Proposal(1, ProtocolId.ESP, b"\x01\x02\x03\x04", transforms + [Transform(T.ESN, EsnId.ESN)])
    chosen = select_esp([good], [ours])
    assert chosen is not None and chosen[1].describe() == "AES_CBC-256/HMAC_SHA2_512_256"
    assert select_esp([esn_only], [ours]) is None


def test_our_child_rekey_offers_fixed_key_ciphers_without_a_key_length() -> None:
    """RFC 7296 §3.3.5: only variable-length ciphers carry Key Length; our
    offer of 3DES must be one select_esp (ours or a peer's) can match."""
    ours = IpsecProposal(name="Legacy", encryption=((EncrId.TRIPLE_DES, 0), (EncrId.AES_CBC, 128)),
                         integrity=(IntegId.HMAC_SHA1_96,), lifetime_seconds=28800, lifetime_kilobytes=4608000)
    (offer,) = esp_offer([ours], 0x1234)
    encr = [(t.id, t.key_length) for t in offer.transforms if t.type == T.ENCR]
    assert encr == [(EncrId.TRIPLE_DES, None), (EncrId.AES_CBC, 128)]
    chosen = select_esp([offer], [ours])
    assert chosen is not None and chosen[1].encr_id == EncrId.TRIPLE_DES


def test_a_refused_offer_is_described_beside_what_is_configured() -> None:
    """The line that says why nothing matched names both sides."""
    from ikev2d.tasks.proposals import describe_offer, describe_policies

    offer = Proposal(1, ProtocolId.IKE, b"", [Transform(T.ENCR, EncrId.TRIPLE_DES), Transform(T.ENCR, EncrId.AES_CBC, 128),
                                              Transform(T.INTEG, IntegId.HMAC_SHA1_96), Transform(T.PRF, PrfId.HMAC_SHA1),
                                              Transform(T.DH, DhId.MODP_1024)])
    assert describe_offer([offer]) == "IKE:TRIPLE_DES/AES_CBC_128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024"
    # in that order whatever order the peer sent its transforms in
    assert describe_offer([Proposal(1, ProtocolId.IKE, b"", offer.transforms[::-1])]) == \
        "IKE:AES_CBC_128/TRIPLE_DES/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024"
    assert describe_offer([offer] * 6, limit=2).endswith("(+4 more)")
    nsa = IkePolicy(name="NSA", priority=10, encryption=((EncrId.AES_CBC, 256),), integrity=(IntegId.HMAC_SHA2_512_256,),
                    prf=(PrfId.HMAC_SHA2_512,), dh_groups=(DhId.MODP_3072,), lifetime_seconds=86400)
    assert describe_policies([nsa]) == "NSA: AES_CBC_256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/MODP_3072"
