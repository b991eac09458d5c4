"""A graceful stop, sans I/O: what the responder does when ikev2d is told
to stop (SIGTERM, SIGINT).

Every established session ends as an administrator's logoff ends it: a
Delete to the client, its SA-down lines (750007, 113019 with the data
plane's byte counts, 737016...) and its Accounting-Stop. SAs that never
came up (half-open, failed) just go: the client has nothing to tear down.
The adapter (`ikev2d.daemon`) performs the effects and waits, bounded, for
the clients' answers and for the Stops to leave.
"""

from __future__ import annotations

from .core import Responder
from .effects import Effect
from .sa_types import State

# 113019's and 750007's reason, and Acct-Terminate-Cause Admin-Reboot (7):
# the administrator takes the headend down. The FTD's wording for a
# headend going down is unconfirmed; "Administrator Reboot" is in the ASA
# syslog guide's list of 113019 reasons.
STOP_REASON = "Administrator Reboot"


def end_sessions(responder: Responder, now: float, reason: str = STOP_REASON) -> list[Effect]:
    """Stop new IKE_SA_INITs and end every SA not already on its way out.
    Idempotent: called again, it only ends SAs that appeared since (an
    IKE_SA_INIT whose DH job was running when the stop began)."""
    responder.accepting = False
    effects: list[Effect] = []
    for sa in list(responder.sas.values()):
        if sa.state is not State.DELETING:
            # established: a Delete request; anything else: forgotten
            effects += responder.delete_ike_sa(sa, reason, now)
    return effects


def still_deleting(responder: Responder) -> int:
    """Sessions whose client has not yet answered our Delete."""
    return sum(1 for sa in responder.sas.values() if sa.state is State.DELETING)
