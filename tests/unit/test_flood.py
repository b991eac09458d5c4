"""An IKE_SA_INIT flood from forged sources (RFC 7296 §2.6) against the
sans-I/O responder: no DH, no signature and no state for a source that has
not returned a cookie; half-open SAs capped globally and per address; the
half-open slot of a DH job that never returns is freed; a real client
connects meanwhile."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from ikev2d.effects import Compute, Emit, SendDatagram
from ikev2d.events import MessageDropped
from ikev2d.iana import NotifyType
from ikev2d.wire.message import decode_message
from lab.initiator import IkeFailure

from responder_harness import GATEWAY, Harness

FLOOD = 3000


def _init_request(harness: Harness) -> bytes:
    """One real IKE_SA_INIT request (SA, KE, Nonce, NAT-D...), captured unsent."""
    client = harness.client()
    sent: list[bytes] = []
    client.send = lambda d: sent.append(d) or []  # type: ignore[method-assign]
    with pytest.raises(IkeFailure):
        client.ike_sa_init()
    return sent[0]


def _forged(request: bytes, n: int) -> tuple[bytes, tuple[str, int]]:
    # a fresh SPIi and a source from the lab range, as a spoofing flood makes them
    spi = (n + 1).to_bytes(8, "big")
    return spi + request[8:], (f"198.18.{1 + n // 250}.{1 + n % 250}", 500)


def test_a_forged_flood_costs_no_dh_and_no_state_past_the_cookie_threshold(harness: Harness) -> None:
    request = _init_request(harness)
    responder = harness.responder
    computes = cookies = 0
    for n in range(FLOOD):
        data, source = _forged(request, n)
        for effect in responder.datagram_received(data, GATEWAY, source, harness.now + n / FLOOD):
            if isinstance(effect, Compute):
                computes += 1  # their jobs never finish: the sources are fake
            elif isinstance(effect, SendDatagram):
                cookies += decode_message(effect.data).notify(NotifyType.COOKIE) is not None
    threshold = 50  # 50 % of 100 in negotiation
    assert computes == threshold
    assert cookies == FLOOD - threshold
    assert responder.init_refusals["cookie challenge"] == FLOOD - threshold
    # state is bounded by the threshold, not by the flood
    assert len(responder._pending_init) + len(responder.sas) == threshold
    # a real client, during the flood, proves its address and connects
    client = harness.client(250)
    result = client.connect()
    assert result.notifies[0] == NotifyType.COOKIE
    assert result.address == IPv4Address("198.19.0.200")


def test_one_address_cannot_hold_every_half_open_slot(harness: Harness) -> None:
    responder = harness.responder
    responder.settings.cookie_challenge = "never"
    request = _init_request(harness)
    limit = responder.settings.max_half_open_per_address
    effects = []
    for n in range(3 * limit):
        data, _ = _forged(request, n)
        effects += responder.datagram_received(data, GATEWAY, ("198.18.7.7", 500), harness.now)
    assert sum(isinstance(e, Compute) for e in effects) == limit
    dropped = [e.event for e in effects if isinstance(e, Emit) and isinstance(e.event, MessageDropped)]
    assert len(dropped) == 2 * limit and "198.18.7.7 already has" in dropped[0].reason
    assert responder.init_refusals["per-address limit"] == 2 * limit
    # another address is not affected
    assert harness.client(9).connect().address is not None


def test_the_global_limit_refuses_with_temporary_failure(harness: Harness) -> None:
    responder = harness.responder
    responder.settings.cookie_challenge = "never"
    responder.settings.max_half_open = 20
    request = _init_request(harness)
    answers = []
    for n in range(30):
        data, source = _forged(request, n)
        answers += [e.data for e in responder.datagram_received(data, GATEWAY, source, harness.now)
                    if isinstance(e, SendDatagram)]
    assert len(answers) == 10
    assert all(decode_message(a).notify(NotifyType.TEMPORARY_FAILURE) is not None for a in answers)


def test_a_dh_job_that_never_returns_frees_its_slot(harness: Harness) -> None:
    responder = harness.responder
    responder.settings.cookie_challenge, responder.settings.max_half_open = "never", 1
    request = _init_request(harness)
    data, source = _forged(request, 0)
    lost = [e for e in responder.datagram_received(data, GATEWAY, source, harness.now) if isinstance(e, Compute)]
    assert len(lost) == 1
    # the only slot is taken: the next client is refused...
    data2, source2 = _forged(request, 1)
    refused = responder.datagram_received(data2, GATEWAY, source2, harness.now + 1)
    assert any(isinstance(e, SendDatagram) for e in refused)
    assert responder.get_timer() == harness.now + responder.settings.half_open_timeout
    # ...until the lost job's slot times out
    expired = responder.handle_timer(harness.now + responder.settings.half_open_timeout)
    assert [e.event.reason for e in expired if isinstance(e, Emit)] == [
        "IKE_SA_INIT: the DH computation never returned"]
    assert responder.get_timer() is None
    assert responder.job_done(lost[0].token, harness.worker.run(lost[0].job), harness.now + 40) == []
    harness.now += 41
    assert harness.client(9).connect().address is not None
