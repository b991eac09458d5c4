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
