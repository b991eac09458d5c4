"""The explicit key export (issue 10, point 2): the rows Wireshark reads,
and the core announcing each new IKE SA's keys, by the SPI pair and key
order of the SA's original initiator (RFC 7296 §2.18), whoever that is.
tests/interop/test_wireshark.py shows a real tshark decrypting with them."""

from __future__ import annotations

import os
from pathlib import Path

from esp.spec import ChildSaSpec, EspAlgorithms

from ikev2d.crypto.keymat import IkeKeys
from ikev2d.effects import IkeKeysDerived
from ikev2d.iana import EncrId, IntegId
from ikev2d.keylog import ESP_TABLE, IKE_TABLE, IkeSaKeys, KeyLog, esp_rows, ike_rows
from ikev2d.tasks.ike_rekey import REKEY_AT

from responder_harness import Harness
from test_task_ike_rekey import LIFETIME, Peer

KEYS = IkeKeys(sk_d=b"\x0d" * 64, sk_ai=b"\x0a" * 64, sk_ar=b"\x0b" * 64, sk_ei=b"\x0e" * 32, sk_er=b"\x0f" * 32,
               sk_pi=b"\x01" * 64, sk_pr=b"\x02" * 64)


def _spec(encr: int, integ: int, icv: int = 32) -> ChildSaSpec:
    return ChildSaSpec(
        ike_sa_id="00_i 01_r", spi_in=0xc0000001, spi_out=0xc0000002,
        algorithms=EspAlgorithms(encr, 256, integ, 36 if integ == IntegId.NONE else 32, 0 if not integ else 64, icv),
        encr_key_in=b"\x11" * 32, integ_key_in=b"\x22" * 64, encr_key_out=b"\x33" * 32, integ_key_out=b"\x44" * 64,
        local_address="198.18.0.1", remote_address="198.18.0.2", encap_local_port=4500, encap_remote_port=4500,
        local_selectors=(), remote_selectors=(), lifetime_seconds=3600, lifetime_kilobytes=0, username="alice")


def test_an_ike_row_is_wiresharks_format_in_the_original_initiators_order() -> None:
    sa = IkeSaKeys(b"\xaa" * 8, b"\xbb" * 8, EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_512_256, KEYS, "x")
    comment, row = ike_rows(sa)
    assert comment == "# IKE SA x"
    assert row == ",".join(["aa" * 8, "bb" * 8, "0e" * 32, "0f" * 32, '"AES-CBC-256 [RFC3602]"',
                            "0a" * 64, "0b" * 64, '"HMAC_SHA2_512_256 [RFC4868]"'])
    gcm = IkeSaKeys(b"\xaa" * 8, b"\xbb" * 8, EncrId.AES_GCM_16, 256, IntegId.NONE, KEYS, "x")
    assert '"AES-GCM-256 with 16 octet ICV [RFC5282]"' in ike_rows(gcm)[1]
    assert ike_rows(gcm)[1].endswith('"NONE [RFC4306]"')


def test_esp_rows_name_both_directions_and_aead_carries_no_authentication() -> None:
    comment, inbound, outbound = esp_rows(_spec(EncrId.AES_CBC, IntegId.HMAC_SHA2_512_256))
    assert inbound == ('"IPv4","198.18.0.2","198.18.0.1","0xc0000001","AES-CBC [RFC3602]","0x' + "11" * 32 +
                       '","HMAC-SHA-512-256 [RFC4868]","0x' + "22" * 64 + '"')
    assert outbound.startswith('"IPv4","198.18.0.1","198.18.0.2","0xc0000002"') and "33" * 32 in outbound
    assert "alice" in comment and "11" not in comment.split(":", 1)[1].replace("0xc0000001", "")
    gcm = esp_rows(_spec(EncrId.AES_GCM_16, IntegId.NONE, icv=16))[1]
    assert '"AES-GCM with 16 octet ICV [RFC4106]"' in gcm and gcm.split(",")[6] == '"NULL"'


