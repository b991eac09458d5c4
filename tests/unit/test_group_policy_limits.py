"""The group policy's session limits, enforced (ASA/FTD semantics):
- vpn-simultaneous-logins (default 3): past the limit, the user's session
  idle longest (of those idle alike, the oldest) is logged off with a
  Delete; 0 lets nobody in.
- vpn-session-timeout, the maximum connect time (default none): the
  session ends with a Delete when it runs out, 113019 "Max time exceeded".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ikev2d.conf.errors import ConfigError
from ikev2d.core import Responder
from ikev2d.effects import Emit, SendDatagram
from ikev2d.events import IkeSaDeleted
from ikev2d.iana import ExchangeType, NotifyType
from ikev2d.running_config import render_running_config
from ikev2d.sa import LOGINS_EXCEEDED, MAX_CONNECT_TIME
from ikev2d.sa_types import State
from ikev2d.settings import build_settings
from ikev2d.wire.header import Header
from lab.initiator import IkeFailure, Initiator, InitiatorOptions

from responder_harness import GATEWAY, Harness, make_config

IDLE_LINE = "idle_timeout_minutes: 30"


def _harness(tmp_path: Path, pki_dir: Path, extra: str) -> Harness:
    config = make_config(tmp_path, **{f"store: {tmp_path / 'pki'}": f"store: {pki_dir}",
                                      IDLE_LINE: f"{IDLE_LINE}\n      {extra}"})
    return Harness(Responder(build_settings(config)))


def _alice_from(harness: Harness, host: int) -> Initiator:
    local = (f"198.18.0.{host}", 500)
    return Initiator(InitiatorOptions(local=local, remote=GATEWAY), harness.sender(local))


def _up(harness: Harness) -> list:
    return sorted((sa for sa in harness.responder.sas.values() if sa.state is State.ESTABLISHED),
                  key=lambda sa: sa.unique_id)


def _downs(harness: Harness) -> list[IkeSaDeleted]:
    return [e.event for e in harness.effects if isinstance(e, Emit) and isinstance(e.event, IkeSaDeleted)]


def test_a_fourth_login_logs_off_the_oldest_of_three_idle_sessions(harness: Harness) -> None:
    for host in (2, 3, 4):
        _alice_from(harness, host).connect()
    first = _up(harness)[0]
    _alice_from(harness, 5).connect()
    assert [sa.remote[0] for sa in _up(harness)] == ["198.18.0.3", "198.18.0.4", "198.18.0.5"]
    assert first.state is State.DELETING  # its Delete is out
    assert [d.reason for d in _downs(harness)] == [LOGINS_EXCEEDED]
    requests = [Header.parse(e.data) for e in harness.effects if isinstance(e, SendDatagram)
                and e.remote == first.remote and not Header.parse(e.data).is_response]
    assert [h.exchange for h in requests] == [ExchangeType.INFORMATIONAL]  # the Delete


def test_the_session_idle_longest_goes_first(harness: Harness) -> None:
    for host in (2, 3, 4):
        _alice_from(harness, host).connect()
    oldest, middle, newest = _up(harness)
    for sa in (oldest, newest):  # traffic on these two, later
        harness.responder.activity(sa.spi_r, 10, harness.now + 60)
    _alice_from(harness, 5).connect()
    assert middle.state is State.DELETING and oldest.state is State.ESTABLISHED


def test_an_ike_sa_superseded_by_a_rekey_is_not_a_session_of_its_own(harness: Harness) -> None:
    """Between a client's IKE rekey and its Delete of the old IKE SA (RFC
    7296 §2.8) the user has one session, not two: a third login within the
    limit of three logs nobody off."""
    rekeying = _alice_from(harness, 2)
    rekeying.connect()
    _alice_from(harness, 3).connect()
    rekeying.rekey_ike(delete_old=False)
    _alice_from(harness, 4).connect()
    assert _downs(harness) == []
    assert not [sa for sa in harness.responder.sas.values() if sa.state is State.DELETING]  # no Delete sent
    assert sorted(sa.remote[0] for sa in _up(harness) if not sa.rekeyed) == ["198.18.0.2", "198.18.0.3",
                                                                            "198.18.0.4"]


def test_zero_simultaneous_logins_lets_nobody_in(tmp_path: Path, pki_dir: Path) -> None:
    h = _harness(tmp_path, pki_dir, "simultaneous_logins: 0")
    with pytest.raises(IkeFailure) as failure:
        h.client().connect()
    assert failure.value.notify == NotifyType.AUTHENTICATION_FAILED
    assert not _up(h)


def test_the_maximum_connect_time_ends_the_session(tmp_path: Path, pki_dir: Path) -> None:
    h = _harness(tmp_path, pki_dir, "max_connect_time_minutes: 2")
    h.responder.settings.dpd_interval = 0
    client = h.client()
    client.connect()
    [sa] = _up(h)
    before = h.responder.handle_timer(h.now + 119)
    assert not [e for e in before if isinstance(e, SendDatagram)]
    effects = h.responder.handle_timer(h.now + 120)
    [delete] = [e.data for e in effects if isinstance(e, SendDatagram)]
    assert [e.event.reason for e in effects if isinstance(e, Emit) and isinstance(e.event, IkeSaDeleted)] == [
        MAX_CONNECT_TIME]
    client.answer(delete)
    assert client.deleted_by_peer


def test_the_limits_are_configured_and_shown_as_asa_cli(tmp_path: Path) -> None:
    config = make_config(tmp_path, **{IDLE_LINE: f"{IDLE_LINE}\n      simultaneous_logins: 1\n"
                                                 "      max_connect_time_minutes: 480"})
    policy = config.group_policy("GP-CCIElab")
    assert (policy.simultaneous_logins, policy.max_connect_time_minutes) == (1, 480)
    text = render_running_config(config)
    assert " vpn-simultaneous-logins 1" in text and " vpn-session-timeout 480" in text


@pytest.mark.parametrize("line, message", [
    ("simultaneous_logins: -1", "simultaneous_logins"),
    ("max_connect_time_minutes: 0", "max_connect_time_minutes"),
])
def test_bad_limits_name_their_line(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        make_config(tmp_path, **{IDLE_LINE: f"{IDLE_LINE}\n      {line}"})
    assert ":" in str(error.value)
