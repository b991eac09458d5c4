"""A RADIUS-backed connection profile end to end, sans I/O: lab.initiator
talks to ikev2d.core.Responder, and the Access-Request jobs the core hands
out are answered by a RADIUS server in miniature (ikev2d's own EAP server
behind a State, PAP against its own users). Its users' passwords are not
the local database's, so a connection proves RADIUS decided."""

from __future__ import annotations

import os
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
import yaml

from ikev2d.aaa.authorization import Authorization
from ikev2d.aaa.local import LocalUserDatabase
from ikev2d.aaa.radius.messages import (
    AccessAnswer,
    AccessCode,
    AccessRequest,
    AcctStatus,
    RadiusResult,
    RadiusUnreachable,
    TerminateCause,
)
from ikev2d.conf import load_config
from ikev2d.core import Responder, settle
from ikev2d.crypto.jobs import CryptoWorker
from ikev2d.eap.packet import EapPacket
from ikev2d.eap.server import EapServer
from ikev2d.effects import Effect, Emit, InstallChildSa, RemoveChildSa, SendAccounting, SendDatagram
from ikev2d.events import AuthFailed, AuthSucceeded, IkeSaEstablished
from ikev2d.iana import EapType, NotifyType
from ikev2d.settings import build_settings
from lab.initiator import IkeFailure, Initiator, InitiatorOptions

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ("198.18.0.1", 500)
RADIUS_HOST = "192.0.2.10"
RADIUS_USERS = {"alice": "Radius-Alice-Pw-1", "bob": "Radius-Bob-Pw-2"}


class MiniRadius:
    """Answers AccessRequest jobs like a RADIUS server would."""

    def __init__(self) -> None:
        self.users = LocalUserDatabase(RADIUS_USERS)
        self.sessions: dict[bytes, EapServer] = {}
        self.requests: list[AccessRequest] = []
        self.down = False
        self.authorization = Authorization()  # what an Access-Accept assigns

    def __call__(self, request: AccessRequest) -> RadiusResult:
        self.requests.append(request)
        if self.down:
            return RadiusUnreachable(request.group, f"{RADIUS_HOST}:1812: no answer after 4 transmissions")
        if request.password is not None:
            ok = self.users.password(request.username) == request.password
            return AccessAnswer(AccessCode.ACCEPT if ok else AccessCode.REJECT, 0, RADIUS_HOST,
                                authorization=self.authorization if ok else Authorization())
        assert request.eap_message is not None
        if request.state is None:
            first_id = EapPacket.parse(request.eap_message).identifier
            draws = iter([bytes([first_id])])
            server = EapServer([EapType.MSCHAPV2, EapType.MD5_CHALLENGE], self.users,
                               random=lambda n: next(draws, None) or os.urandom(n))
            server.start()
            state = os.urandom(8)
            self.sessions[state] = server
        else:
            state, server = request.state, self.sessions[request.state]
        outcome = server.process(request.eap_message)
        if not outcome.finished:
            return AccessAnswer(AccessCode.CHALLENGE, 0, RADIUS_HOST, eap_message=outcome.message, state=state)
        code = AccessCode.ACCEPT if outcome.success else AccessCode.REJECT
        return AccessAnswer(code, 0, RADIUS_HOST, eap_message=outcome.message, msk=outcome.msk,
                            authorization=self.authorization if outcome.success else Authorization())


class Harness:
    def __init__(self, responder: Responder, radius: MiniRadius) -> None:
        self.responder = responder
        self.radius = radius
        self.worker = CryptoWorker(responder.settings.signing_keys)
        self.now = 1000.0
        self.effects: list[Effect] = []
        # called with each RADIUS Access-Request before it is answered
        self.on_radius_job: Callable[[AccessRequest], None] | None = None
        self.last_datagram = (b"", GATEWAY)

    def answer(self, request: AccessRequest) -> RadiusResult:
        if self.on_radius_job is not None:
            self.on_radius_job(request)
        return self.radius(request)

    def settle(self, effects: list[Effect]) -> list[Effect]:
        out = settle(self.responder, effects, self.worker, self.now, radius=self.answer)
        self.effects += out
        return out

    def sender(self, client: tuple[str, int]) -> Callable[[bytes], list[bytes]]:
        def send(datagram: bytes) -> list[bytes]:
            self.last_datagram = (datagram, client)
            effects = self.settle(self.responder.datagram_received(datagram, GATEWAY, client, self.now))
            return [e.data for e in effects if isinstance(e, SendDatagram)]
        return send

    def client(self, n: int = 2, **options: Any) -> Initiator:
        addr = (f"198.18.0.{n}", 500)
        options.setdefault("password", RADIUS_USERS.get(options.get("username", "alice"), "x"))
        return Initiator(InitiatorOptions(local=addr, remote=GATEWAY, **options), self.sender(addr))

    def events(self, kind: type) -> list[Any]:
        return [e.event for e in self.effects if isinstance(e, Emit) and isinstance(e.event, kind)]


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")


