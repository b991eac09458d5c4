"""Which sessions a new configuration ends, and how the responder moves on
to it: sans I/O, so it is tested in-process.

A session survives a reload when what it was given still stands: its
connection profile, that profile's group policy and the pool its address
came from are unchanged. Otherwise it ends as an administrator's logoff
ends it (a Delete to the client, SA-down lines, Accounting-Stop), with the
reason "Administrator Reset" (113019; Acct-Terminate-Cause Admin-Reset):
an FTD deployment does not end sessions by itself, so the administrator's
reset is the nearest FTD wording for "the configuration under it changed".
IKE policies and IPsec proposals do not end sessions: an established SA
keeps what it negotiated, and its next rekey meets the new proposals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..conf.model import Config
from ..core import Responder
from ..effects import Effect
from ..pool import Ipv4PoolSet, Ipv6PoolSet
from ..sa import IkeSa
from ..sa_types import State
from ..settings import ResponderSettings

RELOAD_REASON = "Administrator Reset"

# SAs on their way out keep the settings they had: they only wait for an answer
_LEAVING = {State.DELETING, State.DELETED, State.FAILED}


@dataclass(frozen=True)
class SessionTerms:
    """What a session was given, by name."""

    unique_id: int
    profile: str | None  # None: not yet authenticated (no profile chosen)
    pool: str | None  # the pool of its address lease
    pool6: str | None = None  # the pool of its IPv6 address lease


def why_it_ends(old: Config, new: Config, terms: SessionTerms) -> str | None:
    """Why the new configuration ends this session, or None: it survives."""
    if terms.profile is not None:
        names = {p.name for p in new.connection_profiles}
        if terms.profile not in names:
            return f"connection profile {terms.profile} removed"
        before, after = old.profile(terms.profile), new.profile(terms.profile)
        if before != after:
            return f"connection profile {terms.profile} changed"
        if old.group_policy(before.group_policy) != new.group_policy(after.group_policy):
            return f"group policy {before.group_policy} changed"
    if terms.pool is not None:
        pools = {p.name: p for p in new.ipv4_pools}
        if terms.pool not in pools:
            return f"ip local pool {terms.pool} removed"
        if old.pool(terms.pool) != pools[terms.pool]:
            return f"ip local pool {terms.pool} changed"
    if terms.pool6 is not None:
        pools6 = {p.name: p for p in new.ipv6_pools}
        if terms.pool6 not in pools6:
            return f"ipv6 local pool {terms.pool6} removed"
        if old.ipv6_pool(terms.pool6) != pools6[terms.pool6]:
            return f"ipv6 local pool {terms.pool6} changed"
    return None


def terms_of(sa: IkeSa) -> SessionTerms:
    return SessionTerms(sa.unique_id, sa.profile.name if sa.profile is not None else None,
                        sa.lease[0] if sa.lease is not None else None,
                        sa.lease6[0] if sa.lease6 is not None else None)


def keep_pools(old_config: Config, new_config: Config, old: ResponderSettings, new: ResponderSettings) -> None:
    """Unchanged pools carry over as the same objects, leases and all, so a
    new client never gets an address a surviving session holds."""
    for pool in new_config.ipv4_pools:
        if pool.name in old.pools and any(p == pool for p in old_config.ipv4_pools):
            new.pools[pool.name] = old.pools[pool.name]
    for pool6 in new_config.ipv6_pools:
        if pool6.name in old.pools6 and pool6 in old_config.ipv6_pools:
            new.pools6[pool6.name] = old.pools6[pool6.name]
    for profile in new.profiles.values():
        profile.pools = Ipv4PoolSet([new.pools[name] for name in profile.profile.address_pools])
        profile.pools6 = Ipv6PoolSet([new.pools6[name] for name in profile.profile.ipv6_address_pools])


@dataclass(frozen=True)
class Ended:
    sa_name: str  # the IKE SA, as the log names it
    session: int  # its unique ID (vpn-sessiondb index)
    username: str
    why: str

    def __str__(self) -> str:
        who = f" ({self.username})" if self.username else ""
        return f"session 0x{self.session:08x}{who} ended: {self.why}"


def move_to(responder: Responder, old_config: Config, new_config: Config, new: ResponderSettings,
            now: float) -> tuple[list[Effect], list[Ended]]:
    """End the sessions the new configuration does not carry, then switch
    the responder (new IKE_SA_INITs) and the surviving SAs to `new`.
    `new` must already hold the carried-over pools (`keep_pools`)."""
    effects: list[Effect] = []
    ended: list[Ended] = []
    for sa in list(responder.sas.values()):
        if sa.state in _LEAVING:
            continue
        why = why_it_ends(old_config, new_config, terms_of(sa))
        if why is not None:
            if sa.state is State.ESTABLISHED:  # a half-open one just goes, unreported
                ended.append(Ended(sa.name, sa.unique_id, sa.username, why))
            # with its old profile: its lease goes back to the pool it came from
            effects += responder.delete_ike_sa(sa, RELOAD_REASON, now)
    responder.settings = new
    for sa in _survivors(responder):
        sa.settings = new
        if sa.profile is not None:
            sa.profile = new.profiles[sa.profile.name]
    responder.rearm_timers()  # a shorter DPD interval counts from now on, not after the old one
    return effects, ended


def _survivors(responder: Responder) -> Iterable[IkeSa]:
    return [sa for sa in responder.sas.values() if sa.state not in _LEAVING]
