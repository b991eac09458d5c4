"""`show crypto ikev2 sa [detail]` against the layout docs/ftd-behaviour.md
records (the ASA's lines, with the whitepaper's values)."""

from __future__ import annotations

from ikev2d.iana import EncrId, IntegId
from ikev2d.show import ikev2_sa
from test_show_support import child, session, snapshot

EXPECTED = """
IKEv2 SAs:

Session-id:1, Status:UP-ACTIVE, IKE count:1, CHILD count:1

Tunnel-id Local                                               Remote                                                  Status         Role
24576     192.168.0.204/4500                                  192.168.0.205/59395                                     READY    RESPONDER
      Encr: AES-CBC, keysize: 256, Hash: SHA512, DH Grp:15, Auth sign: RSA, Auth verify: EAP
      Life/Active Time: 86400/12 sec
Child sa: local selector  0.0.0.0/0 - 255.255.255.255/65535
          remote selector 172.31.1.205/0 - 172.31.1.205/65535
          ESP spi in/out: 0x3e75843/0x460223

"""


def test_one_session_in_the_asa_layout() -> None:
    assert ikev2_sa.render(snapshot(session())) == EXPECTED


def test_table_columns_line_up_with_the_header() -> None:
    lines = ikev2_sa.render(snapshot(session())).splitlines()
    header = next(line for line in lines if line.startswith("Tunnel-id"))
    row = lines[lines.index(header) + 1]
    for label, value in (("Local", "192.168.0.204/4500"), ("Remote", "192.168.0.205/59395")):
        assert row.index(value) == header.index(label)
    # the ASA's quirk: READY and the role sit under Status, four spaces apart
    assert row.index("READY") == header.index("Status")
    assert row.endswith("READY    RESPONDER")


def test_no_sas() -> None:
    assert ikev2_sa.render(snapshot()) == "There are no IKEv2 SAs\n"


def test_a_negotiating_sa_is_in_neg_without_children() -> None:
    text = ikev2_sa.render(snapshot(session(state="EAP", children=(), username="")))
    assert "Session-id:1, Status:DOWN-NEGOTIATING, IKE count:1, CHILD count:0" in text
    assert "IN-NEG   RESPONDER" in text
    assert "Child sa" not in text


def test_gcm_prints_no_hash_and_each_session_gets_its_block() -> None:
    gcm = session(unique_id=0x6001, encr_id=EncrId.AES_GCM_16, integ_id=IntegId.NONE, dh_id=20,
                  children=(child(spi_in=0xABC, spi_out=0xDEF),))
    text = ikev2_sa.render(snapshot(session(), gcm))
    assert "Encr: AES-GCM, keysize: 256, Hash: N/A, DH Grp:20" in text
    assert text.count("Tunnel-id Local") == 2
    assert "Session-id:2, Status:UP-ACTIVE" in text
    assert "ESP spi in/out: 0xabc/0xdef" in text


def test_detail_adds_spis_identities_and_child_algorithms() -> None:
    text = ikev2_sa.render(snapshot(session()), detail=True)
    lines = text.splitlines()
    assert "      Local spi: 5BE1FF81F5A3C6D6       Remote spi: 0BF6C1D1F6C7E2B1" in lines
    assert "      Local id: vpn.example.test" in lines
    assert "      Remote id: adm-marin" in lines
    assert "      Remote EAP id: adm-marin" in lines
    assert "      Local next mess id: 0             Remote next mess id: 6" in lines
    assert "      DPD configured for 30 seconds, retry 4" in lines
    assert "      NAT-T is detected  outside" in lines
    assert "          Encr: AES-CBC, keysize: 256, esp_hmac: SHA512" in lines
    assert "          ah_hmac: None, comp: IPCOMP_NONE, mode tunnel" in lines
    # the detail lines come between the SA's lines and its Child SA
    assert lines.index("      Life/Active Time: 86400/12 sec") < lines.index("      Session-id: 1") < \
        lines.index("Child sa: local selector  0.0.0.0/0 - 255.255.255.255/65535")


def test_nat_on_our_side_and_none() -> None:
    assert "NAT-T is detected  inside" in ikev2_sa.render(snapshot(session(nat_peer=False, nat_local=True)), True)
    assert "NAT-T is not detected" in ikev2_sa.render(snapshot(session(nat_peer=False)), True)


def test_json_has_the_printed_values() -> None:
    data = ikev2_sa.as_json(snapshot(session()))
    (sa,) = data["ikev2_sas"]
    assert sa["status"] == "UP-ACTIVE" and sa["sa_status"] == "READY" and sa["role"] == "RESPONDER"
    assert (sa["encryption"], sa["keysize"], sa["hash"], sa["dh_group"]) == ("AES-CBC", 256, "SHA512", 15)
    assert (sa["lifetime_seconds"], sa["active_seconds"]) == (86400, 12)
    assert sa["children"][0]["esp_spi_in"] == "0x3e75843"
    assert sa["children"][0]["remote_selectors"] == ["172.31.1.205/0 - 172.31.1.205/65535"]
    assert ikev2_sa.as_json(snapshot()) == {"ikev2_sas": []}


def test_certificate_session_verifies_by_signature_and_has_no_eap_id() -> None:
    """An ASA shows a certificate client's SA as `Auth verify: RSA` (or
    ECDSA), and no Remote EAP id line: no EAP ran."""
    text = ikev2_sa.render(snapshot(session(auth_verify="RSA", username="carol")), detail=True)
    assert "Auth sign: RSA, Auth verify: RSA" in text
    assert "Remote EAP id" not in text
