"""A small IKEv2 remote-access initiator (EAP client, or certificate
authentication with `client_certificate`, or both as RFC 4739 multiple
authentication with `then_eap`) for two-peer tests and
load generation: it speaks to any `send(datagram) -> [datagrams]` callable,
so unit tests wire it straight to the sans-I/O responder, with no sockets.

It is deliberately simple (one exchange at a time, no retransmission);
interop truth comes from strongSwan, not from this.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from ipaddress import IPv4Address, IPv6Address
from typing import Callable, Sequence, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from ikev2d.crypto import auth as ike_auth
from ikev2d.crypto.dh import get_dh_group
from ikev2d.crypto.keymat import ChildKeys, IkeKeys, derive_child_keys, derive_ike_keys, derive_rekeyed_ike_keys
from ikev2d.crypto.transforms import get_encr, get_integ, get_prf
from ikev2d.eap.packet import EapPacket
from ikev2d.iana import (AuthMethod, CertEncoding, ConfigAttr, ConfigType, DhId, EapCode, EapType, ExchangeType,
                         IdType, IntegId, NotifyType, PayloadType, ProtocolId, TransformType, TsType)
from ikev2d.load.eap_client import EapClient, EapClientError
from ikev2d.protect import FragmentReassembler, SkKeys, protect_fragments, unprotect_message
from ikev2d.protect.sk import Route, seal
from ikev2d.tasks.natd import natd_notifies
from ikev2d.wire.header import Header
from ikev2d.wire.message import Message, decode_message, encode_message
from ikev2d.wire.payloads import (AUTH, CERT, CP, EAP, IDi, IDr, KE, SA, TSi, TSr, ConfigAttribute, Delete, Nonce,
                                  Notify, Payload, Proposal, TrafficSelector, Transform)

from lab.peap import PEAP, PeapClient, PeapError

Send = Callable[[bytes], list[bytes]]

P = TypeVar("P")


class IkeFailure(Exception):
    """The responder refused: `notify` names the error notify it sent."""

    def __init__(self, notify: int | None, message: str) -> None:
        super().__init__(message)
        self.notify = notify


def _require(message: Message, cls: type[P], what: str) -> P:
    """The payload the protocol says `message` carries; its absence is the
    responder's protocol failure, reported as IkeFailure."""
    payload = message.get(cls)
    if payload is None:
        raise IkeFailure(None, f"{what} has no {cls.__name__} payload")
    return payload


@dataclass
class InitiatorOptions:
    username: str = "alice"
    password: str = "Lab-Passw0rd-1"
    eap_method: int = EapType.MSCHAPV2  # or lab.peap.PEAP (25): PEAPv0 with MS-CHAPv2 inside
    # PEAP: the CA that must have signed the RADIUS server's certificate
    # (None: not checked); the size of our TLS fragments
    peap_ca: Path | None = None
    peap_fragment_size: int = 1000
    responder_id: str = "vpn.example.test"
    # the IDi sent: None is the username (RFC822 with an '@', else key-id);
    # a connection profile's name as key-id or FQDN asks for that profile
    identity: str | None = None
    identity_type: int | None = None  # None: key-id, RFC822 with an '@'
    # IKE proposal: encr (id, bits), integ, prf, dh groups in order of preference
    ike_encr: tuple[int, int | None] = (12, 256)  # bits None: a fixed-key cipher (3DES, DES)
    ike_integ: int = IntegId.HMAC_SHA2_512_256
    ike_prf: int = 7
    dh_groups: Sequence[int] = (DhId.MODP_3072,)
    esp_encr: tuple[int, int | None] = (12, 256)
    esp_integ: int = IntegId.HMAC_SHA2_512_256
    fragmentation: bool = True
    fragment_size: int = 1280
    local: tuple[str, int] = ("198.18.0.2", 500)
    remote: tuple[str, int] = ("198.18.0.1", 500)
    fake_nat: bool = False
    # RFC 7296 §2.4, sent as strongSwan sends it: "I hold no other SA with you"
    initial_contact: bool = True
    # RFC 4555 §3.1: MOBIKE_SUPPORTED in the first IKE_AUTH, as strongSwan's mobike=yes
    mobike: bool = False
    # what the first IKE_AUTH asks for; None: 0.0.0.0-255.255.255.255, all ports
    tsi: Sequence[TrafficSelector] | None = None
    tsr: Sequence[TrafficSelector] | None = None
    # dual stack: ask for an IPv6 address too (INTERNAL_IP6_ADDRESS), and
    # by default for ::/0 beside 0.0.0.0/0 in both TS payloads
    ipv6: bool = False
    # certificate authentication (RFC 7296 §2.15) instead of EAP: this
    # certificate (then `client_chain`) in CERT, AUTH signed with `client_key`
    # (a key of another certificate makes a bad signature); IDi is its
    # subject DN unless `client_idi` says otherwise
    client_certificate: x509.Certificate | None = None
    client_key: ike_auth.PrivateKey | None = field(default=None, repr=False)
    client_chain: Sequence[x509.Certificate] = ()
    client_idi: IDi | None = None
    # RFC 4739 multiple authentication: the certificate round above with
    # these notifies, then a second IKE_AUTH round with the IDi of
    # `identity`/`username` and EAP (the FTD's Client Certificate & AAA)
    then_eap: bool = False
    multiple_auth_notifies: Sequence[int] = (NotifyType.MULTIPLE_AUTH_SUPPORTED, NotifyType.ANOTHER_AUTH_FOLLOWS)


