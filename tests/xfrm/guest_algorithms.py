"""Every ESP algorithm of the FTD's IPsec proposal on the kernel data plane
(issue 9, point 2: "implemented end to end ... both data planes"): runs
INSIDE user-mode Linux (tests/xfrm/test_algorithms.py boots it).

One ikev2d (--dataplane kernel) whose IPsec proposal lists every encryption
and hash, one strongSwan client with the kernel's ESP that offers one
combination at a time: each connects, the gateway kernel holds the SA pair
with the algorithm under its kernel name and truncation, a ping through the
tunnel moves both kernels' counters, and the disconnect leaves nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from lab.pki import LabPki, make_lab_pki
from lab.swanctl_conf import ClientConfig

from .guestlib import RaLab, in_uml, ip, nsexec, parse_ip_states, ra_lab, wait_for

pytestmark = pytest.mark.skipif(not in_uml(), reason="runs inside user-mode Linux (tests/xfrm/test_*.py boot it)")

INSIDE = "198.19.0.1"


@dataclass(frozen=True)
class Case:
    client_esp: str  # strongSwan's esp_proposals
    kernel: tuple[str, ...]  # the lines `ip xfrm state` shows, by their start


CASES = {
    "3des-sha1": Case("3des-sha1", ("enc cbc(des3_ede)", "auth-trunc hmac(sha1) 0x")),
    "des-md5": Case("des-md5", ("enc cbc(des)", "auth-trunc hmac(md5) 0x")),
    "aes128-sha256": Case("aes128-sha256", ("enc cbc(aes)", "auth-trunc hmac(sha256) 0x")),
    "aes192-sha384": Case("aes192-sha384", ("enc cbc(aes)", "auth-trunc hmac(sha384) 0x")),
    "null-sha512": Case("null-sha512", ("enc ecb(cipher_null)", "auth-trunc hmac(sha512) 0x")),
    "aes128gcm16": Case("aes128gcm16", ("aead rfc4106(gcm(aes))",)),
    "aes256gmac": Case("aes256gmac", ("aead rfc4543(gcm(aes))",)),
}
TRUNCATION = {"sha1": 96, "md5": 96, "sha256": 128, "sha384": 192, "sha512": 256}


def _every_algorithm(cfg: dict[str, Any]) -> None:
    proposal = cfg["objects"]["ikev2_ipsec_proposals"][0]
    proposal["esp_encryption"] = ["AES-256", "AES-192", "AES", "3DES", "DES", "NULL", "AES-GCM", "AES-GMAC-256"]
    proposal["esp_hash"] = ["SHA-512", "SHA-384", "SHA-256", "SHA-1", "MD5", "NULL"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return make_lab_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def lab(pki: LabPki) -> Iterator[RaLab]:
    with ra_lab(pki, "alg", edit=_every_algorithm) as started:
        yield started


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_esp_algorithm_on_the_kernel_dataplane(lab: RaLab, pki: LabPki, case: Case) -> None:
    gw_ns, client_ns = lab.gw_ns, lab.client_ns
    lab.client.load(ClientConfig(local_addr=lab.topology.client_addrs[0], remote_addr=lab.topology.gateway_addr,
                                 ca_cert=pki.ca_cert, esp_proposals=case.client_esp))
    result = lab.client.initiate(timeout=30)
    assert result.ok, f"{case.client_esp}: initiate failed: {result.errmsg}\n{result.text()}{lab.context()}"
    try:
        (sa,) = lab.client.list_sas()
        (child,) = sa.children
        vip = sa.local_vips[0]
        states = parse_ip_states(ip(gw_ns, "-s", "xfrm", "state"))
        assert {s.spi for s in states} == {int(child.spi_in, 16), int(child.spi_out, 16)}, states
        for state in states:
            for expected in case.kernel:
                line = state.line(expected.split()[0] + " " + expected.split()[1])
                assert line is not None and line.startswith(expected), (expected, state.text.splitlines()[:6])
                if expected.startswith("auth-trunc"):
                    hash_name = expected.split("(")[1].rstrip(") 0x")
                    assert line.endswith(f" {TRUNCATION[hash_name]}"), line
        pong = nsexec(client_ns, "ping", "-n", "-c", "2", "-i", "0.2", "-W", "3", "-I", vip, INSIDE, check=False)
        assert pong.returncode == 0, f"{case.client_esp}: {pong.stdout}{pong.stderr}{lab.context()}"
        after = {s.spi: s.packets for s in parse_ip_states(ip(gw_ns, "-s", "xfrm", "state"))}
        assert all(n >= 2 for n in after.values()), after
    finally:
        done = lab.client.terminate()
        assert done.ok, done.errmsg
        assert wait_for(lambda: parse_ip_states(ip(gw_ns, "xfrm", "state")) == [], timeout=5), lab.context()
