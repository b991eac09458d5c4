"""An authenticated peer must not break the headend: the fuzzing findings
against the sans-I/O responder, replayed as plaintexts sealed with the real
keys of an in-process exchange (lab.initiator against ikev2d.core), so they
pass the ICV and reach the tasks. Each asserts the notify the peer gets and
the state left behind."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, summarize_address_range
from pathlib import Path
import random

import pytest

from ikev2d.conf import load_config
from ikev2d.core import Responder, settle
from ikev2d.crypto.jobs import CryptoWorker
from ikev2d.effects import Compute, InstallChildSa, RemoveChildSa, SendDatagram
from ikev2d.iana import ExchangeType, NotifyType, PayloadType, ProtocolId, TsType
from ikev2d.protect import unprotect_message
from ikev2d.sa import IkeSa
from ikev2d.sa_types import State
from ikev2d.task_manager import RETRANSMIT_TIMEOUT
from ikev2d.settings import build_settings
from ikev2d.tasks import rekey, traffic_selectors
from ikev2d.tasks.traffic_selectors import (MAX_CHILD_NETWORKS, MAX_TS_PER_PAYLOAD, TooManySelectors, complement,
                                            narrow_to_ranges)
from ikev2d.wire.header import Header
from ikev2d.wire.message import Message, encode_payloads
from ikev2d.wire.payloads import KE, SA, TSi, TSr, Delete, Nonce, Notify, Payload, Proposal, TrafficSelector
from lab.initiator import IkeFailure, Initiator, InitiatorOptions

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ("198.18.0.1", 500)
CLIENT = ("198.18.0.2", 500)
V4 = TsType.TS_IPV4_ADDR_RANGE
ANY, ALL = IPv4Address("0.0.0.0"), IPv4Address("255.255.255.255")
THREE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")  # the exclude-specified policy of the finding
TUNNEL_ALL = "      split_tunnel: tunnel-all        # tunnel-all | tunnel-specified | exclude-specified\n" \
             "      split_tunnel_networks: []\n"
EXCLUDE_THREE = f"      split_tunnel: exclude-specified\n      split_tunnel_networks: [{', '.join(THREE)}]\n"


class Harness:
    """One responder, one client, every effect recorded."""

    def __init__(self, tmp: Path, pki: Path, group_policy: str, **options: object) -> None:
        text = (ROOT / "config" / "ikev2d.yaml").read_text().replace("store: ../run/pki", f"store: {pki}")
        assert TUNNEL_ALL in text
        (tmp / "ikev2d.yaml").write_text(text.replace(TUNNEL_ALL, group_policy))
        self.responder = Responder(build_settings(load_config(tmp / "ikev2d.yaml")))
        self.worker = CryptoWorker(self.responder.settings.signing_keys)
        self.now = 1000.0
        self.effects: list = []
        self.jobs: list = []  # the Compute jobs (DH, signatures) run for the responder
        self.client = Initiator(InitiatorOptions(local=CLIENT, remote=GATEWAY, **options), self.send)  # type: ignore[arg-type]

    def send(self, datagram: bytes) -> list[bytes]:
        effects = self.responder.datagram_received(datagram, GATEWAY, CLIENT, self.now)
        self.jobs += [e.job for e in effects if isinstance(e, Compute)]
        effects = settle(self.responder, effects, self.worker, self.now)
        self.effects += effects
        return [e.data for e in effects if isinstance(e, SendDatagram)]

    @property
    def sa(self) -> IkeSa:
        (sa,) = [s for s in self.responder.sas.values() if s.state is State.ESTABLISHED and not s.rekeyed]
        return sa

    def count(self, kind: type) -> int:
        return sum(isinstance(e, kind) for e in self.effects)

    def answer_peer_requests(self) -> list[Message]:
        """Answer the responder's own requests (Deletes) as a client would."""
        seen = []
        while self.client.peer_requests:
            raw = self.client.peer_requests.pop(0)
            seen.append(unprotect_message(raw, self.client.sk))
            for response in self.client.answer(raw):
                self.send(response)
        return seen


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")  # one self-signed identity: key generation is slow


def _ts(first: IPv4Address, last: IPv4Address, start_port: int = 0, end_port: int = 65535,
        protocol: int = 0) -> TrafficSelector:
    return TrafficSelector(V4, protocol, start_port, end_port, first, last)


