"""The configuration payload and the Child SA of a remote-access client
(RFC 7296 §2.9, §2.17, §3.15): an address from the pool, the ESP proposal,
selectors narrowed to that address and the group policy's networks, keys
from this exchange's nonces, and the spec the data plane installs."""

from __future__ import annotations

import logging
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, Sequence

from esp.spec import ChildSaSpec, EspAlgorithms

from ..crypto.keymat import derive_child_keys
from ..crypto.transforms import get_encr, get_integ
from ..effects import Effect, Emit, InstallChildSa
from ..events import (AddressAssigned, AddressAssignmentFailed, ChildSaCreated, IkeSaEstablished,
                      NegotiationAborted, SessionStarted)
from ..iana import NotifyType, ProtocolId
from ..pool import AddressPool
from ..settings import protected_ranges
from ..sa_types import ChildSa, PendingChild
from ..wire.payloads import SA, Notify, Payload, Proposal, TSi, TSr
from .config_payload import application_version, build_reply, requested_ipv4, requested_ipv6
from ..conf.model import IpsecProposal
from .proposals import IN_IKE_AUTH, EspSuite, Pfs, describe_ipsec_proposals, describe_offer, select_esp
from .traffic_selectors import (ALL_IPV6, MAX_CHILD_NETWORKS, MAX_TS_PER_PAYLOAD, Network, TooManySelectors,
                                narrow_to_address, narrow_to_ranges, network_count, network_ranges,
                                selectors_to_networks)

if TYPE_CHECKING:
    from ..sa import IkeSa

log = logging.getLogger("ikev2d.sa")

# What IPv6 TSr may cover: everything, whatever the IPv4 split tunnel (the
# ASA's ipv6-split-tunnel-policy is a setting of its own, not modelled:
# docs/ftd-behaviour.md, "IPv6 inside the tunnel")
IPV6_PROTECTED = network_ranges([ALL_IPV6])

# 750003's words for a proposal that matches nothing (syslog/catalogue.py)
NO_MATCHING_POLICY = "Failed to find a matching policy"

def first_child(sa: "IkeSa", pending: PendingChild, now: float, effects: list[Effect],
                prefer: IPv4Address | None = None) -> list[Payload]:
    """The configuration payload and Child SA the first IKE_AUTH asked for
    (the pool address `prefer` if it is free: the one a reconnecting
    client had)."""
    assert sa.profile is not None and sa.group_policy is not None
    profile, policy = sa.profile, sa.group_policy

    def up(address: IPv4Address | None = None) -> None:
        # SA UP comes after the address lines, as an FTD logs them
        effects.append(Emit(IkeSaEstablished(sa.name, sa.local, sa.remote, sa.username,
                                             sa.proposal_name, sa.unique_id, policy.name,
                                             address, application_version(pending.cp),
                                             sa.lease6[1] if sa.lease6 is not None else None)))

    if pending.sa is None or pending.tsi is None or pending.tsr is None:
        up()
        return []  # childless IKE SA (RFC 6023)
    if not requested_ipv4(pending.cp):
        # a remote-access headend hands out the address; without one the
        # client cannot be routed (RFC 7296 §3.15.4)
        up()
        return [Notify(NotifyType.FAILED_CP_REQUIRED)]
    leased = _lease(sa, prefer)
    if leased is None:
        effects.append(Emit(AddressAssignmentFailed(sa.name, sa.local, sa.remote, sa.username,
                                                    profile.name, sa.unique_id)))
        up()
        return [Notify(NotifyType.INTERNAL_ADDRESS_FAILURE)]
    pool, address = leased
    sa.lease = (pool.name, address)
    ipv6 = _lease6(sa, pending)
    effects.append(Emit(AddressAssigned(sa.name, sa.local, sa.remote, sa.username, pool.name, address,
                                        profile.name, policy.name, sa.unique_id,
                                        sa.lease6[1] if sa.lease6 else None, sa.lease6[0] if sa.lease6 else "")))
    up(address)
    cp_reply = build_reply(address, profile.pool_masks[pool.name], policy, ipv6)
    child = _negotiate_child(sa, pending, address, now, effects)
    if sa.children:
        effects.append(Emit(SessionStarted(sa.name, sa.local, sa.remote, sa.username, sa.unique_id,
                                           address, policy.name)))
    return [cp_reply] + child


