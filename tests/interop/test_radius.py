"""ikev2d with a RADIUS server group: a real FreeRADIUS (Debian's 3.2) and
real strongSwan clients (issue 4, item 5).

FreeRADIUS runs in the gateway namespace beside ikev2d, on 127.0.0.1
1812/1813, configured as lab/freeradius.py does it (EAP
default type MSCHAPv2, one Cleartext-Password per user). The RADIUS users'
passwords differ from ikev2d's local users' ones, so a client that connects
was let in by RADIUS, not by the local database.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from lab import ikev2dlog, swanlog
from lab.freeradius import FreeRadius
from lab.pki import LabPki
from lab.netns import Topology

from .checks import (
    POOL_FIRST,
    assert_connected,
    assert_healthy,
    assert_in_log,
    assert_initiated,
    assert_no_sa,
    ping,
    tail,
)
from .conftest import StartCharon, StartFreeRadius, StartIkev2d

pytestmark = [pytest.mark.radius, pytest.mark.interop, pytest.mark.timeout(60)]

SECRET = "Lab-Radius-Secret-7"
GROUP = "ISE"
ALICE_RADIUS_PW = "Radius-Alice-Pw-1"  # not ikev2d's local password for alice
BOB_RADIUS_PW = "Radius-Bob-Pw-2"
WRONG_PW = "Not-Alices-Radius-Pw-9"
# on the gateway's outside subnet, but no host has it: ARP fails, requests vanish
SILENT_SERVER = "198.18.0.254"
BLACKHOLE_SERVER = "198.18.99.1"  # routed to a blackhole in the gateway namespace
SECRETS = (SECRET, ALICE_RADIUS_PW, BOB_RADIUS_PW, WRONG_PW)



@pytest.fixture
def freeradius(freeradius_server: StartFreeRadius) -> FreeRadius:
    return freeradius_server(secret=SECRET, users={"alice": ALICE_RADIUS_PW, "bob": BOB_RADIUS_PW})


def radius_server(host: str = "127.0.0.1", **settings: Any) -> dict[str, Any]:
    return {"host": host, "secret": SECRET, "timeout_seconds": 2, "retries": 1, **settings}


def use_radius(servers: list[dict[str, Any]], eap_methods: list[str],
               accounting: bool = False) -> Callable[[dict[str, Any]], None]:
    """Config edit: every connection profile authenticates (and accounts)
    against the RADIUS server group GROUP."""
    def edit(cfg: dict[str, Any]) -> None:
        cfg["objects"]["radius_server_groups"] = [{"name": GROUP, "servers": servers}]
        for profile in cfg["connection_profiles"]:
            profile["authentication"]["server_group"] = GROUP
            profile["authentication"]["eap_methods"] = eap_methods
            if accounting:
                profile["accounting_server_group"] = GROUP
    return edit


def test_eap_mschapv2_relayed_to_freeradius_connects(
    ikev2d_server: StartIkev2d, client: StartCharon, freeradius: FreeRadius
) -> None:
    """RFC 3579: the client's EAP-MSCHAPv2 goes to FreeRADIUS in EAP-Message
    attributes; its Access-Accept carries MS-MPPE-Recv/Send-Key (RFC 2548),
    from which ikev2d builds the MSK: the client's AUTH from its own MSK
    verifies at ikev2d and ikev2d's at the client, so the SA comes up."""
    server = ikev2d_server(edit=use_radius([radius_server()], ["mschapv2"]))
    alice = client(0, eap="eap-mschapv2", password=ALICE_RADIUS_PW)

    assert_initiated(alice.initiate(timeout=15), alice)

    sa = assert_connected(alice)
    assert sa.local_vips == [POOL_FIRST]
    assert_in_log(alice.log(), [swanlog.eap_succeeded("EAP_MSCHAPV2", msk=True)])
    radius_log = freeradius.log()
    assert "eap_mschapv2" in radius_log and "Sent Access-Accept" in radius_log, tail(radius_log)
    assert "MS-MPPE-Recv-Key" in radius_log and "MS-MPPE-Send-Key" in radius_log
    assert ikev2dlog.sa_up(server.log(), "alice"), tail(server.log())
    assert_healthy(server, SECRETS)


def test_eap_gtc_password_checked_as_pap(ikev2d_server: StartIkev2d, client: StartCharon, freeradius: FreeRadius) -> None:
    """Username/password: ikev2d runs EAP-GTC with the client and asks
    FreeRADIUS with PAP (RFC 2865 User-Password), no EAP towards RADIUS."""
    server = ikev2d_server(edit=use_radius([radius_server()], ["gtc"]))
    bob = client(0, eap="eap-gtc", identity="bob", password=BOB_RADIUS_PW)

    assert_initiated(bob.initiate(timeout=15), bob)

    assert_connected(bob, identity="bob")
    assert_in_log(bob.log(), [swanlog.eap_succeeded("EAP_GTC", msk=False)])
    radius_log = freeradius.log()
    assert "pap: User authenticated successfully" in radius_log, tail(radius_log)
    assert "eap: No EAP-Message, not doing EAP" in radius_log, "GTC must reach RADIUS as PAP, not as relayed EAP"
    assert "eap: Peer sent EAP Response" not in radius_log
    assert_healthy(server, SECRETS)


