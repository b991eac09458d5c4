"""`ikev2d show ...` and `ikev2d vpn-sessiondb logoff` against a live session.

A strongSwan 5.9.8 client connects to ikev2d (config/ikev2d.yaml: IKEv2
policy NSA, IPsec proposal NSA, VPN-Pool, group policy GP-CCIElab,
connection profile CCIElab); each output is checked for the values the
client itself reports through VICI (its virtual IP, address and ports, IKE
and ESP SPIs, proposals, packet counters), and logoff for the Delete the
client receives, its empty SA list and the pool address free again.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import re
import subprocess
import time
from dataclasses import dataclass

import pytest

from ikev2d.conf import load_config
from lab.ikev2d import Ikev2d
from lab.netns import Topology
from lab.pki import LabPki
from lab.strongswan import Charon, IkeSa

from .checks import INSIDE_NET, POOL_FIRST, assert_connected, assert_in_log, assert_initiated, ping, tail
from .conftest import StartCharon, StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]

BOB_PW = "Lab-Passw0rd-2"
# strongSwan's names for the NSA suite -> what the FTD prints
SWAN_ENCR = {"AES_CBC-256": ("AES-CBC", "AES256", 256)}
SWAN_HASH = {"HMAC_SHA2_512_256": "SHA512"}
SWAN_DH = {"MODP_3072": 15}
NO_SESSIONS = "INFO: There are presently no active sessions\n"


@dataclass
class Live:
    server: Ikev2d
    client: Charon
    sa: IkeSa  # as strongSwan lists it
    up_since: float

    @property
    def vip(self) -> str:
        return self.sa.local_vips[0]

    def show(self, *words: str) -> str:
        return ok(self.server.show(*words))

    def show_json(self, *words: str) -> dict:
        return json.loads(ok(self.server.show(*words, json=True)))


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def live(ikev2d_server: StartIkev2d, client: StartCharon) -> Live:
    server = ikev2d_server(users={"alice": "Lab-Passw0rd-1", "bob": BOB_PW})
    alice = client(0)
    assert_initiated(alice.initiate(timeout=10), alice)
    return Live(server, alice, assert_connected(alice), time.monotonic())


def suite(sa: IkeSa) -> tuple[str, str, int, str, int]:
    """(Encr, session encryption, keysize, Hash, DH group) of strongSwan's proposal."""
    encr, integ, _prf, dh = sa.proposal.split("/")
    name, short, bits = SWAN_ENCR[encr]
    return name, short, bits, SWAN_HASH[integ], SWAN_DH[dh]


def selector(cidr: str) -> str:
    net = ipaddress.ip_network(cidr)
    return f"{net.network_address}/0 - {net.broadcast_address}/65535"


def test_crypto_ikev2_sa_shows_the_clients_ike_and_child_sa(live: Live) -> None:
    sa, (child,) = live.sa, live.sa.children
    encr, _short, bits, hash_, dh = suite(sa)
    text = live.show("crypto", "ikev2", "sa")
    lines = text.splitlines()
    assert lines[:4] == ["", "IKEv2 SAs:", "", "Session-id:1, Status:UP-ACTIVE, IKE count:1, CHILD count:1"]
    ours, theirs = f"{sa.remote_host}/{sa.remote_port}", f"{sa.local_host}/{sa.local_port}"
    row = next(line for line in lines if ours in line)
    assert re.fullmatch(rf"\d+\s+{re.escape(ours)}\s+{re.escape(theirs)}\s+READY    RESPONDER", row), row
    assert (f"      Encr: {encr}, keysize: {bits}, Hash: {hash_}, DH Grp:{dh}, Auth sign: RSA, Auth verify: EAP"
            in lines)
    life = re.search(r"Life/Active Time: 86400/(\d+) sec", text)
    assert life and int(life[1]) <= time.monotonic() - live.up_since + 2, text
    # our inbound SPI is the one the client sends with
    assert f"Child sa: local selector  {selector(child.remote_ts[0])}" in lines
    assert f"          remote selector {selector(child.local_ts[0])}" in lines
    assert f"          ESP spi in/out: 0x{int(child.spi_out, 16):x}/0x{int(child.spi_in, 16):x}" in lines

    detail = live.show("crypto", "ikev2", "sa", "detail").splitlines()
    spi_i, spi_r = sa.raw["initiator-spi"].upper(), sa.raw["responder-spi"].upper()
    assert any(re.fullmatch(rf"\s+Local spi: {spi_r}\s+Remote spi: {spi_i}", line) for line in detail), detail
    assert f"      Local id: {sa.remote_id}" in detail and f"      Remote id: {sa.local_id}" in detail
    assert "      NAT-T is detected  outside" in detail  # kernel-libipsec fakes a NAT

    (as_json,) = live.show_json("crypto", "ikev2", "sa")["ikev2_sas"]
    assert (as_json["local"], as_json["remote"], as_json["dh_group"]) == (ours, theirs, dh)
    assert as_json["children"][0]["esp_spi_in"] == f"0x{int(child.spi_out, 16):x}"


