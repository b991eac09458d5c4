"""IKE_AUTH as a responder with EAP (RFC 7296 §1.2, §2.15, §2.16): our
certificate and signature first, then the EAP conversation (local users or
relayed to RADIUS), then the AUTH from the MSK, the configuration payload
and the first Child SA. A `client-certificate` profile instead checks the
client's own CERT and AUTH signature (client_cert.py) and answers with
everything in one round. An `aaa-and-client-certificate` profile does both
as RFC 4739 multiple authentication: the certificate round answered with
our IDr, CERT and AUTH alone, then a second IDi and the EAP rounds, the
Child SA last (docs/ftd-behaviour.md, "Client certificate and AAA")."""

from __future__ import annotations

import logging

import dataclasses
import enum
import hmac
from typing import TYPE_CHECKING, Callable

from cryptography.hazmat.primitives.serialization import Encoding

from ..aaa.radius.accounting import start_record
from ..aaa.radius.messages import AccessAnswer, AccessRequest, NasContext, RadiusResult, RadiusUnreachable
from ..crypto import auth as ike_auth_crypto
from ..crypto.jobs import JobResult, SignJob, SignResult
from ..eap import EapOutcome, EapPacket, EapServer
from ..eap.relay import EapRelay
from ..effects import Effect, Emit, SendAccounting
from ..events import CERTIFICATE, LOCAL_DATABASE, AuthFailed, AuthSucceeded, NegotiationAborted, ProfileSelected
from ..iana import AuthMethod, CertEncoding, EapCode, EapType, NotifyType
from ..sa_types import AuthError, Deferred, PendingChild
from ..settings import ProfileSettings
from ..wire.message import Message
from ..wire.payloads import AUTH, CERT, CP, EAP, IDi, IDr, SA, Notify, Payload, TSi, TSr
from . import client_cert, mobike
from .child_sa import first_child
from .profile_select import select_profile

if TYPE_CHECKING:
    from ..sa import IkeSa

log = logging.getLogger("ikev2d.sa")

class _Step(enum.Enum):
    FIRST = "first"  # IDi, SA, TSi, TSr, CP: we answer with our certificate and EAP
    SECOND_ID = "second identity"  # RFC 4739: the certificate round is done, the EAP round's IDi next
    EAP = "eap"  # the EAP conversation
    FINAL = "final"  # EAP succeeded: the AUTH from the MSK, then CP and the Child SA
    DONE = "done"


