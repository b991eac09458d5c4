"""The responder state machine, two peers in one process, no sockets
(pyikev2's style): lab.initiator talks straight to ikev2d.core.Responder."""

from __future__ import annotations

import random
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ikev2d.core import Responder
from ikev2d.effects import Compute, Emit, InstallChildSa, RemoveChildSa, SendDatagram
from ikev2d.events import AddressReleased, AuthFailed, IkeSaEstablished, MessageDropped, NegotiationAborted
from ikev2d.iana import DhId, EapType, EncrId, ExchangeType, NotifyType, TsType
from ikev2d.log import format_event
from ikev2d.protect import unprotect_message
from ikev2d.wire.header import Header
from ikev2d.settings import build_settings
from lab.initiator import IkeFailure, Initiator, InitiatorOptions

from responder_harness import GATEWAY, Harness, make_config

@pytest.mark.parametrize("method", [EapType.MSCHAPV2, EapType.MD5_CHALLENGE, EapType.GTC])
def test_each_eap_method_connects_and_gets_a_pool_address(harness: Harness, method: int) -> None:
    """RFC 7296 §2.16 EAP in IKE_AUTH; §3.15 configuration payload."""
    result = harness.client(eap_method=method).connect()
    assert result.address == IPv4Address("198.19.0.200")
    assert result.netmask == IPv4Address("255.255.255.0")
    assert result.dns == [IPv4Address("198.19.0.53")]
    # TSi narrowed to the virtual address (RFC 7296 §2.9)
    assert [(t.start_addr, t.end_addr) for t in result.tsi] == [(result.address, result.address)]
    installs = [e.spec for e in harness.effects if isinstance(e, InstallChildSa)]
    assert len(installs) == 1
    spec = installs[0]
    assert spec.spi_out == result.esp_spi_in and spec.spi_in == result.esp_spi_out
    assert len(spec.encr_key_in) == 32 and len(spec.integ_key_in) == 64
    assert spec.encr_key_in != spec.encr_key_out
    established = harness.events(IkeSaEstablished)
    assert established[0].username == "alice"
    assert established[0].proposal == "AES_CBC-256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/MODP_3072"


def test_initiator_reports_a_response_without_its_ke_payload(harness: Harness) -> None:
    """A payload the protocol requires but the response lacks is the
    responder's failure (IkeFailure naming it), not an AttributeError."""
    from ikev2d.wire.message import decode_message, encode_message
    from ikev2d.wire.payloads import KE

    addr = ("198.18.0.2", 500)
    send = harness.sender(addr)

    def send_and_lose_ke(datagram: bytes) -> list[bytes]:
        answers = []
        for raw in send(datagram):
            message = decode_message(raw)
            message.payloads = [p for p in message.payloads if not isinstance(p, KE)]
            answers.append(encode_message(message))
        return answers

    client = Initiator(InitiatorOptions(local=addr, remote=GATEWAY), send_and_lose_ke)
    with pytest.raises(IkeFailure, match="IKE_SA_INIT response has no KE payload") as failure:
        client.ike_sa_init()
    assert failure.value.notify is None


def test_two_clients_get_different_addresses_and_delete_frees_them(harness: Harness) -> None:
    a = harness.client(2)
    b = harness.client(3, username="bob", password="Lab-Passw0rd-2")
    ra, rb = a.connect(), b.connect()
    assert ra.address != rb.address
    assert {ra.address, rb.address} == {IPv4Address("198.19.0.200"), IPv4Address("198.19.0.201")}
    a.delete()
    b.delete()
    removed = [e.spec.spi_in for e in harness.effects if isinstance(e, RemoveChildSa)]
    assert sorted(removed) == sorted([ra.esp_spi_out, rb.esp_spi_out])
    assert not harness.responder.sas
    assert harness.client(4).connect().address == IPv4Address("198.19.0.200")


def test_wrong_password_gets_authentication_failed_and_next_client_connects(harness: Harness) -> None:
    with pytest.raises(IkeFailure) as failure:
        harness.client(2, password="wrong").connect()
    assert failure.value.notify == NotifyType.AUTHENTICATION_FAILED
    assert harness.events(AuthFailed)
    assert harness.client(3).connect().address == IPv4Address("198.19.0.200")


def test_unknown_user_is_refused(harness: Harness) -> None:
    with pytest.raises(IkeFailure) as failure:
        harness.client(2, username="mallory", eap_method=EapType.MD5_CHALLENGE).connect()
    assert failure.value.notify == NotifyType.AUTHENTICATION_FAILED