def test_crypto_ipsec_sa_counts_what_the_client_counts(live: Live, topology: Topology) -> None:
    pinged = ping(topology.clients[0], 5)
    assert pinged.returncode == 0, f"ping through the tunnel failed:\n{pinged.stdout}{pinged.stderr}"
    after_ping = live.client.list_sas()[0]
    (child,) = after_ping.children
    swan = next(iter(after_ping.raw["child-sas"].values()))  # its counters
    text = live.show("crypto", "ipsec", "sa")
    lines = text.splitlines()
    assert lines[:7] == [
        "interface: outside",
        f"    Crypto map tag: CSM_outside_map_dynamic, seq num: 1, local addr: {live.sa.remote_host}",
        "",
        f"      local ident (addr/mask/prot/port): ({INSIDE_NET.split('/')[0]}/255.255.255.0/0/0)",
        f"      remote ident (addr/mask/prot/port): ({live.vip}/255.255.255.255/0/0)",
        f"      current_peer: {live.sa.local_host}, username: alice",
        f"      dynamic allocated peer ip: {live.vip}",
    ]
    # what the client sent we decapsulated, what it received we encapsulated
    sent, received = int(swan["packets-out"]), int(swan["packets-in"])
    assert sent >= 5 and received >= 5, swan
    assert f"      #pkts decaps: {sent}, #pkts decrypt: {sent}, #pkts verify: {sent}" in lines, text
    assert f"      #pkts encaps: {received}, #pkts encrypt: {received}, #pkts digest: {received}" in lines, text
    assert (f"      local crypto endpt.: {live.sa.remote_host}/{live.sa.remote_port}, "
            f"remote crypto endpt.: {live.sa.local_host}/{live.sa.local_port}") in lines
    assert f"      current outbound spi: {child.spi_in.upper()}" in lines
    assert f"      current inbound spi : {child.spi_out.upper()}" in lines
    assert f"      spi: 0x{child.spi_out.upper()} ({int(child.spi_out, 16)})" in lines
    assert "         transform: esp-aes-256 esp-sha-512-hmac no compression" in lines
    assert "         in use settings ={RA, Tunnel,  NAT-T-Encaps, IKEv2, }" in lines
    (as_json,) = live.show_json("crypto", "ipsec", "sa")["ipsec_sas"]
    assert (as_json["pkts_decaps"], as_json["pkts_encaps"]) == (sent, received)
    # the session's byte counts are the client's too (inner packets, both sides)
    sent_bytes, received_bytes = int(swan["bytes-out"]), int(swan["bytes-in"])
    assert (as_json["bytes_in"], as_json["bytes_out"]) == (sent_bytes, received_bytes)
    assert re.search(rf"Bytes Tx     : {received_bytes}\s+Bytes Rx     : {sent_bytes}\n",
                     live.show("vpn-sessiondb", "ra-ikev2-ipsec"))


