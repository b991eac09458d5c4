"""What a strongSwan 5.9.8 client writes to its charon log, as patterns.

Every text here was seen in this lab's charon filelog (default 1, ike 2)
against strongSwan's own responder; the tests assert on these and nothing
else, so a change of wording is fixed here, once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# IKE_SA_INIT answered with an error notify.
NO_PROPOSAL_CHOSEN = "received NO_PROPOSAL_CHOSEN notify error"
NO_PROP_RESPONSE = "parsed IKE_SA_INIT response 0 [ N(NO_PROP) ]"
INVALID_KE_RESPONSE = "parsed IKE_SA_INIT response 0 [ N(INVAL_KE) ]"


def invalid_ke_retry(offered: str, requested: str) -> str:
    """e.g. invalid_ke_retry("MODP_2048", "MODP_3072")."""
    return f"peer didn't accept DH group {offered}, it requested {requested}"


# IKE_AUTH refused by the responder with an AUTHENTICATION_FAILED notify.
AUTHENTICATION_FAILED = "received AUTHENTICATION_FAILED notify error"


def eap_requested(method: str) -> str:
    """e.g. eap_requested("EAP_MD5"): the server asked for that method."""
    return f"server requested {method} authentication"


def eap_succeeded(method: str, msk: bool) -> str:
    """EAP_MSCHAPV2 establishes an MSK; EAP_MD5 and EAP_GTC do not."""
    return f"EAP method {method} succeeded, {'' if msk else 'no '}MSK established"


def established(local: str, identity: str, remote: str, remote_id: str) -> str:
    return f"established between {local}[{identity}]...{remote}[{remote_id}]"


def installing_vip(addr: str) -> str:
    return f"installing new virtual IP {addr}"


def peer_authenticated(remote_id: str, scheme: str) -> str:
    """The responder's AUTH verified, naming the signature scheme, e.g.
    peer_authenticated("vpn.example.test", "ECDSA_WITH_SHA384_DER").

    strongSwan 5.9.8 names an RFC 7427 digital signature by its scheme
    (``ECDSA_WITH_SHA256_DER``, ``RSA_EMSA_PKCS1_SHA2_256``) and a classic
    auth method by the method: ``ECDSA-256 signature`` / ``ECDSA-384
    signature`` (RFC 4754) and ``RSA signature`` (RSA_SIG).
    """
    return f"authentication of '{remote_id}' with {scheme} successful"


_MESSAGE = re.compile(r"(generating|parsed) (\w+) (request|response) (\d+) \[ (.*) \]")


def message_payloads(log: str, verb: str, exchange: str, kind: str, msg_id: int) -> list[str] | None:
    """The payload list of the first ``generating``/``parsed`` line for that
    message, e.g. ``['SA', 'KE', 'No', 'N(NATD_S_IP)', ..., 'N(HASH_ALG)']``
    for message_payloads(log, "generating", "IKE_SA_INIT", "request", 0);
    None when the log has no such line."""
    for m in _MESSAGE.finditer(log):
        if (m.group(1), m.group(2), m.group(3), int(m.group(4))) == (verb, exchange, kind, msg_id):
            return m.group(5).split()
    return None


# RFC 7383 reassembly, logged by the receiver of SKF messages.
_EF_PARSED = re.compile(r"parsed (\w+) (request|response) (\d+) \[ EF\((\d+)/(\d+)\) \]")
_REASSEMBLED = re.compile(r"received fragment #(\d+) of (\d+), reassembled fragmented IKE message \((\d+) bytes\)")


@dataclass(frozen=True)
class ReceivedFragments:
    exchange: str
    kind: str  # request | response
    msg_id: int
    numbers: tuple[int, ...]  # fragment numbers seen, in log order
    total: int
    reassembled_bytes: int | None


def received_fragments(log: str, exchange: str = "IKE_AUTH", kind: str = "response", msg_id: int = 1) -> ReceivedFragments:
    """The SKF fragments of one message as the client's log reports them.

    Lines look like ``parsed IKE_AUTH response 1 [ EF(2/3) ]`` then
    ``received fragment #3 of 3, reassembled fragmented IKE message (1312 bytes)``.
    """
    numbers: list[int] = []
    total = 0
    first_line: int | None = None
    lines = log.splitlines()
    for i, line in enumerate(lines):
        m = _EF_PARSED.search(line)
        if not m or m.group(1) != exchange or m.group(2) != kind or int(m.group(3)) != msg_id:
            continue
        if first_line is None:
            first_line = i
        numbers.append(int(m.group(4)))
        total = int(m.group(5))
    reassembled: int | None = None
    if first_line is not None:
        for line in lines[first_line:]:
            r = _REASSEMBLED.search(line)
            if r and int(r.group(2)) == total:
                reassembled = int(r.group(3))
                break
    return ReceivedFragments(exchange, kind, msg_id, tuple(numbers), total, reassembled)
