"""Rekeying against a real strongSwan client (RFC 7296 §2.8): the client
rekeys the Child SA and the IKE SA through CREATE_CHILD_SA, and the session,
with its virtual address, goes on."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from lab.ikev2d import Ikev2d
from lab.process import poll_until
from lab.strongswan import Charon

from .checks import NSA_IKE_PROPOSAL, POOL_FIRST, assert_connected, assert_in_log, assert_initiated, ping, tail

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]


def _raw(sa, key: str) -> str:
    value = sa.raw.get(key)
    return value.decode() if isinstance(value, bytes) else str(value)


def test_child_and_ike_rekey_keep_the_session(ikev2d_server: Callable[..., Ikev2d],
                                              client: Callable[..., Charon]) -> None:
    server = ikev2d_server()
    alice = client(0)
    assert_initiated(alice.initiate(timeout=10), alice)
    before = assert_connected(alice, proposal=NSA_IKE_PROPOSAL)
    old_child_spi = before.children[0].spi_in

    alice.swanctl("--rekey", "--child", "ftd-ra")
    assert poll_until(lambda: [c.spi_in for c in alice.list_sas()[0].children if c.state == "INSTALLED"]
                 not in ([], [old_child_spi])), f"no new Child SA:\n{tail(alice.log())}"
    assert poll_until(lambda: "received DELETE for ESP CHILD_SA" in alice.log()), tail(alice.log())
    assert_in_log(alice.log(), ["generating CREATE_CHILD_SA request", "[ N(REKEY_SA) SA No TSi TSr ]",
                                "parsed CREATE_CHILD_SA response", "outbound CHILD_SA ftd-ra{2} established",
                                "received DELETE for ESP CHILD_SA"])
    sas = alice.list_sas()
    assert [c.spi_in for c in sas[0].children if c.state == "INSTALLED"] not in ([], [old_child_spi])
    assert sas[0].local_vips == [POOL_FIRST]

    old_spi_r = _raw(sas[0], "responder-spi")
    alice.swanctl("--rekey", "--ike", "ftd-ra")
    assert poll_until(lambda: (s := alice.list_sas()) != [] and _raw(s[0], "responder-spi") != old_spi_r
                 and s[0].state == "ESTABLISHED"), f"IKE SA not rekeyed:\n{tail(alice.log())}"
    assert poll_until(lambda: "IKE_SA deleted" in alice.log()), tail(alice.log())
    # the request's Message ID depends on what the client sent before (a MOBIKE
    # INFORMATIONAL may come first): the payloads are the point
    assert re.search(r"generating CREATE_CHILD_SA request \d+ \[ SA No KE \]", alice.log()), tail(alice.log())
    assert_in_log(alice.log(), ["rekeyed between", "sending DELETE for IKE_SA ftd-ra[1]"])
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


@pytest.mark.parametrize(("esp_proposals", "pfs_group", "dh_name"), [
    ("aes256-sha512-modp3072", None, "MODP_3072"),  # no `set pfs`: the client's group, one our policy allows
    ("aes256-sha512-ecp384", 20, "ECP_384"),  # `set pfs group20`
])
def test_child_rekey_with_pfs_keeps_the_tunnel(ikev2d_server: Callable[..., Ikev2d], client: Callable[..., Charon],
                                               esp_proposals: str, pfs_group: int | None, dh_name: str) -> None:
    """RFC 7296 §1.3.1: a KE in the Child rekey; it used to get
    NO_PROPOSAL_CHOSEN, and the client lost its tunnel."""
    def set_pfs(cfg: dict) -> None:
        if pfs_group is not None:
            cfg["remote_access_vpn"]["pfs_group"] = pfs_group

    server = ikev2d_server("--dataplane", "userspace", edit=set_pfs)
    alice = client(0, esp_proposals=esp_proposals)
    assert_initiated(alice.initiate(timeout=10), alice)
    old_child_spi = assert_connected(alice).children[0].spi_in
    alice.swanctl("--rekey", "--child", "ftd-ra")
    assert poll_until(lambda: "received DELETE for ESP CHILD_SA" in alice.log()), tail(alice.log())
    assert_in_log(alice.log(), ["[ N(REKEY_SA) SA No KE TSi TSr ]", "parsed CREATE_CHILD_SA response",
                                "outbound CHILD_SA ftd-ra{2} established"])
    children = [c for c in alice.list_sas()[0].children if c.state == "INSTALLED"]
    assert [c.spi_in for c in children] != [old_child_spi] and len(children) == 1
    assert dh_name in children[0].proposal, children[0]
    assert ping(alice.ns).returncode == 0
    assert "Traceback" not in server.log(), tail(server.log())