def _lease6(sa: "IkeSa", pending: PendingChild) -> tuple[IPv6Address, int] | None:
    """Dual stack: an IPv6 address (and its prefix length) from the
    profile's IPv6 pools when the client asked for one too. None when it did
    not, or none is to be had: the IPv4 session goes on without IPv6
    (RFC 7296 §3.15.4 lets a reply leave out what it cannot give)."""
    assert sa.profile is not None
    if not requested_ipv6(pending.cp):
        return None
    pools6 = sa.profile.pools6
    if not pools6.pools:
        log.info("user %s asked for an IPv6 address; connection profile %s has no IPv6 pool",
                 sa.username, sa.profile.name)
        return None
    framed = sa.authorization.framed_ipv6
    claimed = pools6.claim(sa.session_id, framed) if framed is not None else None
    if framed is not None and claimed is None:
        log.warning("user %s: the AAA server assigned %s, which no free address of the IPv6 pools of connection"
                    " profile %s is; an address from the pool is used instead", sa.username, framed,
                    sa.profile.name)
    leased = (claimed, framed) if claimed is not None and framed is not None else pools6.allocate(sa.session_id)
    if leased is None:
        log.warning("user %s: the IPv6 pools of connection profile %s are exhausted; IPv4 only",
                    sa.username, sa.profile.name)
        return None
    pool6, address6 = leased
    sa.lease6 = (pool6.name, address6)
    return address6, pool6.prefix_length


def _lease(sa: "IkeSa", prefer: IPv4Address | None) -> tuple[AddressPool, IPv4Address] | None:
    """The address the AAA server assigned (Framed-IP-Address) when one of
    the profile's pools holds it and it is free, else one from the pools
    (`prefer` first). Addresses outside the pools are not handed out: the
    data plane and the inside network route the pools (docs/ftd-behaviour.md,
    "RADIUS authorization")."""
    assert sa.profile is not None
    pools = sa.profile.pools
    framed = sa.authorization.framed_ip
    if framed is not None:
        pool = pools.claim(sa.session_id, framed)
        if pool is not None:
            return pool, framed
        holder = pools.pool_of(framed)
        log.warning("user %s: the AAA server assigned %s, %s; an address from the pool is used instead",
                    sa.username, framed, "which another session holds" if holder is not None
                    else "which no address pool of connection profile " + sa.profile.name + " holds")
    return pools.allocate(sa.session_id, prefer)


def _negotiate_child(sa: "IkeSa", pending: PendingChild, address: IPv4Address, now: float,
                     effects: list[Effect]) -> list[Payload]:
    assert pending.sa and pending.tsi and pending.tsr
    negotiated = negotiate_child_sa(sa, pending.sa, pending.tsi, pending.tsr, address, sa.nonce_i,
                                         sa.nonce_r, now, effects)
    if isinstance(negotiated, Notify):
        return [negotiated]
    reply, tsi, tsr, _child = negotiated
    return [reply, tsi, tsr]