@pytest.mark.parametrize(("eap", "methods"), [("eap-mschapv2", ["mschapv2"]), ("eap-gtc", ["gtc"])])
def test_password_rejected_by_radius_gets_authentication_failed(
    ikev2d_server: StartIkev2d, client: StartCharon, freeradius: FreeRadius, eap: str, methods: list[str]
) -> None:
    """FreeRADIUS refuses the password (Access-Reject): ikev2d ends EAP with
    EAP-Failure and AUTHENTICATION_FAILED (RFC 7296 §2.21.2); no address is
    spent, and ikev2d logs the refusal."""
    server = ikev2d_server(edit=use_radius([radius_server()], methods))
    mallory = client(0, eap=eap, password=WRONG_PW)

    result = mallory.initiate(timeout=15)

    assert not result.ok, "a password RADIUS refused must not connect"
    assert_in_log(mallory.log(), [swanlog.AUTHENTICATION_FAILED])
    assert_no_sa(mallory)
    assert "Sent Access-Reject" in freeradius.log(), tail(freeradius.log())
    assert ikev2dlog.auth_refused(server.log(), "alice"), tail(server.log())
    # FTD 113005 names the AAA server that refused
    assert "AAA user authentication Rejected : reason = AAA failure : server = 127.0.0.1" in server.log()
    assert_healthy(server, SECRETS)


@pytest.mark.parametrize(("first", "why"), [
    (SILENT_SERVER, "no answer after 2 transmissions"),
    (BLACKHOLE_SERVER, "cannot reach it: Invalid argument"),
])
def test_unreachable_first_server_fails_over_to_the_second(
    topology: Topology, ikev2d_server: StartIkev2d, client: StartCharon, freeradius: FreeRadius, first: str, why: str
) -> None:
    """The group's first server never answers (a silent address: after its
    timeout and one retransmission) or cannot be reached at all (a blackhole
    route): ikev2d asks the second (FreeRADIUS), and the client, which keeps
    retransmitting its IKE_AUTH meanwhile, connects."""
    topology.gateway.ip("route", "add", "blackhole", f"{BLACKHOLE_SERVER}/32")
    server = ikev2d_server(edit=use_radius([radius_server(first, timeout_seconds=1, retries=1),
                                      radius_server()], ["mschapv2"]))
    alice = client(0, eap="eap-mschapv2", password=ALICE_RADIUS_PW)

    assert_initiated(alice.initiate(timeout=20), alice)

    assert_connected(alice)
    log = server.log()
    assert f"RADIUS server {first}:1812 of group {GROUP}: {why}" in log, tail(log)
    assert "Sent Access-Accept" in freeradius.log()
    assert_healthy(server, SECRETS)


def test_accounting_start_and_stop_reach_freeradius(
    topology: Topology, ikev2d_server: StartIkev2d, client: StartCharon, freeradius: FreeRadius
) -> None:
    """RFC 2866: Start when the session is up and Stop when the client
    leaves, with one Acct-Session-Id, the user, the pool address, and at
    Stop the session time, User-Request as the cause and the traffic the
    userspace data plane counted: pings through the tunnel before and after a
    Child rekey, the pair rekeyed away counted too."""
    server = ikev2d_server("--dataplane", "userspace", edit=use_radius([radius_server()], ["mschapv2"], accounting=True))
    alice = client(0, eap="eap-mschapv2", password=ALICE_RADIUS_PW)
    assert_initiated(alice.initiate(timeout=15), alice)
    assert_connected(alice)

    starts = freeradius.wait_for_records(lambda rs: any(r.get("Acct-Status-Type") == "Start" for r in rs))
    pinged = ping(topology.clients[0])
    assert pinged.returncode == 0, f"ping through the tunnel failed:\n{pinged.stdout}{pinged.stderr}"
    # a Child rekey between two pings: the Stop counts the whole session,
    # the pair rekeyed away included, not just the last pair
    alice.swanctl("--rekey", "--child", "ftd-ra")
    time.sleep(1)
    pinged = ping(topology.clients[0])
    assert pinged.returncode == 0, f"ping after the Child rekey failed:\n{pinged.stdout}{pinged.stderr}"
    assert alice.terminate().ok
    records = freeradius.wait_for_records(lambda rs: any(r.get("Acct-Status-Type") == "Stop" for r in rs))

    start = next(r for r in starts if r.get("Acct-Status-Type") == "Start")
    stop = next(r for r in records if r.get("Acct-Status-Type") == "Stop")
    for record in (start, stop):
        assert record["User-Name"] == "alice"
        assert record["Framed-IP-Address"] == POOL_FIRST
        assert record["NAS-Port-Type"] == "Virtual"
        assert record["Calling-Station-Id"] == topology.client_addrs[0]
    assert stop["Acct-Session-Id"] == start["Acct-Session-Id"]
    assert stop["Acct-Terminate-Cause"] == "User-Request"
    assert int(stop["Acct-Session-Time"]) >= 0
    # six echo requests in, six replies out (three on each pair), 84 octets of IP each at least
    assert int(stop["Acct-Input-Packets"]) >= 6 and int(stop["Acct-Output-Packets"]) >= 6, stop
    assert int(stop["Acct-Input-Octets"]) >= 6 * 84 and int(stop["Acct-Output-Octets"]) >= 6 * 84, stop
    assert_healthy(server, SECRETS)


