"""IKE_AUTH as a responder with EAP (RFC 7296 §1.2, §2.15, §2.16): our
certificate and signature first, then the EAP conversation (local users or
relayed to RADIUS), then the AUTH from the MSK, the configuration payload
and the first Child SA."""

from __future__ import annotations

import dataclasses
import hmac
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.serialization import Encoding

from ..aaa.radius.accounting import start_record
from ..aaa.radius.messages import AccessAnswer, AccessRequest, NasContext, RadiusResult, RadiusUnreachable
from ..crypto import auth as ike_auth_crypto
from ..crypto.jobs import JobResult, SignJob, SignResult
from ..eap import EapOutcome, EapPacket, EapServer
from ..eap.relay import EapRelay
from ..effects import Effect, Emit, SendAccounting
from ..events import LOCAL_DATABASE, AuthFailed, AuthSucceeded, NegotiationAborted
from ..iana import AuthMethod, CertEncoding, EapCode, EapType, IdType, NotifyType
from ..sa_types import AuthError, Deferred, PendingChild, State
from ..settings import ProfileSettings
from ..wire.message import Message
from ..wire.payloads import AUTH, CERT, CP, EAP, IDi, IDr, SA, Notify, Payload, TSi, TSr
from .child_sa import first_child

if TYPE_CHECKING:
    from ..sa import IkeSa

def ike_auth(sa: "IkeSa", message: Message, now: float, effects: list[Effect]) -> list[Payload] | Deferred:
    try:
        if sa.state is State.AUTH_PENDING:
            return _auth_first(sa, message, effects)
        if sa.state is State.EAP:
            return _auth_eap(sa, message, now, effects)
        if sa.state is State.EAP_DONE:
            return _auth_final(sa, message, now, effects)
    except AuthError as exc:
        effects.append(Emit(AuthFailed(sa.name, sa.local, sa.remote, sa.username, exc.reason)))
        effects.append(Emit(NegotiationAborted(sa.name, sa.local, sa.remote, sa.username,
                                               "Failed to authenticate the IKE SA")))
        sa.fail(now)
        return [Notify(NotifyType.AUTHENTICATION_FAILED)]
    return [Notify(NotifyType.INVALID_SYNTAX)]


def _auth_first(sa: "IkeSa", message: Message, effects: list[Effect]) -> Deferred:
    idi = message.get(IDi)
    if idi is None:
        raise AuthError("no IDi in IKE_AUTH")
    sa.idi_body = idi.body()
    if message.get(AUTH) is not None:
        # the client authenticates itself with a key: not offered here
        raise AuthError("client used AUTH without EAP; the profile requires aaa-only (EAP)")
    idr = message.get(IDr)
    wanted = idr.data.decode("utf-8", "replace") if idr is not None and idr.id_type == IdType.ID_FQDN else None
    profile = sa.settings.profile_for_identity(wanted)
    sa.profile = profile
    sa.pending = PendingChild(message.get(SA), message.get(TSi), message.get(TSr), message.get(CP))
    sa.eap = _authenticator(sa, profile)
    sa.state = State.EAP
    idr = profile.own_id()
    octets = ike_auth_crypto.signed_octets(sa.init_response, sa.nonce_i, sa.prf, sa.keys.sk_pr, idr.body())
    job = SignJob(profile.profile.identity_certificate, octets, tuple(sorted(sa.peer_hash_algorithms)))
    eap_request = sa.eap.start().message

    def finish(result: JobResult | RadiusResult, now: float, effects: list[Effect]) -> list[Payload]:
        if not isinstance(result, SignResult):
            # our own key failed us: say so rather than leave the client waiting
            sa.fail(now)
            return [Notify(NotifyType.AUTHENTICATION_FAILED)]
        identity = profile.identity
        out: list[Payload] = [idr, CERT(CertEncoding.X509_SIGNATURE, identity.certificate_der)]
        out += [CERT(CertEncoding.X509_SIGNATURE, c.public_bytes(Encoding.DER)) for c in identity.chain]
        out += [AUTH(result.method, result.data), EAP(eap_request)]
        return out

    return Deferred(job, finish)


