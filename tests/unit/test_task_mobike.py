"""A client whose address changes, against the responder in process: the
IKE SA and its Child SAs follow a NAT mapping that changed (RFC 7296 §2.23)
or a MOBIKE UPDATE_SA_ADDRESSES (RFC 4555 §3.5); nothing else moves them."""

from __future__ import annotations

import dataclasses
import ipaddress
import struct

import pytest
from responder_harness import GATEWAY, Harness

from ikev2d.effects import SendDatagram, UpdateChildSa
from ikev2d.events import PeerAddressChanged
from ikev2d.iana import NotifyType
from ikev2d.tasks.mobike import UNEXPECTED_NAT_DETECTED
from ikev2d.tasks.natd import natd_hash
from ikev2d.wire.header import Header
from ikev2d.wire.payloads import Notify
from lab.initiator import IkeFailure

NEW = ("198.18.0.77", 4500)  # where the client comes from after the change


def _updates(h: Harness) -> list[UpdateChildSa]:
    return [e for e in h.effects if isinstance(e, UpdateChildSa)]


def test_a_new_nat_mapping_moves_the_ike_sa_and_its_child_sas(harness: Harness) -> None:
    client = harness.client(fake_nat=True)
    client.connect()
    [sa] = harness.responder.sas.values()
    [child] = sa.children
    assert sa.nat_peer and child.spec.encap_remote_port == 500
    client.moved(NEW, harness.sender(NEW))
    client.liveness_check()
    [update] = _updates(harness)
    assert update.old.remote_address == "198.18.0.2"
    assert (update.new.remote_address, update.new.encap_remote_port) == NEW
    assert (update.new.spi_in, update.new.encr_key_in) == (update.old.spi_in, update.old.encr_key_in)
    assert sa.remote == NEW and sa.children[0].spec is update.new
    [moved] = harness.events(PeerAddressChanged)
    assert moved.old_remote == ("198.18.0.2", 500) and moved.remote == NEW


def test_a_peer_not_behind_nat_is_not_followed(harness: Harness) -> None:
    # §2.23: only a peer behind a NAT has mappings that change; an answer
    # still goes to where the request came from
    client = harness.client()
    client.connect()
    [sa] = harness.responder.sas.values()
    assert not sa.nat_peer
    client.moved(NEW, harness.sender(NEW))
    client.liveness_check()  # answered: the reply went to NEW
    assert _updates(harness) == [] and sa.remote == ("198.18.0.2", 500)


def test_an_unauthentic_request_from_a_new_address_moves_nothing(harness: Harness) -> None:
    client = harness.client(fake_nat=True)
    client.connect()
    [sa] = harness.responder.sas.values()
    datagrams: list[bytes] = []
    client.moved(NEW, lambda d: datagrams.append(d) or [])  # captured, not delivered
    with pytest.raises(IkeFailure):
        client.liveness_check()
    tampered = bytearray(datagrams[0])
    tampered[-1] ^= 1
    harness.effects += harness.responder.datagram_received(bytes(tampered), GATEWAY, NEW, harness.now)
    assert _updates(harness) == [] and sa.remote == ("198.18.0.2", 500)


def test_mobike_is_answered_and_then_only_update_sa_addresses_moves(harness: Harness) -> None:
    client = harness.client(fake_nat=True, mobike=True)
    client.connect()
    [sa] = harness.responder.sas.values()
    assert client.peer_mobike and sa.mobike
    client.moved(NEW, harness.sender(NEW))
    client.liveness_check()
    assert _updates(harness) == [] and sa.remote == ("198.18.0.2", 500)  # RFC 4555 §3.5: no implicit move
    answer = client.update_sa_addresses(extra=[Notify(NotifyType.COOKIE2, data=b"c2-0123456789")])
    [update] = _updates(harness)
    assert (update.new.remote_address, update.new.encap_remote_port) == NEW and sa.remote == NEW
    cookie2 = answer.notify(NotifyType.COOKIE2)
    assert cookie2 is not None and cookie2.data == b"c2-0123456789"
    # our NAT-D for the new path, with both SPIs (RFC 7296 §2.23)
    ours = [n.data for n in answer.notifies() if n.type == NotifyType.NAT_DETECTION_SOURCE_IP]
    assert ours == [natd_hash(client.spi_i, client.spi_r, GATEWAY)]
    assert harness.events(PeerAddressChanged)[-1].why == "MOBIKE UPDATE_SA_ADDRESSES"


def test_mobike_turned_off_is_not_offered(harness: Harness) -> None:
    harness.responder.settings = dataclasses.replace(harness.responder.settings, mobike=False)
    client = harness.client(fake_nat=True, mobike=True)
    client.connect()
    [sa] = harness.responder.sas.values()
    assert not client.peer_mobike and not sa.mobike


def test_update_sa_addresses_through_a_nat_with_no_nats_allowed_is_refused(harness: Harness) -> None:
    client = harness.client(fake_nat=True, mobike=True)
    client.connect()
    [sa] = harness.responder.sas.values()
    # the client says it sent from 198.18.0.50:4500; we see NEW: a NAT is between (RFC 4555 §3.9)
    claimed = (ipaddress.ip_address("198.18.0.50").packed + ipaddress.ip_address(GATEWAY[0]).packed
               + struct.pack("!HH", 4500, GATEWAY[1]))
    client.moved(NEW, harness.sender(NEW))
    answer = client.update_sa_addresses(extra=[Notify(NotifyType.NO_NATS_ALLOWED, data=claimed)])
    assert answer.notify(UNEXPECTED_NAT_DETECTED) is not None
    assert _updates(harness) == [] and sa.remote == ("198.18.0.2", 500)


def test_update_sa_addresses_where_a_nat_appears_turns_esp_in_udp_on(harness: Harness) -> None:
    client = harness.client(mobike=True)
    client.connect()
    [sa] = harness.responder.sas.values()
    assert sa.children[0].spec.encap_remote_port is None  # no NAT at first: plain ESP
    client.moved(NEW, harness.sender(NEW))
    client.o.fake_nat = True  # the new path has a NAT
    client.update_sa_addresses()
    [update] = _updates(harness)
    assert sa.nat_peer and (update.new.encap_local_port, update.new.encap_remote_port) == (GATEWAY[1], NEW[1])


def test_esp_from_a_new_source_is_checked_with_ike_before_anything_moves(harness: Harness) -> None:
    client = harness.client(fake_nat=True)
    client.connect()
    [sa] = harness.responder.sas.values()
    effects = harness.responder.esp_source_changed(sa.children[0].spec.spi_in, NEW, harness.now)
    [probe] = [e for e in effects if isinstance(e, SendDatagram)]
    assert probe.remote == NEW and not Header.parse(probe.data).is_response
    assert not any(isinstance(e, UpdateChildSa) for e in effects) and sa.remote != NEW
    # the client answers from there: the SA and its Child SA follow
    [answer] = client.answer(probe.data)
    after = harness.responder.datagram_received(answer, GATEWAY, NEW, harness.now)
    [update] = [e for e in after if isinstance(e, UpdateChildSa)]
    assert (update.new.remote_address, update.new.encap_remote_port) == NEW and sa.remote == NEW