def test_group_14_only_gets_no_proposal_chosen(harness: Harness) -> None:
    with pytest.raises(IkeFailure) as failure:
        harness.client(dh_groups=[DhId.MODP_2048]).connect()
    assert failure.value.notify == NotifyType.NO_PROPOSAL_CHOSEN
    assert not harness.responder.sas  # an error response creates no state


def test_an_esp_offer_we_do_not_have_says_why_in_one_line(harness: Harness) -> None:
    """IKE_AUTH completes, the Child SA gets NO_PROPOSAL_CHOSEN, and the
    log line names the client's ESP offer beside our IPsec proposals."""
    with pytest.raises(IkeFailure) as failure:
        harness.client(esp_encr=(EncrId.AES_CBC, 128)).connect()
    assert failure.value.notify == NotifyType.NO_PROPOSAL_CHOSEN
    (aborted,) = harness.events(NegotiationAborted)
    assert aborted.reason == "Failed to find a matching policy"  # the FTD's 750003 words
    why = format_event(aborted)
    assert "offered ESP:AES_CBC_128/" in why and "configured NSA: AES_CBC_256/HMAC_SHA2_512_256" in why, why


def test_group_14_then_15_gets_invalid_ke_then_connects(harness: Harness) -> None:
    client = harness.client(dh_groups=[DhId.MODP_2048, DhId.MODP_3072])
    result = client.connect()
    assert NotifyType.INVALID_KE_PAYLOAD in result.notifies
    assert result.address is not None
    assert harness.events(IkeSaEstablished)[0].proposal.endswith("MODP_3072")


def test_small_fragment_size_fragments_the_auth_answer(tmp_path: Path, pki_dir: Path) -> None:
    """RFC 7383: our IKE_AUTH answer (certificate) leaves in SKF fragments."""
    config = make_config(tmp_path, **{"fragment_size: 1280": "fragment_size: 576",
                                      f"store: {tmp_path / 'pki'}": f"store: {pki_dir}"})
    h = Harness(Responder(build_settings(config)))
    client = h.client(fragment_size=576)
    result = client.connect()
    assert result.address is not None
    assert result.fragments_received >= 3
    sent = [e.data for e in h.effects if isinstance(e, SendDatagram)]
    auth = [d for d in sent if Header.parse(d).exchange == ExchangeType.IKE_AUTH]
    # IKE_SA_INIT is never fragmented (RFC 7383 §2.5); everything after fits
    assert auth and max(len(d) for d in auth) + 28 <= 576


def test_retransmitted_requests_get_identical_cached_answers(harness: Harness) -> None:
    """RFC 7296 §2.1: the responder answers a retransmit with the same bytes."""
    client = harness.client()
    client.ike_sa_init()
    send = harness.sender(client.o.local)
    again = send(client.init_request)
    assert again == [client.init_response]
    assert len(harness.responder.sas) == 1


def test_a_late_ike_sa_init_duplicate_after_establishment_is_a_logged_drop(harness: Harness) -> None:
    """An established session keeps no IKE_SA_INIT index entry; a duplicate
    of its IKE_SA_INIT arriving soon after still starts nothing new."""
    client = harness.client()
    assert client.connect().address is not None
    responder = harness.responder
    assert not responder._init_index and len(responder._init_done) == 1
    assert harness.sender(client.o.local)(client.init_request) == []
    assert len(responder.sas) == 1
    assert [e.reason for e in harness.events(MessageDropped)][-1] == "IKE_SA_INIT retransmitted after its IKE_AUTH"


def test_garbage_and_truncated_datagrams_never_raise(harness: Harness) -> None:
    client = harness.client()
    client.ike_sa_init()
    rng = random.Random(7)
    send = harness.sender(client.o.local)
    for n in range(300):
        blob = bytearray(client.init_request)
        for _ in range(rng.randint(1, 8)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        send(bytes(blob[: rng.randint(0, len(blob))]))
        send(rng.randbytes(rng.randint(0, 200)))
    assert harness.client(3).connect().address is not None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=600))
def test_any_bytes_are_answered_or_dropped_never_raised(harness: Harness, blob: bytes) -> None:
    harness.responder.datagram_received(blob, GATEWAY, ("198.18.0.9", 500), 0.0)