def make_harness(tmp_path: Path, pki_dir: Path, eap_methods: list[str], accounting: bool = False,
                 edit: Callable[[dict], None] | None = None) -> Harness:
    cfg = yaml.safe_load((ROOT / "config" / "ikev2d.yaml").read_text())
    if edit is not None:
        edit(cfg)
    for ident in cfg["objects"]["identity_certificates"]:
        ident["store"] = str(pki_dir)
    cfg["objects"]["radius_server_groups"] = [
        {"name": "ISE", "servers": [{"host": RADIUS_HOST, "secret": "Unit-Secret-1"}]}]
    for profile in cfg["connection_profiles"]:
        profile["authentication"]["server_group"] = "ISE"
        profile["authentication"]["eap_methods"] = eap_methods
        if accounting:
            profile["accounting_server_group"] = "ISE"
    path = tmp_path / "ikev2d.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return Harness(Responder(build_settings(load_config(path))), MiniRadius())


@pytest.mark.parametrize("method", [EapType.MSCHAPV2, EapType.MD5_CHALLENGE])
def test_relayed_eap_connects_with_the_radius_password(tmp_path: Path, pki_dir: Path, method: int) -> None:
    """RFC 3579: every EAP Response after the identity goes to RADIUS with
    the State of the last Challenge; the MSCHAPv2 MSK from the Access-Accept
    keys the AUTH exchange (the initiator checks ours, we check its)."""
    h = make_harness(tmp_path, pki_dir, ["mschapv2"])
    result = h.client(eap_method=method).connect()
    assert result.address == IPv4Address("198.19.0.200")
    first, *rest = h.radius.requests
    assert first.state is None and first.username == "alice"
    assert EapPacket.parse(first.eap_message or b"").type == EapType.IDENTITY
    assert rest and all(r.state is not None and r.server == 0 for r in rest)
    assert all(r.nas.client_ip == "198.18.0.2" and r.nas.nas_ip == "198.18.0.1" for r in h.radius.requests)
    (ok,) = h.events(AuthSucceeded)
    assert ok.aaa_server == RADIUS_HOST and ok.username == "alice"
    assert h.events(IkeSaEstablished)


def test_the_local_password_does_not_pass_a_radius_profile(tmp_path: Path, pki_dir: Path) -> None:
    h = make_harness(tmp_path, pki_dir, ["mschapv2"])
    with pytest.raises(IkeFailure) as failure:
        h.client(password="Lab-Passw0rd-1").connect()  # alice's LOCAL password
    assert failure.value.notify == NotifyType.AUTHENTICATION_FAILED
    (refused,) = h.events(AuthFailed)
    assert refused.aaa_rejected and refused.aaa_server == RADIUS_HOST
    assert not h.events(InstallChildSa)


def test_gtc_password_goes_to_radius_as_pap(tmp_path: Path, pki_dir: Path) -> None:
    h = make_harness(tmp_path, pki_dir, ["gtc"])
    result = h.client(username="bob", eap_method=EapType.GTC).connect()
    assert result.address is not None
    (request,) = h.radius.requests
    assert (request.username, request.password, request.eap_message) == ("bob", RADIUS_USERS["bob"], None)


def test_gtc_wrong_password_is_refused(tmp_path: Path, pki_dir: Path) -> None:
    h = make_harness(tmp_path, pki_dir, ["gtc"])
    with pytest.raises(IkeFailure) as failure:
        h.client(username="bob", password="wrong", eap_method=EapType.GTC).connect()
    assert failure.value.notify == NotifyType.AUTHENTICATION_FAILED


