"""The responder proves itself with its identity certificate: RSA or ECDSA.

Issue 2: "the responder proves itself with an X.509 certificate and key (RSA
and ECDSA; RFC 7427 signatures when the client sent hash algorithms)".
A strongSwan 5.9.8 client names the scheme it verified the responder's AUTH
with, in its log:

    authentication of 'vpn.example.test' with ECDSA_WITH_SHA384_DER successful

RFC 7427 digital signatures (auth method 14) show as the signature scheme,
``ECDSA_WITH_SHA256_DER`` / ``ECDSA_WITH_SHA384_DER`` /
``RSA_EMSA_PKCS1_SHA2_256``...; the classic methods as the auth method's
name: ``ECDSA-256 signature`` / ``ECDSA-384 signature`` (RFC 4754, methods
9 and 10) and ``RSA signature`` (RSA_SIG, method 1, RFC 7296 §3.8).  A
client with ``charon.signature_authentication = no`` sends no
SIGNATURE_HASH_ALGORITHMS notify, so the responder must use a classic
method.

Every case runs against strongSwan's own responder too, which shows the
expected lines are what a real responder produces, not a guess.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lab import ikev2dlog, swanlog
from lab.ikev2d import Ikev2d
from lab.strongswan import Charon

from .checks import assert_connected, assert_in_log, assert_initiated, tail
from .conftest import StartCharon, StartIkev2d

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

Responder = Ikev2d | Charon

SERVER_ID = "vpn.example.test"

# key type -> what the client logs for an RFC 7427 signature and for the
# classic method.  ECDSA: the hash that fits the curve (P-256/SHA-256,
# P-384/SHA-384; RFC 5480 §4), as strongSwan's own responder picks it.  RSA:
# RFC 7427 leaves the hash to the signer among those the peer announced
# (strongSwan's responder uses SHA-256 with RSA-2048), so any SHA-2 passes.
RSA_SHA2 = ("RSA_EMSA_PKCS1_SHA2_256", "RSA_EMSA_PKCS1_SHA2_384", "RSA_EMSA_PKCS1_SHA2_512")
SCHEMES: dict[str, tuple[tuple[str, ...], str]] = {
    "ecdsa-p256": (("ECDSA_WITH_SHA256_DER",), "ECDSA-256 signature"),
    "ecdsa-p384": (("ECDSA_WITH_SHA384_DER",), "ECDSA-384 signature"),
    "rsa-2048": (RSA_SHA2, "RSA signature"),
}


@pytest.fixture(params=["ikev2d", "strongswan"])
def responder(
    request: pytest.FixtureRequest, ikev2d_server: StartIkev2d, reference_responder: StartCharon
) -> Callable[[str], Responder]:
    """Factory: the responder under test with an identity of `key_type`."""

    def start(key_type: str) -> Responder:
        if request.param == "ikev2d":
            return ikev2d_server(key_type=key_type)
        return reference_responder(key_type=key_type)

    return start


def _connect(alice: Charon, server: Responder) -> str:
    assert_initiated(alice.initiate(timeout=10), alice)
    assert_connected(alice)
    if isinstance(server, Ikev2d):
        assert ikev2dlog.tracebacks(server.log()) == [], f"traceback in ikev2d's log:\n{tail(server.log())}"
    return alice.log()


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "ecdsa-p384", "rsa-2048"])
def test_responder_signs_with_rfc7427_digital_signature(
    responder: Callable[[str], Responder], client: StartCharon, key_type: str
) -> None:
    """The client sent N(HASH_ALG): the responder's AUTH is a digital
    signature (RFC 7427) with the hash that fits its key."""
    server = responder(key_type)
    alice = client(0)

    log = _connect(alice, server)

    sent = swanlog.message_payloads(log, "generating", "IKE_SA_INIT", "request", 0)
    got = swanlog.message_payloads(log, "parsed", "IKE_SA_INIT", "response", 0)
    assert sent is not None and "N(HASH_ALG)" in sent, f"client sent {sent}\n{tail(log)}"
    assert got is not None and "N(HASH_ALG)" in got, f"responder answered {got}: no RFC 7427 support announced"
    lines = [swanlog.peer_authenticated(SERVER_ID, s) for s in SCHEMES[key_type][0]]
    assert any(line in log for line in lines), f"client log lacks any of {lines}:\n{tail(log)}"


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "ecdsa-p384", "rsa-2048"])
def test_responder_falls_back_to_classic_method_without_hash_algorithms(
    responder: Callable[[str], Responder], client: StartCharon, key_type: str
) -> None:
    """signature_authentication = no: no N(HASH_ALG) from the client, so
    the responder signs with ECDSA-256/-384 (RFC 4754) or RSA_SIG."""
    server = responder(key_type)
    alice = client(0, signature_authentication=False)

    log = _connect(alice, server)

    sent = swanlog.message_payloads(log, "generating", "IKE_SA_INIT", "request", 0)
    assert sent is not None and "N(HASH_ALG)" not in sent, f"client sent {sent}\n{tail(log)}"
    assert_in_log(log, [swanlog.peer_authenticated(SERVER_ID, SCHEMES[key_type][1])])
