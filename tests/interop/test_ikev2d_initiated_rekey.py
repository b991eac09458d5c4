"""Child SA lifetimes enforced by rekeys ikev2d initiates (RFC 7296 §1.3.3,
§2.8), against a real strongSwan client through the userspace data plane:
the IPsec proposal's lifetime in kilobytes (the FMC's minimum, 10 kB) and
in seconds (the minimum, 120 s) runs to its soft limit, ikev2d sends
CREATE_CHILD_SA with REKEY_SA, installs the new pair and deletes the old
one; ping goes on, both sides list only the new SPIs. The client's own
rekey_time is set far beyond, so the rekey is ours."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from lab.ikev2d import Ikev2d
from lab.netns import Namespace
from lab.process import poll_until
from lab.strongswan import Charon

from .checks import INSIDE, assert_connected, assert_healthy, assert_in_log, assert_initiated, tail
from .conftest import StartCharon, StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]


def _lifetime(kilobytes: int | None = None, seconds: int | None = None,
              pfs_group: int | None = None) -> Callable[[dict[str, Any]], None]:
    def edit(cfg: dict[str, Any]) -> None:
        for proposal in cfg["objects"]["ikev2_ipsec_proposals"]:
            if kilobytes is not None:
                proposal["lifetime_kilobytes"] = kilobytes
            if seconds is not None:
                proposal["lifetime_seconds"] = seconds
        if pfs_group is not None:
            cfg["remote_access_vpn"]["pfs_group"] = pfs_group
    return edit


def _ping(ns: Namespace, count: int, size: int = 56) -> tuple[int, int]:
    """(sent, received) of `count` pings of `size` octets to INSIDE."""
    run = ns.run(["ping", "-c", str(count), "-i", "0.2", "-W", "2", "-s", str(size), INSIDE],
                 check=False, timeout=30 + count)
    found = re.search(r"(\d+) packets transmitted, (\d+) received", run.stdout)
    assert found, run.stdout + run.stderr
    return int(found.group(1)), int(found.group(2))


def _installed(client: Charon) -> list:
    sas = client.list_sas()
    return [c for c in sas[0].children if c.state == "INSTALLED"] if sas else []


def _our_spis(server: Ikev2d) -> list[int]:
    shown = server.show("crypto", "ipsec", "sa", json=True)
    assert shown.returncode == 0, shown.stderr
    return [sa["spi_in"] for sa in json.loads(shown.stdout)["ipsec_sas"]]


def _assert_rekeyed_by_us(server: Ikev2d, alice: Charon, old_spi_in: str, old_spi_out: str) -> Any:
    """The client answered our CREATE_CHILD_SA and got our Delete of the old
    pair; each side holds the new pair only."""
    assert poll_until(lambda: "received DELETE for ESP CHILD_SA" in alice.log(), 30, step=0.5), tail(alice.log())
    assert_in_log(alice.log(), ["parsed CREATE_CHILD_SA request", "N(REKEY_SA)",
                                "generating CREATE_CHILD_SA response", "received DELETE for ESP CHILD_SA"])
    assert "generating CREATE_CHILD_SA request" not in alice.log(), "the client rekeyed, not ikev2d"
    assert poll_until(lambda: len(_installed(alice)) == 1 and _installed(alice)[0].spi_in != old_spi_in, 10, step=0.5), \
        alice.list_sas()
    [new] = _installed(alice)
    assert new.spi_out != old_spi_out
    assert _our_spis(server) == [int(new.spi_out, 16)]  # show crypto ipsec sa: ours is the client's outbound
    log = server.log()
    assert f"SPI in 0x{int(old_spi_out, 16):08x} replaced by in 0x{int(new.spi_out, 16):08x}" in log, tail(log)
    return new


@pytest.mark.parametrize(("pfs_group", "esp_proposals", "dh_name"), [
    (None, "aes256-sha512", None),
    (20, "aes256-sha512-ecp384", "ECP_384"),  # `set pfs group20`: our request carries a KE
])
def test_a_kilobyte_lifetime_is_rekeyed_by_ikev2d(ikev2d_server: StartIkev2d, client: StartCharon,
                                                  pfs_group: int | None, esp_proposals: str,
                                                  dh_name: str | None) -> None:
    server = ikev2d_server("--dataplane", "userspace", edit=_lifetime(kilobytes=10, pfs_group=pfs_group))
    alice = client(0, esp_proposals=esp_proposals, child_rekey_time="2h")
    assert_initiated(alice.initiate(timeout=10), alice)
    [old] = assert_connected(alice).children
    # 10 kB: the soft limit (90 %) falls after some fifteen 600-octet pings,
    # the hard one after about seventeen, so the rekey must be in time
    sent, received = _ping(alice.ns, 20, size=600)
    assert received >= sent - 1, (sent, received)
    new = _assert_rekeyed_by_us(server, alice, old.spi_in, old.spi_out)
    if dh_name is not None:
        assert "[ N(REKEY_SA) SA No KE TSi TSr ]" in alice.log(), tail(alice.log())
        assert dh_name in new.proposal, new
    assert _ping(alice.ns, 3) == (3, 3)  # the new pair carries traffic
    assert_healthy(server)


@pytest.mark.timeout(200)
def test_a_lifetime_in_seconds_is_rekeyed_by_ikev2d(ikev2d_server: StartIkev2d, client: StartCharon) -> None:
    """120 s, the minimum: the soft limit at 108 s starts our rekey."""
    server = ikev2d_server("--dataplane", "userspace", edit=_lifetime(seconds=120))
    alice = client(0, child_rekey_time="2h")
    assert_initiated(alice.initiate(timeout=10), alice)
    [old] = assert_connected(alice).children
    started = time.monotonic()
    assert poll_until(lambda: "parsed CREATE_CHILD_SA request" in alice.log(), 130, step=0.5), tail(alice.log())
    assert time.monotonic() - started > 90, "rekeyed long before the soft lifetime"
    _assert_rekeyed_by_us(server, alice, old.spi_in, old.spi_out)
    assert _ping(alice.ns, 3) == (3, 3)
    assert_healthy(server)
