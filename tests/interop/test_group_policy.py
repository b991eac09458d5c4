"""Group policy on the wire, as a real strongSwan 5.9.8 client receives it.

The client asks for 198.19.0.0/16 and gets the group policy's answer:
tunnel-specified narrows its Child SA to the split networks; exclude-specified
to everything it asked for but the exclusions. DNS, default domain and
banner arrive in the configuration payload: the client's `resolve` plugin
installs the DNS server (into a resolv.conf of the test's own, never the
machine's), and its log shows each attribute it processed. strongSwan has
no handler for Cisco Unity's default domain or banner (its unity plugin acts
on split include and local LAN only, and narrows only in IKEv1), so for
those the log line is the whole observable; the local-LAN exclusions it
does turn into a bypass policy.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import lab.strongswan
from lab.ikev2d import Ikev2d
from lab.strongswan import Charon, IkeSa
from lab.swanctl_conf import DaemonSettings

from .checks import assert_in_log, assert_initiated, in_pool, tail
from .conftest import StartCharon, StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

ASKED = "198.19.0.0/16"
DNS = "198.19.0.53"
DOMAIN = "lab.example.test"
BANNER = "Authorised users only"


def group_policy(split: str, networks: list[str]) -> Callable[[dict[str, Any]], None]:
    def edit(cfg: dict[str, Any]) -> None:
        for gp in cfg["objects"]["group_policies"]:
            gp.update(dns_servers=[DNS], default_domain=DOMAIN, banner=BANNER,
                      split_tunnel=split, split_tunnel_networks=networks)
    return edit


@pytest.fixture(autouse=True)
def attribute_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Clients of these tests also load `resolve` (DNS, into the client's own
    folder) and `unity`. The lab's plugin list has neither: the strongswan.conf
    text is amended here, for these tests only."""
    original = lab.strongswan.strongswan_conf

    def amended(s: DaemonSettings) -> str:
        text, loads = re.subn(r"(\n  load = [^\n]*)", r"\1 resolve unity", original(s), count=1)
        resolv = s.folder / "resolv.conf"
        text, plugins = re.subn(r"\n  plugins \{\n", f"\n  plugins {{\n    resolve {{\n      file = {resolv}\n    }}\n",
                                text, count=1)
        assert loads == plugins == 1, "strongswan.conf layout changed: amend this fixture"
        return text

    monkeypatch.setattr(lab.strongswan, "strongswan_conf", amended)
    yield


def connect(server: Ikev2d, client: StartCharon) -> tuple[Charon, IkeSa]:
    alice = client(0, remote_ts=ASKED)
    assert_initiated(alice.initiate(timeout=10), alice)
    sas = alice.list_sas()
    assert len(sas) == 1 and sas[0].state == "ESTABLISHED", sas
    sa = sas[0]
    assert len(sa.local_vips) == 1 and in_pool(sa.local_vips[0]), sa
    assert [c.state for c in sa.children] == ["INSTALLED"], sa.children
    assert sa.children[0].local_ts == [f"{sa.local_vips[0]}/32"]
    assert server.running(), server.tail()
    return alice, sa


def wait_for_line(charon: Charon, line: str, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while line not in charon.log():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def assert_dns_and_domain_received(alice: Charon) -> None:
    log = alice.log()
    resolv = alice.folder / "resolv.conf"
    assert_in_log(log, [
        f"installing DNS server {DNS} to {resolv}",
        "processing UNITY_DEF_DOMAIN attribute",
        "processing UNITY_BANNER attribute",
    ])
    assert f"nameserver {DNS}" in resolv.read_text(), resolv.read_text()


def test_tunnel_specified_narrows_the_child_sa_to_the_split_networks(
    ikev2d_server: StartIkev2d, client: StartCharon
) -> None:
    server = ikev2d_server(edit=group_policy("tunnel-specified", ["198.19.0.0/24", "198.19.7.0/25"]))

    alice, sa = connect(server, client)

    assert sa.children[0].remote_ts == ["198.19.0.0/24", "198.19.7.0/25"], f"asked {ASKED}"
    assert alice.log().count("processing INTERNAL_IP4_SUBNET attribute") == 2, tail(alice.log())
    assert_dns_and_domain_received(alice)


def test_exclude_specified_tunnels_all_it_asked_for_but_the_exclusions(
    ikev2d_server: StartIkev2d, client: StartCharon
) -> None:
    server = ikev2d_server(edit=group_policy("exclude-specified", ["198.19.5.0/24"]))

    alice, sa = connect(server, client)

    assert sa.children[0].remote_ts == ["198.19.0.0..198.19.4.255", "198.19.6.0..198.19.255.255"], sa.children
    log = alice.log()
    assert "processing INTERNAL_IP4_SUBNET attribute" not in log, "exclusions are not protected networks"
    assert_in_log(log, ["processing UNITY_LOCAL_LAN attribute"])
    # the unity plugin acts on LOCAL_LAN in IKEv2 too: a bypass policy, installed from a job
    assert wait_for_line(alice, "installed UNITY_LOCAL_LAN bypass policy for 198.19.5.0/24"), tail(alice.log())
    assert_dns_and_domain_received(alice)


def test_tunnel_all_keeps_what_the_client_asked_for(ikev2d_server: StartIkev2d, client: StartCharon) -> None:
    server = ikev2d_server(edit=group_policy("tunnel-all", []))

    alice, sa = connect(server, client)

    assert sa.children[0].remote_ts == [ASKED]
    assert "processing INTERNAL_IP4_SUBNET attribute" not in alice.log()
    assert_dns_and_domain_received(alice)
