"""The FTD's "Client Certificate & AAA" for IKEv2 standards clients as RFC
4739 multiple authentication: the client's certificate and signature in the
first IKE_AUTH round (with MULTIPLE_AUTH_SUPPORTED and ANOTHER_AUTH_FOLLOWS),
answered with our IDr, CERT and AUTH alone; then a second IDi, EAP against
the profile's AAA server group, the AUTH from the MSK, and the Child SA."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ikev2d.events import AuthFailed, AuthSucceeded, CertificateChecked, IkeSaEstablished, NegotiationAborted
from ikev2d.iana import AuthMethod, EapType, NotifyType
from ikev2d.syslog.render import records_for
from ikev2d.wire.message import Message, decode_message
from ikev2d.wire.payloads import AUTH, IDi, Notify
from lab.initiator import IkeFailure
from lab.pki import LabPki, make_lab_pki

from responder_harness import Harness, certificate_harness, load_client

METHOD = "aaa-and-client-certificate"


@pytest.fixture(scope="module")
def lab_pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return make_lab_pki(tmp_path_factory.mktemp("labpki"))


@pytest.fixture
def harness(tmp_path: Path, pki_dir: Path, lab_pki: LabPki) -> Harness:
    return certificate_harness(tmp_path, pki_dir, lab_pki.ca_cert, METHOD)


def _syslog(h: Harness) -> list[str]:
    """The FTD lines of what the responder reported, in order, as `%FTD-s-id` prefixes."""
    return [r.line().split(":")[0] for e in h.events(object) for r in records_for(e)]


def _refused(h: Harness, **options: object) -> str:
    """The client gets AUTHENTICATION_FAILED; the reason the responder logged."""
    client = h.client(**options)
    with pytest.raises(IkeFailure) as caught:
        client.connect()
    assert caught.value.notify == NotifyType.AUTHENTICATION_FAILED
    assert not h.events(IkeSaEstablished)
    [aborted] = h.events(NegotiationAborted)
    assert aborted.reason == "Failed to authenticate the IKE SA"
    [failed] = h.events(AuthFailed)
    return failed.reason


def test_certificate_then_eap_connects_as_the_eap_user(harness: Harness, lab_pki: LabPki) -> None:
    """carol's certificate, then alice's password: the session is alice's (the
    AAA username, the FTD default without username-from-certificate)."""
    cert, key = load_client(lab_pki, "carol")
    client = harness.client(client_certificate=cert, client_key=key, then_eap=True)
    result = client.connect()
    assert client.peer_multiple_auth  # RFC 4739 §3.1, in the IKE_SA_INIT response
    assert result.address is not None and result.esp_spi_out and result.tsr
    [ok] = harness.events(AuthSucceeded)
    assert (ok.username, ok.method, ok.profile) == ("alice", EapType.MSCHAPV2.name, "CCIElab")
    [up] = harness.events(IkeSaEstablished)
    assert up.username == "alice"
    lines = _syslog(harness)
    # the certificate first, then the local database's AAA lines
    assert lines.index("%FTD-6-717022") < lines.index("%FTD-6-113012") < lines.index("%FTD-5-750006")
    [sa] = harness.responder.sas.values()
    assert sa.peer_auth == "RSA"


def test_rounds_on_the_wire(harness: Harness, lab_pki: LabPki) -> None:
    """IKE_AUTH 1 is answered with IDr CERT AUTH and no SA, CP or EAP (RFC 4739 §3)."""
    cert, key = load_client(lab_pki, "carol")
    client = harness.client(client_certificate=cert, client_key=key, then_eap=True)
    answers: list = []
    original = client.exchange

    def recording(exchange: int, payloads: list) -> object:
        answer = original(exchange, payloads)
        answers.append(answer)
        return answer

    client.exchange = recording  # type: ignore[method-assign]
    client.connect()
    kinds = [[type(p).__name__ for p in a.payloads] for a in answers]
    assert kinds[0][:2] == ["IDr", "CERT"] and "AUTH" in kinds[0]
    assert not {"SA", "CP", "EAP", "TSi"} & set(kinds[0]), kinds[0]
    assert kinds[1] == ["EAP"]  # the second IDi opens EAP (Request/Identity)
    assert {"AUTH", "CP", "SA", "TSi", "TSr"} <= set(kinds[-1]), kinds[-1]


def test_multiple_auth_is_announced_only_when_a_profile_needs_it(tmp_path: Path, pki_dir: Path,
                                                                 lab_pki: LabPki) -> None:
    h = certificate_harness(tmp_path, pki_dir, lab_pki.ca_cert, "aaa-only")
    client = h.client()
    client.ike_sa_init()
    notifies = [p.type for p in decode_message(client.init_response).payloads if isinstance(p, Notify)]
    assert NotifyType.MULTIPLE_AUTH_SUPPORTED not in notifies
    assert not client.peer_multiple_auth


def test_wrong_password_after_a_good_certificate_is_refused(harness: Harness, lab_pki: LabPki) -> None:
    cert, key = load_client(lab_pki, "carol")
    _refused(harness, client_certificate=cert, client_key=key, then_eap=True, password="wrong")
    lines = _syslog(harness)
    # 717022 (the certificate held), then the local database's rejection, then 750003
    assert lines.index("%FTD-6-717022") < lines.index("%FTD-6-113015") < lines.index("%FTD-4-750003")
    assert not harness.events(AuthSucceeded)


def test_expired_certificate_is_refused_before_any_eap(harness: Harness, lab_pki: LabPki) -> None:
    cert, key = load_client(lab_pki, "carol")
    harness.responder.settings.wall_clock = lambda: cert.not_valid_after_utc + dt.timedelta(days=1)
    reason = _refused(harness, client_certificate=cert, client_key=key, then_eap=True)
    assert "expired" in reason
    lines = _syslog(harness)
    assert "%FTD-3-717009" in lines and "%FTD-6-113015" not in lines and "%FTD-6-113012" not in lines
    [checked] = harness.events(CertificateChecked)
    assert checked.failure == "expired"


@pytest.mark.parametrize("missing", [NotifyType.ANOTHER_AUTH_FOLLOWS, NotifyType.MULTIPLE_AUTH_SUPPORTED])
def test_a_client_without_the_rfc4739_notifies_is_refused(harness: Harness, lab_pki: LabPki,
                                                          missing: NotifyType) -> None:
    cert, key = load_client(lab_pki, "carol")
    sent = tuple(n for n in (NotifyType.MULTIPLE_AUTH_SUPPORTED, NotifyType.ANOTHER_AUTH_FOLLOWS) if n != missing)
    reason = _refused(harness, client_certificate=cert, client_key=key, then_eap=True, multiple_auth_notifies=sent)
    assert f"no {missing.name}" in reason and "connection profile CCIElab" in reason, reason
    assert not harness.events(CertificateChecked)  # refused before the certificate is looked at


def test_a_certificate_only_client_is_refused(harness: Harness, lab_pki: LabPki) -> None:
    cert, key = load_client(lab_pki, "carol")
    reason = _refused(harness, client_certificate=cert, client_key=key)
    assert "no MULTIPLE_AUTH_SUPPORTED and no ANOTHER_AUTH_FOLLOWS" in reason, reason


def test_an_eap_only_client_is_refused(harness: Harness) -> None:
    reason = _refused(harness)
    assert "asked for EAP only" in reason, reason
    assert not harness.events(CertificateChecked)


def test_a_second_round_by_signature_instead_of_eap_is_refused(harness: Harness, lab_pki: LabPki) -> None:
    """The profile's second round is AAA: an IDi with an AUTH payload (a
    second certificate or key round) gets AUTHENTICATION_FAILED."""
    cert, key = load_client(lab_pki, "carol")
    client = harness.client(client_certificate=cert, client_key=key, then_eap=True)
    original = client.exchange

    def with_auth(exchange: int, payloads: list) -> Message:
        if len(payloads) == 1 and isinstance(payloads[0], IDi):
            payloads = [*payloads, AUTH(AuthMethod.SHARED_KEY_MIC, bytes(64))]
        return original(exchange, payloads)

    client.exchange = with_auth  # type: ignore[method-assign]
    with pytest.raises(IkeFailure) as caught:
        client.connect()
    assert caught.value.notify == NotifyType.AUTHENTICATION_FAILED
    [failed] = harness.events(AuthFailed)
    assert "second round by AAA (EAP)" in failed.reason, failed.reason
    assert harness.events(CertificateChecked)[0].failure is None  # the first round had held
    assert not harness.events(IkeSaEstablished)


def test_a_third_round_is_refused(harness: Harness, lab_pki: LabPki) -> None:
    """ANOTHER_AUTH_FOLLOWS again with the AUTH after EAP: the profile has
    two rounds, so the client's third is refused rather than left hanging."""
    cert, key = load_client(lab_pki, "carol")
    client = harness.client(client_certificate=cert, client_key=key, then_eap=True)
    original = client.exchange

    def third(exchange: int, payloads: list) -> Message:
        if len(payloads) == 1 and isinstance(payloads[0], AUTH):
            payloads = [*payloads, Notify(NotifyType.ANOTHER_AUTH_FOLLOWS)]
        return original(exchange, payloads)

    client.exchange = third  # type: ignore[method-assign]
    with pytest.raises(IkeFailure) as caught:
        client.connect()
    assert caught.value.notify == NotifyType.AUTHENTICATION_FAILED
    [failed] = harness.events(AuthFailed)
    assert "third authentication round" in failed.reason, failed.reason
    assert not harness.events(IkeSaEstablished)


def test_a_revoked_certificate_is_refused_before_eap_and_a_good_one_goes_on(tmp_path: Path, pki_dir: Path,
                                                                             lab_pki: LabPki) -> None:
    """With `revocation_check: crl` the certificate round waits for the CRL
    (a job, as certificate-only does), then refuses a revoked certificate
    before any EAP, or goes on to the EAP round."""
    crl = lab_pki.issue_crl(tmp_path / "lab.crl", [lab_pki.client_identity("carol").cert])
    h = certificate_harness(tmp_path, pki_dir, lab_pki.ca_cert, METHOD,
                            ca_more=f"      revocation_check: crl\n      crl_urls: [{crl}]\n")
    cert, key = load_client(lab_pki, "carol")
    assert "revoked" in _refused(h, client_certificate=cert, client_key=key, then_eap=True)
    assert not h.events(AuthSucceeded)
    dave, dave_key = load_client(lab_pki, "dave")
    h.client(3, client_certificate=dave, client_key=dave_key, then_eap=True).connect()
    [ok] = h.events(AuthSucceeded)
    assert ok.username == "alice" and "%FTD-6-717028" in _syslog(h)