def test_vpn_sessiondb_lists_the_standards_client_under_ra_ikev2_ipsec(live: Live) -> None:
    sa = live.sa
    _encr, short, _bits, hash_, _dh = suite(sa)
    protocol = "IPsecOverNatT" if sa.children[0].encap else "IPsec"
    lines = live.show("vpn-sessiondb", "ra-ikev2-ipsec").splitlines()
    assert lines[0] == "Session Type: Generic Remote-Access IKEv2 IPsec"
    assert re.fullmatch(r"Username     : alice\s+Index        : 1", lines[2]), lines
    assert re.fullmatch(rf"Assigned IP  : {re.escape(live.vip)}\s+Public IP    : {re.escape(sa.local_host)}",
                        lines[3]), lines
    assert lines[4] == f"Protocol     : IKEv2 {protocol}"
    assert lines[6] == f"Encryption   : IKEv2: (1){short}  {protocol}: (1){short}"
    assert lines[7] == f"Hashing      : IKEv2: (1){hash_}  {protocol}: (1){hash_}"
    assert re.fullmatch(r"Group Policy : GP-CCIElab\s+Tunnel Group : CCIElab", lines[9]), lines
    duration = re.fullmatch(r"Duration     : 0h:00m:(\d\d)s", lines[11])
    assert duration and int(duration[1]) <= time.monotonic() - live.up_since + 2, lines
    # a standards client is not an AnyConnect session, as on the FTD
    assert live.show("vpn-sessiondb", "anyconnect") == NO_SESSIONS
    (session,) = live.show_json("vpn-sessiondb", "ra-ikev2-ipsec")["sessions"]
    assert (session["username"], session["assigned_ip"], session["public_ip"]) == ("alice", live.vip, sa.local_host)
    assert (session["group_policy"], session["tunnel_group"]) == ("GP-CCIElab", "CCIElab")


def test_vpn_sessiondb_summary_counts_sessions_and_tunnels(live: Live, client: StartCharon) -> None:
    summary = live.show("vpn-sessiondb", "summary").splitlines()
    assert "Generic IKEv2 Remote Access  :      1 :          1 :           1" in summary
    assert "IKEv2                        :      1 :          1 :               1" in summary
    assert "IPsecOverNatT                :      1 :          1 :               1" in summary
    assert live.show("vpn-sessiondb") == live.show("vpn-sessiondb", "summary")
    bob = client(1, identity="bob", password=BOB_PW)
    assert_initiated(bob.initiate(timeout=10), bob)
    assert "Generic IKEv2 Remote Access  :      2 :          2 :           2" in live.show("vpn-sessiondb").splitlines()
    assert live.client.terminate().ok and live.client.wait_for_sas(0) == []
    after = live.show("vpn-sessiondb").splitlines()
    assert "Generic IKEv2 Remote Access  :      1 :          2 :           2" in after, after
    assert "Totals                       :      2 :          4" in after, after
    data = live.show_json("vpn-sessiondb", "summary")
    assert data["vpn_session_summary"] == [
        {"label": "Generic IKEv2 Remote Access", "active": 1, "cumulative": 2, "peak": 2}]


def test_asp_table_socket_lists_no_ike_socket(live: Live, topology: Topology) -> None:
    """Whitepaper, third listing: IKEv2 served, SSL and client services off,
    an empty table; UDP 500/4500 are bound all the same."""
    assert topology.gateway.udp_listening(500) and topology.gateway.udp_listening(4500)
    assert live.show("asp", "table", "socket") == \
        "\nProtocol  Socket      State      Local Address      Foreign Address\n"
    assert live.show_json("asp", "table", "socket") == {"sockets": []}


def test_running_config_is_the_renderers_text_of_the_running_file(live: Live) -> None:
    result = live.server.show("running-config")
    if importlib.util.find_spec("ikev2d.running_config") is None:
        assert result.returncode == 1 and "not available" in result.stdout
        return
    from ikev2d.running_config import render_running_config
    expected = render_running_config(load_config(live.server.config_path))
    assert ok(result).rstrip("\n") == expected.rstrip("\n")
    assert "hostname FTDv-1" in result.stdout
    assert live.show_json("running-config")["lines"] == expected.splitlines()


