"""Where the peer is: an IKE SA and its Child SAs follow a client whose
address or port changed.

- RFC 7296 §2.23: a client behind a NAT whose mapping changed sends its
  next (authentic) IKE message from the new address and port; when only
  the peer is behind a NAT (not we) and MOBIKE is not in use, the SA
  follows it. As strongSwan's task manager does: on requests and on answers
  to ours, and never on a message that did not authenticate.
- RFC 4555 §3.5: with MOBIKE, only UPDATE_SA_ADDRESSES moves the SA
  (tasks/mobike.py calls `move` with its reason).
- ESP from a new source (the userspace data plane sees it; the kernel tells
  with XFRM_MSG_MAPPING) is authentic too, but the address it came from is
  not: a copy of the packet could have been sent on from elsewhere. So it
  only triggers a liveness check sent to that address (`probe`); the
  client's IKE answer from there moves the SA.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ..effects import Effect, Emit, UpdateChildSa
from ..events import PeerAddressChanged
from ..iana import ExchangeType
from ..sa_types import State

if TYPE_CHECKING:
    from ..sa import IkeSa

Address = tuple[str, int]

NAT_MAPPING_CHANGED = "NAT mapping changed"
MOBIKE_UPDATE = "MOBIKE UPDATE_SA_ADDRESSES"


def implicit_move_allowed(sa: "IkeSa") -> bool:
    """May an authentic IKE message from a new address move the SA?
    While IKE_AUTH runs, always (the client floats to port 4500, and no
    Child SA exists yet); afterwards only for a client behind a NAT when we
    are not behind one (§2.23), and never with MOBIKE (RFC 4555 §3.5)."""
    if sa.state is State.CONNECTING:
        return True
    return sa.nat_peer and not sa.nat_local and not sa.mobike


def follow(sa: "IkeSa", local: Address, remote: Address) -> list[Effect]:
    """An authentic message came from `remote` to `local`: move if allowed."""
    if (local, remote) == (sa.local, sa.remote) or not implicit_move_allowed(sa):
        return []
    return move(sa, local, remote, NAT_MAPPING_CHANGED)


def move(sa: "IkeSa", local: Address, remote: Address, why: str, *, encap: bool | None = None) -> list[Effect]:
    """The IKE SA and every Child SA of it now use `local` and `remote`.
    `encap` switches ESP in UDP on or off (MOBIKE, when a NAT appears or
    goes); None keeps it as it is."""
    old_local, old_remote = sa.local, sa.remote
    sa.local, sa.remote = local, remote
    if sa.state is not State.ESTABLISHED and not sa.children:
        return []  # nothing to move yet, and nothing to tell (strongSwan is silent too)
    effects: list[Effect] = []
    for child in sa.children:
        old = child.spec
        udp = old.encap_remote_port is not None if encap is None else encap
        child.spec = dataclasses.replace(old, local_address=local[0], remote_address=remote[0],
                                         encap_local_port=local[1] if udp else None,
                                         encap_remote_port=remote[1] if udp else None)
        effects.append(UpdateChildSa(old, child.spec))
    effects.append(Emit(PeerAddressChanged(sa.name, local, remote, sa.username, old_local, old_remote, why)))
    return effects


def probe(sa: "IkeSa", candidate: Address, now: float) -> list[Effect]:
    """ESP authenticated from `candidate`, not where the SA sends: ask there
    (an empty INFORMATIONAL, RFC 7296 §1.4) and let the answer move the SA."""
    if (sa.state is not State.ESTABLISHED or candidate == sa.remote or not implicit_move_allowed(sa)
            or not sa.tasks.idle()):
        return []  # a check already runs, or nothing may move: ESP alone never moves us
    sa.probe_remote = candidate
    return sa.send_request(ExchangeType.INFORMATIONAL, [], now)
