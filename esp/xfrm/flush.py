"""FLUSH of our own states and policies only.

XFRM_MSG_FLUSHSA/FLUSHPOLICY would wipe every SA of the namespace, other
IPsec daemons' included. Instead: list, keep what carries one of our reqids,
delete those one by one.
"""

from __future__ import annotations

from typing import Collection

from .netlink import NetlinkChannel
from .policy import delete_policy, dump_policies
from .sa import delete_sa, dump_sas


def flush_owned(nl: NetlinkChannel, reqids: Collection[int]) -> tuple[int, int]:
    """Delete the SAs and policies whose reqid is in `reqids`; (SAs, policies) removed."""
    if not reqids:
        return 0, 0
    sas = sum(delete_sa(nl, s.dst, s.spi, s.src) for s in dump_sas(nl) if s.reqid in reqids)
    policies = sum(delete_policy(nl, p.selector, p.direction) for p in dump_policies(nl)
                   if any(t.reqid in reqids for t in p.templates))
    return sas, policies