class IkeAuth:
    """The IKE_AUTH task of one IKE SA (strongSwan's ike_auth with eap and
    ike_config/child_create folded in for a remote-access responder). What
    only this exchange needs lives here, not in the SA: which round comes
    next, the EAP authenticator, the MSK, the Child SA the client asked for."""

    def __init__(self, sa: "IkeSa") -> None:
        self.sa = sa
        self.step = _Step.FIRST
        self.eap: EapServer | EapRelay | None = None
        self.msk: bytes | None = None
        self.pending: PendingChild | None = None
        self.initial_contact = False  # RFC 7296 §2.4: the peer holds no other SA with us
        self.mobike_offered = False  # RFC 4555 §3.1: the client sent MOBIKE_SUPPORTED

    def process(self, message: Message, now: float, effects: list[Effect]) -> list[Payload] | Deferred:
        sa = self.sa
        try:
            if self.step is _Step.FIRST:
                return self._first(message, effects)
            if self.step is _Step.SECOND_ID:
                return self._second_round(message)
            if self.step is _Step.EAP:
                return self._eap_round(message, now, effects)
            if self.step is _Step.FINAL:
                return self._final(message, now, effects)
        except AuthError as exc:
            effects.append(Emit(AuthFailed(sa.name, sa.local, sa.remote, sa.username, exc.reason)))
            effects.append(Emit(NegotiationAborted(sa.name, sa.local, sa.remote, sa.username,
                                                   "Failed to authenticate the IKE SA")))
            self._failed(now)
            return [Notify(NotifyType.AUTHENTICATION_FAILED)]
        return [Notify(NotifyType.INVALID_SYNTAX)]

    def _failed(self, now: float) -> None:
        self.step = _Step.DONE
        self.sa.fail(now)

    def _first(self, message: Message, effects: list[Effect]) -> Deferred:
        sa = self.sa
        idi = message.get(IDi)
        if idi is None:
            raise AuthError("no IDi in IKE_AUTH")
        sa.idi_body = idi.body()
        selection = select_profile(sa.settings, idi, message.get(IDr))
        profile = sa.profile = selection.profile
        effects.append(Emit(ProfileSelected(sa.name, sa.local, sa.remote, profile.name, selection.by.value,
                                            selection.unmatched)))
        self.pending = PendingChild(message.get(SA), message.get(TSi), message.get(TSr), message.get(CP))
        self.initial_contact = message.notify(NotifyType.INITIAL_CONTACT) is not None
        self.mobike_offered = mobike.offered(message)
        if profile.certificate_then_aaa:
            return self._certificate_round(message, idi, profile, effects)
        if profile.client_certificate:
            return self._by_certificate(message, idi, profile, effects)
        if message.get(AUTH) is not None:
            # the client authenticates itself with a key: not this profile's method
            raise AuthError(f"client used AUTH without EAP; connection profile {profile.name} "
                            "requires aaa-only (EAP)")
        self.eap = _authenticator(sa, profile)
        self.step = _Step.EAP
        eap_request = self.eap.start().message
        return self._signed(profile, lambda now, effects: [EAP(eap_request)])

    def _by_certificate(self, message: Message, idi: IDi, profile: ProfileSettings,
                        effects: list[Effect]) -> Deferred:
        """Certificate only: the client's AUTH checked now, ours signed by a
        job, then the session as after EAP, all in this one response."""
        sa = self.sa
        sa.username = client_cert.authenticate(sa, profile, message, idi, effects)
        self._check_logins_allowed()
        effects.append(Emit(AuthSucceeded(sa.name, sa.local, sa.remote, sa.username, CERTIFICATE,
                                          profile.group_policy.name, profile.name, CERTIFICATE)))
        self.step = _Step.FINAL  # no further request belongs to this exchange
        return self._signed(profile, self._establish)

    def _certificate_round(self, message: Message, idi: IDi, profile: ProfileSettings,
                           effects: list[Effect]) -> Deferred:
        """Round one of certificate and AAA (RFC 4739 §3): the client's
        certificate and signature, answered with ours alone; its SA, TS and
        CP wait in `pending` until the EAP round has succeeded."""
        sa = self.sa
        required = f"connection profile {profile.name} requires a client certificate, then AAA (EAP)"
        if message.get(AUTH) is None:
            raise AuthError(f"{required}; the client sent no AUTH payload (it asked for EAP only)")
        missing = [n.name for n in (NotifyType.MULTIPLE_AUTH_SUPPORTED, NotifyType.ANOTHER_AUTH_FOLLOWS)
                   if message.notify(n) is None]
        if missing:
            raise AuthError(f"{required} as RFC 4739 multiple authentication; the client sent no "
                            f"{' and no '.join(missing)} with its certificate")
        # the certificate's name until the EAP identity replaces it
        sa.username = client_cert.authenticate(sa, profile, message, idi, effects)
        self.step = _Step.SECOND_ID
        return self._signed(profile, lambda now, effects: [])

    def _second_round(self, message: Message) -> list[Payload]:
        """RFC 4739 §3: the second round opens with the identity the client
        authenticates by EAP; its AUTH after EAP covers this IDi."""
        sa, profile = self.sa, self.sa.profile
        assert profile is not None
        idi = message.get(IDi)
        if idi is None:
            raise AuthError("no IDi to open the second authentication round (RFC 4739)")
        if message.get(AUTH) is not None:
            raise AuthError(f"connection profile {profile.name} authenticates the second round by AAA (EAP); "
                            "the client sent an AUTH payload instead")
        sa.idi_body = idi.body()
        self.eap = _authenticator(sa, profile)
        self.step = _Step.EAP
        return [EAP(self.eap.start().message)]

    def _signed(self, profile: ProfileSettings,
                then: Callable[[float, list[Effect]], list[Payload]]) -> Deferred:
        """Our IDr, certificates and AUTH, signed by a job (RFC 7296 §2.15),
        followed by what `then` adds (the first EAP request, or the session)."""
        sa = self.sa
        own_id = profile.own_id()
        octets = ike_auth_crypto.signed_octets(sa.init_response, sa.nonce_i, sa.prf, sa.keys.sk_pr, own_id.body())
        job = SignJob(profile.profile.identity_certificate, octets, tuple(sorted(sa.peer_hash_algorithms)))

        def finish(result: JobResult | RadiusResult, now: float, effects: list[Effect]) -> list[Payload]:
            if not isinstance(result, SignResult):
                # our own key failed us: say so rather than leave the client waiting
                self._failed(now)
                return [Notify(NotifyType.AUTHENTICATION_FAILED)]
            identity = profile.identity
            out: list[Payload] = [own_id, CERT(CertEncoding.X509_SIGNATURE, identity.certificate_der)]
            out += [CERT(CertEncoding.X509_SIGNATURE, c.public_bytes(Encoding.DER)) for c in identity.chain]
            out.append(AUTH(result.method, result.data))
            return out + then(now, effects)

        return Deferred(job, finish)

    def _check_logins_allowed(self) -> None:
        policy = self.sa.group_policy
        assert policy is not None
        if policy.simultaneous_logins == 0:
            raise AuthError(f"group policy {policy.name} allows no login "
                            "(vpn-simultaneous-logins 0)")

    def _eap_round(self, message: Message, now: float, effects: list[Effect]) -> list[Payload] | Deferred:
        sa, authenticator = self.sa, self.eap
        assert authenticator is not None and sa.profile is not None
        eap = message.get(EAP)
        if eap is None:
            raise AuthError("IKE_AUTH without the EAP payload the exchange expects")
        step = authenticator.process(eap.data)
        if not isinstance(step, AccessRequest):
            return self._eap_outcome(step, eap.data, now, effects)
        assert isinstance(authenticator, EapRelay)
        sa.username = step.username

        def finish(result: JobResult | RadiusResult, now: float, effects: list[Effect]) -> list[Payload]:
            if not isinstance(result, (AccessAnswer, RadiusUnreachable)):
                result = RadiusUnreachable(step.group, f"unexpected job result {type(result).__name__}")
            return self._eap_outcome(authenticator.answer(result), eap.data, now, effects)

        # the RADIUS round trip runs like a DH job: the core never waits on the network
        return Deferred(step, finish)

    def _eap_outcome(self, outcome: EapOutcome, response: bytes, now: float,
                     effects: list[Effect]) -> list[Payload]:
        sa = self.sa
        assert sa.profile is not None
        if outcome.identity:
            sa.username = outcome.identity
        if not outcome.finished and outcome.failure_reason:
            # MSCHAPv2 would next send its own Failure request (E=691) and
            # wait; strongSwan clients just give up on it. End the EAP
            # conversation at once with EAP-Failure and AUTHENTICATION_FAILED
            # (RFC 7296 §2.21.2), the notify every client understands.
            identifier = EapPacket.parse(response).identifier
            outcome = dataclasses.replace(outcome, finished=True, success=False,
                                          message=EapPacket(EapCode.FAILURE, identifier, None).pack())
        if not outcome.finished:
            return [EAP(outcome.message)]
        if not outcome.success:
            relay = self.eap if isinstance(self.eap, EapRelay) else None
            effects.append(Emit(AuthFailed(sa.name, sa.local, sa.remote, sa.username,
                                           outcome.failure_reason or "EAP failure", self._aaa_server(),
                                           aaa_rejected=relay is None or relay.rejected)))
            effects.append(Emit(NegotiationAborted(sa.name, sa.local, sa.remote, sa.username,
                                                   "Failed to authenticate the IKE SA")))
            self._failed(now)
            return [EAP(outcome.message), Notify(NotifyType.AUTHENTICATION_FAILED)]
        self.msk = outcome.msk
        self.step = _Step.FINAL
        assigned = self._authorize()
        effects.append(Emit(AuthSucceeded(sa.name, sa.local, sa.remote, sa.username,
                                          _eap_name(outcome.method), sa.profile.group_policy.name,
                                          sa.profile.name, self._aaa_server(), assigned)))
        return [EAP(outcome.message)]

    def _authorize(self) -> str | None:
        """Apply what the RADIUS server assigned with its Access-Accept; the
        group policy it names, if deployed here, replaces the profile's
        (docs/ftd-behaviour.md, "RADIUS authorization"). Its name, or None."""
        if not isinstance(self.eap, EapRelay):
            return None
        sa, authorization = self.sa, self.eap.authorization
        sa.authorization = authorization
        name = authorization.group_policy
        if name is None:
            return None
        policy = sa.settings.group_policies.get(name)
        if policy is None:
            log.warning("RADIUS server %s assigned group policy %r to user %s: no such group policy is "
                        "deployed (remote_access_vpn.group_policies), the connection profile's applies",
                        self.eap.server_host, name, sa.username)
            return None
        sa.assigned_policy = policy
        return policy.name

    def _aaa_server(self) -> str:
        """The RADIUS server that decided, or the local database."""
        if isinstance(self.eap, EapRelay) and self.eap.server_host:
            return self.eap.server_host
        return LOCAL_DATABASE

    def _final(self, message: Message, now: float, effects: list[Effect]) -> list[Payload]:
        sa = self.sa
        assert sa.profile is not None and self.pending is not None
        auth = message.get(AUTH)
        if auth is None:
            raise AuthError("no AUTH after EAP success")
        octets_i = ike_auth_crypto.signed_octets(sa.init_request, sa.nonce_r, sa.prf, sa.keys.sk_pi, sa.idi_body)
        key_i = self.msk if self.msk is not None else sa.keys.sk_pi
        expected = ike_auth_crypto.shared_key_auth(sa.prf, key_i, octets_i)
        if auth.method != AuthMethod.SHARED_KEY_MIC or not hmac.compare_digest(auth.data, expected):
            raise AuthError("AUTH from the EAP MSK did not verify")
        if sa.profile.certificate_then_aaa and message.notify(NotifyType.ANOTHER_AUTH_FOLLOWS) is not None:
            # RFC 4739 lets a client ask for any number of rounds; the profile has two
            raise AuthError(f"client announced a third authentication round (ANOTHER_AUTH_FOLLOWS); connection "
                            f"profile {sa.profile.name} authenticates by certificate, then AAA, and no more")
        self._check_logins_allowed()
        own_id = sa.profile.own_id()
        octets_r = ike_auth_crypto.signed_octets(sa.init_response, sa.nonce_i, sa.prf, sa.keys.sk_pr,
                                                 own_id.body())
        key_r = self.msk if self.msk is not None else sa.keys.sk_pr
        out: list[Payload] = [AUTH(AuthMethod.SHARED_KEY_MIC,
                                   ike_auth_crypto.shared_key_auth(sa.prf, key_r, octets_r))]
        return out + self._establish(now, effects)

    def _establish(self, now: float, effects: list[Effect]) -> list[Payload]:
        """The client is authenticated: the IKE SA is up, then its
        configuration and first Child SA."""
        sa = self.sa
        assert self.pending is not None
        policy = sa.group_policy
        assert policy is not None
        out = mobike.accept(sa, self.mobike_offered)
        self.step = _Step.DONE
        sa.established(now)
        pending, self.pending = self.pending, None
        reconnected_from = None
        if self.initial_contact:
            # the client restarted: its older sessions go first, so their
            # address comes back to it (and a logins limit counts right)
            replaced, reconnected_from = sa.sessions.replace_older(sa, now)
            effects += replaced
        # vpn-simultaneous-logins: the user's other sessions make room
        effects += sa.sessions.make_room(sa, policy.simultaneous_logins, now)
        out += first_child(sa, pending, now, effects, prefer=reconnected_from)
        _accounting_start(sa, self.eap, effects)
        return out