def test_exhausted_pool_refuses_the_child_sa(tmp_path: Path, pki_dir: Path) -> None:
    config = make_config(tmp_path, **{"198.19.0.200-198.19.0.250": "198.19.0.200-198.19.0.200",
                                      f"store: {tmp_path / 'pki'}": f"store: {pki_dir}"})
    h = Harness(Responder(build_settings(config)))
    assert h.client(2).connect().address == IPv4Address("198.19.0.200")
    with pytest.raises(IkeFailure) as failure:
        h.client(3).connect()
    assert failure.value.notify == NotifyType.INTERNAL_ADDRESS_FAILURE


def test_half_open_sa_expires(harness: Harness) -> None:
    client = harness.client()
    client.ike_sa_init()
    assert len(harness.responder.sas) == 1
    harness.responder.handle_timer(harness.now + 5)
    assert len(harness.responder.sas) == 1
    harness.responder.handle_timer(harness.now + 31)
    assert not harness.responder.sas


def test_ts_outside_the_split_tunnel_is_unacceptable(tmp_path: Path, pki_dir: Path) -> None:
    config = make_config(tmp_path, **{
        "split_tunnel: tunnel-all": "split_tunnel: tunnel-specified",
        "split_tunnel_networks: []": "split_tunnel_networks: [198.19.0.0/24]",
        f"store: {tmp_path / 'pki'}": f"store: {pki_dir}"})
    h = Harness(Responder(build_settings(config)))
    result = h.client().connect()
    assert [(str(t.start_addr), str(t.end_addr)) for t in result.tsr] == [("198.19.0.0", "198.19.0.255")]
    assert all(t.ts_type == TsType.TS_IPV4_ADDR_RANGE for t in result.tsr)


def _datagrams(effects: list) -> list[bytes]:
    return [e.data for e in effects if isinstance(e, SendDatagram)]


def test_logoff_sends_delete_frees_the_address_and_removes_the_child(harness: Harness) -> None:
    """Responder-initiated Delete (RFC 7296 §1.4.1), as `vpn-sessiondb logoff` needs."""
    client = harness.client()
    result = client.connect()
    sa = next(iter(harness.responder.sas.values()))
    effects = harness.responder.delete_ike_sa(sa, "Administrator Reset", harness.now)
    assert [e.spec.spi_in for e in effects if isinstance(e, RemoveChildSa)] == [result.esp_spi_out]
    requests = _datagrams(effects)
    assert len(requests) == 1
    answer = client.answer(requests[0])
    assert client.deleted_by_peer
    harness.sender(client.o.local)(answer[0])
    assert not harness.responder.sas
    # the address is free again: the next client gets the first one
    assert harness.client(3).connect().address == IPv4Address("198.19.0.200")


def test_delete_is_retransmitted_then_given_up(harness: Harness) -> None:
    harness.client().connect()
    sa = next(iter(harness.responder.sas.values()))
    first = _datagrams(harness.responder.delete_ike_sa(sa, "Administrator Reset", harness.now))
    resent = []
    for dt in range(1, 60):
        resent += _datagrams(harness.responder.handle_timer(harness.now + dt))
    assert resent and all(d == first[0] for d in resent)  # identical bytes each time
    assert not harness.responder.sas


def test_dead_peer_detection_keeps_a_live_peer_and_drops_a_dead_one(harness: Harness) -> None:
    """FTD default DPD 30 s: an empty INFORMATIONAL request; no answer -> delete."""
    live = harness.client(2)
    dead = harness.client(3, username="bob", password="Lab-Passw0rd-2")
    live.connect()
    dead.connect()
    t = harness.now
    ticked: list = []
    for dt in range(1, 80):
        effects = harness.responder.handle_timer(t + dt)
        ticked += effects
        for datagram in _datagrams(effects):
            if Header.parse(datagram).spi_i == live.spi_i:
                harness.now = t + dt
                harness.sender(live.o.local)(live.answer(datagram)[0])
    assert live.requests_answered >= 2
    remaining = list(harness.responder.sas.values())
    assert [sa.spi_i for sa in remaining] == [live.spi_i]
    assert remaining[0].lease is not None
    released = [e.event for e in ticked if isinstance(e, Emit) and isinstance(e.event, AddressReleased)]
    assert [r.username for r in released] == ["bob"]
    assert len([e for e in ticked if isinstance(e, RemoveChildSa)]) == 1