def test_what_wireshark_cannot_decrypt_is_a_comment_without_keys() -> None:
    des_ike = IkeSaKeys(b"\xaa" * 8, b"\xbb" * 8, EncrId.DES, 64, IntegId.HMAC_SHA1_96, KEYS, "x")
    [line] = ike_rows(des_ike)
    assert line.startswith("#") and "cannot decrypt DES" in line and "0e0e" not in line
    [line] = esp_rows(_spec(EncrId.NULL_AUTH_AES_GMAC, IntegId.NONE, icv=16))
    assert line.startswith("#") and "NULL_AUTH_AES_GMAC" in line and "1111" not in line


def test_the_tables_are_appended_and_only_root_may_read_them(tmp_path: Path) -> None:
    log = KeyLog(tmp_path / "keys")
    log.child_sa(_spec(EncrId.AES_CBC, IntegId.HMAC_SHA2_512_256))
    log.child_sa(_spec(EncrId.AES_CBC, IntegId.HMAC_SHA2_512_256))
    log.ike_sa(IkeSaKeys(b"\xaa" * 8, b"\xbb" * 8, EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_512_256, KEYS, "x"))
    assert len((tmp_path / "keys" / ESP_TABLE).read_text().splitlines()) == 6
    assert len((tmp_path / "keys" / IKE_TABLE).read_text().splitlines()) == 2
    for path in (tmp_path / "keys", tmp_path / "keys" / ESP_TABLE, tmp_path / "keys" / IKE_TABLE):
        assert os.stat(path).st_mode & 0o077 == 0, path


def test_a_table_that_cannot_be_written_costs_the_row_not_the_headend(tmp_path: Path, caplog) -> None:
    log = KeyLog(tmp_path / "keys")
    (tmp_path / "keys" / ESP_TABLE).mkdir()  # not a file: every append fails
    log.child_sa(_spec(EncrId.AES_CBC, IntegId.HMAC_SHA2_512_256))
    log.child_sa(_spec(EncrId.AES_CBC, IntegId.HMAC_SHA2_512_256))
    assert len(caplog.records) == 1  # said once
    assert "1111" not in caplog.text


def test_the_core_announces_the_keys_of_the_sa_ike_sa_init_made(harness: Harness) -> None:
    client = harness.client()
    client.connect()
    [announced] = [e.keys for e in harness.effects if isinstance(e, IkeKeysDerived)]
    [sa] = harness.responder.sas.values()
    assert (announced.spi_i, announced.spi_r) == (client.spi_i, client.spi_r)
    # the initiator derived its keys itself: the same SK_ei/SK_ai it sends with
    assert (announced.keys.sk_ei, announced.keys.sk_ai) == (client.keys.sk_ei, client.keys.sk_ai)
    # the SA's own keys (it drops SK_pi/SK_pr once IKE_AUTH is over: Wireshark needs neither)
    assert (announced.keys.sk_er, announced.keys.sk_ar) == (sa.keys.sk_er, sa.keys.sk_ar) and sa.keys.sk_d
    assert "sk_ei" not in repr(announced)
    assert announced.keys.sk_ei.hex() not in repr(announced)


def test_after_our_own_ike_rekey_the_row_is_keyed_by_our_spi_as_spi_i(tmp_path: Path, pki_dir: Path) -> None:
    p = Peer(tmp_path, pki_dir)
    [rekey] = p.at(p.old.created + REKEY_AT * LIFETIME)
    p.deliver(rekey)
    [announced] = [e.keys for e in p.effects if isinstance(e, IkeKeysDerived)]
    [new] = p.live()
    assert new.original_initiator and (announced.spi_i, announced.spi_r) == (new.spi_i, new.spi_r)
    # the client (the new SA's responder) opens with SK_ei what we send: that key is in the row
    spi_i, spi_r, keys, _ = p.client.rekeyed_sa  # type: ignore[misc]
    assert (spi_i, spi_r, keys.sk_ei, keys.sk_er) == (announced.spi_i, announced.spi_r, announced.keys.sk_ei,
                                                      announced.keys.sk_er)
