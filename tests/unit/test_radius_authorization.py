"""RADIUS authorization as an FTD applies it (docs/ftd-behaviour.md,
"RADIUS authorization"): the group policy a Class `OU=name;` (or Cisco's
Group-Policy attribute) names, Framed-IP-Address, Session-Timeout and
Idle-Timeout from the Access-Accept take precedence over the connection
profile's group policy. Sans I/O, with the miniature RADIUS server of
test_radius_responder.py; tests/interop/test_radius.py has FreeRADIUS."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest
from pyrad import packet as rp

from ikev2d.aaa.authorization import Authorization, group_policy_from_class
from ikev2d.aaa.radius.dictionary import radius_dictionary
from ikev2d.aaa.radius.packets import read_access_reply
from ikev2d.events import AuthSucceeded, IkeSaDeleted
from ikev2d.sa import MAX_CONNECT_TIME, IkeSa
from ikev2d.sa_types import State
from ikev2d.syslog.render import records_for

from test_radius_responder import Harness, make_harness

ENGINEERING = {
    "name": "GP-Engineering", "vpn_protocols": ["ipsec-ikev2"], "dns_servers": ["198.19.0.54"],
    "split_tunnel": "tunnel-specified", "split_tunnel_networks": ["198.19.7.0/24"],
    "idle_timeout_minutes": 10, "simultaneous_logins": 1,
}


def _with_engineering(cfg: dict) -> None:
    cfg["objects"]["group_policies"].append(dict(ENGINEERING))
    cfg["remote_access_vpn"]["group_policies"] = ["GP-Engineering"]


def _harness(tmp_path: Path, pki_dir: Path) -> Harness:
    return make_harness(tmp_path, pki_dir, ["mschapv2"], edit=_with_engineering)


def _session(h: Harness) -> IkeSa:
    (sa,) = [s for s in h.responder.sas.values() if s.state is State.ESTABLISHED]
    return sa


@pytest.mark.parametrize(("classes", "name"), [
    ([b"OU=GP-Engineering;"], "GP-Engineering"),
    ([b"OU=GP-Engineering"], "GP-Engineering"),
    ([b"\x00\x01opaque-session-cookie", b"ou=Sales; something=else"], "Sales"),
    ([b"GP-Engineering"], "GP-Engineering"),
    ([b"\xff\xfe"], None),
    ([b"CN=x;O=y"], None),
    ([], None),
])
def test_the_group_policy_a_class_names(classes: list[bytes], name: str | None) -> None:
    assert group_policy_from_class(classes) == name


def _accept(**attributes: object) -> rp.Packet:
    reply = rp.Packet(code=rp.AccessAccept, id=1, secret=b"s", dict=radius_dictionary())
    for key, value in attributes.items():
        reply.AddAttribute(key.replace("_", "-"), value)
    return reply


def test_an_access_accept_is_read_into_an_authorization() -> None:
    reply = _accept(Class=b"OU=GP-Engineering;", Framed_IP_Address="198.19.0.222", Session_Timeout=3600,
                    Idle_Timeout=300)
    answer = read_access_reply(reply, 0, "198.18.0.9")
    assert answer.authorization == Authorization("GP-Engineering", IPv4Address("198.19.0.222"), 3600, 300)


def test_ciscos_group_policy_attribute_comes_before_class() -> None:
    reply = _accept(Class=b"OU=GP-Sales;")
    reply.AddAttribute("ASA-Group-Policy", "GP-Engineering")
    assert read_access_reply(reply, 0, "h").authorization.group_policy == "GP-Engineering"


def test_the_nas_picks_addresses_and_zero_timeouts_assign_nothing() -> None:
    """RFC 2865 §5.8: 255.255.255.254 lets the NAS pick (the pool); a
    timeout of 0 is no limit from the server."""
    reply = _accept(Framed_IP_Address="255.255.255.254", Session_Timeout=0)
    assert read_access_reply(reply, 0, "h").authorization == Authorization()


def test_the_assigned_group_policy_replaces_the_profiles(tmp_path: Path, pki_dir: Path) -> None:
    h = _harness(tmp_path, pki_dir)
    h.radius.authorization = Authorization(group_policy="GP-Engineering")
    result = h.client().connect()
    sa = _session(h)
    assert sa.group_policy is not None and sa.group_policy.name == "GP-Engineering"
    assert sa.idle_timeout == 600.0  # the assigned policy's 10 minutes, not the profile's 30
    # its split tunnel and DNS went to the client in the configuration payload and the selectors
    assert result.dns == [IPv4Address("198.19.0.54")]
    assert [(str(ts.start_addr), str(ts.end_addr)) for ts in result.tsr] == [("198.19.7.0", "198.19.7.255")]
    (ok,) = h.events(AuthSucceeded)
    assert (ok.group_policy, ok.assigned_group_policy) == ("GP-CCIElab", "GP-Engineering")
    lines = [r.line() for r in records_for(ok)]
    assert any("113003" in line and "being set to GP-Engineering" in line for line in lines)
    assert any("113039" in line and "Group <GP-Engineering>" in line for line in lines)


def test_a_group_policy_not_deployed_leaves_the_profiles(tmp_path: Path, pki_dir: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    h = _harness(tmp_path, pki_dir)
    h.radius.authorization = Authorization(group_policy="GP-Nowhere")
    h.client().connect()
    assert _session(h).group_policy.name == "GP-CCIElab"  # type: ignore[union-attr]
    (ok,) = h.events(AuthSucceeded)
    assert ok.assigned_group_policy is None
    assert "GP-Nowhere" in caplog.text and "no such group policy is deployed" in caplog.text


def test_the_assigned_policys_logins_limit_applies(tmp_path: Path, pki_dir: Path) -> None:
    """GP-Engineering allows one login: a second replaces the first."""
    h = _harness(tmp_path, pki_dir)
    h.radius.authorization = Authorization(group_policy="GP-Engineering")
    h.client(2).connect()
    h.client(3).connect()
    up = [s for s in h.responder.sas.values() if s.state is State.ESTABLISHED]
    assert [s.remote[0] for s in up] == ["198.18.0.3"]


def test_framed_ip_address_is_the_clients_address(tmp_path: Path, pki_dir: Path) -> None:
    h = _harness(tmp_path, pki_dir)
    h.radius.authorization = Authorization(framed_ip=IPv4Address("198.19.0.230"))
    assert h.client(2).connect().address == IPv4Address("198.19.0.230")
    # the next client without one gets the pool's lowest, not an address past 230
    h.radius.authorization = Authorization()
    assert h.client(3, username="bob").connect().address == IPv4Address("198.19.0.200")


def test_a_framed_ip_held_or_outside_the_pools_falls_back_to_the_pool(tmp_path: Path, pki_dir: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    h = _harness(tmp_path, pki_dir)
    h.radius.authorization = Authorization(framed_ip=IPv4Address("198.19.0.230"))
    h.client(2).connect()
    h.radius.authorization = Authorization(framed_ip=IPv4Address("198.19.0.230"))
    assert h.client(3, username="bob").connect().address == IPv4Address("198.19.0.200")
    assert "which another session holds" in caplog.text
    h.radius.authorization = Authorization(framed_ip=IPv4Address("10.9.9.9"))
    assert h.client(4, username="bob").connect().address == IPv4Address("198.19.0.201")
    assert "which no address pool" in caplog.text


def test_session_and_idle_timeouts_from_radius_win(tmp_path: Path, pki_dir: Path) -> None:
    h = _harness(tmp_path, pki_dir)
    h.radius.authorization = Authorization(session_timeout=120, idle_timeout=90)
    h.client().connect()
    sa = _session(h)
    assert (sa.idle_timeout, sa.max_connect_time, sa.connect_deadline) == (90.0, 120.0, h.now + 120)
    h.now += 120
    h.settle(h.responder.handle_timer(h.now))
    assert [d.reason for d in h.events(IkeSaDeleted)] == [MAX_CONNECT_TIME]


def test_an_ike_rekey_keeps_the_authorization(tmp_path: Path, pki_dir: Path) -> None:
    h = _harness(tmp_path, pki_dir)
    h.radius.authorization = Authorization(group_policy="GP-Engineering", idle_timeout=90)
    client = h.client()
    client.connect()
    client.rekey_ike()
    sa = _session(h)
    assert sa.group_policy.name == "GP-Engineering" and sa.idle_timeout == 90.0  # type: ignore[union-attr]


def test_running_config_shows_the_assignable_group_policy(tmp_path: Path, pki_dir: Path) -> None:
    from ikev2d.conf import load_config
    from ikev2d.running_config import render_running_config
    import yaml
    cfg = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "ikev2d.yaml").read_text())
    _with_engineering(cfg)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    text = render_running_config(load_config(path))
    assert "group-policy GP-Engineering internal" in text
