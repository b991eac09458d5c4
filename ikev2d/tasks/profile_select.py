"""Which connection profile (tunnel group) an IKEv2 client lands in, decided
once in IKE_AUTH from what the client sent (docs/ftd-behaviour.md,
"Connection profile selection"):

1. its own IKE identity (IDi, key-id or FQDN) equal to a profile's name, as
   an ASA takes the group name a client passes for its tunnel group;
2. the IDr it asks for, equal to a profile's `ike_identity` (our choice);
3. else the default profile, also for a client naming a profile that does
   not exist.

Certificate maps (`tunnel-group-map`) would come first; they need client
certificates. A group URL (`group-url`) selects a profile only for
AnyConnect's own aggregate authentication, which ikev2d does not speak: no
IKEv2 client carries one, so the configuration offers no such key."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..iana import IdType
from ..settings import ProfileSettings, ResponderSettings
from ..wire.payloads import ID

# The identity types that can spell a profile's name.
NAMING_ID_TYPES = (IdType.ID_KEY_ID, IdType.ID_FQDN)


class SelectedBy(enum.Enum):
    IKE_ID = "IKE identity"
    IDR = "requested IDr"
    DEFAULT = "default"


@dataclass(frozen=True)
class Selection:
    profile: ProfileSettings
    by: SelectedBy
    # what the client named that no profile has (logged: a typo in a
    # client's group name should not pass for a deliberate default)
    unmatched: str | None = None


def name_in(identity: ID | None) -> str | None:
    """The text an identity spells, if it is of a kind that can name a profile."""
    if identity is None or identity.id_type not in NAMING_ID_TYPES:
        return None
    try:
        text = identity.data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() else None


def select_profile(settings: ResponderSettings, idi: ID | None, idr: ID | None) -> Selection:
    profiles = settings.profiles.values()
    own_name = name_in(idi)
    if own_name is not None and own_name in settings.profiles:
        return Selection(settings.profiles[own_name], SelectedBy.IKE_ID)
    # An IDi is often just the user's name or address: only a key-id says
    # "this is a group name", so only an unknown key-id counts as a miss.
    unmatched = own_name if idi is not None and idi.id_type == IdType.ID_KEY_ID else None
    asked_idr = idr.data.decode("utf-8", "replace") if idr is not None and idr.id_type == IdType.ID_FQDN else None
    if asked_idr:
        for p in profiles:
            if p.profile.ike_identity == asked_idr:
                return Selection(p, SelectedBy.IDR, unmatched)
    return Selection(settings.default, SelectedBy.DEFAULT, unmatched)
