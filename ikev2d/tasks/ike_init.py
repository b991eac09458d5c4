"""IKE_SA_INIT as a responder (RFC 7296 §1.2), strongSwan's ike_init task
with ike_natd, ike_vendor and the fragmentation and hash-algorithm notifies
as helpers.

The responder's gate (core.py) has already done what must come before any
state: the retransmit check, the cookie challenge and the half-open limits
(strongSwan does those in its receiver too). This task chooses the
proposal, asks for the DH computation, and, when it returns, derives the
keys and builds the answer. It holds the request while the job runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..crypto.errors import CryptoError
from ..crypto.jobs import DhJob, DhResult, JobFailed, JobResult
from ..crypto.keymat import IkeKeys, derive_ike_keys
from ..crypto.transforms import EncrAlgorithm, IntegAlgorithm, PrfAlgorithm, get_encr, get_integ, get_prf
from ..iana import CertEncoding, ExchangeType, HashAlgorithm, NotifyType
from ..settings import ResponderSettings
from ..vendor_ids import IKE_SA_INIT_LEADING, IKE_SA_INIT_TRAILING
from ..wire.header import Header
from ..wire.message import Message, encode_message
from ..wire.payloads import CERTREQ, KE, SA, Nonce, Notify, Payload, Proposal, Vendor
from .natd import nat_detected, natd_notifies
from .proposals import IkeSuite, describe_offer, describe_policies, select_ike

Address = tuple[str, int]

NONCE_SIZE = 32
OUR_HASH_ALGORITHMS = (HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_384, HashAlgorithm.SHA2_512)


@dataclass(frozen=True)
class Refusal:
    """Answer with this notify and keep no state (RFC 7296 §2.21.1)."""

    notify: NotifyType
    data: bytes
    detail: str


@dataclass(frozen=True)
class Dropped:
    """No answer at all (our side failed; the client's retransmit retries)."""

    reason: str


@dataclass(frozen=True)
class Accepted:
    """What the new IKE SA is made of."""

    response: bytes
    suite: IkeSuite
    keys: IkeKeys
    prf: PrfAlgorithm
    encr: EncrAlgorithm
    integ: IntegAlgorithm | None
    nonce_r: bytes
    peer_fragmentation: bool
    peer_hash_algorithms: frozenset[int]
    nat_peer: bool
    nat_local: bool
    response_payloads: list[Payload]  # what `response` carries, for the session's ladder


_NO_HASHES: frozenset[int] = frozenset()
# The peers' SIGNATURE_HASH_ALGORITHMS sets (RFC 7427 §4), shared: clients
# send one of a handful, and each IKE SA keeps it for its life (~0.2 kB
# each otherwise). Bounded: a peer sending odd sets cannot grow it past this.
_HASH_SETS: dict[bytes, frozenset[int]] = {}
_HASH_SETS_MAX = 64


def _hash_set(data: bytes) -> frozenset[int]:
    found = _HASH_SETS.get(data)
    if found is None:
        found = frozenset(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data) - 1, 2))
        if len(_HASH_SETS) < _HASH_SETS_MAX and len(data) <= 64:
            _HASH_SETS[bytes(data)] = found
    return found