def negotiate_child_sa(sa: "IkeSa", offer: SA, tsi_req: TSi, tsr_req: TSr, address: IPv4Address, nonce_i: bytes,
                       nonce_r: bytes, now: float, effects: list[Effect], pfs: Pfs | None = IN_IKE_AUTH,
                       shared_secret: bytes | None = None,
                       replacing: int = 0) -> Notify | tuple[SA, TSi, TSr, ChildSa]:
    """Pick the ESP proposal, narrow the selectors, derive the keys
    (RFC 7296 §2.17, from the nonces of this exchange and, with PFS, the
    new DH secret) and install. `replacing`: the inbound SPI of the Child SA
    a rekey replaces (its successor's SPI is placed as if it were gone)."""
    assert sa.profile is not None and sa.group_policy is not None
    chosen = select_esp(offer.proposals, sa.settings.ipsec_proposals, pfs)
    if chosen is None:
        # the one line that says why, at the default verbosity
        effects.append(Emit(NegotiationAborted(
            sa.name, sa.local, sa.remote, sa.username, NO_MATCHING_POLICY,
            f"no IPsec proposal matches the Child SA proposals: offered {describe_offer(offer.proposals)}; "
            f"configured {describe_ipsec_proposals(sa.settings.ipsec_proposals, pfs)}")))
        return Notify(NotifyType.NO_PROPOSAL_CHOSEN)
    proposal, suite, ours = chosen
    allowed = protected_ranges(sa.group_policy)
    try:
        tsi = narrow_to_address(tsi_req.selectors, address)
        tsr = narrow_to_ranges(tsr_req.selectors, allowed)
        if sa.lease6 is not None:
            # dual stack: the IPv6 selectors side by side with the IPv4 ones,
            # each family only with both sides (RFC 7296 §2.9)
            tsi6 = narrow_to_address(tsi_req.selectors, sa.lease6[1], MAX_TS_PER_PAYLOAD - len(tsi))
            tsr6 = narrow_to_ranges(tsr_req.selectors, IPV6_PROTECTED, MAX_TS_PER_PAYLOAD - len(tsr))
            if tsi6 and tsr6:
                if not (tsi and tsr):
                    tsi, tsr = [], []
                tsi, tsr = tsi + tsi6, tsr + tsr6
        # bounded before anything is installed: refused, the request leaves no state
        limit = max(MAX_CHILD_NETWORKS, network_count(allowed) + 1)
        local_networks = selectors_to_networks(tsr, limit)
        remote_networks = selectors_to_networks(tsi, limit)
    except TooManySelectors as exc:
        effects.append(Emit(NegotiationAborted(sa.name, sa.local, sa.remote, sa.username,
                                               f"Traffic selectors refused: {exc}")))
        return Notify(NotifyType.TS_UNACCEPTABLE)
    if not tsi or not tsr:
        effects.append(Emit(NegotiationAborted(sa.name, sa.local, sa.remote, sa.username,
                                               "There was no IPSEC policy found for received TS")))
        return Notify(NotifyType.TS_UNACCEPTABLE)
    spi_in = sa.new_child_spi(replacing)
    spi_out = int.from_bytes(proposal.spi, "big")
    # the client initiated this exchange: its keys protect what it sends, our inbound
    child = install_child_sa(sa, suite, ours, spi_in, spi_out, nonce_i, nonce_r, local_networks, remote_networks,
                             now, effects, shared_secret, we_initiated=False)
    child.selectors = (TSi(tsi), TSr(tsr))
    reply = Proposal(proposal.number, ProtocolId.ESP, spi_in.to_bytes(4, "big"), suite.transforms())
    return SA([reply]), TSi(tsi), TSr(tsr), child


def install_child_sa(sa: "IkeSa", suite: EspSuite, ours: IpsecProposal, spi_in: int, spi_out: int, nonce_i: bytes,
                     nonce_r: bytes, local_networks: Sequence[Network], remote_networks: Sequence[Network],
                     now: float, effects: list[Effect], shared_secret: bytes | None,
                     we_initiated: bool) -> ChildSa:
    """Derive a negotiated Child SA's keys (RFC 7296 §2.17: those of the
    exchange's initiator come first), add it to `sa` and install it."""
    encr = get_encr(suite.encr_id, suite.encr_bits)
    integ = get_integ(suite.integ_id) if not suite.is_aead else None
    integ_key_size = integ.key_size if integ else 0
    keys = derive_child_keys(sa.prf, sa.keys.sk_d, nonce_i, nonce_r, encr.key_size, integ_key_size, shared_secret)
    mine, theirs = ((keys.encr_i, keys.integ_i), (keys.encr_r, keys.integ_r)) if we_initiated else \
        ((keys.encr_r, keys.integ_r), (keys.encr_i, keys.integ_i))
    nat = sa.nat_peer or sa.nat_local
    spec = ChildSaSpec(
        ike_sa_id=sa.name, spi_in=spi_in, spi_out=spi_out, session=sa.unique_id,
        algorithms=EspAlgorithms(suite.encr_id, suite.encr_bits, suite.integ_id, encr.key_size, integ_key_size,
                                 encr.icv_size if suite.is_aead else (integ.icv_size if integ else 0)),
        encr_key_in=theirs[0], integ_key_in=theirs[1],
        encr_key_out=mine[0], integ_key_out=mine[1],
        local_address=sa.local[0], remote_address=sa.remote[0],
        encap_local_port=sa.local[1] if nat else None, encap_remote_port=sa.remote[1] if nat else None,
        local_selectors=tuple(local_networks), remote_selectors=tuple(remote_networks),
        lifetime_seconds=ours.lifetime_seconds, lifetime_kilobytes=ours.lifetime_kilobytes,
        username=sa.username,
    )
    child = ChildSa(spec, suite, now)
    sa.children.append(child)
    effects.append(InstallChildSa(spec))
    effects.append(Emit(ChildSaCreated(sa.name, sa.local, sa.remote, sa.username, spi_in, spi_out,
                                       suite.describe())))
    return child