def _notify_types(message: Message) -> list[int]:
    return [n.type for n in message.notifies()]


# 64 full-range TSr selectors, start ports 0..63: the finding's request
SIXTY_FOUR = [_ts(ANY, ALL, port) for port in range(64)]
# the same but single, non-adjacent ports: nothing merges
SIXTY_FOUR_APART = [_ts(ANY, ALL, 2 * port, 2 * port) for port in range(64)]


def _rekey_plaintext(client: Initiator, old_spi: int, new_spi: int, tsr: list[TrafficSelector],
                     tsi: list[TrafficSelector] | None = None) -> tuple[int, bytes]:
    """N(REKEY_SA, ESP, old), SA(ESP AES-256/SHA-512), Nonce(32), TSi, TSr."""
    payloads: list[Payload] = [
        Notify(NotifyType.REKEY_SA, protocol=ProtocolId.ESP, spi=old_spi.to_bytes(4, "big")),
        SA([client._esp_proposal(new_spi)]), Nonce(bytes(range(32))), TSi(tsi or [_ts(ANY, ALL)]), TSr(tsr)]
    return encode_payloads(payloads)


def _rekey(h: Harness, old_spi: int, new_spi: int, tsr: list[TrafficSelector] | None = None) -> Message:
    first, plaintext = _rekey_plaintext(h.client, old_spi, new_spi, tsr or [_ts(ANY, ALL)])
    return h.client.exchange_plaintext(ExchangeType.CREATE_CHILD_SA, first, plaintext)


class _Counting:
    """Counts the selectors narrowing builds: its work, in selectors."""

    def __init__(self) -> None:
        self.built = 0

    def __call__(self, *args: object) -> TrafficSelector:
        self.built += 1
        return TrafficSelector(*args)  # type: ignore[arg-type]


# -- finding 1: selector counts, RFC 7296 §2.9 and §3.13 ---------------------------