@dataclass
class Result:
    address: IPv4Address | None = None
    netmask: IPv4Address | None = None
    dns: list[IPv4Address] = field(default_factory=list)
    address6: IPv6Address | None = None
    prefix6: int | None = None
    dns6: list[IPv6Address] = field(default_factory=list)
    tsi: list[TrafficSelector] = field(default_factory=list)
    tsr: list[TrafficSelector] = field(default_factory=list)
    esp_spi_in: int = 0
    esp_spi_out: int = 0
    responder_certificate: x509.Certificate | None = None
    fragments_received: int = 0
    notifies: list[int] = field(default_factory=list)


class Initiator:
    def __init__(self, options: InitiatorOptions, send: Send, random: Callable[[int], bytes] = os.urandom) -> None:
        self.o = options
        self.send = send
        self.random = random
        self.spi_i = random(8)
        self.spi_r = bytes(8)
        self.message_id = 0
        self.result = Result()
        self.deleted_by_peer = False
        self.child_nonces: tuple[bytes, bytes] | None = None
        self.child_shared_secret: bytes | None = None
        self.requests_answered = 0
        self.peer_requests: list[bytes] = []  # requests the responder sent along with an answer
        # a CREATE_CHILD_SA of the responder's (its rekey of our Child SA):
        # refused with these notifies first, one per request, then answered;
        # `answer_pfs_group` demands a KE in that group (INVALID_KE_PAYLOAD)
        self.child_rekey_refusals: list[Notify] = []
        self.answer_pfs_group: int | None = None
        self.answer_nonce: bytes | None = None  # the Nr of our next answer (collision tests)
        self.child_keys: ChildKeys | None = None  # of the last rekey the responder initiated
        # we are the IKE SA's original initiator (the I flag), until the
        # responder rekeys it (RFC 7296 §2.18); its rekey's IKE SA, which we
        # move to when it deletes the old one (or `adopt_rekeyed_sa`)
        self.original_initiator = True
        self.ike_rekey_refusals: list[Notify] = []
        self.rekeyed_sa: tuple[bytes, bytes, IkeKeys, SkKeys] | None = None
        self.ike_rekeys_answered = 0
        self.peer_deleted_esp: list[int] = []  # SPIs in the responder's Child Deletes
        self.peer_child_spis: set[int] = set()  # the responder's inbound SPIs we have known
        self.peer_mobike = False  # the responder answered MOBIKE_SUPPORTED (RFC 4555 §3.1)
        self.peer_multiple_auth = False  # MULTIPLE_AUTH_SUPPORTED in its IKE_SA_INIT (RFC 4739 §3.1)
        self._peap: PeapClient | None = None  # the PEAP conversation, once the server starts one

    # -- IKE_SA_INIT -------------------------------------------------------------

    def _proposal(self) -> Proposal:
        transforms = [Transform(TransformType.ENCR, self.o.ike_encr[0], self.o.ike_encr[1]),
                      Transform(TransformType.PRF, self.o.ike_prf)]
        if self.o.ike_integ:
            transforms.append(Transform(TransformType.INTEG, self.o.ike_integ))
        transforms += [Transform(TransformType.DH, g) for g in self.o.dh_groups]
        return Proposal(1, ProtocolId.IKE, b"", transforms)

    def ike_sa_init(self, group: int | None = None, cookie: bytes | None = None) -> None:
        group = group if group is not None else self.o.dh_groups[0]
        if cookie is None or getattr(self, "dh_group", None) != group:
            self.dh = get_dh_group(group).generate()
            self.dh_group = group
            self.nonce_i = self.random(32)
        payloads: list[Payload] = [Notify(NotifyType.COOKIE, data=cookie)] if cookie is not None else []
        payloads += [SA([self._proposal()]), KE(group, self.dh.public_bytes), Nonce(self.nonce_i)]
        nat_remote = ("0.0.0.0", 0) if self.o.fake_nat else self.o.local  # kernel-libipsec fakes NAT like this
        payloads += natd_notifies(self.spi_i, bytes(8), nat_remote, self.o.remote)
        if self.o.fragmentation:
            payloads.append(Notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED))
        payloads.append(Notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, data=bytes.fromhex("000200030004")))
        self.init_request = encode_message(Message(self.spi_i, bytes(8), ExchangeType.IKE_SA_INIT, 0, False, True,
                                                   payloads))
        answers = self.send(self.init_request)
        if not answers:
            raise IkeFailure(None, "no answer to IKE_SA_INIT")
        response = decode_message(answers[0])
        for n in response.notifies():
            if n.type == NotifyType.COOKIE:
                self.result.notifies.append(n.type)
                if cookie is not None and self.result.notifies.count(NotifyType.COOKIE) > 3:
                    raise IkeFailure(n.type, "responder keeps asking for a cookie")
                return self.ike_sa_init(group, cookie=n.data)  # RFC 7296 §2.6: same request, cookie first
            if n.type == NotifyType.INVALID_KE_PAYLOAD:
                self.result.notifies.append(n.type)
                wanted = int.from_bytes(n.data, "big")
                if wanted in self.o.dh_groups and wanted != group:
                    return self.ike_sa_init(wanted, cookie=cookie)
            if n.type < 16384:
                self.result.notifies.append(n.type)
                raise IkeFailure(n.type, f"IKE_SA_INIT refused: {NotifyType(n.type).name}")
        self.init_response = answers[0]
        self.spi_r = response.spi_r
        chosen = _require(response, SA, "IKE_SA_INIT response").proposals[0]
        by_type = {t.type: t for t in chosen.transforms}
        self.prf = get_prf(by_type[TransformType.PRF].id)
        encr_t = by_type[TransformType.ENCR]
        self.encr = get_encr(encr_t.id, encr_t.key_length)
        integ_t = by_type.get(TransformType.INTEG)
        self.integ = get_integ(integ_t.id) if integ_t and integ_t.id else None
        self.nonce_r = _require(response, Nonce, "IKE_SA_INIT response").data
        self.peer_multiple_auth = response.notify(NotifyType.MULTIPLE_AUTH_SUPPORTED) is not None
        hashes = response.notify(NotifyType.SIGNATURE_HASH_ALGORITHMS)
        data = hashes.data if hashes is not None else b""
        self.peer_hash_algorithms = {int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data) - 1, 2)}
        shared = self.dh.exchange(_require(response, KE, "IKE_SA_INIT response").data)
        self.keys = derive_ike_keys(self.prf, self.encr, self.integ, self.nonce_i, self.nonce_r, shared,
                                    self.spi_i, self.spi_r)
        self.sk = SkKeys(encr=self.encr, integ=self.integ, sk_e_in=self.keys.sk_er, sk_a_in=self.keys.sk_ar,
                         sk_e_out=self.keys.sk_ei, sk_a_out=self.keys.sk_ai)
        self.message_id = 1

    # -- protected exchanges ------------------------------------------------------

    def exchange(self, exchange: int, payloads: list[Payload]) -> Message:
        overhead = 28 + (4 if self.o.remote[1] != 500 else 0)
        datagrams = protect_fragments(self.spi_i, self.spi_r, exchange, self.message_id, payloads, self.sk,
                                      fragment_size=self.o.fragment_size if self.o.fragmentation else 0,
                                      overhead=overhead, is_response=False, is_initiator=self.original_initiator,
                                      random=self.random)
        answers: list[bytes] = []
        for d in datagrams:
            answers += self.send(d)
        return self._answer(exchange, answers)

    def exchange_plaintext(self, exchange: int, first_payload: int, plaintext: bytes) -> Message:
        """Send `plaintext` (a payload chain starting with `first_payload`)
        sealed with the SA's real keys, whatever it holds: hostile tests."""
        route = Route(self.spi_i, self.spi_r, exchange, self.message_id, False, self.original_initiator)
        return self._answer(exchange, self.send(seal(route, PayloadType.SK, first_payload, b"", plaintext, self.sk,
                                                     self.random)))

    def _answer(self, exchange: int, datagrams: list[bytes]) -> Message:
        self.message_id += 1
        answers: list[bytes] = []
        for raw in datagrams:
            # a request of the responder's own (a Delete) may leave with its answer
            (answers if Header.parse(raw).is_response else self.peer_requests).append(raw)
        reassembler = FragmentReassembler(self.sk)
        for raw in answers:
            if Header.parse(raw).next_payload == PayloadType.SKF:
                self.result.fragments_received += 1
                message = reassembler.add(raw, 0.0)
                if message is not None:
                    return message
            else:
                return unprotect_message(raw, self.sk)
        raise IkeFailure(None, f"no complete answer to exchange {exchange}")

    def _fail_on_error(self, message: Message) -> None:
        for n in message.notifies():
            if n.type < 16384:
                self.result.notifies.append(n.type)
                raise IkeFailure(n.type, f"responder sent {NotifyType(n.type).name}")

    def _own_idi(self) -> IDi:
        if self.o.client_idi is not None:
            return self.o.client_idi
        if self.o.client_certificate is not None:
            return IDi(IdType.ID_DER_ASN1_DN, self.o.client_certificate.subject.public_bytes())
        return self._named_idi()

    def _named_idi(self) -> IDi:
        """The IDi of an EAP round: the identity or username."""
        name = self.o.identity or self.o.username
        kind = self.o.identity_type or (IdType.ID_RFC822_ADDR if "@" in name else IdType.ID_KEY_ID)
        return IDi(kind, name.encode())

    def _certificate_auth(self, idi: IDi) -> list[Payload]:
        """CERT payloads and our signature AUTH (RFC 7427 with the hashes the
        responder announced, else the classic method of the key)."""
        cert, key = self.o.client_certificate, self.o.client_key
        if cert is None:
            return []
        if key is None:
            raise ValueError("client_certificate needs client_key")
        octets = ike_auth.signed_octets(self.init_request, self.nonce_r, self.prf, self.keys.sk_pi, idi.body())
        method, data = ike_auth.sign(key, octets, self.peer_hash_algorithms)
        certs = [CERT(CertEncoding.X509_SIGNATURE, c.public_bytes(Encoding.DER))
                 for c in (cert, *self.o.client_chain)]
        return [*certs, AUTH(method, data)]

    def ike_auth(self) -> Result:
        idi = self._own_idi()
        self.idi = idi
        self.esp_spi = int.from_bytes(self.random(4), "big") | 0x100
        esp = Proposal(1, ProtocolId.ESP, self.esp_spi.to_bytes(4, "big"), [
            Transform(TransformType.ENCR, self.o.esp_encr[0], self.o.esp_encr[1]),
            Transform(TransformType.INTEG, self.o.esp_integ),
            Transform(TransformType.ESN, 0)])
        everything = TrafficSelector(TsType.TS_IPV4_ADDR_RANGE, 0, 0, 65535, IPv4Address("0.0.0.0"),
                                     IPv4Address("255.255.255.255"))
        everything6 = TrafficSelector(TsType.TS_IPV6_ADDR_RANGE, 0, 0, 65535, IPv6Address(0),
                                      IPv6Address(2**128 - 1))
        default_ts = [everything, everything6] if self.o.ipv6 else [everything]
        asked = [ConfigAttribute(ConfigAttr.INTERNAL_IP4_ADDRESS, b""), ConfigAttribute(ConfigAttr.INTERNAL_IP4_DNS, b"")]
        if self.o.ipv6:
            asked += [ConfigAttribute(ConfigAttr.INTERNAL_IP6_ADDRESS, b""), ConfigAttribute(ConfigAttr.INTERNAL_IP6_DNS, b"")]
        contact = [Notify(NotifyType.INITIAL_CONTACT)] if self.o.initial_contact else []
        if self.o.mobike:
            contact.append(Notify(NotifyType.MOBIKE_SUPPORTED))
        if self.o.then_eap:
            contact += [Notify(n) for n in self.o.multiple_auth_notifies]
        first = self.exchange(ExchangeType.IKE_AUTH, [
            idi, *self._certificate_auth(idi), *contact, IDr(IdType.ID_FQDN, self.o.responder_id.encode()),
            CP(ConfigType.CFG_REQUEST, asked),
            SA([esp]), TSi(list(self.o.tsi or default_ts)), TSr(list(self.o.tsr or default_ts)),
        ])
        self._fail_on_error(first)
        self._verify_responder(first)
        # the responder's AUTH covers the IDr it sent (the profile's), not the one asked for
        idr = first.get(IDr) or IDr(IdType.ID_FQDN, self.o.responder_id.encode())
        if self.o.client_certificate is not None and not self.o.then_eap:
            return self._established(first)
        if self.o.then_eap:
            # RFC 4739 §3: the certificate round is answered without the Child SA;
            # the EAP round has its own IDi, which the AUTH after EAP covers
            if first.get(SA) is not None:
                raise IkeFailure(None, "responder sent the Child SA before the second authentication round")
            idi = self.idi = self._named_idi()
            first = self.exchange(ExchangeType.IKE_AUTH, [idi])
            self._fail_on_error(first)
        eap = first.get(EAP)
        if eap is None:
            raise IkeFailure(None, "responder sent no EAP request")
        msk = self._eap(eap.data)
        octets_i = ike_auth.signed_octets(self.init_request, self.nonce_r, self.prf, self.keys.sk_pi, idi.body())
        key = msk if msk is not None else self.keys.sk_pi
        final = self.exchange(ExchangeType.IKE_AUTH,
                              [AUTH(AuthMethod.SHARED_KEY_MIC, ike_auth.shared_key_auth(self.prf, key, octets_i))])
        self._fail_on_error(final)
        self.peer_mobike = final.notify(NotifyType.MOBIKE_SUPPORTED) is not None
        octets_r = ike_auth.signed_octets(self.init_response, self.nonce_i, self.prf, self.keys.sk_pr, idr.body())
        key_r = msk if msk is not None else self.keys.sk_pr
        auth_r = _require(final, AUTH, "last IKE_AUTH response")
        if auth_r.data != ike_auth.shared_key_auth(self.prf, key_r, octets_r):
            raise IkeFailure(None, "responder's MSK AUTH did not verify")
        return self._established(final)

    def _established(self, final: Message) -> Result:
        self.peer_mobike = final.notify(NotifyType.MOBIKE_SUPPORTED) is not None
        cp = final.get(CP)
        if cp is not None:
            for a in cp.attributes:
                if a.type == ConfigAttr.INTERNAL_IP4_ADDRESS:
                    self.result.address = IPv4Address(a.value)
                elif a.type == ConfigAttr.INTERNAL_IP4_NETMASK:
                    self.result.netmask = IPv4Address(a.value)
                elif a.type == ConfigAttr.INTERNAL_IP4_DNS:
                    self.result.dns.append(IPv4Address(a.value))
                elif a.type == ConfigAttr.INTERNAL_IP6_ADDRESS and len(a.value) == 17:
                    self.result.address6, self.result.prefix6 = IPv6Address(a.value[:16]), a.value[16]
                elif a.type == ConfigAttr.INTERNAL_IP6_DNS and len(a.value) == 16:
                    self.result.dns6.append(IPv6Address(a.value))
        sa = final.get(SA)
        if sa is not None:
            self.result.esp_spi_out = int.from_bytes(sa.proposals[0].spi, "big")
            self.result.esp_spi_in = self.esp_spi
            self.result.tsi = _require(final, TSi, "IKE_AUTH response with an SA").selectors
            self.result.tsr = _require(final, TSr, "IKE_AUTH response with an SA").selectors
        return self.result

    def _verify_responder(self, message: Message) -> None:
        cert = message.get(CERT)
        auth = message.get(AUTH)
        idr = message.get(IDr)
        if cert is None or auth is None or idr is None or cert.encoding != CertEncoding.X509_SIGNATURE:
            raise IkeFailure(None, "responder did not authenticate with a certificate")
        certificate = x509.load_der_x509_certificate(cert.data)
        public_key = certificate.public_key()
        if not isinstance(public_key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)):
            raise IkeFailure(None, f"responder's certificate holds a {type(public_key).__name__}, "
                                   "not an RSA, ECDSA or Ed25519 key")
        octets = ike_auth.signed_octets(self.init_response, self.nonce_i, self.prf, self.keys.sk_pr, idr.body())
        if not ike_auth.verify(public_key, auth.method, auth.data, octets):
            raise IkeFailure(None, "responder's signature did not verify")
        self.result.responder_certificate = certificate

    # -- EAP client (RFC 3748, RFC 2759, draft-kamath-pppext-eap-mschapv2) --------

    def _eap(self, first_request: bytes) -> bytes | None:
        try:
            return self._eap_rounds(first_request)
        finally:
            if self._peap is not None:
                self._peap.close()  # its key log folder, if the handshake never finished

    def _eap_rounds(self, first_request: bytes) -> bytes | None:
        request = EapPacket.parse(first_request)
        peer = EapClient(self.o.username, self.o.password, self.o.eap_method, self.random)
        peap_msk: bytes | None = None
        while True:
            if request.code == EapCode.SUCCESS:
                return peap_msk if self._peap is not None else peer.msk
            if request.code == EapCode.FAILURE:
                raise IkeFailure(NotifyType.AUTHENTICATION_FAILED, "EAP failure")
            try:
                # PEAP is the lab's own (lab/peap.py); the product's client answers the rest
                if request.type == PEAP and self.o.eap_method == PEAP:
                    reply, peap_msk = self._peap_reply(request)
                else:
                    reply = peer.reply(request)
            except EapClientError as exc:
                raise IkeFailure(None, str(exc)) from None
            message = self.exchange(ExchangeType.IKE_AUTH, [EAP(reply.pack())])
            eap = message.get(EAP)
            if eap is None:
                self._fail_on_error(message)
                raise IkeFailure(None, "no EAP payload in the answer")
            try:
                self._fail_on_error(message)
            except IkeFailure:
                if EapPacket.parse(eap.data).code == EapCode.FAILURE:
                    raise IkeFailure(NotifyType.AUTHENTICATION_FAILED, "EAP failure + AUTHENTICATION_FAILED")
                raise
            request = EapPacket.parse(eap.data)

    def _peap_reply(self, req: EapPacket) -> tuple[EapPacket, bytes | None]:
        if self._peap is None:
            self._peap = PeapClient(self.o.username, self.o.password, self.o.peap_ca,
                                    self.o.peap_fragment_size, self.random)
        try:
            reply = self._peap.respond(req)
        except PeapError as exc:
            self._peap.close()
            raise IkeFailure(None, f"PEAP: {exc}") from None
        return reply, self._peap.msk

    # -- CREATE_CHILD_SA (RFC 7296 §1.3) -----------------------------------------------

    def _esp_proposal(self, spi: int, pfs_groups: Sequence[int] = ()) -> Proposal:
        return Proposal(1, ProtocolId.ESP, spi.to_bytes(4, "big"), [
            Transform(TransformType.ENCR, self.o.esp_encr[0], self.o.esp_encr[1]),
            Transform(TransformType.INTEG, self.o.esp_integ),
            *[Transform(TransformType.DH, g) for g in pfs_groups],
            Transform(TransformType.ESN, 0)])

    def rekey_child(self, pfs_groups: Sequence[int] = (), ke_group: int | None = None, delete_old: bool = True,
                    nonce: bytes | None = None) -> tuple[int, int]:
        """Rekey the Child SA, then delete the old one; returns the new
        (our inbound SPI, the responder's inbound SPI). With `pfs_groups`
        the proposal offers them and a KE in `ke_group` (the first by
        default) goes along (RFC 7296 §1.3.1); the DH secret is kept in
        `child_shared_secret`, the nonces in `child_nonces`."""
        new_spi = int.from_bytes(self.random(4), "big") | 0x100
        nonce = nonce or self.random(32)
        payloads: list[Payload] = [
            Notify(NotifyType.REKEY_SA, protocol=ProtocolId.ESP, spi=self.esp_spi.to_bytes(4, "big")),
            SA([self._esp_proposal(new_spi, pfs_groups)]), Nonce(nonce)]
        private = None
        if pfs_groups:
            private = get_dh_group(ke_group or pfs_groups[0]).generate()
            payloads.append(KE(ke_group or pfs_groups[0], private.public_bytes))
        answer = self.exchange(ExchangeType.CREATE_CHILD_SA,
                               payloads + [TSi(self.result.tsi), TSr(self.result.tsr)])
        self._fail_on_error(answer)
        self.child_nonces = (nonce, _require(answer, Nonce, "Child SA rekey response").data)
        ke_r = answer.get(KE)
        self.child_shared_secret = private.exchange(ke_r.data) if private is not None and ke_r else None
        responder_spi = int.from_bytes(_require(answer, SA, "Child SA rekey response").proposals[0].spi, "big")
        old = self.esp_spi
        self.peer_child_spis.add(self.result.esp_spi_out)
        if not delete_old:  # a collision (RFC 7296 §2.8.1) is the caller's to resolve
            self.esp_spi = new_spi
            self.result.esp_spi_in, self.result.esp_spi_out = new_spi, responder_spi
            return new_spi, responder_spi
        gone = self.exchange(ExchangeType.INFORMATIONAL, [Delete(ProtocolId.ESP, [old.to_bytes(4, "big")])])
        self.deleted_child_answer = [d for d in gone.payloads if isinstance(d, Delete)]
        self.esp_spi = new_spi
        self.result.esp_spi_in, self.result.esp_spi_out = new_spi, responder_spi
        return new_spi, responder_spi

    def rekey_ike(self, delete_old: bool = True) -> None:
        """Rekey the IKE SA (new SPIs, keys from the old SK_d), delete the
        old one (unless told not to, as a misbehaving client would not)."""
        new_spi_i = self.random(8)
        group = self.dh_group
        dh = get_dh_group(group).generate()
        nonce_i = self.random(32)
        proposal = self._proposal()
        proposal = Proposal(1, ProtocolId.IKE, new_spi_i, proposal.transforms)
        answer = self.exchange(ExchangeType.CREATE_CHILD_SA, [SA([proposal]), Nonce(nonce_i), KE(group, dh.public_bytes)])
        self._fail_on_error(answer)
        chosen = _require(answer, SA, "IKE SA rekey response").proposals[0]
        nonce_r = _require(answer, Nonce, "IKE SA rekey response").data
        shared = dh.exchange(_require(answer, KE, "IKE SA rekey response").data)
        keys = derive_rekeyed_ike_keys(self.prf, self.keys.sk_d, self.prf, self.encr, self.integ, nonce_i, nonce_r,
                                       shared, new_spi_i, chosen.spi)
        if delete_old:
            self.exchange(ExchangeType.INFORMATIONAL, [Delete(ProtocolId.IKE, [])])  # on the old SA
        self.spi_i, self.spi_r, self.keys, self.message_id = new_spi_i, chosen.spi, keys, 0
        self.original_initiator = True  # of the SA our rekey made (RFC 7296 §2.18)
        self.sk = SkKeys(encr=self.encr, integ=self.integ, sk_e_in=keys.sk_er, sk_a_in=keys.sk_ar,
                         sk_e_out=keys.sk_ei, sk_a_out=keys.sk_ai)

    # -- requests from the responder (Delete, liveness checks) ---------------------

    def answer(self, datagram: bytes) -> list[bytes]:
        """Answer a request the responder initiated; returns our response."""
        header = Header.parse(datagram)
        request = unprotect_message(datagram, self.sk)
        payloads: list[Payload] = []
        if any(isinstance(p, Delete) and p.protocol == ProtocolId.IKE for p in request.payloads):
            self.deleted_by_peer = True
        for delete in request.get_all(Delete):
            if delete.protocol == ProtocolId.ESP:
                self.peer_deleted_esp += [int.from_bytes(spi, "big") for spi in delete.spis]
        if header.exchange == ExchangeType.CREATE_CHILD_SA:
            offer = request.get(SA)
            if offer is not None and offer.proposals and offer.proposals[0].protocol == ProtocolId.IKE:
                payloads = self._answer_ike_rekey(request)
            else:
                payloads = self._answer_child_rekey(request)
        self.requests_answered += 1
        answer = protect_fragments(self.spi_i, self.spi_r, header.exchange, header.message_id, payloads, self.sk,
                                 fragment_size=0, overhead=28, is_response=True,
                                 is_initiator=self.original_initiator, random=self.random)
        if self.deleted_by_peer and self.rekeyed_sa is not None:
            self.adopt_rekeyed_sa()  # the old IKE SA is gone: on with the new one (§2.8)
        return answer

    def _answer_ike_rekey(self, request: Message) -> list[Payload]:
        """The responder rekeys the IKE SA (RFC 7296 §1.3.2): we answer as
        the exchange's responder, so the new SA's original initiator is the
        responder (§2.18); we move to it once the old one is deleted."""
        if self.ike_rekey_refusals:
            return [self.ike_rekey_refusals.pop(0)]
        offer, nonce, ke = request.get(SA), request.get(Nonce), request.get(KE)
        if offer is None or nonce is None or ke is None:
            return [Notify(NotifyType.INVALID_SYNTAX)]
        proposal = offer.proposals[0]
        if ke.group not in self.o.dh_groups:
            return [Notify(NotifyType.INVALID_KE_PAYLOAD, data=self.o.dh_groups[0].to_bytes(2, "big"))]
        transforms = [t for t in proposal.transforms if t.type != TransformType.DH]
        transforms.append(Transform(TransformType.DH, ke.group))
        our_spi = self.random(8)
        nonce_r = self.answer_nonce or self.random(32)
        self.answer_nonce = None
        private = get_dh_group(ke.group).generate()
        shared = private.exchange(ke.data)
        keys = derive_rekeyed_ike_keys(self.prf, self.keys.sk_d, self.prf, self.encr, self.integ, nonce.data, nonce_r,
                                       shared, proposal.spi, our_spi)
        # the responder is the new SA's original initiator: it sends with SK_ei
        sk = SkKeys(encr=self.encr, integ=self.integ, sk_e_in=keys.sk_ei, sk_a_in=keys.sk_ai,
                    sk_e_out=keys.sk_er, sk_a_out=keys.sk_ar)
        self.rekeyed_sa = (proposal.spi, our_spi, keys, sk)
        self.ike_rekeys_answered += 1
        return [SA([Proposal(proposal.number, ProtocolId.IKE, our_spi, transforms)]), Nonce(nonce_r),
                KE(ke.group, private.public_bytes)]

    def adopt_rekeyed_sa(self) -> None:
        """Continue on the IKE SA the responder's rekey made, as its original responder."""
        assert self.rekeyed_sa is not None
        self.spi_i, self.spi_r, self.keys, self.sk = self.rekeyed_sa
        self.rekeyed_sa, self.original_initiator, self.message_id = None, False, 0
        self.deleted_by_peer = False

    def _answer_child_rekey(self, request: Message) -> list[Payload]:
        """The responder rekeys our Child SA (RFC 7296 §1.3.3): we answer as
        the exchange's responder, so its keys come first (§2.17)."""
        if self.child_rekey_refusals:
            return [self.child_rekey_refusals.pop(0)]
        rekey = request.notify(NotifyType.REKEY_SA)
        offer, nonce, ke = request.get(SA), request.get(Nonce), request.get(KE)
        tsi, tsr = request.get(TSi), request.get(TSr)
        if rekey is None or offer is None or nonce is None or tsi is None or tsr is None:
            return [Notify(NotifyType.INVALID_SYNTAX)]
        if int.from_bytes(rekey.spi, "big") not in self.peer_child_spis | {self.result.esp_spi_out}:
            return [Notify(NotifyType.CHILD_SA_NOT_FOUND, protocol=ProtocolId.ESP, spi=rekey.spi)]
        chosen = next((p for p in offer.proposals
                       if any(t.type == TransformType.ENCR and (t.id, t.key_length) == self.o.esp_encr
                              for t in p.transforms)), None)
        if chosen is None:
            return [Notify(NotifyType.NO_PROPOSAL_CHOSEN)]
        if self.answer_pfs_group is not None and (ke is None or ke.group != self.answer_pfs_group):
            return [Notify(NotifyType.INVALID_KE_PAYLOAD, data=self.answer_pfs_group.to_bytes(2, "big"))]
        transforms = [next(t for t in chosen.transforms if t.type == kind)
                      for kind in (TransformType.ENCR, TransformType.INTEG, TransformType.DH, TransformType.ESN)
                      if any(t.type == kind for t in chosen.transforms)]
        new_spi = int.from_bytes(self.random(4), "big") | 0x100
        nonce_r = self.answer_nonce or self.random(32)
        self.answer_nonce = None
        reply: list[Payload] = [SA([Proposal(chosen.number, ProtocolId.ESP, new_spi.to_bytes(4, "big"), transforms)]),
                                Nonce(nonce_r)]
        shared = None
        if ke is not None:
            private = get_dh_group(ke.group).generate()
            shared = private.exchange(ke.data)
            reply.append(KE(ke.group, private.public_bytes))
        encr = get_encr(*self.o.esp_encr)
        integ_id = next((t.id for t in transforms if t.type == TransformType.INTEG), 0)
        integ_size = get_integ(integ_id).key_size if integ_id else 0
        self.child_keys = derive_child_keys(self.prf, self.keys.sk_d, nonce.data, nonce_r, encr.key_size, integ_size,
                                            shared)
        self.child_nonces, self.child_shared_secret = (nonce.data, nonce_r), shared
        self.esp_spi = new_spi
        self.result.esp_spi_in = new_spi
        self.result.esp_spi_out = int.from_bytes(chosen.spi, "big")
        return reply + [TSi(tsi.selectors), TSr(tsr.selectors)]

    # -- a new address (RFC 7296 §2.23, RFC 4555) -------------------------------------

    def moved(self, local: tuple[str, int], send: Send) -> None:
        """From now on we send from `local` (a new NAT mapping, a new
        interface): `send` is the path from there."""
        self.o.local, self.send = local, send

    def update_sa_addresses(self, natd: bool = True, extra: Sequence[Payload] = ()) -> Message:
        """RFC 4555 §3.5: ask the responder to move the SA to where this
        request comes from, with our NAT-D for the new path."""
        payloads: list[Payload] = [Notify(NotifyType.UPDATE_SA_ADDRESSES)]
        if natd:
            nat_local = ("0.0.0.0", 0) if self.o.fake_nat else self.o.local
            payloads += natd_notifies(self.spi_i, self.spi_r, nat_local, self.o.remote)
        payloads += list(extra)
        return self.exchange(ExchangeType.INFORMATIONAL, payloads)

    def liveness_check(self) -> Message:
        """An empty INFORMATIONAL request (RFC 7296 §1.4), strongSwan's DPD."""
        return self.exchange(ExchangeType.INFORMATIONAL, [])

    # -- teardown -------------------------------------------------------------------

    def delete(self) -> None:
        message = self.exchange(ExchangeType.INFORMATIONAL, [Delete(ProtocolId.IKE, [])])
        self._fail_on_error(message)

    def connect(self) -> Result:
        self.ike_sa_init()
        return self.ike_auth()
