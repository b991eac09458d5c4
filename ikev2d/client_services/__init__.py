"""Client services: the TLS side of an FTD's remote-access VPN that stays
exposed even when the tunnels use IPsec-IKEv2 only.

The whitepaper ("Important Notes Regarding Client Services") shows three
`show asp table socket` listings of one access interface:

* SSL and DTLS enabled: an SSL and a DTLS socket listen;
* SSL disabled, IKEv2 enabled, client services still on (the FMC default):
  the SSL socket stays, for profile and software downloads;
* client services off as well: nothing listens.

ikev2d does the same for real. `plan` decides from the configuration what
listens where; `server` listens: TLS with the device identity certificate on
the web access port, answering a minimal HTTP/1.1 (`http`) with the
AnyConnect client profile (`site`); and on the DTLS port a UDP socket that
answers nothing. Python has no DTLS server, and the AnyConnect DTLS tunnel
is not a standard one either, so that socket is a placeholder: it makes the
listing (and a port scan) truthful about what the configuration exposes, and
logs what arrives. `probe` is a TLS client that checks the exposure from
outside, as the interop tests do.
"""

from .plan import Endpoint, plan_endpoints
from .server import Bound, ClientServices

__all__ = ["Bound", "ClientServices", "Endpoint", "plan_endpoints"]