def test_64_full_range_selectors_narrow_to_one_per_allowed_range(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 7296 §2.9: the responder answers a subset of the union of the
    request; 64 selectors differing only in their start ports are one
    selector, so the three-network exclusion gives four, not 256 (more than
    §3.13's one-octet count), and narrowing builds only those four."""
    allowed = complement([IPv4Network(n) for n in THREE])
    assert len(allowed) == 4
    for request in (SIXTY_FOUR, [_ts(ANY, ALL, p, p) for p in range(64)]):
        counting = _Counting()
        monkeypatch.setattr(traffic_selectors, "TrafficSelector", counting)
        narrowed = narrow_to_ranges(request, allowed)
        assert [(t.start_addr, t.end_addr) for t in narrowed] == allowed
        assert {(t.start_port, t.end_port) for t in narrowed} == {(0, 65535) if request is SIXTY_FOUR else (0, 63)}
        assert counting.built == 4  # the old code built 256 and compared them pairwise


def test_narrowing_stops_at_the_one_octet_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 7296 §3.13: 255 selectors at most. 255 selectors of distinct
    protocols cannot merge; against 100 allowed ranges the work stops at
    the first selector past the bound instead of building 25,500."""
    allowed = [(IPv4Address(i << 24), IPv4Address((i << 24) + 255)) for i in range(100)]
    request = [_ts(ANY, ALL, protocol=p) for p in range(255)]
    counting = _Counting()
    monkeypatch.setattr(traffic_selectors, "TrafficSelector", counting)
    with pytest.raises(TooManySelectors):
        narrow_to_ranges(request, allowed)
    assert counting.built == MAX_TS_PER_PAYLOAD


def test_child_rekey_with_64_selectors_is_answered_once_and_installs_one_child(tmp_path: Path, pki: Path) -> None:
    """The finding's CREATE_CHILD_SA against an exclude-specified policy of
    three networks: a response with four TSr selectors (RFC 7296 §2.9), one
    new Child SA, and a retransmit answered from the cache (§2.1) without
    another child."""
    h = Harness(tmp_path, pki, EXCLUDE_THREE)
    result = h.client.connect()
    first, plaintext = _rekey_plaintext(h.client, h.client.esp_spi, 0x4242, SIXTY_FOUR)
    answer = h.client.exchange_plaintext(ExchangeType.CREATE_CHILD_SA, first, plaintext)
    assert _notify_types(answer) == []
    tsr = answer.get(TSr)
    assert tsr is not None and len(tsr.selectors) == 4
    assert len(h.sa.children) == 2 and h.count(InstallChildSa) == 2
    new = h.sa.children[1].spec
    assert new.local_selectors == tuple(n for a, b in complement([IPv4Network(x) for x in THREE])
                                        for n in summarize_address_range(a, b))
    # the same request again (same message ID): the cached answer, no new child
    h.client.message_id -= 1
    again = h.client.exchange_plaintext(ExchangeType.CREATE_CHILD_SA, first, plaintext)
    assert again.get(SA) == answer.get(SA) and len(h.sa.children) == 2 and h.count(InstallChildSa) == 2
    assert h.sa.lease is not None and h.sa.lease[1] == result.address


def test_child_rekey_with_256_narrowed_selectors_gets_ts_unacceptable(tmp_path: Path, pki: Path) -> None:
    """64 single, non-adjacent ports x 4 allowed ranges would be 256 TSr
    selectors, which no TS payload can count (RFC 7296 §3.13): the peer gets
    TS_UNACCEPTABLE (§2.9), and no Child SA is added or installed."""
    h = Harness(tmp_path, pki, EXCLUDE_THREE)
    h.client.connect()
    answer = _rekey(h, h.client.esp_spi, 0x4242, SIXTY_FOUR_APART)
    assert _notify_types(answer) == [NotifyType.TS_UNACCEPTABLE]
    assert len(h.sa.children) == 1 and h.count(InstallChildSa) == 1
    assert h.client.result.esp_spi_out in [c.spec.spi_in for c in h.sa.children]


def test_first_ike_auth_with_64_selectors_gets_four(tmp_path: Path, pki: Path) -> None:
    """The same TSr in the first IKE_AUTH (RFC 7296 §1.2): answered, with
    four selectors and one Child SA."""
    h = Harness(tmp_path, pki, EXCLUDE_THREE, tsr=SIXTY_FOUR)
    result = h.client.connect()
    assert len(result.tsr) == 4
    assert len(h.sa.children) == 1 and h.count(InstallChildSa) == 1


def test_first_ike_auth_with_too_many_selectors_is_answered_with_ts_unacceptable(tmp_path: Path, pki: Path) -> None:
    """RFC 7296 §2.21.3: a Child SA refused in IKE_AUTH leaves the IKE SA
    up; the last IKE_AUTH is answered (AUTH, the address) with
    TS_UNACCEPTABLE, no Child SA is installed, and the lease is the address
    the client was given, not a phantom."""
    h = Harness(tmp_path, pki, EXCLUDE_THREE, tsr=SIXTY_FOUR_APART)
    with pytest.raises(IkeFailure) as failure:
        h.client.connect()
    assert failure.value.notify == NotifyType.TS_UNACCEPTABLE
    assert h.client.result.address is None  # _fail_on_error stops before reading the CP
    sa = h.sa
    assert sa.children == [] and h.count(InstallChildSa) == 0
    assert sa.lease is not None and len(h.responder.sas) == 1
    last = [e.data for e in h.effects if isinstance(e, SendDatagram)][-1]
    assert Header.parse(last).exchange == ExchangeType.IKE_AUTH and Header.parse(last).is_response


# -- finding 3 (selectors): what the data plane installs ------------------------

ODD_RANGES = [_ts(IPv4Address((i << 24) + 1), IPv4Address((i << 24) + 65536)) for i in range(255)]


def test_255_odd_ranges_on_tunnel_all_are_refused_not_installed(tmp_path: Path, pki: Path) -> None:
    """255 ranges each needing 17 networks would make the data plane
    install 4,335 for one Child SA; the rekey gets TS_UNACCEPTABLE (RFC 7296
    §2.9) and the Child SA in place is all that stays installed."""
    assert sum(len(list(summarize_address_range(t.start_addr, t.end_addr))) for t in ODD_RANGES) == 4335  # type: ignore[arg-type]
    h = Harness(tmp_path, pki, TUNNEL_ALL)
    h.client.connect()
    answer = _rekey(h, h.client.esp_spi, 0x4242, ODD_RANGES)
    assert _notify_types(answer) == [NotifyType.TS_UNACCEPTABLE]
    assert len(h.sa.children) == 1 and h.count(InstallChildSa) == 1
    assert all(len(c.spec.local_selectors) <= MAX_CHILD_NETWORKS for c in h.sa.children)


def test_selectors_within_the_bound_are_installed_merged(tmp_path: Path, pki: Path) -> None:
    """Four of those ranges (68 networks) are over the bound; three (51)
    are under it and installed, the data plane's networks merged."""
    h = Harness(tmp_path, pki, TUNNEL_ALL)
    h.client.connect()
    assert _notify_types(_rekey(h, h.client.esp_spi, 0x4242, ODD_RANGES[:4])) == [NotifyType.TS_UNACCEPTABLE]
    answer = _rekey(h, h.client.esp_spi, 0x4243, ODD_RANGES[:3] * 20)  # duplicates merge too
    assert _notify_types(answer) == []
    assert len(answer.get(TSr).selectors) == 3  # type: ignore[union-attr]
    assert len(h.sa.children[1].spec.local_selectors) == 51


# -- finding 2: SPI sizes, RFC 7296 §3.3.1, §3.10, §3.11 ---------------------------------

# N(REKEY_SA, ESP, 5-octet SPI 2^32), SA(ESP, SPI 0, no transforms), Nonce(32 zero octets)
FINDING_2 = bytes.fromhex("2100000d030540090100000000" "280000100000000c0103040000000000" "00000024") + bytes(32)


def test_rekey_sa_with_a_five_octet_spi_is_invalid_syntax(tmp_path: Path, pki: Path) -> None:
    """RFC 7296 §3.10: an ESP SPI is four octets; the finding's plaintext
    is answered INVALID_SYNTAX (it raised OverflowError and went unanswered),
    the Child SA stays, and the next exchange works."""
    h = Harness(tmp_path, pki, TUNNEL_ALL)
    h.client.connect()
    answer = h.client.exchange_plaintext(ExchangeType.CREATE_CHILD_SA, PayloadType.NOTIFY, FINDING_2)
    assert _notify_types(answer) == [NotifyType.INVALID_SYNTAX]
    assert len(h.sa.children) == 1 and h.count(InstallChildSa) == 1
    h.client.rekey_child()  # message IDs and the SA are intact
    assert len(h.sa.children) == 1 and h.count(InstallChildSa) == 2


def _notify_body(protocol: int, spi: bytes, notify_type: int = NotifyType.REKEY_SA) -> bytes:
    return bytes([protocol, len(spi)]) + notify_type.to_bytes(2, "big") + spi


@pytest.mark.parametrize("protocol, spi, expected", [
    # 00000000||spi: eight octets for ESP, not a rekey of `spi`
    (ProtocolId.ESP, "eight", NotifyType.INVALID_SYNTAX),
    (ProtocolId.ESP, b"", NotifyType.INVALID_SYNTAX),  # REKEY_SA names an SA: an SPI is required
    (ProtocolId.IKE, "four", NotifyType.INVALID_SYNTAX),  # IKE SPIs are 8 (or 0) octets
    (0, "four", NotifyType.INVALID_SYNTAX),  # no protocol to rekey
    (ProtocolId.AH, "four", NotifyType.CHILD_SA_NOT_FOUND),  # well-formed, but we have no AH SA
])
def test_rekey_sa_spi_must_be_the_child_sa_spi(tmp_path: Path, pki: Path, protocol: int, spi: object,
                                               expected: int) -> None:
    """RFC 7296 §3.10: REKEY_SA carries the protocol (AH or ESP) and the
    4-octet SPI of the Child SA; anything else is INVALID_SYNTAX and no
    Child SA is created."""
    h = Harness(tmp_path, pki, TUNNEL_ALL)
    h.client.connect()
    real = h.client.esp_spi.to_bytes(4, "big")
    raw = {"eight": bytes(4) + real, "four": real}.get(spi, spi)  # type: ignore[call-overload]
    first, rest = _rekey_plaintext(h.client, h.client.esp_spi, 0x4242, [_ts(ANY, ALL)])
    assert first == PayloadType.NOTIFY
    old = Notify(NotifyType.REKEY_SA, protocol=ProtocolId.ESP, spi=real).body()
    length = int.from_bytes(rest[2:4], "big")
    assert rest[4:length] == old
    body = _notify_body(protocol, raw)
    plaintext = rest[:2] + (4 + len(body)).to_bytes(2, "big") + body + rest[length:]
    answer = h.client.exchange_plaintext(ExchangeType.CREATE_CHILD_SA, PayloadType.NOTIFY, plaintext)
    assert _notify_types(answer) == [expected]
    if expected == NotifyType.CHILD_SA_NOT_FOUND:
        (n,) = answer.notifies()
        assert (n.protocol, n.spi) == (protocol, raw)  # echoed as sent, §3.10.1
    assert len(h.sa.children) == 1 and h.count(InstallChildSa) == 1


def _delete_plaintext(protocol: int, spi_size: int, spis: list[bytes]) -> bytes:
    body = bytes([protocol, spi_size]) + len(spis).to_bytes(2, "big") + b"".join(spis)
    return b"\x00\x00" + (4 + len(body)).to_bytes(2, "big") + body


def test_delete_with_a_wrong_spi_size_is_invalid_syntax(tmp_path: Path, pki: Path) -> None:
    """RFC 7296 §3.11: an ESP SPI in a Delete is four octets; eight is
    INVALID_SYNTAX and deletes nothing. An unknown 4-octet SPI is ignored
    (§1.4.1): an empty answer."""
    h = Harness(tmp_path, pki, TUNNEL_ALL)
    h.client.connect()
    real = h.client.esp_spi.to_bytes(4, "big")
    answer = h.client.exchange_plaintext(ExchangeType.INFORMATIONAL, PayloadType.DELETE,
                                         _delete_plaintext(ProtocolId.ESP, 8, [bytes(4) + real]))
    assert _notify_types(answer) == [NotifyType.INVALID_SYNTAX]
    answer = h.client.exchange_plaintext(ExchangeType.INFORMATIONAL, PayloadType.DELETE,
                                         _delete_plaintext(ProtocolId.ESP, 4, [b"\xff\xff\xff\xff"]))
    assert answer.payloads == []
    assert len(h.sa.children) == 1 and h.count(RemoveChildSa) == 0


def _proposal_with_spi(client: Initiator, protocol: int, spi: bytes) -> Proposal:
    return Proposal(1, protocol, spi, client._esp_proposal(0x4242).transforms if protocol == ProtocolId.ESP
                    else client._proposal().transforms)


@pytest.mark.parametrize("protocol, spi, expected", [
    (ProtocolId.ESP, bytes(7) + b"\x42", NotifyType.INVALID_SYNTAX),  # §3.3.1: ESP SPIs are 4 octets
    (ProtocolId.ESP, bytes(4), NotifyType.NO_PROPOSAL_CHOSEN),  # RFC 4303 §2.1: SPI 0 is never sent
    (ProtocolId.IKE, b"", NotifyType.INVALID_SYNTAX),  # a rekey carries the new IKE SPI (§3.3.1)
    (ProtocolId.IKE, b"\x42" * 4, NotifyType.INVALID_SYNTAX),
    (ProtocolId.IKE, bytes(8), NotifyType.INVALID_SYNTAX),  # §3.1: an IKE SPI is never zero
])
def test_proposal_spi_sizes_in_create_child_sa(tmp_path: Path, pki: Path, protocol: int, spi: bytes,
                                               expected: int) -> None:
    """RFC 7296 §3.3.1: in CREATE_CHILD_SA the proposal's SPI is 4 octets
    for ESP and 8 for IKE; a wrong one is refused with a notify, never an
    exception, and adds no Child SA or IKE SA."""
    h = Harness(tmp_path, pki, TUNNEL_ALL)
    h.client.connect()
    payloads: list[Payload] = [SA([_proposal_with_spi(h.client, protocol, spi)]), Nonce(bytes(32))]
    if protocol == ProtocolId.ESP:
        payloads = [Notify(NotifyType.REKEY_SA, protocol=ProtocolId.ESP, spi=h.client.esp_spi.to_bytes(4, "big"))] \
            + payloads + [TSi([_ts(ANY, ALL)]), TSr([_ts(ANY, ALL)])]
    else:
        payloads.append(KE(h.client.dh_group, h.client.dh.public_bytes))
    answer = h.client.exchange_plaintext(ExchangeType.CREATE_CHILD_SA, *encode_payloads(payloads))
    assert _notify_types(answer) == [expected]
    assert len(h.sa.children) == 1 and h.count(InstallChildSa) == 1
    assert len(h.responder.sas) == 1 and len(h.jobs) == 2  # IKE_SA_INIT's DH, IKE_AUTH's signature


# -- finding 3: state a client can grow, RFC 7296 §2.8 ----------------------------------

def test_300_rekeys_of_one_child_sa_leave_one_child_sa(tmp_path: Path, pki: Path) -> None:
    """RFC 7296 §2.8: after a rekey the initiator deletes the old Child SA.
    A client that instead rekeys it again gets TEMPORARY_FAILURE (§2.25, an
    SA being closed) and our Delete of it; after that the SPI is unknown
    (CHILD_SA_NOT_FOUND). 300 rekeys: two installs, one removal, one Child
    SA, and one Delete sent."""
    h = Harness(tmp_path, pki, TUNNEL_ALL)
    h.client.connect()
    old = h.client.esp_spi
    notifies = [_notify_types(_rekey(h, old, 0x10000 + n)) for n in range(300)]
    assert notifies[0] == []
    assert notifies[1] == [NotifyType.TEMPORARY_FAILURE]
    assert all(n == [NotifyType.CHILD_SA_NOT_FOUND] for n in notifies[2:])
    assert len(h.sa.children) == 1 and h.sa.children[0].spec.spi_out == 0x10000
    assert h.count(InstallChildSa) == 2 and h.count(RemoveChildSa) == 1
    (delete,) = h.answer_peer_requests()
    assert [(d.protocol, d.spis) for d in delete.get_all(Delete)] == [
        (ProtocolId.ESP, [h.client.result.esp_spi_out.to_bytes(4, "big")])]
    assert h.sa.tasks.idle()  # our Delete was answered


def test_a_chain_of_rekeys_without_deletes_keeps_two_child_sas(tmp_path: Path, pki: Path) -> None:
    """Rekeying the new Child SA while the one it replaced is still there
    (never deleted, §2.8) removes that one: 50 chained rekeys without
    Deletes leave two Child SAs, not 51."""
    h = Harness(tmp_path, pki, TUNNEL_ALL)
    h.client.connect()
    spi = h.client.esp_spi
    for n in range(50):
        assert _notify_types(_rekey(h, spi, 0x10000 + n)) == []
        spi = 0x10000 + n
        h.answer_peer_requests()
        assert len(h.sa.children) <= 2
    assert [c.spec.spi_out for c in h.sa.children] == [0x10000 + 48, 0x10000 + 49]
    assert h.count(InstallChildSa) - h.count(RemoveChildSa) == 2


def test_child_sas_per_ike_sa_are_capped(tmp_path: Path, pki: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 7296 §3.10.1: past the cap a rekey gets NO_ADDITIONAL_SAS. (The
    rules above keep a client at two; the cap backs them up, tried here at
    one.)"""
    h = Harness(tmp_path, pki, TUNNEL_ALL)
    h.client.connect()
    monkeypatch.setattr(rekey, "MAX_CHILD_SAS", 1)
    assert _notify_types(_rekey(h, h.client.esp_spi, 0x4242)) == [NotifyType.NO_ADDITIONAL_SAS]
    assert len(h.sa.children) == 1 and h.count(InstallChildSa) == 1


def _rekey_ike_request(h: Harness, n: int) -> Message:
    """An IKE SA rekey on the client's current (old) IKE SA, which it keeps."""
    proposal = Proposal(1, ProtocolId.IKE, (0x1000 + n).to_bytes(8, "big"), h.client._proposal().transforms)
    return h.client.exchange(ExchangeType.CREATE_CHILD_SA, [SA([proposal]), Nonce(bytes(32)),
                                                            KE(h.client.dh_group, h.client.dh.public_bytes)])


def test_100_rekeys_of_one_ike_sa_leave_one_successor(tmp_path: Path, pki: Path) -> None:
    """RFC 7296 §2.8: after an IKE SA rekey the initiator deletes the old
    IKE SA. Rekeyed again, the old SA answers TEMPORARY_FAILURE (§2.25) and
    we delete it; 100 rekeys make one new IKE SA (one DH), and once the
    client answers our Delete only that one is left, holding the session."""
    h = Harness(tmp_path, pki, TUNNEL_ALL)
    result = h.client.connect()
    computes = len(h.jobs)
    notifies = [_notify_types(_rekey_ike_request(h, n)) for n in range(100)]
    assert notifies[0] == [] and all(n == [NotifyType.TEMPORARY_FAILURE] for n in notifies[1:])
    assert len(h.jobs) == computes + 1  # one DH: the refused rekeys cost nothing
    assert len(h.responder.sas) == 2
    (delete,) = h.answer_peer_requests()
    assert [d.protocol for d in delete.get_all(Delete)] == [ProtocolId.IKE]
    (sa,) = h.responder.sas.values()
    assert sa.spi_i == (0x1000).to_bytes(8, "big") and sa.state is State.ESTABLISHED
    assert len(sa.children) == 1 and sa.lease is not None and sa.lease[1] == result.address


def test_a_chain_of_ike_rekeys_without_deletes_closes_the_oldest(tmp_path: Path, pki: Path) -> None:
    """Rekeying the new IKE SA while the one it replaced was never deleted
    (§2.8): that one is deleted by us. Ten chained rekeys leave the newest
    IKE SA and its predecessor; the others are being deleted."""
    h = Harness(tmp_path, pki, TUNNEL_ALL)
    h.client.connect()
    for _ in range(10):
        h.client.rekey_ike(delete_old=False)
    live = [s for s in h.responder.sas.values() if s.state is State.ESTABLISHED]
    assert len(live) == 2 and [s.rekeyed for s in live].count(False) == 1
    deleting = [s for s in h.responder.sas.values() if s.state is State.DELETING]
    assert len(deleting) == 9 and all(s.tasks.in_flight is not None for s in deleting)
    assert len(h.sa.children) == 1


def test_an_ike_sa_closed_by_its_successors_rekey_retransmits_its_delete_on_time(tmp_path: Path, pki: Path) -> None:
    """The rekey that closes a stale IKE SA runs on another SA (the newest):
    the stale one reports its DELETING to the responder, which re-arms its
    timer, so its unanswered Delete is retransmitted after RETRANSMIT_TIMEOUT,
    not at whatever deadline (DPD, lifetime) it had before."""
    h = Harness(tmp_path, pki, TUNNEL_ALL)
    h.client.connect()
    h.client.rekey_ike(delete_old=False)
    h.client.rekey_ike(delete_old=False)
    (stale,) = [s for s in h.responder.sas.values() if s.state is State.DELETING]
    due = h.responder.get_timer()
    assert due is not None and due <= h.now + RETRANSMIT_TIMEOUT
    again = h.responder.handle_timer(h.now + RETRANSMIT_TIMEOUT)
    resent = [Header.parse(e.data) for e in again if isinstance(e, SendDatagram)]
    assert [(hd.spi_r, hd.exchange, hd.is_response) for hd in resent] == [
        (stale.spi_r, ExchangeType.INFORMATIONAL, False)]


# -- whatever a client sends, it is answered ------------------------------------

def test_mutated_create_child_sa_requests_are_always_answered(tmp_path: Path, pki: Path) -> None:
    """RFC 7296 §2.21.4: an authentic request is answered, with an error
    notify if need be. 300 mutations of the finding's plaintexts, sealed
    with the real keys: one response each, never an exception, and the
    Child SAs and their selectors stay bounded."""
    h = Harness(tmp_path, pki, EXCLUDE_THREE)
    h.client.connect()
    rng = random.Random(7296)
    seeds = [_rekey_plaintext(h.client, h.client.esp_spi, 0x4242, SIXTY_FOUR),
             _rekey_plaintext(h.client, h.client.esp_spi, 0x4243, SIXTY_FOUR_APART),
             (PayloadType.NOTIFY, FINDING_2)]
    for n in range(300):
        first, plaintext = seeds[n % len(seeds)]
        blob = bytearray(plaintext)
        for _ in range(rng.randint(1, 4)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        message_id = h.client.message_id
        before = len(h.effects)
        h.client.exchange_plaintext(ExchangeType.CREATE_CHILD_SA, first, bytes(blob))
        responses = [Header.parse(e.data) for e in h.effects[before:] if isinstance(e, SendDatagram)
                     and Header.parse(e.data).is_response]
        assert [r.message_id for r in responses] == [message_id]
        h.answer_peer_requests()
        sa = h.sa
        assert len(sa.children) <= rekey.MAX_CHILD_SAS
        assert all(len(c.spec.local_selectors) <= MAX_CHILD_NETWORKS for c in sa.children)