def test_radius_authorization_group_policy_address_and_timeouts(
    ikev2d_server: StartIkev2d, client: StartCharon, freeradius_server: StartFreeRadius, topology: Topology
) -> None:
    """The Access-Accept's Class `OU=GP-Engineering;` puts alice in that
    group policy (its split tunnel reaches the client as its selectors), its
    Framed-IP-Address is her address, its Session-Timeout her maximum
    connect time (docs/ftd-behaviour.md, "RADIUS authorization")."""
    radius = freeradius_server(secret=SECRET, users={"alice": ALICE_RADIUS_PW}, replies={"alice": {
        "Class": '"OU=GP-Engineering;"', "Framed-IP-Address": "198.19.0.230", "Session-Timeout": "7200",
        "Idle-Timeout": "900"}})
    with_radius = use_radius([radius_server()], ["mschapv2"])

    def edit(cfg: dict[str, Any]) -> None:
        with_radius(cfg)
        cfg["objects"]["group_policies"].append({
            "name": "GP-Engineering", "vpn_protocols": ["ipsec-ikev2"], "dns_servers": ["198.19.0.53"],
            "split_tunnel": "tunnel-specified", "split_tunnel_networks": ["198.19.0.1/32"],
            "idle_timeout_minutes": 45})
        cfg["remote_access_vpn"]["group_policies"] = ["GP-Engineering"]

    server = ikev2d_server("--dataplane", "userspace", edit=edit)
    alice = client(0, eap="eap-mschapv2", password=ALICE_RADIUS_PW)
    assert_initiated(alice.initiate(timeout=15), alice)
    (sa,) = alice.list_sas()
    assert sa.state == "ESTABLISHED" and sa.local_vips == ["198.19.0.230"], sa
    assert [c.remote_ts for c in sa.children] == [["198.19.0.1/32"]], sa  # GP-Engineering's split tunnel
    result = server.show("vpn-sessiondb", "ra-ikev2-ipsec", json=True)
    assert result.returncode == 0, result.stderr
    (session,) = json.loads(result.stdout)["sessions"]
    assert (session["group_policy"], session["assigned_ip"]) == ("GP-Engineering", "198.19.0.230"), session
    log = server.log()
    assert "AAA group policy for user alice is being set to GP-Engineering" in log, tail(log)
    assert "Group <GP-Engineering> User <alice>" in log, tail(log)
    assert "Class" in radius.log() and "Session-Timeout" in radius.log(), tail(radius.log())
    pinged = ping(topology.clients[0])
    assert pinged.returncode == 0, pinged.stdout
    assert_healthy(server, SECRETS)


