"""Group policy on the wire: the configuration payload's contents and the
narrowed TSr, per split-tunnel mode, from the builder up to a full IKE_AUTH
against the responder."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from ikev2d.conf import load_config
from ikev2d.conf.model import GroupPolicy
from ikev2d.core import Responder, settle
from ikev2d.crypto.jobs import CryptoWorker
from ikev2d.effects import SendDatagram
from ikev2d.iana import ConfigAttr, ConfigType, NotifyType, TsType
from ikev2d.settings import build_settings
from ikev2d.tasks.config_payload import build_reply
from ikev2d.tasks.traffic_selectors import complement, narrow_to_ranges
from ikev2d.wire.message import Message
from ikev2d.wire.payloads import CP, TSr, TrafficSelector
from lab.initiator import IkeFailure, Initiator, InitiatorOptions

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ("198.18.0.1", 500)
ADDRESS, MASK = IPv4Address("198.19.0.200"), IPv4Address("255.255.255.0")
# the shipped file's first group policy, with the fields under test set here
BASE: GroupPolicy = dataclasses.replace(
    load_config(ROOT / "config" / "ikev2d.yaml").group_policies[0],
    dns_servers=(IPv4Address("198.19.0.53"), IPv4Address("198.19.0.54")), default_domain="lab.example.test",
    banner=None, split_tunnel="tunnel-all", split_tunnel_networks=())
NETS = (IPv4Network("198.19.0.0/24"), IPv4Network("198.19.7.0/25"))


def _attrs(cp: CP) -> list[tuple[int, bytes]]:
    # through the wire format, so what is checked is what a client parses
    parsed = CP.parse_body(cp.body())
    assert parsed.cfg_type == ConfigType.CFG_REPLY
    return [(a.type, a.value) for a in parsed.attributes]


def _unity_subnets(data: bytes) -> list[IPv4Network]:
    """Read a Unity subnet list the way strongSwan's unity plugin does:
    4 octets address, 4 octets mask, 6 octets skipped."""
    out = []
    while len(data) >= 8:
        out.append(IPv4Network(f"{IPv4Address(data[:4])}/{IPv4Address(data[4:8])}"))
        data = data[14:]
    return out


def test_tunnel_all_gives_address_mask_dns_and_default_domain_but_no_networks() -> None:
    attrs = _attrs(build_reply(ADDRESS, MASK, BASE))
    assert attrs == [
        (ConfigAttr.INTERNAL_IP4_ADDRESS, ADDRESS.packed),
        (ConfigAttr.INTERNAL_IP4_NETMASK, MASK.packed),
        (ConfigAttr.INTERNAL_IP4_DNS, IPv4Address("198.19.0.53").packed),
        (ConfigAttr.INTERNAL_IP4_DNS, IPv4Address("198.19.0.54").packed),
        (ConfigAttr.UNITY_DEF_DOMAIN, b"lab.example.test"),
    ]


def test_tunnel_specified_lists_each_network_as_internal_ip4_subnet() -> None:
    gp = dataclasses.replace(BASE, split_tunnel="tunnel-specified", split_tunnel_networks=NETS)
    subnets = [v for t, v in _attrs(build_reply(ADDRESS, MASK, gp)) if t == ConfigAttr.INTERNAL_IP4_SUBNET]
    assert subnets == [bytes([198, 19, 0, 0, 255, 255, 255, 0]), bytes([198, 19, 7, 0, 255, 255, 255, 128])]


def test_exclude_specified_sends_unity_local_lan_and_no_protected_subnet() -> None:
    gp = dataclasses.replace(BASE, split_tunnel="exclude-specified", split_tunnel_networks=NETS)
    attrs = _attrs(build_reply(ADDRESS, MASK, gp))
    assert ConfigAttr.INTERNAL_IP4_SUBNET not in [t for t, _ in attrs], "exclusions are not protected networks"
    (local_lan,) = [v for t, v in attrs if t == ConfigAttr.UNITY_LOCAL_LAN]
    assert len(local_lan) == 14 * len(NETS)
    assert _unity_subnets(local_lan) == list(NETS)


def test_banner_and_missing_domain() -> None:
    gp = dataclasses.replace(BASE, default_domain=None, banner="Authorised use only – lab")
    attrs = dict(_attrs(build_reply(ADDRESS, MASK, gp)))
    assert ConfigAttr.UNITY_DEF_DOMAIN not in attrs
    assert attrs[ConfigAttr.UNITY_BANNER].decode() == "Authorised use only – lab"


def test_complement_of_one_network_is_the_two_ranges_around_it() -> None:
    assert complement([IPv4Network("198.19.5.0/24")]) == [
        (IPv4Address("0.0.0.0"), IPv4Address("198.19.4.255")),
        (IPv4Address("198.19.6.0"), IPv4Address("255.255.255.255")),
    ]
    assert complement([IPv4Network("0.0.0.0/0")]) == []
    assert complement([]) == [(IPv4Address(0), IPv4Address("255.255.255.255"))]


_networks = st.lists(
    st.builds(lambda a, p: IPv4Network((a, p), strict=False), st.integers(0, 2**32 - 1), st.integers(0, 32)),
    max_size=6,
)


@given(_networks, st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=20))
def test_complement_holds_exactly_the_addresses_outside_the_exclusions(excluded: list[IPv4Network],
                                                                        probes: list[int]) -> None:
    ranges = complement(excluded)
    assert all(a <= b for a, b in ranges)
    # sorted, disjoint and not even adjacent: as few ranges as possible
    assert all(int(b1) + 1 < int(a2) for (_, b1), (a2, _) in zip(ranges, ranges[1:]))
    for edge in [p for n in excluded for p in (int(n.network_address) - 1, int(n.broadcast_address) + 1)] + probes:
        if not 0 <= edge < 2**32:
            continue
        address = IPv4Address(edge)
        inside = any(a <= address <= b for a, b in ranges)
        assert inside != any(address in n for n in excluded), address


def _ts(first: str, last: str) -> TrafficSelector:
    return TrafficSelector(TsType.TS_IPV4_ADDR_RANGE, 0, 0, 65535, IPv4Address(first), IPv4Address(last))


def test_narrowing_a_request_to_the_complement() -> None:
    narrowed = narrow_to_ranges([_ts("198.19.0.0", "198.19.255.255")], complement([IPv4Network("198.19.5.0/24")]))
    assert [(str(t.start_addr), str(t.end_addr)) for t in narrowed] == [
        ("198.19.0.0", "198.19.4.255"), ("198.19.6.0", "198.19.255.255")]


# -- through the responder --------------------------------------------------

class _RecordingInitiator(Initiator):
    """Keeps the last answer, so the test reads the CP the client got."""

    last: Message | None = None
    tsr: TrafficSelector | None = None  # what to ask for instead of 0.0.0.0/0

    def exchange(self, exchange: int, payloads: list) -> Message:
        if self.tsr is not None:
            payloads = [TSr([self.tsr]) if isinstance(p, TSr) else p for p in payloads]
        self.last = super().exchange(exchange, payloads)
        return self.last


def _connect(tmp_path: Path, group_policy: str, tsr: TrafficSelector | None = None) -> _RecordingInitiator:
    text = (ROOT / "config" / "ikev2d.yaml").read_text()
    text = text.replace("store: ../run/pki", f"store: {tmp_path / 'pki'}")
    old = "      split_tunnel: tunnel-all        # tunnel-all | tunnel-specified | exclude-specified\n" \
          "      split_tunnel_networks: []\n"
    assert old in text
    text = text.replace(old, group_policy)
    (tmp_path / "ikev2d.yaml").write_text(text)
    responder = Responder(build_settings(load_config(tmp_path / "ikev2d.yaml")))
    worker, now = CryptoWorker(responder.settings.signing_keys), 1000.0
    local = ("198.18.0.2", 500)

    def send(datagram: bytes) -> list[bytes]:
        effects = settle(responder, responder.datagram_received(datagram, GATEWAY, local, now), worker, now)
        return [e.data for e in effects if isinstance(e, SendDatagram)]

    client = _RecordingInitiator(InitiatorOptions(local=local, remote=GATEWAY), send)
    client.tsr = tsr
    client.connect()
    return client


@pytest.fixture(scope="module")
def shared_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gp")  # one self-signed identity: key generation is slow


def test_tunnel_specified_reaches_the_client(shared_tmp: Path) -> None:
    client = _connect(shared_tmp, "      split_tunnel: tunnel-specified\n"
                                  "      split_tunnel_networks: [198.19.0.0/24, 198.19.7.0/25]\n")
    assert [(str(t.start_addr), str(t.end_addr)) for t in client.result.tsr] == [
        ("198.19.0.0", "198.19.0.255"), ("198.19.7.0", "198.19.7.127")], "the client asked for 0.0.0.0/0"
    assert client.result.dns == [IPv4Address("198.19.0.53")]
    assert client.last is not None
    cp = client.last.get(CP)
    assert cp is not None
    types = [a.type for a in cp.attributes]
    assert types.count(ConfigAttr.INTERNAL_IP4_SUBNET) == 2
    assert [a.value for a in cp.attributes if a.type == ConfigAttr.UNITY_DEF_DOMAIN] == [b"lab.example.test"]


def test_exclude_specified_reaches_the_client(shared_tmp: Path) -> None:
    client = _connect(shared_tmp, "      split_tunnel: exclude-specified\n"
                                  "      split_tunnel_networks: [198.19.5.0/24]\n")
    assert [(str(t.start_addr), str(t.end_addr)) for t in client.result.tsr] == [
        ("0.0.0.0", "198.19.4.255"), ("198.19.6.0", "255.255.255.255")]
    cp = client.last.get(CP) if client.last else None
    assert cp is not None
    (local_lan,) = [a.value for a in cp.attributes if a.type == ConfigAttr.UNITY_LOCAL_LAN]
    assert _unity_subnets(local_lan) == [IPv4Network("198.19.5.0/24")]


def test_tunnel_specified_outside_the_request_is_refused(shared_tmp: Path) -> None:
    """A client asking only for networks the policy does not tunnel gets
    TS_UNACCEPTABLE, not a Child SA wider than the policy."""
    with pytest.raises(IkeFailure) as failure:
        _connect(shared_tmp, "      split_tunnel: tunnel-specified\n      split_tunnel_networks: [198.19.0.0/24]\n",
                 tsr=_ts("198.18.200.0", "198.18.200.255"))
    assert failure.value.notify == NotifyType.TS_UNACCEPTABLE
