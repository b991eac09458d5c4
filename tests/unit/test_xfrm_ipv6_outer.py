"""XFRM messages with IPv6 outer addresses, byte for byte against the C
structs of include/uapi/linux/xfrm.h: xfrm_address_t holds all 16 bytes,
`family` is AF_INET6 on the state, the template and the SA id, while the
policy selector keeps the inner family (IPv4 here); a mapping event with
IPv6 addresses decodes. Addresses: 2001:2::/48 (RFC 5180)."""

from __future__ import annotations

import ipaddress
import socket
import struct

from esp.xfrm import consts as c
from esp.xfrm.algorithms import kernel_algs
from esp.xfrm.events import parse_event
from esp.xfrm.messages import RESPONSE_CLASSES
from esp.xfrm.model import Encap, MappingEvent, PolicyParams, SaParams, Selector, Template
from esp.xfrm.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, encode_request
from esp.xfrm.policy import newpolicy_message, parse_policy
from esp.xfrm.sa import newsa_message, parse_sa, sa_id_message

ENC_KEY = bytes(range(32))
AUTH_KEY = bytes(range(100, 164))
GATEWAY6, CLIENT6 = "2001:2::1", "2001:2::2"


def a6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


def a4(text: str) -> bytes:
    return socket.inet_aton(text) + bytes(12)


def _sa() -> SaParams:
    return SaParams(src=CLIENT6, dst=GATEWAY6, spi=0xC0FFEE01, reqid=7,
                    algs=tuple(kernel_algs(12, 14, ENC_KEY, AUTH_KEY)), encap=Encap(4500, 4501))


def test_newsa_with_ipv6_outer_addresses_carries_16_bytes_and_af_inet6() -> None:
    data = encode_request(newsa_message(_sa()), c.XFRM_MSG_NEWSA, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, 42)
    info = data[16:16 + 224]
    assert info[:56] == bytes(56)  # tunnel mode: no selector on the state (its inner family stays open)
    assert info[56:72] == a6(GATEWAY6) and info[72:76] == struct.pack(">I", 0xC0FFEE01) and info[76] == 50
    assert info[80:96] == a6(CLIENT6)  # saddr
    family, mode, window, flags = struct.unpack_from("=HBBB", info, 212)
    assert (family, mode, flags) == (socket.AF_INET6, c.XFRM_MODE_TUNNEL, c.XFRM_STATE_AF_UNSPEC)
    # and the state reads back with its IPv6 addresses
    back = type(newsa_message(_sa()))(data)
    back.decode()
    state = parse_sa(back)
    assert (state.src, state.dst, state.family) == (CLIENT6, GATEWAY6, socket.AF_INET6)
    assert state.encap is not None and (state.encap.sport, state.encap.dport) == (4500, 4501)


def test_the_sa_id_of_an_ipv6_state_is_af_inet6() -> None:
    data = encode_request(sa_id_message(CLIENT6, 0xC0FFEE02), c.XFRM_MSG_DELSA, NLM_F_ACK, 5)
    body = data[16:16 + 24]  # struct xfrm_usersa_id: daddr, spi, family, proto
    assert body[:16] == a6(CLIENT6)
    assert struct.unpack_from(">I", body, 16)[0] == 0xC0FFEE02
    assert struct.unpack_from("=HB", body, 20) == (socket.AF_INET6, 50)


def test_an_ipv4_policy_with_an_ipv6_tunnel_template() -> None:
    sel = Selector(ipaddress.ip_network("198.19.0.0/24"), ipaddress.ip_network("198.19.0.200/32"))
    msg = newpolicy_message(PolicyParams(sel, c.XFRM_POLICY_OUT, (Template(GATEWAY6, CLIENT6, reqid=7),),
                                         priority=0x100000))
    data = encode_request(msg, c.XFRM_MSG_NEWPOLICY, NLM_F_ACK, 3)
    selector = data[16:16 + 56]
    assert selector[:16] == a4("198.19.0.200") and struct.unpack_from("=H", selector, 40)[0] == socket.AF_INET
    tmpl = data[16 + 168 + 4:]  # after xfrm_userpolicy_info and the attribute header
    assert tmpl[:16] == a6(CLIENT6)  # id.daddr: where ESP goes
    assert struct.unpack_from("=H", tmpl, 24)[0] == socket.AF_INET6
    assert tmpl[28:44] == a6(GATEWAY6)  # saddr
    back = type(msg)(data)
    back.decode()
    state = parse_policy(back)
    assert state.selector == sel and state.templates == (Template(GATEWAY6, CLIENT6, reqid=7),)


def test_a_mapping_event_with_ipv6_addresses_decodes() -> None:
    # struct xfrm_user_mapping: xfrm_usersa_id, reqid, old_saddr, new_saddr, old_sport, new_sport
    body = (a6(GATEWAY6) + struct.pack(">I", 0xC0FFEE01) + struct.pack("=HB1x", socket.AF_INET6, 50)
            + struct.pack("=I", 7) + a6(CLIENT6) + a6("2001:2::77") + struct.pack(">HH", 4500, 61000))
    data = struct.pack("=IHHII", 16 + len(body), c.XFRM_MSG_MAPPING, 0, 0, 0) + body
    msg = RESPONSE_CLASSES[c.XFRM_MSG_MAPPING](data)
    msg.decode()
    event = parse_event(msg)
    assert isinstance(event, MappingEvent)
    assert event.dst == GATEWAY6 and event.old == (CLIENT6, 4500) and event.new == ("2001:2::77", 61000)