class IkeInit:
    """One IKE_SA_INIT request, from the proposal choice to its answer."""

    def __init__(self, settings: ResponderSettings, data: bytes, header: Header, request: Message,
                 local: Address, remote: Address) -> None:
        self.settings = settings
        self.data = data
        self.header = header
        self.request = request
        self.local = local
        self.remote = remote
        self.nonce_i = b""
        self._proposal: Proposal | None = None
        self._suite: IkeSuite | None = None
        self._prf: PrfAlgorithm | None = None
        self._encr: EncrAlgorithm | None = None
        self._integ: IntegAlgorithm | None = None

    def process(self, dh_backend: str) -> Refusal | DhJob:
        """The proposal, the KE group and the nonce judged: a refusal, or the
        DH job to run."""
        request = self.request
        offer, ke, nonce = request.get(SA), request.get(KE), request.get(Nonce)
        if offer is None or ke is None or nonce is None:
            return Refusal(NotifyType.INVALID_SYNTAX, b"", "IKE_SA_INIT without SA, KE or Nonce")
        chosen = select_ike(offer.proposals, self.settings.ike_policies)
        if chosen is None:
            return Refusal(NotifyType.NO_PROPOSAL_CHOSEN, b"",
                           f"no IKEv2 policy matches the proposals: offered {describe_offer(offer.proposals)}; "
                           f"configured {describe_policies(self.settings.ike_policies)}")
        proposal, suite, policy = chosen
        if ke.group != suite.dh_id:
            # RFC 7296 §1.3 / §3.10.1: name the group we want
            return Refusal(NotifyType.INVALID_KE_PAYLOAD, suite.dh_id.to_bytes(2, "big"),
                           f"KE for group {ke.group}, policy {policy.name} wants {suite.dh_id}")
        try:
            prf = get_prf(suite.prf_id)
            if len(nonce.data) < max(16, prf.key_size // 2):
                raise CryptoError("nonce shorter than half the PRF key (RFC 7296 §2.10)")
            self._encr = get_encr(suite.encr_id, suite.encr_bits)
            self._integ = None if suite.is_aead else get_integ(suite.integ_id)
        except CryptoError as exc:
            return Refusal(NotifyType.INVALID_SYNTAX, b"", str(exc))
        self._proposal, self._suite, self._prf, self.nonce_i = proposal, suite, prf, nonce.data
        return DhJob(suite.dh_id, ke.data, dh_backend)

    def finish(self, result: JobResult | object, spi_r: bytes, random: Callable[[int], bytes]) -> (
            Accepted | Refusal | Dropped):
        """The DH job's result: the keys and the answer, or why not."""
        if isinstance(result, JobFailed) and result.local:
            # our worker failed, not the peer: no answer and no state, so the
            # client's retransmit starts a fresh job
            return Dropped(f"IKE_SA_INIT: {result.reason}")
        if not isinstance(result, DhResult):
            reason = result.reason if isinstance(result, JobFailed) else "unexpected job result"
            return Refusal(NotifyType.INVALID_SYNTAX, b"", f"KE payload: {reason}")
        suite, prf, encr, proposal = self._suite, self._prf, self._encr, self._proposal
        assert suite is not None and prf is not None and encr is not None and proposal is not None
        spi_i, request = self.header.spi_i, self.request
        nonce_r = random(max(NONCE_SIZE, prf.key_size // 2))
        keys = derive_ike_keys(prf, encr, self._integ, self.nonce_i, nonce_r, result.shared, spi_i, spi_r)
        nat = nat_detected(request.notifies(), spi_i, self.local, self.remote)
        peer_frag = request.notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) is not None
        hash_notify = request.notify(NotifyType.SIGNATURE_HASH_ALGORITHMS)
        peer_hashes = _hash_set(hash_notify.data) if hash_notify is not None else _NO_HASHES
        payloads = self._response_payloads(proposal, suite, result.public, nonce_r, spi_r, nat is not None,
                                           peer_frag, hash_notify is not None)
        response = encode_message(Message(spi_i, spi_r, ExchangeType.IKE_SA_INIT, 0, True, False, payloads))
        return Accepted(response, suite, keys, prf, encr, self._integ, nonce_r, peer_frag, peer_hashes,
                        nat_peer=bool(nat and nat[0]), nat_local=bool(nat and nat[1]), response_payloads=payloads)

    def _response_payloads(self, proposal: Proposal, suite: IkeSuite, public: bytes, nonce_r: bytes, spi_r: bytes,
                           natd: bool, peer_frag: bool, peer_hashes: bool) -> list[Payload]:
        # the order a Cisco responder uses: SA KE No V V N(NATD) N(NATD) CERTREQ N(FRAG) V
        out: list[Payload] = [
            SA([Proposal(proposal.number, proposal.protocol, b"", suite.transforms())]),
            KE(suite.dh_id, public),
            Nonce(nonce_r),
        ]
        if self.settings.send_cisco_vendor_ids:
            out += [Vendor(v) for v in IKE_SA_INIT_LEADING]
        if natd:
            out += natd_notifies(self.header.spi_i, spi_r, self.local, self.remote)
        out.append(CERTREQ(CertEncoding.X509_SIGNATURE, certreq_authorities(self.settings)))
        if peer_frag:
            out.append(Notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED))
        if peer_hashes:
            out.append(Notify(NotifyType.SIGNATURE_HASH_ALGORITHMS,
                              data=b"".join(h.to_bytes(2, "big") for h in OUR_HASH_ALGORITHMS)))
        if offers_multiple_auth(self.settings):
            out.append(Notify(NotifyType.MULTIPLE_AUTH_SUPPORTED))
        if self.settings.send_cisco_vendor_ids:
            out += [Vendor(v) for v in IKE_SA_INIT_TRAILING]
        return out


def offers_multiple_auth(settings: ResponderSettings) -> bool:
    """RFC 4739 §3.1: the responder says it can do several authentication
    rounds in its IKE_SA_INIT response, before it knows the client's profile
    (chosen from IDi in IKE_AUTH); so whenever a profile needs them, and
    never otherwise: the response then keeps the shape a Cisco responder's
    has (docs/ftd-behaviour.md, "Client certificate and AAA")."""
    return any(p.certificate_then_aaa for p in settings.profiles.values())


def certreq_authorities(settings: ResponderSettings) -> bytes:
    """SHA-1 of the trusted CAs' public keys (RFC 7296 §3.7): our own
    identity's issuer and the CAs client certificates are validated against,
    so a client with a certificate knows what to send."""
    hashes = []
    for p in settings.profiles.values():
        h = p.identity.issuer_key_hash if hasattr(p.identity, "issuer_key_hash") else None
        for candidate in (h, *(_key_hash(ca) for ca in p.trusted_cas)):
            if candidate and candidate not in hashes:
                hashes.append(candidate)
    return b"".join(hashes)


def _key_hash(ca: x509.Certificate) -> bytes:
    spki = ca.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha1(spki).digest()


def error_response(header: Header, notify: NotifyType, data: bytes) -> bytes:
    """An IKE_SA_INIT answer that refuses: a zero SPIr, no state (§2.6, §2.21.1)."""
    return encode_message(Message(header.spi_i, bytes(8), ExchangeType.IKE_SA_INIT, 0, True, False,
                                  [Notify(notify, data=data)]))
