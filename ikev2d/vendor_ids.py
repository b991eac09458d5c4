"""Vendor ID payloads a Cisco responder sends in IKE_SA_INIT.

Source: docs/ftd-behaviour.md ("IKE_SA_INIT as a Cisco responder sends it") — strongSwan logged
`[ SA KE No V V N(NATD_S_IP) N(NATD_D_IP) CERTREQ N(FRAG_SUP) V ]` from a
Cisco responder. Which exact set an FTD sends is *unconfirmed*; this is the
one place to correct it.
"""

from __future__ import annotations

CISCO_DELETE_REASON = b"CISCO-DELETE-REASON"
CISCO_COPYRIGHT = b"CISCO(COPYRIGHT)&Copyright (c) 2009 Cisco Systems, Inc."
FLEXVPN_SUPPORTED = b"FLEXVPN-SUPPORTED"
CISCO_FRAGMENTATION = bytes.fromhex("4048b7d56ebce88525e7de7f00d6c2d3")

# (before the notifies, after them), in the order seen on the wire.
IKE_SA_INIT_LEADING = (CISCO_DELETE_REASON, CISCO_COPYRIGHT)
IKE_SA_INIT_TRAILING = (CISCO_FRAGMENTATION,)
