"""Which connection profile (tunnel group) an IKEv2 client lands in, decided
once in IKE_AUTH from what the client sent (docs/ftd-behaviour.md,
"Connection profile selection"):

0. with a client certificate in IKE_AUTH and certificate maps configured
   (FMC Advanced > Certificate Maps, `tunnel-group-map enable rules`): the
   first mapping whose map the certificate matches, as the ASA tries its
   rules before the IKE identity; none matching gives 717037 and either a
   refusal (`require_match`) or the steps below;
1. its own IKE identity (IDi, key-id or FQDN) equal to a profile's name, as
   an ASA takes the group name a client passes for its tunnel group;
2. the IDr it asks for, equal to a profile's `ike_identity` (our choice);
3. else the default profile, also for a client naming a profile that does
   not exist.

The certificate is matched as sent, before it is validated (the profile
chosen then validates it). A group URL (`group-url`) selects a profile only for
AnyConnect's own aggregate authentication, which ikev2d does not speak: no
IKEv2 client carries one, so the configuration offers no such key."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509

from ..crypto.cert_verify import serial_text
from ..iana import CertEncoding, IdType
from ..pki.certificate_map import dn_text, first_match
from ..effects import Effect, Emit
from ..events import CertificateMapSearched
from ..sa_types import AuthError
from ..settings import ProfileSettings, ResponderSettings
from ..wire.message import Message
from ..wire.payloads import CERT, ID

if TYPE_CHECKING:
    from ..sa import IkeSa

# The identity types that can spell a profile's name.
NAMING_ID_TYPES = (IdType.ID_KEY_ID, IdType.ID_FQDN)


class SelectedBy(enum.Enum):
    CERTIFICATE_MAP = "certificate map"
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
    map_search: MapSearch | None = None  # what the certificate maps said, when they were tried
    refused: bool = False  # no map matched and a match is required


@dataclass(frozen=True)
class MapSearch:
    serial: str
    subject: str
    issuer: str
    certificate_map: str | None  # the one that matched
    profile: str | None


def client_certificate(message: Message) -> x509.Certificate | None:
    """The client's own certificate, its first X.509 CERT payload (RFC 7296
    §3.6), if it parses; None for a client that sent none."""
    for payload in message.payloads:
        if isinstance(payload, CERT) and payload.encoding == CertEncoding.X509_SIGNATURE:
            try:
                return x509.load_der_x509_certificate(payload.data)
            except ValueError:
                return None  # client_cert refuses it later with 717009
    return None


def name_in(identity: ID | None) -> str | None:
    """The text an identity spells, if it is of a kind that can name a profile."""
    if identity is None or identity.id_type not in NAMING_ID_TYPES:
        return None
    try:
        text = identity.data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() else None


def select_profile(settings: ResponderSettings, idi: ID | None, idr: ID | None,
                   certificate: x509.Certificate | None = None) -> Selection:
    search = None
    if certificate is not None and settings.certificate_mappings:
        match = first_match(settings.certificate_mappings, certificate)
        search = MapSearch(serial_text(certificate), dn_text(certificate.subject), dn_text(certificate.issuer),
                           match.certificate_map if match else None, match.profile if match else None)
        if match is not None:
            return Selection(settings.profiles[match.profile], SelectedBy.CERTIFICATE_MAP, map_search=search)
        if settings.require_certificate_map:
            return Selection(settings.default, SelectedBy.DEFAULT, map_search=search, refused=True)
    selection = _by_identity(settings, idi, idr)
    return dataclasses.replace(selection, map_search=search)


def _by_identity(settings: ResponderSettings, idi: ID | None, idr: ID | None) -> Selection:
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



def certificate_maps_checked(sa: "IkeSa", selection: Selection, effects: list[Effect]) -> None:
    """717036 and 717038/717037 for a certificate run through the maps;
    AuthError when none matched and a match is required."""
    search = selection.map_search
    if search is None:
        return
    effects.append(Emit(CertificateMapSearched(sa.name, sa.local, sa.remote, search.serial, search.subject,
                                               search.issuer, search.profile, search.certificate_map)))
    if selection.refused:
        raise AuthError(f"no certificate map matches the client certificate (subject {search.subject}) and "
                        "remote_access_vpn.certificate_mapping requires a match")