@pytest.mark.parametrize("method", ["eap-tls", "eap-ttls"])
def test_tls_based_eap_is_relayed_to_freeradius(ikev2d_server: StartIkev2d, client: StartCharon,
                                               freeradius_server: StartFreeRadius, lab_pki: LabPki,
                                               topology: Topology, method: str) -> None:
    """RFC 3579 pass-through is method-agnostic: EAP-TLS (the user's
    certificate checked by FreeRADIUS against the lab CA) and EAP-TTLS (a
    TLS tunnel to FreeRADIUS, the password inside it) run between the client
    and the RADIUS server, in fragments both ways, and the MSK of the TLS
    session keys the AUTH exchange. PEAP, the issue's other TLS method, has
    no strongSwan client here (Debian 12 ships no eap-peap plugin): the lab's
    own client tests it below."""
    radius = freeradius_server(secret=SECRET, users={"alice": ALICE_RADIUS_PW},
                               default_eap_type=method.removeprefix("eap-"),
                               tls_cert=lab_pki.server_cert, tls_key=lab_pki.server_key, tls_ca=lab_pki.ca_cert)
    server = ikev2d_server("--dataplane", "userspace", edit=use_radius([radius_server()], ["mschapv2"]))
    user = lab_pki.client_identity("alice")
    options: dict[str, Any] = {"client_cert": user.cert, "client_key": user.key} if method == "eap-tls" else {}
    alice = client(0, eap=method, password=ALICE_RADIUS_PW, **options)
    assert_initiated(alice.initiate(timeout=20), alice)
    (sa,) = alice.list_sas()
    assert sa.state == "ESTABLISHED" and sa.local_vips == [POOL_FIRST], sa
    log = alice.log()
    name = {"eap-tls": "EAP_TLS", "eap-ttls": "EAP_TTLS"}[method]
    assert f"authentication of 'alice' with {name} successful" in log or f"EAP method {name} succeeded" in log, \
        tail(log)
    radius_log = radius.log()
    assert "Sent Access-Accept" in radius_log and "MS-MPPE-Recv-Key" in radius_log, tail(radius_log)
    assert f"eap_{method.removeprefix('eap-')}" in radius_log, tail(radius_log)  # FreeRADIUS ran that method
    pinged = ping(topology.clients[0])
    assert pinged.returncode == 0, pinged.stdout
    assert ikev2dlog.sa_up(server.log(), "alice"), tail(server.log())
    assert_healthy(server, SECRETS)


@pytest.mark.parametrize(("password", "connects"), [(ALICE_RADIUS_PW, True), (WRONG_PW, False)])
def test_peap_mschapv2_is_relayed_to_freeradius(ikev2d_server: StartIkev2d, freeradius_server: StartFreeRadius,
                                              lab_pki: LabPki, topology: Topology, password: str,
                                              connects: bool) -> None:
    """PEAPv0 with EAP-MSCHAPv2 inside, relayed like any EAP method. No
    strongSwan here speaks PEAP (Debian 12 ships no eap-peap plugin), so the
    client is the lab's own initiator (lab/peap.py) over UDP from a client
    namespace, against a real FreeRADIUS as the PEAP server: the TLS tunnel
    (server certificate from the lab CA, checked by the client), the inner
    MS-CHAPv2 in FreeRADIUS's inner-tunnel, the EAP-TLV Result, and the MSK
    from the TLS master secret keying IKE's final AUTH (RFC 7296 §2.16).
    A password FreeRADIUS refuses ends in AUTHENTICATION_FAILED."""
    radius = freeradius_server(secret=SECRET, users={"alice": ALICE_RADIUS_PW}, default_eap_type="peap",
                               tls_cert=lab_pki.server_cert, tls_key=lab_pki.server_key, tls_ca=lab_pki.ca_cert)
    server = ikev2d_server(edit=use_radius([radius_server()], ["mschapv2"]))
    run = topology.clients[0].run(
        [sys.executable, "-m", "lab.connect", "--config", str(server.config_path), "--gateway",
         topology.gateway_addr, "--user", "alice", "--password", password, "--eap", "peap",
         "--peap-ca", str(lab_pki.ca_cert)], check=False, timeout=40)
    radius_log = radius.log()
    if connects:
        assert run.returncode == 0, f"{run.stdout}{run.stderr}\n{tail(radius_log)}\n{tail(server.log())}"
        assert f"address {POOL_FIRST} " in run.stdout, run.stdout
        assert "eap_peap" in radius_log and "Sent Access-Accept" in radius_log, tail(radius_log)
        assert 'TLS-Session-Version = "TLS 1.2"' in radius_log, tail(radius_log)
        # the inner MS-CHAPv2 succeeded in the inner-tunnel server, and our
        # EAP-TLV Result answered FreeRADIUS's
        assert "Sending tunneled request to inner-tunnel" in radius_log, tail(radius_log)
        assert "Got tunneled reply code 2" in radius_log, tail(radius_log)  # 2: Access-Accept inside
        assert "Received EAP-TLV response" in radius_log, tail(radius_log)
        assert ikev2dlog.sa_up(server.log(), "alice"), tail(server.log())
    else:
        assert run.returncode == 1, f"{run.stdout}{run.stderr}"
        assert "EAP failure + AUTHENTICATION_FAILED" in run.stderr, run.stderr
        assert "Sent Access-Reject" in radius_log, tail(radius_log)
        assert "MS-CHAP2-Response is incorrect" in radius_log, tail(radius_log)
        assert "Received EAP-TLV response" in radius_log, tail(radius_log)  # our Result: Failure
        assert "Got tunneled reply code 3" in radius_log, tail(radius_log)  # 3: Access-Reject inside
        assert ikev2dlog.auth_refused(server.log(), "alice"), tail(server.log())
    assert_healthy(server, SECRETS)
