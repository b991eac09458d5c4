"""Hypothesis strategies that build every wire dataclass within the rules
of RFC 7296 §3 and RFC 7383 §2.5, shared by the test_wire* and
test_protect* modules (imported as `test_wire_strategies`)."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

from hypothesis import given
from hypothesis import strategies as st

from ikev2d.iana import ConfigAttr, IdType, ProtocolId, TsType
from ikev2d.wire.payloads import (
    AUTH, CERT, CERTREQ, CP, EAP, KE, PAYLOAD_CLASSES, SA, SK, SKF, ConfigAttribute, Delete,
    IDi, IDr, Nonce, Notify, Proposal, TrafficSelector, Transform, TSi, TSr, Unknown, Vendor,
)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
critical = st.booleans()


def blob(min_size: int = 0, max_size: int = 64) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=min_size, max_size=max_size)


# -- SA (§3.3) ----------------------------------------------------------------

@st.composite
def other_attribute(draw: st.DrawFn) -> bytes:
    """One transform attribute other than Key Length, TV or TLV (§3.3.5)."""
    atype = draw(st.integers(1, 0x7FFF).filter(lambda t: t != 14))
    if draw(st.booleans()):
        return struct.pack("!HH", 0x8000 | atype, draw(u16))
    value = draw(blob(0, 12))
    return struct.pack("!HH", atype, len(value)) + value


transforms = st.builds(
    Transform,
    type=u8,
    id=u16,
    key_length=st.none() | u16,
    other_attributes=st.lists(other_attribute(), max_size=2).map(b"".join),
)


@st.composite
def proposals_for(draw: st.DrawFn, number: int) -> Proposal:
    protocol = draw(st.sampled_from([ProtocolId.IKE, ProtocolId.AH, ProtocolId.ESP]) | st.integers(4, 255))
    spi_size = {ProtocolId.IKE: draw(st.sampled_from([0, 8])), ProtocolId.AH: 4, ProtocolId.ESP: 4}.get(
        protocol, draw(st.integers(0, 16)))
    return Proposal(number, int(protocol), draw(blob(spi_size, spi_size)), draw(st.lists(transforms, max_size=6)))


@st.composite
def sa_payloads(draw: st.DrawFn) -> SA:
    if draw(st.booleans()):
        # a response: one proposal, carrying whatever number it was chosen with
        props = [draw(proposals_for(draw(st.integers(1, 255))))]
    else:
        props = [draw(proposals_for(n)) for n in range(1, draw(st.integers(1, 4)) + 1)]
    return SA(props, critical=draw(critical))


# -- TS (§3.13) and CP (§3.15) ------------------------------------------------

v4 = st.integers(0, 2**32 - 1).map(IPv4Address)
v6 = st.integers(0, 2**128 - 1).map(IPv6Address)


@st.composite
def selectors(draw: st.DrawFn) -> TrafficSelector:
    if draw(st.booleans()):
        ts_type, addr = TsType.TS_IPV4_ADDR_RANGE, v4
    else:
        ts_type, addr = TsType.TS_IPV6_ADDR_RANGE, v6
    return TrafficSelector(int(ts_type), draw(u8), draw(u16), draw(u16), draw(addr), draw(addr))


ts_payloads = st.builds(TSi, st.lists(selectors(), min_size=1, max_size=5), critical=critical) | st.builds(
    TSr, st.lists(selectors(), min_size=1, max_size=5), critical=critical)

_FIXED = {
    ConfigAttr.INTERNAL_IP4_ADDRESS: 4, ConfigAttr.INTERNAL_IP4_NETMASK: 4, ConfigAttr.INTERNAL_IP4_DNS: 4,
    ConfigAttr.INTERNAL_IP4_NBNS: 4, ConfigAttr.INTERNAL_IP4_DHCP: 4, ConfigAttr.INTERNAL_IP6_ADDRESS: 17,
    ConfigAttr.INTERNAL_IP6_DNS: 16, ConfigAttr.INTERNAL_IP6_DHCP: 16, ConfigAttr.INTERNAL_IP4_SUBNET: 8,
    ConfigAttr.INTERNAL_IP6_SUBNET: 17,
}


@st.composite
def config_attributes(draw: st.DrawFn) -> ConfigAttribute:
    atype = draw(st.sampled_from(list(ConfigAttr)) | st.integers(0, 0x7FFF))
    if atype in _FIXED:
        size = draw(st.sampled_from([0, _FIXED[atype]]))
    elif atype == ConfigAttr.SUPPORTED_ATTRIBUTES:
        size = 2 * draw(st.integers(0, 6))
    else:
        size = draw(st.integers(0, 40))
    return ConfigAttribute(int(atype), draw(blob(size, size)))


cp_payloads = st.builds(CP, u8, st.lists(config_attributes(), max_size=8), critical=critical)


# -- the simple payloads -----------------------------------------------------

@st.composite
def identities(draw: st.DrawFn) -> IDi | IDr:
    id_type = draw(st.sampled_from(list(IdType)))
    size = {IdType.ID_IPV4_ADDR: 4, IdType.ID_IPV6_ADDR: 16}.get(id_type) or draw(st.integers(1, 64))
    cls = draw(st.sampled_from([IDi, IDr]))
    return cls(int(id_type), draw(blob(size, size)), critical=draw(critical))


@st.composite
def certreqs(draw: st.DrawFn) -> CERTREQ:
    encoding = draw(u8)
    data = draw(blob(0, 64)) if encoding != 4 else b"".join(draw(st.lists(blob(20, 20), max_size=3)))
    return CERTREQ(encoding, data, critical=draw(critical))


@st.composite
def deletes(draw: st.DrawFn) -> Delete:
    protocol = draw(st.sampled_from([ProtocolId.IKE, ProtocolId.AH, ProtocolId.ESP]))
    spis = [] if protocol == ProtocolId.IKE else draw(st.lists(blob(4, 4), max_size=5))
    return Delete(int(protocol), spis, critical=draw(critical))


@st.composite
def notifies(draw: st.DrawFn) -> Notify:
    """§3.10: no SPI, or the protocol's own (4 octets for AH and ESP, 8 for IKE)."""
    protocol = draw(u8)
    size = draw(st.sampled_from({ProtocolId.IKE: [0, 8], ProtocolId.AH: [0, 4], ProtocolId.ESP: [0, 4]}.get(
        protocol, [0, 1, 4, 8])))
    return Notify(draw(u16), protocol, draw(blob(size, size)), draw(blob(0, 40)), critical=draw(critical))