def test_retransmit_while_the_dh_job_runs_is_absorbed(harness: Harness) -> None:
    client = harness.client()
    sent: list = []
    client.send = lambda d: sent.append(d) or []  # capture the request only
    with pytest.raises(IkeFailure):
        client.ike_sa_init()
    request = sent[0]
    first = harness.responder.datagram_received(request, GATEWAY, client.o.local, harness.now)
    computes = [e for e in first if isinstance(e, Compute)]
    assert len(computes) == 1
    assert harness.responder.datagram_received(request, GATEWAY, client.o.local, harness.now) == []
    done = harness.responder.job_done(computes[0].token, harness.worker.run(computes[0].job), harness.now)
    assert len(_datagrams(done)) == 1 and len(harness.responder.sas) == 1


def test_invalid_ke_value_gets_invalid_syntax_and_no_state(harness: Harness) -> None:
    from ikev2d.wire.message import decode_message, encode_message
    from ikev2d.wire.payloads import KE
    client = harness.client()
    sent: list = []
    client.send = lambda d: sent.append(d) or []
    with pytest.raises(IkeFailure):
        client.ike_sa_init()
    message = decode_message(sent[0])
    message.payloads = [KE(p.group, bytes(len(p.data))) if isinstance(p, KE) else p for p in message.payloads]
    answers = harness.sender(client.o.local)(encode_message(message))  # y = 0 is not a valid public value
    assert decode_message(answers[0]).notify(NotifyType.INVALID_SYNTAX) is not None
    assert not harness.responder.sas


def test_cookie_challenge_always(harness: Harness) -> None:
    """RFC 7296 §2.6: no DH work and no state before the client proves its address."""
    harness.responder.settings.cookie_challenge = "always"
    client = harness.client()
    result = client.connect()
    assert result.notifies[0] == NotifyType.COOKIE
    assert result.address == IPv4Address("198.19.0.200")


def test_cookie_from_another_address_or_spi_is_refused(harness: Harness) -> None:
    jar = harness.responder.cookies
    nonce, spi = b"n" * 32, b"s" * 8
    cookie = jar.make(nonce, "198.18.0.2", spi, 0.0)
    assert jar.valid(cookie, nonce, "198.18.0.2", spi, 1.0)
    assert not jar.valid(cookie, nonce, "198.18.0.3", spi, 1.0)
    assert not jar.valid(cookie, nonce, "198.18.0.2", b"t" * 8, 1.0)
    assert not jar.valid(cookie[:-1] + bytes([cookie[-1] ^ 1]), nonce, "198.18.0.2", spi, 1.0)
    # still valid right after one secret change, not after two
    assert jar.valid(cookie, nonce, "198.18.0.2", spi, 301.0)
    assert not jar.valid(cookie, nonce, "198.18.0.2", spi, 700.0)


def test_cookies_start_when_half_open_sas_pile_up(harness: Harness) -> None:
    settings_ = harness.responder.settings
    settings_.max_half_open, settings_.cookie_threshold_percent = 4, 50
    for n in (2, 3):
        harness.client(n).ike_sa_init()  # two half-open SAs: 50 % of 4
    late = harness.client(4)
    assert late.connect().address is not None
    assert late.result.notifies[0] == NotifyType.COOKIE


def test_without_ike_identity_we_present_our_certificate_dn(tmp_path: Path, pki_dir: Path) -> None:
    """FTD default: the device identifies itself by its certificate's subject."""
    config = make_config(tmp_path, **{"    ike_identity: vpn.example.test        # IDr we present (FQDN)\n": "",
                                      f"store: {tmp_path / 'pki'}": f"store: {pki_dir}"})
    h = Harness(Responder(build_settings(config)))
    profile = h.responder.settings.default
    idr = profile.own_id()
    assert idr.id_type == 9  # ID_DER_ASN1_DN
    assert idr.data == profile.identity.certificate.subject.public_bytes()


def test_child_sa_rekey_installs_new_keys_then_the_old_pair_goes(harness: Harness) -> None:
    """RFC 7296 §2.8: the new pair is installed, the old one removed when deleted."""
    client = harness.client()
    old_out = client.connect().esp_spi_out
    new_in, new_out = client.rekey_child()
    installs = [e.spec for e in harness.effects if isinstance(e, InstallChildSa)]
    assert [s.spi_in for s in installs] == [old_out, new_out]
    assert installs[1].spi_out == new_in
    assert installs[1].encr_key_in != installs[0].encr_key_in  # fresh nonces, fresh keys
    removed = [e.spec.spi_in for e in harness.effects if isinstance(e, RemoveChildSa)]
    assert removed == [old_out]
    assert client.deleted_child_answer[0].spis == [old_out.to_bytes(4, "big")]
    sa = next(iter(harness.responder.sas.values()))
    assert [c.spec.spi_in for c in sa.children] == [new_out]
    assert sa.lease is not None  # the session, and its address, go on


