"""One emulated remote-access client's IKE SA, sans-I/O: `start` and
`receive` return the datagrams to send; time comes in as `now`.

The exchanges are strongSwan's as an EAP client: IKE_SA_INIT (answering
a COOKIE, RFC 7296 §2.6, and an INVALID_KE_PAYLOAD, §1.2, by sending the
request again), IKE_AUTH with IDi/IDr/CP/SA/TS and no AUTH (EAP, RFC 7296
§2.16), the EAP rounds, the MSK AUTH; then an INFORMATIONAL Delete.
Responses may come in RFC 7383 fragments; requests of the responder
(liveness checks, its Delete) are answered.

The responder's certificate signature is not checked: the MSK AUTH of
EAP-MSCHAPv2 already proves it knows the user's password, and a load
generator should spend its CPU on the headend's work, not its own.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Callable, Sequence

from esp.spec import EspAlgorithms
from ikev2d.crypto import auth as ike_auth
from ikev2d.crypto.dh import DhPrivateKey, get_dh_group
from ikev2d.crypto.errors import CryptoError
from ikev2d.crypto.keymat import IkeKeys, derive_child_keys, derive_ike_keys
from ikev2d.crypto.transforms import get_encr, get_integ, get_prf
from ikev2d.eap.packet import EapPacket
from ikev2d.iana import (AuthMethod, CertEncoding, ConfigAttr, ConfigType, DhId, EapCode, EapType, ExchangeType,
                         IdType, IntegId, NotifyType, PayloadType, ProtocolId, TransformType, TsType)
from ikev2d.load.eap_client import EapClient, EapClientError
from ikev2d.protect import FragmentReassembler, SkKeys, protect_fragments, unprotect_message
from ikev2d.tasks.natd import natd_notifies
from ikev2d.wire.errors import WireError
from ikev2d.wire.header import Header
from ikev2d.wire.message import Message, decode_message, encode_message
from ikev2d.wire.payloads import (AUTH, CERTREQ, CP, EAP, IDi, IDr, KE, SA, TSi, TSr, ConfigAttribute, Delete, Nonce,
                                  Notify, Payload, Proposal, TrafficSelector, Transform)

Address = tuple[str, int]
MAX_COOKIES = 3  # a responder that keeps asking for cookies is refusing us
MAX_KE_RETRIES = 2


@dataclass(frozen=True)
class ClientProfile:
    """What every emulated client proposes and how it authenticates."""

    username: str = "alice"
    password: str = ""
    eap_method: int = EapType.MSCHAPV2
    responder_id: str = "vpn.example.test"
    # proposed DH groups in order; the first KE is in `ke_group` (default: the first)
    dh_groups: Sequence[int] = (DhId.MODP_3072,)
    ke_group: int | None = None
    ike_encr: tuple[int, int | None] = (12, 256)  # ENCR_AES_CBC 256
    ike_integ: int = IntegId.HMAC_SHA2_512_256
    ike_prf: int = 7  # PRF_HMAC_SHA2_512
    esp_encr: tuple[int, int | None] = (12, 256)
    esp_integ: int = IntegId.HMAC_SHA2_512_256
    fragment_size: int = 1280
    # RFC 7296 §2.4: off by default, as every emulated client may use the
    # same identity and the headend would delete the others' SAs for it
    initial_contact: bool = False
    # RFC 7296 §3.7: an (empty) CERTREQ, as real clients send one: without
    # it strongSwan's responder leaves its certificate out of IKE_AUTH
    certreq: bool = True
    # strongSwan's `encap = yes`: a made-up NAT_DETECTION_SOURCE_IP, so the
    # responder sees a NAT and carries ESP in UDP (RFC 3948) on our IKE
    # socket instead of IP protocol 50 (which would need a raw socket); the
    # client then moves to port 4500 (RFC 7296 §2.23)
    fake_nat: bool = False


@dataclass(frozen=True)
class ChildSaKeys:
    """The client's view of its Child SA: it sends with the responder's
    SPI and the initiator's keys (RFC 7296 §2.17), receives with its own."""

    spi_in: int
    spi_out: int
    algorithms: EspAlgorithms
    encr_key_in: bytes = field(repr=False)
    integ_key_in: bytes = field(repr=False)
    encr_key_out: bytes = field(repr=False)
    integ_key_out: bytes = field(repr=False)


