"""Proposal selection (RFC 7296 §2.7, §3.3) against the configured FTD
IKEv2 policies and IKEv2 IPsec proposals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from ..conf.model import IkePolicy, IpsecProposal
from ..iana import DhId, EncrId, EsnId, IntegId, PrfId, ProtocolId, TransformType
from ..wire.payloads import Proposal, Transform

MIN_ESP_SPI = 256  # RFC 4303 §2.1
IKE_LIFETIME_DEFAULT = 86400  # FTD: crypto ikev2 policy lifetime seconds
AEAD_CIPHERS = frozenset({EncrId.AES_GCM_8, EncrId.AES_GCM_12, EncrId.AES_GCM_16, EncrId.NULL_AUTH_AES_GMAC})


def _name(enum: type, value: int) -> str:
    try:
        return enum(value).name
    except ValueError:
        return str(value)


_TRANSFORM_NAMES: dict[int, type] = {TransformType.ENCR: EncrId, TransformType.PRF: PrfId,
                                     TransformType.INTEG: IntegId, TransformType.DH: DhId}


def describe_offer(proposals: Sequence[Proposal], limit: int = 4) -> str:
    """What a peer proposed, in strongSwan's notation (`IKE:AES_CBC_256/
    HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024`), for the line that says why
    nothing matched; `limit` proposals at most, the rest counted."""
    out = []
    for proposal in proposals[:limit]:
        names = []
        order = (TransformType.ENCR, TransformType.INTEG, TransformType.PRF, TransformType.DH)
        for t in sorted(proposal.transforms, key=lambda t: order.index(t.type) if t.type in order else len(order)):
            kind = _TRANSFORM_NAMES.get(t.type)
            if kind is None:
                continue  # ESN and unknown transform types say nothing about the mismatch
            name = _name(kind, t.id)
            names.append(f"{name}_{t.key_length}" if t.type == TransformType.ENCR and t.key_length else
                         (f"PRF_{name}" if t.type == TransformType.PRF else name))
        out.append(f"{_name(ProtocolId, proposal.protocol)}:{'/'.join(names) or '(none)'}")
    more = len(proposals) - limit
    return ", ".join(out) + (f" (+{more} more)" if more > 0 else "")


def describe_policies(policies: Sequence[IkePolicy]) -> str:
    """Our IKEv2 policies, as configured, beside what a peer offered."""
    return "; ".join(
        f"{p.name}: " + "/".join(["|".join(f"{_name(EncrId, e)}_{b}" if b else _name(EncrId, e) for e, b in p.encryption),
                                  "|".join(_name(IntegId, i) for i in p.integrity),
                                  "|".join(f"PRF_{_name(PrfId, f)}" for f in p.prf),
                                  "|".join(_name(DhId, g) for g in p.dh_groups)])
        for p in policies) or "(none)"


def describe_ipsec_proposals(proposals: Sequence[IpsecProposal], pfs: "Pfs | None" = None) -> str:
    """Our IPsec proposals (and the PFS group demanded), beside an offer."""
    text = "; ".join(
        f"{p.name}: " + "/".join(["|".join(f"{_name(EncrId, e)}_{b}" if b else _name(EncrId, e) for e, b in p.encryption),
                                  "|".join(_name(IntegId, i) for i in p.integrity)])
        for p in proposals) or "(none)"
    if pfs is not None and pfs.required and pfs.groups:
        text += f" with PFS {'|'.join(_name(DhId, g) for g in pfs.groups)}"
    return text


@dataclass(frozen=True, slots=True)
class IkeSuite:
    encr_id: int
    encr_bits: int
    integ_id: int  # IntegId.NONE with AEAD
    prf_id: int
    dh_id: int

    @property
    def is_aead(self) -> bool:
        return self.encr_id in AEAD_CIPHERS

    def transforms(self) -> list[Transform]:
        out = [Transform(TransformType.ENCR, self.encr_id, key_length(self.encr_bits)),
               Transform(TransformType.PRF, self.prf_id)]
        if not self.is_aead:
            out.append(Transform(TransformType.INTEG, self.integ_id))
        out.append(Transform(TransformType.DH, self.dh_id))
        return out

    def describe(self) -> str:
        """strongSwan's notation, which `swanctl --list-sas` also prints."""
        parts = [f"{_name(EncrId, self.encr_id)}-{self.encr_bits}"]
        if not self.is_aead:
            parts.append(_name(IntegId, self.integ_id))
        parts.append(f"PRF_{_name(PrfId, self.prf_id)}")
        parts.append(_name(DhId, self.dh_id))
        return "/".join(parts)


@dataclass(frozen=True, slots=True)
class EspSuite:
    encr_id: int
    encr_bits: int
    integ_id: int
    esn: bool
    dh_id: int = 0  # the PFS group of a CREATE_CHILD_SA (RFC 7296 §1.3.1); 0: none

    @property
    def is_aead(self) -> bool:
        return self.encr_id in AEAD_CIPHERS

    def transforms(self) -> list[Transform]:
        out = [Transform(TransformType.ENCR, self.encr_id, key_length(self.encr_bits))]
        if not self.is_aead:
            out.append(Transform(TransformType.INTEG, self.integ_id))
        if self.dh_id:
            out.append(Transform(TransformType.DH, self.dh_id))
        out.append(Transform(TransformType.ESN, EsnId.ESN if self.esn else EsnId.NO_ESN))
        return out

    def describe(self) -> str:
        parts = [f"{_name(EncrId, self.encr_id)}-{self.encr_bits}"]
        if not self.is_aead:
            parts.append(_name(IntegId, self.integ_id))
        return "/".join(parts)


def key_length(bits: int) -> int | None:
    """The Key Length attribute for a configured key size: none for the
    fixed-key ciphers (3DES, DES, NULL), which the configuration gives 0
    bits (RFC 7296 §3.3.5: only variable-length ciphers carry it)."""
    return bits or None


def _by_type(proposal: Proposal) -> dict[int, list[Transform]]:
    out: dict[int, list[Transform]] = {}
    for t in proposal.transforms:
        if t.other_attributes:
            continue  # RFC 7296 §3.3.6: an attribute we don't know makes the transform unacceptable
        out.setdefault(t.type, []).append(t)
    return out


def _first_encr(offered: Iterable[Transform], allowed: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    for t in offered:
        for encr_id, bits in allowed:
            if t.id == encr_id and t.key_length == key_length(bits):
                return encr_id, bits
    return None


def _first(offered: Iterable[Transform], allowed: Sequence[int]) -> int | None:
    for t in offered:
        if t.id in allowed:
            return t.id
    return None


def select_ike(offered: Sequence[Proposal], policies: Sequence[IkePolicy],
               spi_size: int = 0) -> tuple[Proposal, IkeSuite, IkePolicy] | None:
    """Our policies in priority order (lowest number first, as the FTD does),
    and within a policy the peer's order of proposals and transforms.
    `spi_size` is 0 in IKE_SA_INIT and 8 in an IKE rekey (RFC 7296 §3.3.1)."""
    for policy in policies:
        for proposal in offered:
            if proposal.protocol != ProtocolId.IKE or len(proposal.spi) != spi_size:
                continue
            by_type = _by_type(proposal)
            encr = _first_encr(by_type.get(TransformType.ENCR, ()), policy.encryption)
            prf = _first(by_type.get(TransformType.PRF, ()), policy.prf)
            dh = _first(by_type.get(TransformType.DH, ()), policy.dh_groups)
            if encr is None or prf is None or dh is None:
                continue
            if encr[0] in AEAD_CIPHERS:
                # RFC 5282 §8: an AEAD proposal carries no integrity, or NONE.
                integ_offer = by_type.get(TransformType.INTEG, [])
                if any(t.id != IntegId.NONE for t in integ_offer):
                    continue
                integ = int(IntegId.NONE)
            else:
                found = _first(by_type.get(TransformType.INTEG, ()), policy.integrity)
                if found is None:
                    continue
                integ = found
            return proposal, IkeSuite(encr[0], encr[1], integ, prf, dh), policy
    return None


@dataclass(frozen=True)
class Pfs:
    """Which DH groups a CREATE_CHILD_SA may use for PFS (RFC 7296 §1.3.1),
    ours first; `required`: the crypto map's `set pfs` demands one of them."""

    groups: tuple[int, ...] = ()
    required: bool = False


IN_IKE_AUTH = None  # RFC 7296 §1.2: no KE in IKE_AUTH, so no PFS for the first Child SA


def _pfs_group(offered: list[Transform], pfs: Pfs | None) -> int | None:
    """The DH group for a proposal's DH transforms, 0 for none, None if the
    proposal is unacceptable."""
    groups = {t.id for t in offered}
    without = not groups or DhId.NONE in groups
    if pfs is IN_IKE_AUTH:
        # PFS groups in IKE_AUTH are ignored by RFC 7296 §1.2; only accept a
        # proposal that also offers NONE
        return 0 if without else None
    chosen = next((g for g in pfs.groups if g in groups), None)
    if chosen is not None:
        return chosen
    return 0 if without and not pfs.required else None


def select_esp(offered: Sequence[Proposal], proposals: Sequence[IpsecProposal],
               pfs: Pfs | None = IN_IKE_AUTH) -> tuple[Proposal, EspSuite, IpsecProposal] | None:
    for ours in proposals:
        for proposal in offered:
            if proposal.protocol != ProtocolId.ESP or len(proposal.spi) != 4:
                continue
            if int.from_bytes(proposal.spi, "big") < MIN_ESP_SPI:
                continue  # RFC 4303 §2.1: 0 is never sent, 1-255 are reserved
            by_type = _by_type(proposal)
            dh = _pfs_group(by_type.get(TransformType.DH, []), pfs)
            if dh is None:
                continue
            encr = _first_encr(by_type.get(TransformType.ENCR, ()), ours.encryption)
            if encr is None:
                continue
            if encr[0] in AEAD_CIPHERS:
                if any(t.id != IntegId.NONE for t in by_type.get(TransformType.INTEG, [])):
                    continue
                integ = int(IntegId.NONE)
            else:
                found = _first(by_type.get(TransformType.INTEG, ()), ours.integrity)
                if found is None:
                    continue
                integ = found
            esn_offer = [t.id for t in by_type.get(TransformType.ESN, [])]
            if esn_offer and EsnId.NO_ESN not in esn_offer:
                continue  # we do not do ESN yet: the data plane counters are 32-bit
            return proposal, EspSuite(encr[0], encr[1], integ, False, dh), ours
    return None


def ike_lifetime(suite: IkeSuite, policies: Sequence[IkePolicy]) -> int:
    """The lifetime of the policy that admitted the suite: the first, in
    priority order, that allows all four transforms (as select_ike chose)."""
    for p in policies:
        if ((suite.encr_id, suite.encr_bits) in p.encryption and suite.prf_id in p.prf
                and suite.dh_id in p.dh_groups and (suite.is_aead or suite.integ_id in p.integrity)):
            return p.lifetime_seconds
    return IKE_LIFETIME_DEFAULT


def esp_offer(proposals: Sequence[IpsecProposal], spi: int, dh_group: int = 0) -> list[Proposal]:
    """Our IPsec proposals as a CREATE_CHILD_SA request of ours offers them
    (the inverse of `select_esp`): AEAD ciphers in a proposal of their own,
    without integrity (RFC 7296 §3.3), the PFS group if any, no ESN."""
    spi_bytes = spi.to_bytes(4, "big")
    out: list[Proposal] = []
    dh = [Transform(TransformType.DH, dh_group)] if dh_group else []
    esn = [Transform(TransformType.ESN, EsnId.NO_ESN)]
    for ours in proposals:
        aead = [Transform(TransformType.ENCR, e, key_length(bits)) for e, bits in ours.encryption
                if e in AEAD_CIPHERS]
        other = [Transform(TransformType.ENCR, e, key_length(bits)) for e, bits in ours.encryption
                 if e not in AEAD_CIPHERS]
        if aead:
            out.append(Proposal(len(out) + 1, ProtocolId.ESP, spi_bytes, aead + dh + esn))
        if other and ours.integrity:
            integ = [Transform(TransformType.INTEG, i) for i in ours.integrity]
            out.append(Proposal(len(out) + 1, ProtocolId.ESP, spi_bytes, other + integ + dh + esn))
    return out