def test_ike_sa_rekey_moves_the_session_to_the_new_sa(harness: Harness) -> None:
    client = harness.client()
    result = client.connect()
    client.rekey_ike()
    assert list(harness.responder.sas) == [client.spi_r]
    sa = harness.responder.sas[client.spi_r]
    assert sa.username == "alice" and sa.lease is not None and len(sa.children) == 1
    assert not harness.events(AddressReleased)  # deleting the old IKE SA ended no session
    client.delete()  # on the new SA: now the session ends
    assert [r.address for r in harness.events(AddressReleased)] == [result.address]
    assert not harness.responder.sas


def test_additional_child_sa_is_refused(harness: Harness) -> None:
    from ikev2d.wire.payloads import SA as SAp, Nonce, TSi as TSiP, TSr as TSrP
    client = harness.client()
    result = client.connect()
    answer = client.exchange(ExchangeType.CREATE_CHILD_SA, [SAp([client._esp_proposal(0x1234)]), Nonce(b"n" * 32),
                                      TSiP(result.tsi), TSrP(result.tsr)])
    assert answer.notify(NotifyType.NO_ADDITIONAL_SAS) is not None


def test_a_child_sa_the_data_plane_refuses_ends_the_session_cleanly(harness: Harness) -> None:
    client = harness.client()
    result = client.connect()
    effects = harness.responder.child_sa_failed(result.esp_spi_out, "EPROTONOSUPPORT", harness.now)
    requests = _datagrams(effects)
    assert len(requests) == 1
    client.answer(requests[0])
    assert client.deleted_by_peer
    assert [e.event.address for e in effects if isinstance(e, Emit) and isinstance(e.event, AddressReleased)] \
        == [result.address]


def test_hard_child_expiry_deletes_the_child_and_tells_the_client(harness: Harness) -> None:
    from ikev2d.wire.payloads import Delete
    client = harness.client()
    result = client.connect()
    effects = harness.responder.child_sa_expired(result.esp_spi_out, True, harness.now)
    assert [e.spec.spi_in for e in effects if isinstance(e, RemoveChildSa)] == [result.esp_spi_out]
    request = unprotect_message(_datagrams(effects)[0], client.sk)
    assert request.get(Delete).spis == [result.esp_spi_out.to_bytes(4, "big")]
    sa = next(iter(harness.responder.sas.values()))
    assert sa.children == [] and sa.lease is not None  # the IKE SA and address stay


def test_transport_turns_a_data_plane_error_into_a_delete(harness: Harness) -> None:
    from esp.dataplane import DataPlaneError, RecordingDataPlane
    from ikev2d.transport import Transport

    class Refusing(RecordingDataPlane):
        def install(self, spec):  # type: ignore[override]
            raise DataPlaneError("EPROTONOSUPPORT: the kernel has no ESP")

    sent: list[bytes] = []
    transport = Transport(harness.responder, [GATEWAY[0]], Refusing(), crypto=None)  # type: ignore[arg-type]
    transport._send = lambda data, local, remote: sent.append(data)  # type: ignore[method-assign]
    client = harness.client()
    client.connect()  # the harness records the InstallChildSa effect without performing it
    install = next(e for e in harness.effects if isinstance(e, InstallChildSa))
    transport.perform([install])
    assert len(sent) == 1
    client.answer(sent[0])
    assert client.deleted_by_peer


def test_ikev2_parameters_from_the_configuration(tmp_path: Path, pki_dir: Path) -> None:
    """FMC IPsec/IKEv2 Parameters reach the responder: cookie challenge and DPD."""
    config = make_config(tmp_path, **{"cookie_challenge: custom": "cookie_challenge: always",
                                      "dpd_interval_seconds: 30": "dpd_interval_seconds: 0",
                                      f"store: {tmp_path / 'pki'}": f"store: {pki_dir}"})
    h = Harness(Responder(build_settings(config)))
    client = h.client()
    assert client.connect().notifies[0] == NotifyType.COOKIE
    assert all(not _datagrams(h.responder.handle_timer(h.now + dt)) for dt in range(1, 120))  # no DPD
