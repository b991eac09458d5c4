"""Rekeying against a real strongSwan client (RFC 7296 §2.8): the client
rekeys the Child SA and the IKE SA through CREATE_CHILD_SA, and the session,
with its virtual address, goes on."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from lab.ikev2d import Ikev2d
from lab.strongswan import Charon

from .checks import NSA_IKE_PROPOSAL, POOL_FIRST, assert_connected, assert_in_log, assert_initiated, tail

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]


def _raw(sa, key: str) -> str:
    value = sa.raw.get(key)
    return value.decode() if isinstance(value, bytes) else str(value)


def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_child_and_ike_rekey_keep_the_session(ikev2d_server: Callable[..., Ikev2d],
                                              client: Callable[..., Charon]) -> None:
    server = ikev2d_server()
    alice = client(0)
    assert_initiated(alice.initiate(timeout=10), alice)
    before = assert_connected(alice, proposal=NSA_IKE_PROPOSAL)
    old_child_spi = before.children[0].spi_in

    alice.swanctl("--rekey", "--child", "ftd-ra")
    assert _wait(lambda: [c.spi_in for c in alice.list_sas()[0].children if c.state == "INSTALLED"]
                 not in ([], [old_child_spi])), f"no new Child SA:\n{tail(alice.log())}"
    assert _wait(lambda: "received DELETE for ESP CHILD_SA" in alice.log()), tail(alice.log())
    assert_in_log(alice.log(), ["generating CREATE_CHILD_SA request", "[ N(REKEY_SA) SA No TSi TSr ]",
                                "parsed CREATE_CHILD_SA response", "outbound CHILD_SA ftd-ra{2} established",
                                "received DELETE for ESP CHILD_SA"])
    sas = alice.list_sas()
    assert [c.spi_in for c in sas[0].children if c.state == "INSTALLED"] not in ([], [old_child_spi])
    assert sas[0].local_vips == [POOL_FIRST]

    old_spi_r = _raw(sas[0], "responder-spi")
    alice.swanctl("--rekey", "--ike", "ftd-ra")
    assert _wait(lambda: (s := alice.list_sas()) != [] and _raw(s[0], "responder-spi") != old_spi_r
                 and s[0].state == "ESTABLISHED"), f"IKE SA not rekeyed:\n{tail(alice.log())}"
    assert _wait(lambda: "IKE_SA deleted" in alice.log()), tail(alice.log())
    assert_in_log(alice.log(), ["generating CREATE_CHILD_SA request 8 [ SA No KE ]", "rekeyed between",
                                "sending DELETE for IKE_SA ftd-ra[1]"])
    after = alice.list_sas()
    assert len(after) == 1 and after[0].local_vips == [POOL_FIRST]
    # strongSwan lists a rekeyed Child SA as DELETED for a few seconds
    assert [c.state for c in after[0].children if c.state == "INSTALLED"] == ["INSTALLED"]
    # the rekeyed IKE SA still answers: a clean disconnect through it
    result = alice.terminate()
    assert result.ok, result
    log = server.log()
    assert "Traceback" not in log, tail(log)
    assert "198.19.0.200" in log
