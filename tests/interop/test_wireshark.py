"""Wireshark decrypts what ikev2d exports (issue 10, point 2): a real tshark,
given only the headend's capture and the tables `run --keylog` wrote,
decrypts every IKE message after IKE_SA_INIT (each SKF fragment, and the
reassembled IKE_AUTH with its EAP and CP) and every ESP packet of a ping,
checking each one's integrity itself, across a Child SA and an IKE SA
rekey, for a CBC+HMAC and an AES-GCM suite. `ikev2d keys` gives the same
rows for the live SAs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import pytest

from lab import wireshark
from lab.capture import Capture
from lab.process import poll_until

from .checks import POOL_FIRST, assert_healthy, assert_initiated, ping, tail
from .conftest import StartCharon, StartIkev2d
from .test_ikev2d_suites import _add_suite_b

pytestmark = [
    pytest.mark.interop,
    pytest.mark.wireshark,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not wireshark.tshark_available(), reason="tshark is not installed (lab/setup.sh installs it)"),
]

IKE_SA_INIT, IKE_AUTH = "34", "35"
ENCRYPTED, FRAGMENT, CP = "46", "53", "47"

SUITES = {
    # the whitepaper's NSA suite (AES-256-CBC, HMAC-SHA-512) as configured
    "cbc-hmac": (None, {}),
    # AES-256-GCM for IKE (RFC 5282) and ESP (RFC 4106)
    "gcm": (_add_suite_b, {"proposals": "aes256gcm16-prfsha384-ecp384", "esp_proposals": "aes256gcm16"}),
}


def _installed(alice: Any) -> list[str]:
    sas = alice.list_sas()
    return [c.spi_in for c in sas[0].children if c.state == "INSTALLED"] if sas else []


def _rows(folder: Path, table: str) -> list[str]:
    return [line for line in (folder / table).read_text().splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize("suite", SUITES)
def test_tshark_decrypts_every_ike_and_esp_packet_with_the_exported_keys(
        ikev2d_server: StartIkev2d, client: StartCharon, gateway_capture: Callable[[], Capture],
        tmp_path: Path, suite: str) -> None:
    edit, proposals = SUITES[suite]
    keylog = tmp_path / "keylog"
    capture = gateway_capture()
    server = ikev2d_server("--keylog", str(keylog), fragment_size=576, edit=edit)
    alice = client(0, fragment_size=576, **proposals)
    assert_initiated(alice.initiate(timeout=10), alice)
    assert ping(alice.ns).returncode == 0

    # `ikev2d keys`: the live SAs' rows, the ones --keylog wrote
    live = tmp_path / "live"
    answer = server.cli("keys", "--dir", str(live))
    assert answer.returncode == 0, answer.stderr
    for table in wireshark.TABLES:
        assert _rows(live, table) and set(_rows(live, table)) <= set(_rows(keylog, table)), table

    first_child = _installed(alice)
    alice.swanctl("--rekey", "--child", "ftd-ra")
    assert poll_until(lambda: _installed(alice) not in ([], first_child)), tail(alice.log())
    alice.swanctl("--rekey", "--ike", "ftd-ra")
    assert poll_until(lambda: "IKE_SA deleted" in alice.log() or "rekeyed between" in alice.log()), tail(alice.log())
    time.sleep(1)  # the old IKE SA's Delete exchange
    assert ping(alice.ns).returncode == 0
    assert alice.terminate().ok
    time.sleep(0.5)
    capture.stop()

    frames = wireshark.dissect(capture.pcap, keylog)
    ike = [f for f in frames if f.has("isakmp.exchangetype") and f.values("isakmp.exchangetype")[0] != IKE_SA_INIT]
    esp = [f for f in frames if f.has("esp.spi")]

    # every protected IKE message, fragments included, decrypted and its ICV checked by Wireshark
    assert len(ike) >= 12, [f.values("isakmp.exchangetype") for f in ike]
    for f in ike:
        assert f.has("isakmp.enc.decrypted"), f"frame {f.number} not decrypted"
        checks = f.descriptions("isakmp.enc.icd")
        assert checks and all(d.endswith("[correct]") for d in checks), (f.number, checks)
    assert len({(f.values("isakmp.ispi")[0], f.values("isakmp.rspi")[0]) for f in ike}) == 2  # rekeyed
    fragments = [f for f in ike if FRAGMENT in f.values("isakmp.typepayload")]
    assert fragments and any(f.has("isakmp.reassembled.length") for f in fragments)
    auth = [f for f in ike if f.values("isakmp.exchangetype")[0] == IKE_AUTH]
    assert "alice" in [v for f in auth for v in f.values("eap.identity")]
    assert POOL_FIRST in [v for f in auth for v in f.values("isakmp.cfg.attr.internal_ip4_address")]

    # every ESP packet decrypted to the ping inside it, before and after the Child rekey
    assert len(esp) == 12, f"{len(esp)} ESP packets"
    for f in esp:
        assert f.has("icmp.type"), f"ESP frame {f.number} not decrypted"
        assert f.values("esp.icv_good") == ["1"], f.number
    assert len({f.values("esp.spi")[0] for f in esp}) == 4  # two pairs: the first and the rekeyed one

    # without the tables nothing is readable: the test reads decryptions, not plaintext
    blind = wireshark.dissect(capture.pcap, None)
    assert not any(f.has("isakmp.enc.decrypted") or f.has("icmp.type") for f in blind)

    secrets = [row.split(",")[2] for row in _rows(keylog, "ikev2_decryption_table")]
    secrets += [row.split(",")[5].strip('"')[2:] for row in _rows(keylog, "esp_sa")]
    assert_healthy(server, secrets=secrets)
    assert (keylog / "esp_sa").stat().st_mode & 0o077 == 0