def test_logoff_deletes_the_session_at_the_client(live: Live, client: StartCharon) -> None:
    nobody = live.server.vpn_sessiondb("logoff", "name", "mallory", "noconfirm")
    assert (nobody.returncode, nobody.stdout) == (1, 'INFO: Number of sessions with name "mallory" logged off : 0\n')
    assert len(live.client.list_sas()) == 1

    result = live.server.vpn_sessiondb("logoff", "name", "alice")
    assert ok(result) == 'INFO: Number of sessions with name "alice" logged off : 1\n'
    assert live.client.wait_for_sas(0) == [], "the client still lists its SA"
    log = live.client.log()
    assert_in_log(log, ["parsed INFORMATIONAL request 0 [ D ]", "received DELETE for IKE_SA ftd-ra[1]"])
    assert "Reason: Administrator Reset" in live.server.log(), tail(live.server.log())
    deadline = time.monotonic() + 5
    while live.show("crypto", "ikev2", "sa") != "There are no IKEv2 SAs\n" and time.monotonic() < deadline:
        time.sleep(0.2)  # the SA goes once the client has answered the Delete
    assert live.show("crypto", "ikev2", "sa") == "There are no IKEv2 SAs\n"
    assert live.show("vpn-sessiondb", "ra-ikev2-ipsec") == NO_SESSIONS
    assert live.show("crypto", "ipsec", "sa") == "There are no ipsec sas\n"
    # the pool hands the address out again, to another user
    bob = client(1, identity="bob", password=BOB_PW)
    assert_initiated(bob.initiate(timeout=10), bob)
    assert assert_connected(bob, identity="bob").local_vips == [POOL_FIRST] == [live.vip]
    assert live.server.running(), tail(live.server.log())


def test_show_ip_local_pool(live: Live) -> None:
    """The pool as the ASA shows it: alice's address in use, the rest free;
    after her logoff all free again."""
    text = live.show("ip", "local", "pool", "VPN-Pool")
    lines = text.splitlines()
    assert lines[0].split() == ["Begin", "End", "Mask", "Free", "Held", "In", "use"], text
    begin, end, mask, free, held, in_use = lines[1].split()
    assert (begin, end, mask, held, in_use) == ("198.19.0.200", "198.19.0.250", "255.255.255.0", "0", "1"), text
    assert int(free) == 50 and lines[lines.index("In Use Addresses:") + 1] == live.vip, text
    assert live.vip not in lines[3:lines.index("In Use Addresses:")]
    as_json = live.show_json("ip", "local", "pool", "VPN-Pool")
    assert as_json["in_use_addresses"] == [live.vip] and as_json["free"] == 50
    missing = live.server.show("ip", "local", "pool", "Nope")
    assert missing.returncode != 0 and "Pool Nope does not exist" in missing.stderr
    assert live.client.terminate().ok
    assert live.show_json("ip", "local", "pool", "VPN-Pool")["in_use"] == 0