def test_no_radius_server_answers(tmp_path: Path, pki_dir: Path) -> None:
    """The client hears AUTHENTICATION_FAILED; the log says the server was
    not reached, which is not a rejection of the user's credentials."""
    h = make_harness(tmp_path, pki_dir, ["mschapv2"])
    h.radius.down = True
    with pytest.raises(IkeFailure) as failure:
        h.client().connect()
    assert failure.value.notify == NotifyType.AUTHENTICATION_FAILED
    (refused,) = h.events(AuthFailed)
    assert not refused.aaa_rejected and "no RADIUS server of group ISE answered" in refused.reason


def test_settle_without_a_radius_answerer_says_so(tmp_path: Path, pki_dir: Path) -> None:
    """core.settle once handed an Access-Request to the crypto worker,
    which failed with AttributeError ('key_name'); now it names what is
    missing."""
    h = make_harness(tmp_path, pki_dir, ["mschapv2"])
    client = ("198.18.0.2", 500)

    def send(datagram: bytes) -> list[bytes]:
        effects = settle(h.responder, h.responder.datagram_received(datagram, GATEWAY, client, h.now),
                         h.worker, h.now)
        return [e.data for e in effects if isinstance(e, SendDatagram)]

    initiator = Initiator(InitiatorOptions(local=client, remote=GATEWAY, password=RADIUS_USERS["alice"]), send)
    initiator.ike_sa_init()
    with pytest.raises(ValueError, match="RADIUS Access-Request to server group 'ISE' needs a radius= answerer"):
        initiator.ike_auth()


def test_a_retransmit_while_radius_thinks_is_not_asked_twice(tmp_path: Path, pki_dir: Path) -> None:
    """The RADIUS round trip is a Deferred job: while it runs, the client's
    retransmission of the same IKE_AUTH request yields nothing (no second
    Access-Request, no answer); the answer follows the job."""
    h = make_harness(tmp_path, pki_dir, ["mschapv2"])
    client = h.client()
    client.ike_sa_init()
    seen: list[list[Effect]] = []

    def retransmit_during(request: AccessRequest) -> None:
        datagram, source = h.last_datagram
        seen.append(h.responder.datagram_received(datagram, GATEWAY, source, h.now))

    h.on_radius_job = retransmit_during
    assert client.ike_auth().address is not None
    assert len(seen) == len(h.radius.requests) >= 3
    assert all(effects == [] for effects in seen)


def test_accounting_start_then_stop_before_the_child_sa_goes(tmp_path: Path, pki_dir: Path) -> None:
    """RFC 2866: Start once the session is up (user, pool address, session
    ID), Stop on delete with the same session ID, User-Request, and the
    Child SA SPIs whose counters the adapter reads before removing them."""
    h = make_harness(tmp_path, pki_dir, ["mschapv2"], accounting=True)
    client = h.client()
    result = client.connect()
    (start,) = [e.record for e in h.effects if isinstance(e, SendAccounting)]
    assert start.status is AcctStatus.START and start.group == "ISE"
    assert (start.username, start.framed_ip, start.session_id) == ("alice", result.address, "00006000")
    assert start.authenticated_by_radius

    h.now += 42
    client.delete()
    kinds = [type(e) for e in h.effects]
    stop_at = max(i for i, e in enumerate(h.effects) if isinstance(e, SendAccounting))
    stop = h.effects[stop_at]
    assert isinstance(stop, SendAccounting) and stop.record.status is AcctStatus.STOP
    assert kinds.index(RemoveChildSa) > stop_at, "the Stop must precede the Child SA's removal"
    assert stop.record.session_id == start.session_id
    assert stop.record.session_time == 42
    assert stop.record.terminate_cause is TerminateCause.USER_REQUEST
    (installed,) = [e.spec for e in h.effects if isinstance(e, InstallChildSa)]
    assert stop.record.child_spis == (installed.spi_in,)


def test_no_accounting_without_an_accounting_group(tmp_path: Path, pki_dir: Path) -> None:
    h = make_harness(tmp_path, pki_dir, ["mschapv2"])
    client = h.client()
    client.connect()
    client.delete()
    assert not [e for e in h.effects if isinstance(e, SendAccounting)]
