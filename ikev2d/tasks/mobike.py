"""MOBIKE (RFC 4555) as a responder: a remote-access client that changes
address (Wi-Fi to cellular, a new NAT) moves its session instead of
reconnecting.

- IKE_AUTH (§3.1): the client's MOBIKE_SUPPORTED, when we offer MOBIKE
  (`mobike` in ikev2_parameters), is answered with ours in the last
  IKE_AUTH response; from then on only UPDATE_SA_ADDRESSES moves the SA
  (tasks/peer_address.py), never the source of some other message.
- INFORMATIONAL with UPDATE_SA_ADDRESSES (§3.5): the IKE SA and its Child
  SAs move to the request's source and destination; its NAT_DETECTION_*
  notifies are evaluated again (§3.5, RFC 7296 §2.23) and answered with
  ours, and ESP in UDP is switched on when a NAT appeared. NO_NATS_ALLOWED
  (§3.9) whose addresses differ from what we received gets
  UNEXPECTED_NAT_DETECTED and no move. COOKIE2 is echoed (§3.5).
- ADDITIONAL_*_ADDRESS and NO_ADDITIONAL_ADDRESSES (§3.6) list where the
  client could also be reached: a responder never starts an address
  change, so they are noted (for `show`... none prints them) and ignored.
- No return routability check (§3.5 leaves it to policy): the request is
  authenticated and comes from the address it names, and strongSwan as a
  responder does none either. The ASA has it as an option (`mobike-rrc`,
  docs/ftd-behaviour.md).
"""

from __future__ import annotations

import ipaddress
import struct
from typing import TYPE_CHECKING

from ..effects import Effect, Emit
from ..events import MessageDropped
from ..iana import NotifyType
from ..wire.message import Message
from ..wire.payloads import Notify, Payload
from .natd import natd_hash, natd_notifies
from .peer_address import MOBIKE_UPDATE, move

if TYPE_CHECKING:
    from ..sa import IkeSa

Address = tuple[str, int]

# RFC 4555 §4.2.3: not in ikev2d.iana's list of errors we send elsewhere
UNEXPECTED_NAT_DETECTED = 41


def offered(message: Message) -> bool:
    """The client's first IKE_AUTH says it supports MOBIKE (§3.1)."""
    return message.notify(NotifyType.MOBIKE_SUPPORTED) is not None


def accept(sa: "IkeSa", client_offered: bool) -> list[Payload]:
    """In the last IKE_AUTH response: MOBIKE_SUPPORTED when both sides want it."""
    if not (client_offered and sa.settings.mobike):
        return []
    sa.mobike = True
    return [Notify(NotifyType.MOBIKE_SUPPORTED)]


def is_mobike_request(message: Message) -> bool:
    return any(n.type in _MOBIKE_NOTIFIES for n in message.notifies())


_MOBIKE_NOTIFIES = frozenset({NotifyType.UPDATE_SA_ADDRESSES, NotifyType.COOKIE2, NotifyType.ADDITIONAL_IP4_ADDRESS,
                              NotifyType.ADDITIONAL_IP6_ADDRESS, NotifyType.NO_ADDITIONAL_ADDRESSES,
                              NotifyType.NO_NATS_ALLOWED, NotifyType.NAT_DETECTION_SOURCE_IP,
                              NotifyType.NAT_DETECTION_DESTINATION_IP})


def informational(sa: "IkeSa", message: Message, local: Address, remote: Address,
                  effects: list[Effect]) -> list[Payload]:
    """The MOBIKE part of an authenticated INFORMATIONAL request, arrived at
    `local` from `remote`: the notifies of our answer."""
    if not sa.mobike:
        # §3.1: without MOBIKE negotiated these notifies mean nothing to us
        effects.append(sa.dropped("MOBIKE notifies on an IKE SA that did not negotiate MOBIKE: ignored"))
        return []
    out: list[Payload] = []
    cookie2 = message.notify(NotifyType.COOKIE2)
    if cookie2 is not None:
        out.append(Notify(NotifyType.COOKIE2, data=cookie2.data))  # §3.5: echoed as it came
    if message.notify(NotifyType.UPDATE_SA_ADDRESSES) is None:
        # a liveness check with NAT-D (§3.8: the client asks whether its NAT
        # mapping changed; our hashes of what we see tell it, and it then
        # sends UPDATE_SA_ADDRESSES); address lists alone (§3.6): noted
        if _nat_detected(sa, message, local, remote) is not None:
            out += natd_notifies(sa.spi_i, sa.spi_r, local, remote)
        return out
    no_nats = message.notify(NotifyType.NO_NATS_ALLOWED)
    if no_nats is not None and no_nats.data != _addresses_field(remote, local):
        effects.append(Emit(MessageDropped(sa.name, local, remote,
                                           "UPDATE_SA_ADDRESSES with NO_NATS_ALLOWED came through a NAT")))
        return [Notify(UNEXPECTED_NAT_DETECTED)] + out
    natd = _nat_detected(sa, message, local, remote)
    if natd is not None:
        sa.nat_peer, sa.nat_local = natd
        out += natd_notifies(sa.spi_i, sa.spi_r, local, remote)
    # ESP in UDP exactly when a NAT is (RFC 3948); without NAT-D, as it was
    encap = (sa.nat_peer or sa.nat_local) if natd is not None else None
    effects += move(sa, local, remote, MOBIKE_UPDATE, encap=encap)
    return out


def _nat_detected(sa: "IkeSa", message: Message, local: Address, remote: Address) -> tuple[bool, bool] | None:
    """(peer behind NAT, we behind NAT) from the request's NAT-D, hashed
    with both SPIs now (RFC 7296 §2.23), or None without them."""
    sources = [n.data for n in message.notifies() if n.type == NotifyType.NAT_DETECTION_SOURCE_IP]
    dests = [n.data for n in message.notifies() if n.type == NotifyType.NAT_DETECTION_DESTINATION_IP]
    if not sources or not dests:
        return None
    return (natd_hash(sa.spi_i, sa.spi_r, remote) not in sources,
            natd_hash(sa.spi_i, sa.spi_r, local) not in dests)


def _addresses_field(source: Address, destination: Address) -> bytes:
    """NO_NATS_ALLOWED's data (§4.2.4): source and destination address,
    then source and destination port, as the sender put them on the wire."""
    return (ipaddress.ip_address(source[0]).packed + ipaddress.ip_address(destination[0]).packed
            + struct.pack("!HH", source[1], destination[1]))