def _authenticator(sa: "IkeSa", profile: ProfileSettings) -> EapServer | EapRelay:
    """The local user database, or the profile's RADIUS server group."""
    if profile.radius_group is None:
        return EapServer(profile.eap_methods, profile.credentials, random=sa.random)
    return EapRelay(profile.radius_group, "pap" if profile.radius_pap else "eap",
                    NasContext(sa.local[0], sa.remote[0]), random=sa.random)


def _accounting_start(sa: "IkeSa", authenticator: EapServer | EapRelay | None, effects: list[Effect]) -> None:
    # RFC 2866 Start once the session is up; the Stop reuses its values
    profile = sa.profile
    if profile is None or profile.accounting_group is None:
        return
    classes = authenticator.classes if isinstance(authenticator, EapRelay) else ()
    sa.accounting = start_record(profile.accounting_group, sa.unique_id, sa.username,
                                   NasContext(sa.local[0], sa.remote[0]),
                                   sa.lease[1] if sa.lease else None, classes,
                                   by_radius=profile.radius_group is not None)
    effects.append(SendAccounting(sa.accounting, sa.name, sa.local, sa.remote))


def _eap_name(method: int | None) -> str:
    try:
        return EapType(method).name if method is not None else "EAP"
    except ValueError:
        return str(method)