class Phase(enum.Enum):
    IKE_SA_INIT = "IKE_SA_INIT"
    IKE_AUTH = "IKE_AUTH"
    ESTABLISHED = "established"
    DELETING = "deleting"
    CLOSED = "closed"
    FAILED = "failed"


def notify_name(notify: int) -> str:
    try:
        return NotifyType(notify).name
    except ValueError:
        return f"NOTIFY_{notify}"


class LoadSession:
    """One client. `outstanding` is the request awaiting its answer (the
    datagrams to send again on a timeout), empty when none is."""

    def __init__(self, profile: ClientProfile, local: Address, remote: Address,
                 random: Callable[[int], bytes] = os.urandom, nat_port: int = 4500) -> None:
        self.p = profile
        self.local, self.remote = local, remote
        self.nat_port = nat_port
        self.random = random
        self.spi_i = random(8)
        self.spi_r = bytes(8)
        self.phase = Phase.IKE_SA_INIT
        self.error: str | None = None  # a notify's name, or what went wrong
        self.outstanding: list[bytes] = []
        self.message_id = 0
        self.started = self.init_done = self.auth_done = 0.0
        self.cookies = 0
        self.ke_retries = 0
        self.fragments_received = 0
        self.address: IPv4Address | None = None
        self.deleted_by_peer = False
        self._cookie: bytes | None = None
        self._group = profile.ke_group if profile.ke_group is not None else profile.dh_groups[0]
        self._nonce_i = random(32)
        self._dh: DhPrivateKey = get_dh_group(self._group).generate()
        self._eap: EapClient | None = None
        self._auth_step = "first"  # first, eap, final
        self._reassembler: FragmentReassembler | None = None
        self._esp_spi = int.from_bytes(random(4), "big") | 0x100
        self._child: Proposal | None = None  # the responder's choice for our Child SA

    # -- what the driver calls ------------------------------------------------------

    def start(self, now: float) -> list[bytes]:
        self.started = now
        return self._send_init()

    def receive(self, raw: bytes, now: float) -> list[bytes]:
        """Take one datagram for our SPI; bad ones are dropped (never raise)."""
        try:
            header = Header.parse(raw)
        except (WireError, ValueError):
            return []
        if self.phase in (Phase.FAILED, Phase.CLOSED):
            return []
        try:
            if not header.is_response:
                return self._peer_request(raw, header)
            if header.message_id != self.message_id or not self.outstanding:
                return []  # a retransmitted or stray answer
            if self.phase == Phase.IKE_SA_INIT:
                return self._init_answer(raw, decode_message(raw, header), now)
            message = self._unprotect(raw, header, now)
            if message is None:
                return []
            self.outstanding = []
            self.message_id += 1
            if self.phase == Phase.DELETING:
                self.phase = Phase.CLOSED
                return []
            return self._auth_answer(message, now)
        except (WireError, CryptoError, ValueError, KeyError, IndexError) as exc:
            if self.phase == Phase.IKE_SA_INIT or header.next_payload not in (PayloadType.SK, PayloadType.SKF):
                return self._fail(f"malformed answer: {exc}")
            return []  # not authentic: drop silently (RFC 7296 §2.21.2)

    def delete(self) -> list[bytes]:
        """The Delete of our IKE SA (when established)."""
        if self.phase != Phase.ESTABLISHED:
            return []
        self.phase = Phase.DELETING
        return self._request(ExchangeType.INFORMATIONAL, [Delete(ProtocolId.IKE, [])])

    def timed_out(self) -> None:
        self._fail("timeout" if self.phase != Phase.DELETING else "delete timeout")

    # -- IKE_SA_INIT -----------------------------------------------------------------

    def _send_init(self) -> list[bytes]:
        transforms = [Transform(TransformType.ENCR, self.p.ike_encr[0], self.p.ike_encr[1]),
                      Transform(TransformType.PRF, self.p.ike_prf)]
        if self.p.ike_integ:
            transforms.append(Transform(TransformType.INTEG, self.p.ike_integ))
        groups = list(self.p.dh_groups) + ([self._group] if self._group not in self.p.dh_groups else [])
        transforms += [Transform(TransformType.DH, g) for g in groups]
        payloads: list[Payload] = [Notify(NotifyType.COOKIE, data=self._cookie)] if self._cookie is not None else []
        payloads += [SA([Proposal(1, ProtocolId.IKE, b"", transforms)]), KE(self._group, self._dh.public_bytes),
                     Nonce(self._nonce_i)]
        natd_local = ("0.0.0.0", 0) if self.p.fake_nat else self.local  # no real address hashes to this
        payloads += natd_notifies(self.spi_i, bytes(8), natd_local, self.remote)
        payloads.append(Notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED))
        payloads.append(Notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, data=bytes.fromhex("000200030004")))
        self._init_request = encode_message(Message(self.spi_i, bytes(8), ExchangeType.IKE_SA_INIT, 0, False, True,
                                                    payloads))
        self.outstanding = [self._init_request]
        return self.outstanding

    def _init_answer(self, raw: bytes, response: Message, now: float) -> list[bytes]:
        if response.spi_i != self.spi_i:
            return []
        cookie = response.notify(NotifyType.COOKIE)
        if cookie is not None:
            self.cookies += 1
            if self.cookies > MAX_COOKIES:
                return self._fail(notify_name(NotifyType.COOKIE))
            self._cookie = cookie.data  # the same request again, the cookie first (RFC 7296 §2.6)
            return self._send_init()
        invalid_ke = response.notify(NotifyType.INVALID_KE_PAYLOAD)
        if invalid_ke is not None:
            wanted = int.from_bytes(invalid_ke.data[:2], "big")
            self.ke_retries += 1
            if wanted not in self.p.dh_groups or wanted == self._group or self.ke_retries > MAX_KE_RETRIES:
                return self._fail(notify_name(NotifyType.INVALID_KE_PAYLOAD))
            self._group = wanted  # RFC 7296 §1.2: again, with a KE in the group asked for
            self._dh = get_dh_group(wanted).generate()
            return self._send_init()
        for n in response.notifies():
            if n.type < 16384:
                return self._fail(notify_name(n.type))
        sa, nonce, ke = response.get(SA), response.get(Nonce), response.get(KE)
        if sa is None or nonce is None or ke is None or not sa.proposals:
            return self._fail("IKE_SA_INIT answer without SA, Nonce or KE")
        if ke.group != self._group:
            return self._fail(f"IKE_SA_INIT answer with a KE in group {ke.group}, not {self._group}")
        by_type = {t.type: t for t in sa.proposals[0].transforms}
        self.prf = get_prf(by_type[TransformType.PRF].id)
        encr_t = by_type[TransformType.ENCR]
        encr = get_encr(encr_t.id, encr_t.key_length)
        integ_t = by_type.get(TransformType.INTEG)
        integ = get_integ(integ_t.id) if integ_t is not None and integ_t.id else None
        self.spi_r = response.spi_r
        self._raw_init_response = raw
        self._nonce_r = nonce.data
        shared = self._dh.exchange(ke.data)
        self.keys: IkeKeys = derive_ike_keys(self.prf, encr, integ, self._nonce_i, self._nonce_r, shared,
                                             self.spi_i, self.spi_r)
        self.sk = SkKeys(encr=encr, integ=integ, sk_e_in=self.keys.sk_er, sk_a_in=self.keys.sk_ar,
                         sk_e_out=self.keys.sk_ei, sk_a_out=self.keys.sk_ai)
        self._reassembler = FragmentReassembler(self.sk)
        self.init_done = now
        self.phase = Phase.IKE_AUTH
        if self.p.fake_nat and self.remote[1] != self.nat_port:
            self.remote = (self.remote[0], self.nat_port)  # "behind a NAT": IKE_AUTH on, ESP to, port 4500
        self.message_id = 1
        return self._first_auth()

    # -- IKE_AUTH --------------------------------------------------------------------

    def _idi(self) -> IDi:
        name = self.p.username
        return IDi(IdType.ID_RFC822_ADDR if "@" in name else IdType.ID_KEY_ID, name.encode())

    def _first_auth(self) -> list[bytes]:
        everything = TrafficSelector(TsType.TS_IPV4_ADDR_RANGE, 0, 0, 65535, IPv4Address("0.0.0.0"),
                                     IPv4Address("255.255.255.255"))
        esp = Proposal(1, ProtocolId.ESP, self._esp_spi.to_bytes(4, "big"), [
            Transform(TransformType.ENCR, self.p.esp_encr[0], self.p.esp_encr[1]),
            Transform(TransformType.INTEG, self.p.esp_integ), Transform(TransformType.ESN, 0)])
        asked = [ConfigAttribute(ConfigAttr.INTERNAL_IP4_ADDRESS, b""),
                 ConfigAttribute(ConfigAttr.INTERNAL_IP4_DNS, b"")]
        certreq = [CERTREQ(CertEncoding.X509_SIGNATURE, b"")] if self.p.certreq else []
        contact = [Notify(NotifyType.INITIAL_CONTACT)] if self.p.initial_contact else []
        return self._request(ExchangeType.IKE_AUTH, [
            self._idi(), *certreq, *contact, IDr(IdType.ID_FQDN, self.p.responder_id.encode()),
            CP(ConfigType.CFG_REQUEST, asked), SA([esp]), TSi([everything]), TSr([everything])])

    def _auth_answer(self, message: Message, now: float) -> list[bytes]:
        eap = message.get(EAP)
        for n in message.notifies():
            if n.type < 16384:
                return self._fail(notify_name(n.type))
        if self._auth_step == "first":
            idr = message.get(IDr)
            self._idr = idr if idr is not None else IDr(IdType.ID_FQDN, self.p.responder_id.encode())
            if eap is None:
                return self._fail("no EAP request")
            self._eap = EapClient(self.p.username, self.p.password, self.p.eap_method, self.random)
            self._auth_step = "eap"
        if self._auth_step == "eap":
            if eap is None:
                return self._fail("no EAP payload in the answer")
            request = EapPacket.parse(eap.data)
            if request.code == EapCode.FAILURE:
                return self._fail(notify_name(NotifyType.AUTHENTICATION_FAILED))
            if request.code == EapCode.SUCCESS:
                return self._final_auth()
            assert self._eap is not None
            try:
                reply = self._eap.reply(request)
            except EapClientError as exc:
                return self._fail(str(exc))
            return self._request(ExchangeType.IKE_AUTH, [EAP(reply.pack())])
        # final: the responder's MSK AUTH, CP, the Child SA
        auth = message.get(AUTH)
        msk = self._eap.msk if self._eap is not None else None
        octets_r = ike_auth.signed_octets(self._raw_init_response, self._nonce_i, self.prf, self.keys.sk_pr,
                                          self._idr.body())
        if auth is None or auth.data != ike_auth.shared_key_auth(self.prf, msk or self.keys.sk_pr, octets_r):
            return self._fail("responder's AUTH did not verify")
        cp = message.get(CP)
        for a in cp.attributes if cp is not None else []:
            if a.type == ConfigAttr.INTERNAL_IP4_ADDRESS and len(a.value) == 4:
                self.address = IPv4Address(a.value)
        sa = message.get(SA)
        if sa is None or not sa.proposals:
            return self._fail("no Child SA")
        self._child = sa.proposals[0]
        self.auth_done = now
        self.phase = Phase.ESTABLISHED
        return []

    def _final_auth(self) -> list[bytes]:
        self._auth_step = "final"
        msk = self._eap.msk if self._eap is not None else None
        octets_i = ike_auth.signed_octets(self._init_request, self._nonce_r, self.prf, self.keys.sk_pi,
                                          self._idi().body())
        data = ike_auth.shared_key_auth(self.prf, msk or self.keys.sk_pi, octets_i)
        return self._request(ExchangeType.IKE_AUTH, [AUTH(AuthMethod.SHARED_KEY_MIC, data)])

    def child_sa(self) -> ChildSaKeys:
        """The established Child SA's SPIs, algorithms and keys (RFC 7296
        §2.17: KEYMAT from SK_d and the IKE_SA_INIT nonces, the initiator's
        keys first), derived on demand: only a run that uses the tunnel pays."""
        if self._child is None or len(self._child.spi) != 4:
            raise ValueError("no Child SA established")
        by_type = {t.type: t for t in self._child.transforms}
        encr_t = by_type.get(TransformType.ENCR)
        if encr_t is None:
            raise ValueError("the Child SA has no ENCR transform")
        encr = get_encr(encr_t.id, encr_t.key_length)
        integ_t = by_type.get(TransformType.INTEG)
        integ = get_integ(integ_t.id) if integ_t is not None and integ_t.id else None
        esn_t = by_type.get(TransformType.ESN)
        integ_key_size = integ.key_size if integ is not None else 0
        keys = derive_child_keys(self.prf, self.keys.sk_d, self._nonce_i, self._nonce_r, encr.key_size,
                                 integ_key_size)
        icv = encr.icv_size if encr.is_aead else (integ.icv_size if integ is not None else 0)
        algorithms = EspAlgorithms(encr_t.id, encr_t.key_length or encr.key_size * 8,
                                   integ_t.id if integ_t is not None else 0, encr.key_size, integ_key_size, icv,
                                   esn=esn_t is not None and esn_t.id == 1)
        return ChildSaKeys(spi_in=self._esp_spi, spi_out=int.from_bytes(self._child.spi, "big"),
                           algorithms=algorithms, encr_key_in=keys.encr_r, integ_key_in=keys.integ_r,
                           encr_key_out=keys.encr_i, integ_key_out=keys.integ_i)

    # -- protected messages ---------------------------------------------------------

    def _request(self, exchange: int, payloads: list[Payload]) -> list[bytes]:
        overhead = 28 + (4 if self.remote[1] == self.nat_port else 0)
        self.outstanding = protect_fragments(self.spi_i, self.spi_r, exchange, self.message_id, payloads, self.sk,
                                             fragment_size=self.p.fragment_size, overhead=overhead,
                                             is_response=False, is_initiator=True, random=self.random)
        return self.outstanding

    def _unprotect(self, raw: bytes, header: Header, now: float) -> Message | None:
        if header.next_payload == PayloadType.SKF:
            assert self._reassembler is not None
            self.fragments_received += 1
            return self._reassembler.add(raw, now, header)
        return unprotect_message(raw, self.sk, header)

    def _peer_request(self, raw: bytes, header: Header) -> list[bytes]:
        """A request of the responder's: answered empty (a liveness check),
        its Delete of our IKE SA closes the session."""
        if self.phase not in (Phase.ESTABLISHED, Phase.DELETING) or header.next_payload != PayloadType.SK:
            return []
        request = unprotect_message(raw, self.sk, header)
        if any(d.protocol == ProtocolId.IKE for d in request.get_all(Delete)):
            self.deleted_by_peer = True
            self.phase = Phase.CLOSED
            self.outstanding = []
        return protect_fragments(self.spi_i, self.spi_r, header.exchange, header.message_id, [], self.sk,
                                 fragment_size=0, overhead=28, is_response=True, is_initiator=True,
                                 random=self.random)

    def _fail(self, error: str) -> list[bytes]:
        self.error = error
        self.phase = Phase.FAILED
        self.outstanding = []
        return []
