"""What the kernel announces about SAs, on sockets subscribed to its groups.

- XFRMNLGRP_EXPIRE, XFRM_MSG_EXPIRE: an SA reached its soft limit (time to
  rekey), and again at the hard limit (the kernel has deleted the SA).
- XFRMNLGRP_MAPPING, XFRM_MSG_MAPPING: ESP in UDP of an inbound SA passed
  its integrity check but came from another source address or port than
  the SA's (the kernel still takes it in; the outbound SA keeps sending to
  the old one). The kernel sends one per such packet (unless the SA has a
  mapping timer, which we do not set), so the reader must not act on each;
  and a socket of its own, so that a flood of these can never overrun the
  buffer that holds the expire messages.

`drain()` never blocks, so it can run from an event loop's reader callback
or from a thread.
"""

from __future__ import annotations

import errno
import logging

from pyroute2.netlink import nlmsg

from . import consts as c
from .messages import RESPONSE_CLASSES, xfrm_user_expire, xfrm_user_mapping
from .model import ExpireEvent, MappingEvent
from .netlink import NetlinkChannel
from .sa import parse_sa
from .structs import address_text

log = logging.getLogger("esp.xfrm.events")

SaEvent = ExpireEvent | MappingEvent


def parse_mapping(msg: nlmsg) -> MappingEvent:
    """An xfrm_user_mapping as MappingEvent (ports in host order)."""
    family = int(msg["id_family"])
    return MappingEvent(
        dst=address_text(msg["id_daddr"], family),
        spi=int(msg["id_spi"]),
        reqid=int(msg["reqid"]),
        old=(address_text(msg["old_saddr"], family), int(msg["old_sport"])),
        new=(address_text(msg["new_saddr"], family), int(msg["new_sport"])),
    )


def parse_event(msg: nlmsg) -> SaEvent | None:
    """The event a multicast message carries; None for one we do not use."""
    if isinstance(msg, xfrm_user_expire):
        return ExpireEvent(state=parse_sa(msg, prefix="state_"), hard=bool(msg["hard"]))
    if isinstance(msg, xfrm_user_mapping):
        return parse_mapping(msg)
    return None


class SaEvents:
    """One socket subscribed to `groups` (a bit mask: consts.XFRMGRP_*)."""

    def __init__(self, groups: int) -> None:
        self.groups = groups
        self.channel = NetlinkChannel(c.NETLINK_XFRM, RESPONSE_CLASSES, groups=groups, timeout=None)
        self.channel.sock.setblocking(False)

    def fileno(self) -> int:
        return self.channel.fileno()

    def drain(self) -> list[SaEvent]:
        """Every notification queued now (possibly none)."""
        events: list[SaEvent] = []
        while True:
            try:
                messages = self.channel.receive()
            except (BlockingIOError, InterruptedError):
                return events
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # overrun: some were lost; say so and go on
                    if self.groups & c.XFRMGRP_EXPIRE:
                        log.warning("XFRM expire notifications were lost (socket buffer overrun)")
                    continue
                raise
            for msg in messages:
                event = parse_event(msg)
                if event is not None:
                    events.append(event)

    def close(self) -> None:
        self.channel.close()