def test_vpn_sessiondb_detail_shows_the_clients_tunnels(live: Live, topology: Topology) -> None:
    """The detail listing's values against strongSwan's own: its ports, its
    proposal, its virtual IP as the IPsec tunnel's remote address, the
    packets it counted through the tunnel."""
    pinged = ping(topology.clients[0], 3)
    assert pinged.returncode == 0, f"ping through the tunnel failed:\n{pinged.stdout}{pinged.stderr}"
    sa = live.client.list_sas()[0]
    swan = next(iter(sa.raw["child-sas"].values()))
    _encr, short, _bits, hash_, dh = suite(sa)
    protocol = "IPsecOverNatT" if sa.children[0].encap else "IPsec"
    text = live.show("vpn-sessiondb", "detail", "ra-ikev2-ipsec")
    lines = text.splitlines()
    assert lines[0] == "Session Type: Generic Remote-Access IKEv2 IPsec Detailed"
    assert f"{protocol} Tunnels: 1" in lines and "IKEv2 Tunnels: 1" in lines
    assert re.search(rf"  UDP Src Port : {sa.local_port}\s+UDP Dst Port : {sa.remote_port}\n", text), text
    assert "  Rem Auth Mode: EAP" in lines and "  Loc Auth Mode: rsaCertificate" in lines
    assert re.search(rf"  Encryption   : {short}\s+Hashing      : {hash_}\n", text), text
    assert re.search(rf"  PRF          : {hash_}\s+D/H Group    : {dh}\n", text), text
    left = re.search(r"  Rekey Int \(T\): 86400 Seconds\s+Rekey Left\(T\): (\d+) Seconds", text)
    assert left and 86400 - (time.monotonic() - live.up_since) - 3 <= int(left[1]) <= 86400, text
    assert f"  Remote Addr  : {live.vip}/255.255.255.255/0/0" in lines
    sent, received = int(swan["packets-out"]), int(swan["packets-in"])
    assert re.search(rf"  Pkts Tx      : {received}\s+Pkts Rx      : {sent}\n", text), text
    assert re.search(r"  Idle Time Out: 30 Minutes\s+Idle TO Left : (29|30) Minutes", text), text
    # filter name: the user's session, or none
    alice = live.show("vpn-sessiondb", "detail", "ra-ikev2-ipsec", "filter", "name", "alice").splitlines()
    assert len(alice) == len(lines) and alice[2] == lines[2]  # times aside, the same listing
    assert live.show("vpn-sessiondb", "detail", "ra-ikev2-ipsec", "filter", "name", "bob") == NO_SESSIONS
    (as_json,) = live.show_json("vpn-sessiondb", "detail", "ra-ikev2-ipsec")["sessions"]
    assert as_json["ipsec"][0]["pkts_rx"] == sent and as_json["ike"]["dh_group"] == dh


def test_clear_crypto_ikev2_sa_ends_the_session_with_a_delete(live: Live) -> None:
    nobody = live.server.cli("clear", "crypto", "ikev2", "sa", "remote", "198.18.99.99")
    assert (nobody.returncode, nobody.stdout) == (0, "")
    assert len(live.client.list_sas()) == 1
    cleared = live.server.cli("clear", "crypto", "ikev2", "sa", json=True)
    assert json.loads(ok(cleared)) == {"cleared": 1}
    assert live.client.wait_for_sas(0) == [], "the client still lists its SA"
    assert_in_log(live.client.log(), ["parsed INFORMATIONAL request 0 [ D ]", "received DELETE for IKE_SA"])
    assert re.search(r"113019: Group = GP-CCIElab, Username = alice, .*Reason: Administrator Reset",
                     live.server.log()), tail(live.server.log())
    deadline = time.monotonic() + 5
    while live.show("crypto", "ikev2", "sa") != "There are no IKEv2 SAs\n" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live.show("crypto", "ikev2", "sa") == "There are no IKEv2 SAs\n"


def test_show_logging_buffers_and_counts_a_session(ikev2d_server: StartIkev2d, client: StartCharon) -> None:
    """`logging buffered debugging` beside the FTD's default VPN level
    (errors): the buffer holds the connect's lines, down to the local-host
    entry of the client's address (609001), the console none, and the
    buffer's count grows by the teardown's when the session is cleared."""
    server = ikev2d_server(users={"alice": "Lab-Passw0rd-1"}, logging_level="errors",
                           edit=lambda cfg: cfg["logging"].update(buffered="debugging", buffer_size=1048576))
    alice = client(0)
    assert_initiated(alice.initiate(timeout=10), alice)
    assert_connected(alice)
    text = ok(server.show("logging"))
    lines = text.splitlines()
    counted = re.search(r"^    Buffer logging: level debugging, (\d+) messages logged$", text, re.M)
    assert counted, text
    buffered = [line for line in lines if " : %FTD-" in line]
    assert int(counted[1]) == len(buffered) >= 10, text
    assert any("%FTD-5-750006:" in line and "Username:alice" in line for line in buffered), text
    vip = alice.list_sas()[0].local_vips[0]
    assert any(line.endswith(f"%FTD-7-609001: Built local-host outside:{vip}") for line in buffered), text
    assert "    Console logging: level errors, 0 messages logged" in lines  # nothing at errors in a good connect
    assert ok(server.cli("clear", "crypto", "ikev2", "sa")) == ""
    assert alice.wait_for_sas(0) == []
    deadline = time.monotonic() + 5
    while "113019" not in ok(server.show("logging")) and time.monotonic() < deadline:
        time.sleep(0.2)
    after = json.loads(ok(server.show("logging", json=True)))
    assert after["buffer"]["logged"] == len(after["lines"]) > len(buffered)
    teardown = [line for line in after["lines"] if "%FTD-4-113019:" in line]
    assert len(teardown) == 1 and "Username = alice" in teardown[0] and "Reason: Administrator Reset" in teardown[0]
    assert any(re.search(rf"%FTD-7-609002: Teardown local-host outside:{re.escape(vip)} duration 0:00:\d\d$", line)
               for line in after["lines"]), after["lines"]
    assert after["console"]["logged"] == 0  # 113019 is a warning: not at errors


