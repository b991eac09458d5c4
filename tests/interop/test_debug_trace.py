"""`ikev2d debug crypto ikev2 protocol|platform` against a real strongSwan
client (issue 10, point 1): the trace shows each message of the exchange,
decrypted, with the payloads strongSwan's own log lists for the same
message, in the same order; the SA state machine and the data plane's
programming; and never a password or key. Every refusal also says why in
one line at the FTD's default logging level, without any debug."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from .checks import POOL_FIRST, assert_healthy, assert_initiated, ping, tail
from .conftest import StartCharon, StartIkev2d
from .test_client_certificate import _write, certificate_only

from lab.pki import LabPki, make_ca, make_client_cert, new_key
from lab.netns import Topology

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

PASSWORD = "Debug-Passw0rd-7"
# strongSwan's short notify names, for the notifies of a standards connect
SWAN_NOTIFIES = {
    "NATD_S_IP": "NAT_DETECTION_SOURCE_IP", "NATD_D_IP": "NAT_DETECTION_DESTINATION_IP",
    "FRAG_SUP": "IKEV2_FRAGMENTATION_SUPPORTED", "HASH_ALG": "SIGNATURE_HASH_ALGORITHMS",
    "REDIR_SUP": "REDIRECT_SUPPORTED", "INIT_CONTACT": "INITIAL_CONTACT",
    "ESP_TFC_PAD_N": "ESP_TFC_PADDING_NOT_SUPPORTED", "NON_FIRST_FRAG": "NON_FIRST_FRAGMENTS_ALSO",
    "MOBIKE_SUP": "MOBIKE_SUPPORTED", "MULT_AUTH": "MULTIPLE_AUTH_SUPPORTED", "EAP_ONLY": "EAP_ONLY_AUTHENTICATION",
    "MSG_ID_SYN_SUP": "IKEV2_MESSAGE_ID_SYNC_SUPPORTED", "AUTH_LFT": "AUTH_LIFETIME",
}
_SWAN_MESSAGE = re.compile(r"(generating|parsed) (\w+) (request|response) (\d+) \[ (.*)\]")
_SWAN_TOKEN = re.compile(r"[^\s(]+\([^)]*\)|\S+")  # CPRP(ADDR MASK DNS) is one payload


def _swan_tag(token: str) -> str:
    if token.startswith("N("):
        short = token[2:-1]
        return f"N({SWAN_NOTIFIES[short]})" if short in SWAN_NOTIFIES else "N"
    if token.startswith("CPR"):
        return "CP"
    return "EAP" if token.startswith("EAP/") else token


def _our_tag(payload: dict[str, Any], known: set[str]) -> str:
    if payload["type"] == "N":
        return f"N({payload['notify']})" if payload["notify"] in known else "N"
    return payload["type"]


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _records(text: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert lines and lines[0]["schema"] == "ikev2d-trace/1" and "debug" in lines[0], text[:500]
    return lines[1:]


def test_the_trace_shows_every_message_as_strongswan_logs_it(ikev2d_server: StartIkev2d, client: StartCharon,
                                                            tmp_path: Path) -> None:
    server = ikev2d_server("--keylog", str(tmp_path / "keys"), fragment_size=576, users={"alice": PASSWORD})
    trace = server.debug("crypto", "ikev2", "protocol", "127", "platform", "127", out=tmp_path / "trace.json")
    text = server.debug("crypto", "ikev2", "protocol", "4", "--user", "alice", out=tmp_path / "trace.txt",
                        json=False)
    alice = client(0, fragment_size=576, password=PASSWORD)
    assert_initiated(alice.initiate(timeout=10), alice)
    assert ping(alice.ns).returncode == 0
    assert alice.terminate().ok
    # the session's last records (the SA going down) reached both clients
    assert _until(lambda: '"action": "remove"' in trace.out.read_text() and "SA DOWN" in text.out.read_text())
    records, shown = _records(trace.stop()), text.stop()

    messages = [r for r in records if r["event"] == "message"]
    known = set(SWAN_NOTIFIES.values())
    compared = 0
    for verb, exchange, kind, mid, payloads in _SWAN_MESSAGE.findall(alice.log()):
        if payloads.startswith("EF("):
            continue  # a fragment: we trace the whole message
        direction = "in" if verb == "generating" else "out"
        ours = [m for m in messages if (m["data"]["direction"], m["data"]["exchange"],
                                        m["data"]["response"], m["data"]["message_id"])
                == (direction, exchange, kind == "response", int(mid))]
        assert len(ours) == 1, (verb, exchange, kind, mid, [m["text"] for m in messages])
        assert [_our_tag(p, known) for p in ours[0]["data"]["payloads"]] == \
            [_swan_tag(t) for t in _SWAN_TOKEN.findall(payloads)], (payloads, ours[0]["text"])
        compared += 1
    assert compared >= 12, compared  # INIT, 5 IKE_AUTH round trips, the Delete
    assert compared == len(messages)

    # the fragmented IKE_AUTH answer, the EAP identity, the address given
    assert any(m["data"]["datagrams"] > 1 for m in messages if m["data"]["exchange"] == "IKE_AUTH")
    payloads = [p for m in messages for p in m["data"]["payloads"]]
    assert {"type": "EAP", "code": "RESPONSE", "id": payloads[[p.get("identity") for p in payloads].index("alice")]["id"],
            "eap_type": "IDENTITY", "identity": "alice"} in payloads
    assert any(a.get("value") == POOL_FIRST for p in payloads if p["type"] == "CP" for a in p["attributes"])
    states = [(r["data"]["from"], r["data"]["to"]) for r in records if r["event"] == "state"]
    assert ("CONNECTING", "ESTABLISHED") in states and states[-1][1] == "DELETED"
    installs = [r for r in records if r["facility"] == "platform" and r["data"]["action"] == "install"]
    assert len(installs) == 1 and installs[0]["data"]["remote_selectors"] == [f"{POOL_FIRST}/32"]
    assert any(r["facility"] == "platform" and r["data"]["action"] == "remove" for r in records)

    # the text at level 4 for user alice: packets, payloads, no platform lines (not asked)
    assert "IKE_SA_INIT" not in shown  # before the user is known
    assert "Received Packet [From 198.18.0.2:500/To 198.18.0.1:500/VRF i0:f0]" in shown
    assert "parsed IKE_AUTH request 1 [ IDi" in shown and "Payload contents:" in shown
    assert "IKEv2-PLAT" not in shown and "identity alice" in shown

    # nothing secret: the password, and every key the key export wrote
    keys = (tmp_path / "keys" / "ikev2_decryption_table").read_text().split(",")
    secrets = [PASSWORD] + [k for k in keys if len(k) >= 32 and not k.startswith('"')]
    everything = (tmp_path / "trace.json").read_text() + shown
    assert secrets[1:] and not [s for s in secrets if s in everything]
    assert_healthy(server, secrets=secrets)


def test_each_refusal_says_why_at_the_default_logging_level(ikev2d_server: StartIkev2d, client: StartCharon,
                                                            lab_pki: LabPki, topology: Topology,
                                                            tmp_path: Path) -> None:
    """vpn_logging_level errors (the FTD's default) and no debug: a wrong
    password, an unknown user, a proposal mismatch and an empty pool each
    leave one line naming the reason."""
    server = ikev2d_server(users={"alice": PASSWORD, "bob": PASSWORD}, pool_range="198.19.0.200-198.19.0.200",
                           logging_level="errors")
    wrong = client(0, password="not-the-password")
    assert not wrong.initiate(timeout=10).ok
    nobody = client(1, identity="nobody", password=PASSWORD)
    assert not nobody.initiate(timeout=10).ok
    weak = client(2, proposals="aes128-sha256-modp2048", password=PASSWORD)
    assert not weak.initiate(timeout=10).ok
    for refused in (wrong, nobody, weak):
        refused.stop()  # their namespaces serve the next clients
    alice = client(0, password=PASSWORD)
    assert_initiated(alice.initiate(timeout=10), alice)
    bob = client(1, identity="bob", password=PASSWORD)
    assert not bob.initiate(timeout=10).ok  # the pool's one address is alice's: no Child SA
    log = server.log()
    for why in ("Username:alice authentication failed", "Username:nobody authentication failed",
                "NO_PROPOSAL_CHOSEN", "offered", "Username:bob no address available"):
        assert why in log, f"{why!r} not in the log at level errors:\n{tail(log)}"
    assert_healthy(server, secrets=[PASSWORD])
    server.stop()

    # a certificate of a CA nobody here trusts
    certs = ikev2d_server(edit=certificate_only(lab_pki.ca_cert), logging_level="errors")
    other_key, user_key = new_key(), new_key()
    other_ca = make_ca(other_key, cn="someone else's CA")
    cert, key = _write(tmp_path, "mallory", make_client_cert(user_key, other_ca, other_key, "mallory"), user_key)
    mallory = client(2, eap="pubkey", identity="O=ikev2d lab, CN=mallory", client_cert=cert, client_key=key)
    assert not mallory.initiate(timeout=15).ok
    log = certs.log()
    assert "717009" in log and "refused" in log, tail(log)
