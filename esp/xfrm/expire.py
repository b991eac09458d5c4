"""XFRM_MSG_EXPIRE notifications: a socket subscribed to XFRMNLGRP_EXPIRE.

The kernel sends one when an SA reaches its soft limit (time to rekey) and
again at the hard limit (it has deleted the SA). `drain()` never blocks, so
it can run from an event loop's reader callback or from a thread.
"""

from __future__ import annotations

import errno
import logging
import select

from . import consts as c
from .messages import RESPONSE_CLASSES, xfrm_user_expire
from .model import ExpireEvent
from .netlink import NetlinkChannel
from .sa import parse_sa

log = logging.getLogger("esp.xfrm.expire")


class ExpireSubscription:
    def __init__(self) -> None:
        self.channel = NetlinkChannel(c.NETLINK_XFRM, RESPONSE_CLASSES, groups=c.XFRMGRP_EXPIRE, timeout=None)
        self.channel.sock.setblocking(False)

    def fileno(self) -> int:
        return self.channel.fileno()

    def drain(self) -> list[ExpireEvent]:
        """Every notification queued now (possibly none)."""
        events: list[ExpireEvent] = []
        while True:
            try:
                messages = self.channel.receive()
            except (BlockingIOError, InterruptedError):
                return events
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # overrun: some were lost; say so and go on
                    log.warning("XFRM expire notifications were lost (socket buffer overrun)")
                    continue
                raise
            for msg in messages:
                if isinstance(msg, xfrm_user_expire):
                    events.append(ExpireEvent(state=parse_sa(msg, prefix="state_"), hard=bool(msg["hard"])))

    def wait(self, timeout: float) -> bool:
        """Block until something is readable or `timeout` passes (for threads)."""
        readable, _, _ = select.select([self.channel.sock], [], [], timeout)
        return bool(readable)

    def close(self) -> None:
        self.channel.close()