def test_crypto_ikev2_stats_counts_the_clients_requests(live: Live, client: StartCharon) -> None:
    """alice is up; bob proposes DH group 14 only, which no policy allows:
    one request accepted, one rejected, one SA active."""
    bob = client(1, identity="bob", password=BOB_PW, proposals="aes256-sha512-prfsha512-modp2048")
    assert not bob.initiate(timeout=10).ok
    text = live.show("crypto", "ikev2", "stats")
    lines = text.splitlines()
    assert "Total incoming IKEv2 SA Count:    1        active:        1        negotiating: 0" in lines, text
    assert "Incoming IKEv2 Requests: 2        accepted:      1        rejected:    1" in lines, text
    assert "Incoming IKEV2 Cookie Challenged Requests: 0" in lines, text
    data = live.show_json("crypto", "ikev2", "stats")
    assert data["incoming_requests"] == {"total": 2, "accepted": 1, "rejected": 1}


def test_crypto_ca_certificates_shows_the_identity_the_client_verified(live: Live, lab_pki: LabPki) -> None:
    from cryptography import x509
    cert = x509.load_pem_x509_certificate(lab_pki.server_identity().cert.read_bytes())
    lines = live.show("crypto", "ca", "certificates").splitlines()
    assert lines[:3] == ["Certificate", "  Status: Available", f"  Certificate Serial Number: {cert.serial_number:x}"]
    assert "  Associated Trustpoints: VPN-Identity " in lines
    (identity, *_cas) = live.show_json("crypto", "ca", "certificates")
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert (identity["serial_number"], identity["subject"][0]) == (f"{cert.serial_number:x}", f"cn={cn}")


def test_logoff_by_ip_address_tunnel_group_and_all(live: Live, client: StartCharon) -> None:
    """bob by his assigned address, alice by her connection profile, then
    nobody is left for `logoff all`; each logged-off client gets its Delete."""
    bob = client(1, identity="bob", password=BOB_PW)
    assert_initiated(bob.initiate(timeout=10), bob)
    bob_vip = assert_connected(bob, identity="bob").local_vips[0]
    result = live.server.vpn_sessiondb("logoff", "ipaddress", bob_vip, "noconfirm")
    assert ok(result) == f'INFO: Number of sessions with IP address "{bob_vip}" logged off : 1\n'
    assert bob.wait_for_sas(0) == [] and len(live.client.list_sas()) == 1
    result = live.server.vpn_sessiondb("logoff", "tunnel-group", "CCIElab")
    assert ok(result) == 'INFO: Number of sessions with tunnel-group "CCIElab" logged off : 1\n'
    assert live.client.wait_for_sas(0) == []
    assert_in_log(live.client.log(), ["parsed INFORMATIONAL request 0 [ D ]"])
    deadline = time.monotonic() + 5
    while live.show("vpn-sessiondb", "ra-ikev2-ipsec") != NO_SESSIONS and time.monotonic() < deadline:
        time.sleep(0.2)
    nobody = live.server.vpn_sessiondb("logoff", "all")
    assert (nobody.returncode, nobody.stdout) == (1, "INFO: Number of sessions logged off : 0\n")