def _authenticator(sa: "IkeSa", profile: ProfileSettings) -> EapServer | EapRelay:
    """The local user database, or the profile's RADIUS server group."""
    if profile.radius_group is None:
        return EapServer(profile.eap_methods, profile.credentials, random=sa.random)
    return EapRelay(profile.radius_group, "pap" if profile.radius_pap else "eap",
                    NasContext(sa.local[0], sa.remote[0]), random=sa.random)


def _auth_eap(sa: "IkeSa", message: Message, now: float, effects: list[Effect]) -> list[Payload] | Deferred:
    assert sa.eap is not None and sa.profile is not None
    eap = message.get(EAP)
    if eap is None:
        raise AuthError("IKE_AUTH without the EAP payload the exchange expects")
    step = sa.eap.process(eap.data)
    if not isinstance(step, AccessRequest):
        return _eap_outcome(sa, step, eap.data, now, effects)
    relay = sa.eap
    assert isinstance(relay, EapRelay)
    sa.username = step.username

    def finish(result: JobResult | RadiusResult, now: float, effects: list[Effect]) -> list[Payload]:
        if not isinstance(result, (AccessAnswer, RadiusUnreachable)):
            result = RadiusUnreachable(step.group, f"unexpected job result {type(result).__name__}")
        return _eap_outcome(sa, relay.answer(result), eap.data, now, effects)

    # the RADIUS round trip runs like a DH job: the core never waits on the network
    return Deferred(step, finish)


def _eap_outcome(sa: "IkeSa", outcome: EapOutcome, response: bytes, now: float,
                 effects: list[Effect]) -> list[Payload]:
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
        relay = sa.eap if isinstance(sa.eap, EapRelay) else None
        effects.append(Emit(AuthFailed(sa.name, sa.local, sa.remote, sa.username,
                                       outcome.failure_reason or "EAP failure", _aaa_server(sa),
                                       aaa_rejected=relay is None or relay.rejected)))
        effects.append(Emit(NegotiationAborted(sa.name, sa.local, sa.remote, sa.username,
                                               "Failed to authenticate the IKE SA")))
        sa.fail(now)
        return [EAP(outcome.message), Notify(NotifyType.AUTHENTICATION_FAILED)]
    sa.msk = outcome.msk
    sa.state = State.EAP_DONE
    effects.append(Emit(AuthSucceeded(sa.name, sa.local, sa.remote, sa.username,
                                      _eap_name(outcome.method), sa.profile.group_policy.name,
                                      sa.profile.name, _aaa_server(sa))))
    return [EAP(outcome.message)]


def _aaa_server(sa: "IkeSa") -> str:
    """The RADIUS server that decided, or the local database."""
    if isinstance(sa.eap, EapRelay) and sa.eap.server_host:
        return sa.eap.server_host
    return LOCAL_DATABASE


def _auth_final(sa: "IkeSa", message: Message, now: float, effects: list[Effect]) -> list[Payload]:
    assert sa.profile is not None
    auth = message.get(AUTH)
    if auth is None:
        raise AuthError("no AUTH after EAP success")
    octets_i = ike_auth_crypto.signed_octets(sa.init_request, sa.nonce_r, sa.prf, sa.keys.sk_pi, sa.idi_body)
    key_i = sa.msk if sa.msk is not None else sa.keys.sk_pi
    expected = ike_auth_crypto.shared_key_auth(sa.prf, key_i, octets_i)
    if auth.method != AuthMethod.SHARED_KEY_MIC or not hmac.compare_digest(auth.data, expected):
        raise AuthError("AUTH from the EAP MSK did not verify")
    idr = sa.profile.own_id()
    octets_r = ike_auth_crypto.signed_octets(sa.init_response, sa.nonce_i, sa.prf, sa.keys.sk_pr, idr.body())
    key_r = sa.msk if sa.msk is not None else sa.keys.sk_pr
    out: list[Payload] = [AUTH(AuthMethod.SHARED_KEY_MIC, ike_auth_crypto.shared_key_auth(sa.prf, key_r, octets_r))]
    sa.state = State.ESTABLISHED
    sa.established_at = now
    out += first_child(sa, now, effects)
    _accounting_start(sa, effects)
    return out


def _accounting_start(sa: "IkeSa", effects: list[Effect]) -> None:
    # RFC 2866 Start once the session is up; the Stop reuses its values
    profile = sa.profile
    if profile is None or profile.accounting_group is None:
        return
    classes = sa.eap.classes if isinstance(sa.eap, EapRelay) else ()
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
