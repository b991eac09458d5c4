"""`show crypto ipsec sa` against asa-cli-samples/cisco_asa_show_crypto_ipsec_sa.raw:
the sample's second SA (AES-256/MD5 in UDP) rebuilt from a snapshot gives the
sample's own lines, but for what makes it a site-to-site IKEv1 SA."""

from __future__ import annotations

from ikev2d.iana import EncrId, IntegId
from ikev2d.show import ipsec_sa
from test_show_support import child, sample_lines, session, snapshot


def colo_sa() -> str:
    c = child(spi_in=0x32F752FF, spi_out=0x50023DDC, integ_id=IntegId.HMAC_MD5_96,
              local_selectors=("172.16.122.32/28",), remote_selectors=("172.30.1.153/32",),
              packets_out=13915315, packets_in=23606461, seq_in_highest=23606461,
              bytes_in=(4608000 - 2699423) * 1024, bytes_out=(4608000 - 3892153) * 1024,
              age_seconds=28800 - 25461)
    s = session(unique_id=159694848, local_address="172.16.248.119", remote_address="8.8.8.8",
                remote_port=4500, children=(c,))
    return ipsec_sa.render(snapshot(s))


def test_counters_endpoints_and_spis_match_the_sample_lines() -> None:
    sample = sample_lines("cisco_asa_show_crypto_ipsec_sa.raw")
    ours = colo_sa().splitlines()
    start = ours.index("      #pkts encaps: 13915315, #pkts encrypt: 13915315, #pkts digest: 13915315")
    expected = sample[42:58]  # "#pkts encaps" .. "current inbound spi"
    assert ours[start:start + len(expected)] == expected


def test_esp_sa_blocks_match_the_sample_but_for_l2l_and_ikev1() -> None:
    sample = sample_lines("cisco_asa_show_crypto_ipsec_sa.raw")[59:81]  # inbound .. outbound bitmap
    ours = [line.replace("CSM_outside_map_dynamic", "COLO-MAP")
            .replace("{RA, Tunnel,  NAT-T-Encaps, IKEv2, }", "{L2L, Tunnel,  NAT-T-Encaps, IKEv1, }")
            for line in colo_sa().splitlines()]
    start = ours.index("    inbound esp sas:")
    assert ours[start:start + len(sample)] == sample


def test_header_idents_and_remote_access_lines() -> None:
    lines = ipsec_sa.render(snapshot(session())).splitlines()
    assert lines[:8] == [
        "interface: outside",
        "    Crypto map tag: CSM_outside_map_dynamic, seq num: 1, local addr: 192.168.0.204",
        "",
        "      local ident (addr/mask/prot/port): (0.0.0.0/0.0.0.0/0/0)",
        "      remote ident (addr/mask/prot/port): (172.31.1.205/255.255.255.255/0/0)",
        "      current_peer: 192.168.0.205, username: adm-marin",
        "      dynamic allocated peer ip: 172.31.1.205",
        "",
    ]
    assert "      local crypto endpt.: 192.168.0.204/4500, remote crypto endpt.: 192.168.0.205/59395" in lines
    assert "      current outbound spi: 00460223" in lines
    assert "      current inbound spi : 03E75843" in lines
    assert "      spi: 0x03E75843 (65493059)" in lines
    assert "         transform: esp-aes-256 esp-sha-512-hmac no compression" in lines
    assert "      #pkts encaps: 1000, #pkts encrypt: 1000, #pkts digest: 1000" in lines
    assert "      #pkts decaps: 1145, #pkts decrypt: 1145, #pkts verify: 1145" in lines


def test_overhead_reads_as_the_samples_do() -> None:
    md5 = dict(encr_id=EncrId.AES_CBC, encr_bits=256, integ_id=IntegId.HMAC_MD5_96)
    assert ipsec_sa.overhead(child(nat_t=True, **md5)) == (82, 52)
    assert ipsec_sa.overhead(child(nat_t=False, **md5)) == (74, 44)


def test_without_nat_t_no_encaps_and_ports_500() -> None:
    s = session(nat_peer=False, children=(child(nat_t=False),))
    text = ipsec_sa.render(snapshot(s))
    assert "in use settings ={RA, Tunnel, IKEv2, }" in text
    assert "local crypto endpt.: 192.168.0.204/500, remote crypto endpt.: 192.168.0.205/500" in text


def test_replay_bitmap_and_errors() -> None:
    assert ipsec_sa.replay_bitmap(0) == (0, 0)
    assert ipsec_sa.replay_bitmap(5) == (0, 0x1F)
    assert ipsec_sa.replay_bitmap(40) == (0xFF, 0xFFFFFFFF)
    text = ipsec_sa.render(snapshot(session(children=(child(replay_drops=1, integrity_failures=2),))))
    assert "#send errors: 0, #recv errors: 3" in text


def test_gcm_transform_and_iv() -> None:
    c = child(encr_id=EncrId.AES_GCM_16, integ_id=IntegId.NONE)
    text = ipsec_sa.render(snapshot(session(children=(c,))))
    assert "transform: esp-aes-gcm-256 esp-null-hmac no compression" in text
    assert "IV size: 8 bytes" in text


def test_sessions_share_the_interface_line_and_negotiating_ones_are_left_out() -> None:
    second = session(unique_id=0x6001, username="bob", children=(child(spi_in=0x1111, spi_out=0x2222),))
    negotiating = session(unique_id=0x6002, state="EAP", children=())
    text = ipsec_sa.render(snapshot(session(), second, negotiating))
    assert text.count("interface: outside") == 1
    assert text.count("Crypto map tag:") == 2
    assert "current_peer: 192.168.0.205, username: bob" in text


def test_empty_and_json() -> None:
    assert ipsec_sa.render(snapshot()) == "There are no ipsec sas\n"
    (sa,) = ipsec_sa.as_json(snapshot(session()))["ipsec_sas"]
    assert sa["current_outbound_spi"] == "00460223" and sa["username"] == "adm-marin"
    assert sa["pkts_decaps"] == 1145 and sa["in_use_settings"] == ["RA", "Tunnel", "NAT-T-Encaps", "IKEv2"]
    assert sa["remaining_seconds"] == 28800 - 12
