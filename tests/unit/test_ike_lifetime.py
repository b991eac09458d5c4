"""The IKEv2 policy's lifetime, enforced (it used to be shown by `show
crypto ikev2 sa detail` and never applied): an IKE SA the client has not
rekeyed within it ends with a Delete; a rekey starts a new lifetime."""

from __future__ import annotations

from pathlib import Path

from ikev2d.core import Responder
from ikev2d.effects import Emit, SendDatagram
from ikev2d.events import IkeSaDeleted
from ikev2d.sa import IKE_LIFETIME_EXPIRED
from ikev2d.sa_types import State
from ikev2d.settings import build_settings

from responder_harness import Harness, make_config

LIFETIME = 300


def _harness(tmp_path: Path, pki_dir: Path) -> Harness:
    config = make_config(tmp_path, **{f"store: {tmp_path / 'pki'}": f"store: {pki_dir}",
                                      "lifetime_seconds: 86400": f"lifetime_seconds: {LIFETIME}"})
    h = Harness(Responder(build_settings(config)))
    h.responder.settings.dpd_interval = 0
    return h


def _ended(effects: list) -> list[str]:
    return [e.event.reason for e in effects if isinstance(e, Emit) and isinstance(e.event, IkeSaDeleted)]


def test_an_ike_sa_not_rekeyed_within_its_lifetime_is_deleted(tmp_path: Path, pki_dir: Path) -> None:
    h = _harness(tmp_path, pki_dir)
    client = h.client()
    client.connect()
    [sa] = h.responder.sas.values()
    assert _ended(h.responder.handle_timer(sa.created + LIFETIME - 1)) == []
    effects = h.responder.handle_timer(sa.created + LIFETIME)
    assert _ended(effects) == [IKE_LIFETIME_EXPIRED]
    [delete] = [e.data for e in effects if isinstance(e, SendDatagram)]
    client.answer(delete)
    assert client.deleted_by_peer and sa.state is State.DELETING


def test_a_rekey_starts_a_new_lifetime(tmp_path: Path, pki_dir: Path) -> None:
    h = _harness(tmp_path, pki_dir)
    client = h.client()
    client.connect()
    [old] = h.responder.sas.values()
    h.now += LIFETIME - 10
    client.rekey_ike()
    [new] = [sa for sa in h.responder.sas.values() if sa.state is State.ESTABLISHED]
    assert new is not old and new.created == h.now
    assert _ended(h.responder.handle_timer(old.created + LIFETIME + 1)) == []
    assert _ended(h.responder.handle_timer(new.created + LIFETIME)) == [IKE_LIFETIME_EXPIRED]
