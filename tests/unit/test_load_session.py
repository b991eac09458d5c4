"""`ikev2d load`'s client state machine against the sans-I/O responder:
the whole connect, COOKIE, INVALID_KE, fragments, errors by notify."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from ikev2d.core import Responder
from ikev2d.iana import DhId, EapType
from ikev2d.load.session import ClientProfile, LoadSession, Phase
from ikev2d.settings import build_settings

from responder_harness import GATEWAY, Harness, make_config

PROFILE = ClientProfile(username="alice", password="Lab-Passw0rd-1")


def drive(harness: Harness, session: LoadSession, out: list[bytes]) -> int:
    """Carry datagrams both ways until neither side has more; returns how
    many datagrams the responder sent."""
    send = harness.sender(session.local)
    sent_back = 0
    while out:
        answers = [a for d in out for a in send(d)]
        sent_back += len(answers)
        out = [o for a in answers for o in session.receive(a, harness.now)]
    return sent_back


def connect(harness: Harness, n: int = 2, profile: ClientProfile = PROFILE) -> LoadSession:
    session = LoadSession(profile, (f"198.18.0.{n}", 500), GATEWAY)
    drive(harness, session, session.start(harness.now))
    return session


def test_connects_with_eap_mschapv2_gets_an_address_and_deletes(harness: Harness) -> None:
    session = connect(harness)
    assert session.phase == Phase.ESTABLISHED, session.error
    assert session.address is not None
    drive(harness, session, session.delete())
    assert session.phase == Phase.CLOSED


def test_reassembles_the_responders_fragmented_ike_auth(harness: Harness) -> None:
    # the first IKE_AUTH answer carries the responder's certificate: over 1280 octets
    session = connect(harness, profile=ClientProfile(username="alice", password="Lab-Passw0rd-1", fragment_size=576))
    assert session.phase == Phase.ESTABLISHED, session.error
    assert session.fragments_received >= 2


@pytest.mark.parametrize("method", [EapType.GTC, EapType.MD5_CHALLENGE])
def test_eap_gtc_and_md5_connect_after_a_nak_of_mschapv2(harness: Harness, method: int) -> None:
    session = connect(harness, profile=ClientProfile(username="alice", password="Lab-Passw0rd-1", eap_method=method))
    assert session.phase == Phase.ESTABLISHED, session.error


def test_wrong_password_is_counted_as_authentication_failed(harness: Harness) -> None:
    session = connect(harness, profile=ClientProfile(username="alice", password="wrong"))
    assert session.phase == Phase.FAILED
    assert session.error == "AUTHENTICATION_FAILED"


def test_invalid_ke_is_retried_with_the_group_asked(harness: Harness) -> None:
    # we guess MODP-2048 although we also offer 15; the responder only takes 15
    profile = ClientProfile(username="alice", password="Lab-Passw0rd-1", dh_groups=(DhId.MODP_3072,),
                            ke_group=DhId.MODP_2048)
    session = connect(harness, profile=profile)
    assert session.ke_retries == 1
    assert session.phase == Phase.ESTABLISHED, session.error


def test_invalid_ke_for_a_group_we_did_not_offer_is_an_error_by_notify(harness: Harness) -> None:
    profile = ClientProfile(username="alice", password="Lab-Passw0rd-1", dh_groups=(DhId.MODP_2048,))
    session = connect(harness, profile=profile)
    assert session.phase == Phase.FAILED
    assert session.error in ("INVALID_KE_PAYLOAD", "NO_PROPOSAL_CHOSEN")


def test_cookie_challenge_is_answered(tmp_path: Path, pki_dir: Path) -> None:
    config = make_config(tmp_path, **{f"store: {tmp_path / 'pki'}": f"store: {pki_dir}",
                                      "cookie_challenge: custom": "cookie_challenge: always"})
    harness = Harness(Responder(build_settings(config)))
    session = connect(harness)
    assert session.cookies == 1
    assert session.phase == Phase.ESTABLISHED, session.error


def test_garbage_and_stray_answers_are_dropped(harness: Harness) -> None:
    session = LoadSession(PROFILE, ("198.18.0.2", 500), GATEWAY)
    out = session.start(harness.now)
    assert session.receive(b"\x00" * 10, harness.now) == []
    assert session.receive(out[0], harness.now) == []  # our own request is no answer
    assert session.phase == Phase.IKE_SA_INIT
    drive(harness, session, out)
    assert session.phase == Phase.ESTABLISHED, session.error
    assert session.error is None


def test_mangled_answers_never_raise(harness: Harness) -> None:
    """Every answer of a real connect, truncated or with a flipped octet,
    fed to a client at the same step: a drop or a failure, never an exception."""
    session = LoadSession(PROFILE, ("198.18.0.2", 500), GATEWAY)
    send = harness.sender(session.local)
    out = session.start(harness.now)
    while out:
        answers = [a for d in out for a in send(d)]
        for answer in answers:
            for mangled in (answer[:len(answer) // 2], answer[:28], answer[:-1],
                            answer[:40] + bytes([answer[40] ^ 0xFF]) + answer[41:],
                            answer[:-5] + bytes([answer[-5] ^ 0x01]) + answer[-4:]):
                twin = copy.deepcopy(session)
                twin.receive(mangled, harness.now)  # must not raise
        out = [o for a in answers for o in session.receive(a, harness.now)]
    assert session.phase == Phase.ESTABLISHED, session.error