@st.composite
def skf_payloads(draw: st.DrawFn) -> SKF:
    total = draw(st.integers(1, 0xFFFF))
    number = draw(st.integers(1, total))
    inner = draw(st.integers(1, 255)) if number == 1 else 0
    return SKF(inner, number, total, draw(blob(0, 80)), critical=draw(critical))


unknown_types = st.integers(1, 255).filter(lambda t: t not in PAYLOAD_CLASSES)

plain_payloads = st.one_of(
    sa_payloads(),
    st.builds(KE, u16, blob(1, 96), critical=critical),
    identities(),
    st.builds(CERT, u8, blob(1, 96), critical=critical),
    certreqs(),
    st.builds(AUTH, u8, blob(1, 64), critical=critical),
    st.builds(Nonce, blob(16, 256), critical=critical),
    notifies(),
    deletes(),
    st.builds(Vendor, blob(0, 32), critical=critical),
    ts_payloads,
    cp_payloads,
    st.builds(EAP, blob(4, 64), critical=critical),
    st.builds(Unknown, unknown_types, blob(0, 32)),
)

encrypted_payloads = st.builds(SK, u8, blob(0, 96), critical=critical) | skf_payloads()


@st.composite
def payload_chains(draw: st.DrawFn) -> list:
    """Payloads as a message may carry them: an encrypted one only last."""
    chain = draw(st.lists(plain_payloads, max_size=6))
    if draw(st.booleans()):
        chain.append(draw(encrypted_payloads))
    return chain


@given(payload_chains())
def test_strategies_build_encodable_payloads(chain: list) -> None:
    """The strategies stay inside what the encoder can write (a guard for
    the round-trip tests that rely on them)."""
    for p in chain:
        assert len(p.body()) < 0xFFFF - 4
