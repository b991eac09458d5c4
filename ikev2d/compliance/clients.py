"""Which native IKEv2 clients a configuration admits (`check-config --clients`).

Each client's default offer is written once, in strongSwan's proposal
syntax (docs/native-clients.md says where each list comes from); the same
strings configure the strongSwan client that impersonates it in
tests/interop/test_native_clients.py. The verdict runs the engine's own
selection (tasks/proposals.py select_ike/select_esp) on that offer, so it
cannot drift from what `ikev2d run` answers on the wire.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..conf.model import Config, ConnectionProfile, IkePolicy, IpsecProposal
from ..iana import DhId, EapType, EncrId, EsnId, IntegId, PrfId, ProtocolId, TransformType
from ..tasks.proposals import AEAD_CIPHERS, select_esp, select_ike
from ..wire.sa import Proposal, Transform

# strongSwan keyword -> (transform type, id, key bits); only what the clients below use
_ENCR: dict[str, tuple[int, int]] = {
    "aes128": (EncrId.AES_CBC, 128), "aes192": (EncrId.AES_CBC, 192), "aes256": (EncrId.AES_CBC, 256),
    "3des": (EncrId.TRIPLE_DES, 0), "des": (EncrId.DES, 0), "null": (EncrId.NULL, 0),
    "aes128gcm16": (EncrId.AES_GCM_16, 128), "aes192gcm16": (EncrId.AES_GCM_16, 192),
    "aes256gcm16": (EncrId.AES_GCM_16, 256), "chacha20poly1305": (EncrId.CHACHA20_POLY1305, 0),
}
_INTEG: dict[str, int] = {"md5": IntegId.HMAC_MD5_96, "sha1": IntegId.HMAC_SHA1_96,
                          "sha256": IntegId.HMAC_SHA2_256_128, "sha384": IntegId.HMAC_SHA2_384_192,
                          "sha512": IntegId.HMAC_SHA2_512_256}
# strongSwan derives the PRFs from the integrity algorithms when none is named
_PRF_OF_INTEG: dict[int, int] = {IntegId.HMAC_MD5_96: PrfId.HMAC_MD5, IntegId.HMAC_SHA1_96: PrfId.HMAC_SHA1,
                                 IntegId.HMAC_SHA2_256_128: PrfId.HMAC_SHA2_256,
                                 IntegId.HMAC_SHA2_384_192: PrfId.HMAC_SHA2_384,
                                 IntegId.HMAC_SHA2_512_256: PrfId.HMAC_SHA2_512}
_PRF: dict[str, int] = {"prfmd5": PrfId.HMAC_MD5, "prfsha1": PrfId.HMAC_SHA1, "prfsha256": PrfId.HMAC_SHA2_256,
                        "prfsha384": PrfId.HMAC_SHA2_384, "prfsha512": PrfId.HMAC_SHA2_512}
_DH: dict[str, int] = {"modp768": DhId.MODP_768, "modp1024": DhId.MODP_1024, "modp1536": DhId.MODP_1536,
                       "modp2048": DhId.MODP_2048, "modp3072": DhId.MODP_3072, "modp4096": DhId.MODP_4096,
                       "modp6144": DhId.MODP_6144, "modp8192": DhId.MODP_8192, "ecp256": DhId.ECP_256,
                       "ecp384": DhId.ECP_384, "ecp521": DhId.ECP_521, "modp2048s256": DhId.MODP_2048_256,
                       "curve25519": DhId.CURVE25519, "curve448": DhId.CURVE448}
_ESP_SPI = (0x1000).to_bytes(4, "big")  # any SPI select_esp accepts (>= 256)


def parse_offer(text: str, protocol: int, in_ike_auth: bool = False) -> list[Proposal]:
    """strongSwan proposals (`aes256-sha256-modp2048, aes256gcm16`) as the
    SA payload's proposals. With `in_ike_auth` the DH groups of ESP
    proposals are dropped, as strongSwan does for the first Child SA
    (RFC 7296 §1.2: no KE in IKE_AUTH)."""
    out: list[Proposal] = []
    for number, proposal in enumerate((p.strip() for p in text.split(",") if p.strip()), start=1):
        encr: list[Transform] = []
        integ: list[Transform] = []
        prf: list[Transform] = []
        dh: list[Transform] = []
        for word in proposal.split("-"):
            if word in _ENCR:
                encr_id, bits = _ENCR[word]
                encr.append(Transform(TransformType.ENCR, encr_id, bits or None))
            elif word in _INTEG:
                integ.append(Transform(TransformType.INTEG, _INTEG[word]))
            elif word in _PRF:
                prf.append(Transform(TransformType.PRF, _PRF[word]))
            elif word in _DH:
                dh.append(Transform(TransformType.DH, _DH[word]))
            else:
                raise ValueError(f"unknown strongSwan keyword {word!r} in {proposal!r}")
        aead = any(t.id in AEAD_CIPHERS or t.id == EncrId.CHACHA20_POLY1305 for t in encr)
        if protocol == ProtocolId.IKE:
            if not prf:
                prf = [Transform(TransformType.PRF, _PRF_OF_INTEG[t.id]) for t in integ]
            transforms = encr + ([] if aead else integ) + prf + dh
            out.append(Proposal(number, protocol, b"", transforms))
        else:
            transforms = encr + ([] if aead else integ) + ([] if in_ike_auth else dh)
            transforms.append(Transform(TransformType.ESN, EsnId.NO_ESN))
            out.append(Proposal(number, protocol, _ESP_SPI, transforms))
    return out


@dataclass(frozen=True)
class NativeClient:
    """A client's default IKEv2 behaviour, as far as its sources say."""

    key: str  # for --json and test ids
    name: str
    ike: str  # strongSwan syntax, proposals separated by commas
    esp: str  # the first Child SA's offer (DH groups are dropped in IKE_AUTH)
    eap_methods: tuple[EapType, ...]  # EAP with username/password it can do, preferred first
    idi: str  # what it sends as IDi, in words
    # what the interop test's strongSwan sends as IDi to make the same kind of identity
    test_identity: str
    sends_idr: bool  # does it ask for an IDr by default (profile selection by IDr)?


# Windows sends one proposal per combination (logs in docs/native-clients.md):
# each cipher with each hash, then (Windows 11) AES-GCM with each PRF, all group 2
_WINDOWS_HASHES = ("sha1", "sha256", "sha384")
WINDOWS = NativeClient(
    "windows", "Windows 10/11 (default)",
    ike=",".join([f"{e}-{h}-modp1024" for e in ("3des", "aes128", "aes192", "aes256") for h in _WINDOWS_HASHES]
                 + [f"{e}-prf{h}-modp1024" for e in ("aes128gcm16", "aes256gcm16") for h in _WINDOWS_HASHES]),
    esp="aes256-aes128-3des-des-null-sha1",
    eap_methods=(EapType.MSCHAPV2,),
    idi="ID_IPV4_ADDR, its own address (the user name goes in EAP-Identity)",
    test_identity="%address", sends_idr=False,
)
WINDOWS_DH2048 = NativeClient(
    "windows-dh2048", "Windows 10/11 (NegotiateDH2048_AES256=2)",
    ike="aes256-sha1-sha256-sha384-modp2048",  # integrity list *unconfirmed*: assumed unchanged
    esp="aes256-aes128-3des-des-null-sha1",
    eap_methods=(EapType.MSCHAPV2,),
    idi="ID_IPV4_ADDR, its own address",
    test_identity="%address", sends_idr=False,
)
APPLE = NativeClient(
    "apple", "iOS 16.5 / macOS 13.4 (default)",
    ike="aes256-sha256-modp2048,aes256-sha256-ecp256,aes256-sha256-modp1536,"
        "aes128-sha1-modp1024,3des-sha1-modp1024",
    esp="aes256gcm16,aes128gcm16,aes256-sha256,aes128-sha1,3des-sha1",
    eap_methods=(EapType.MSCHAPV2,),
    idi="the profile's Local ID (type from its form: FQDN, user@FQDN, address); *unconfirmed* when empty",
    test_identity="alice", sends_idr=True,
)
ANDROID = NativeClient(
    "android", "strongSwan app for Android (default)",
    ike="aes128-aes192-aes256-sha256-sha384-sha512-sha1-curve25519-ecp256-ecp384-ecp521-"
        "modp3072-modp4096-modp6144-modp8192-modp2048,"
        "aes128gcm16-aes192gcm16-aes256gcm16-chacha20poly1305-prfsha256-prfsha384-prfsha512-prfsha1-curve25519-"
        "ecp256-ecp384-ecp521-modp3072-modp4096-modp6144-modp8192-modp2048",
    esp="aes256gcm16-aes128gcm16-chacha20poly1305-curve25519-ecp384-ecp521-modp3072-modp4096-ecp256-modp8192,"
        "aes256-aes192-aes128-sha384-sha256-sha512-sha1-curve25519-ecp384-ecp521-modp3072-modp4096-ecp256-"
        "modp2048-modp8192,"
        "aes256gcm16-aes128gcm16-chacha20poly1305,"
        "aes256-aes192-aes128-sha384-sha256-sha512-sha1",
    eap_methods=(EapType.MSCHAPV2, EapType.MD5_CHALLENGE, EapType.GTC),
    idi="the user name (ID_FQDN, or ID_RFC822_ADDR with an @) unless an IKE identity is set",
    test_identity="alice", sends_idr=False,
)
ANYCONNECT = NativeClient(
    "anyconnect", "AnyConnect, IKEv2 standards mode (*unconfirmed* offer)",
    ike="aes256gcm16-aes192gcm16-aes128gcm16-prfsha512-prfsha384-prfsha256-prfsha1-"
        "ecp521-ecp384-ecp256-modp4096-modp3072-modp2048,"
        "aes256-aes192-aes128-sha512-sha384-sha256-sha1-ecp521-ecp384-ecp256-modp4096-modp3072-modp2048",
    esp="aes256gcm16-aes192gcm16-aes128gcm16,aes256-aes192-aes128-sha512-sha384-sha256-sha1",
    eap_methods=(EapType.MSCHAPV2, EapType.GTC, EapType.MD5_CHALLENGE),
    idi="the profile's IKE Identity (standards mode); *$AnyConnectClient$* only in Cisco mode",
    test_identity="alice", sends_idr=False,
)
CLIENTS: tuple[NativeClient, ...] = (WINDOWS, WINDOWS_DH2048, APPLE, ANDROID, ANYCONNECT)


@dataclass(frozen=True)
class Verdict:
    client: NativeClient
    reasons: tuple[str, ...]  # empty: admitted
    ike_policy: str | None = None  # the policy / proposal that serves it
    ipsec_proposal: str | None = None
    ike_suite: str | None = None
    esp_suite: str | None = None

    @property
    def admitted(self) -> bool:
        return not self.reasons

    def render(self) -> str:
        if self.admitted:
            return (f"{self.client.name}: admitted: IKEv2 policy {self.ike_policy!r} ({self.ike_suite}), "
                    f"IPsec proposal {self.ipsec_proposal!r} ({self.esp_suite})")
        return f"{self.client.name}: refused: {'; '.join(self.reasons)}"

    def as_json(self) -> dict[str, object]:
        return {"client": self.client.key, "name": self.client.name, "admitted": self.admitted,
                "reasons": list(self.reasons), "ike_policy": self.ike_policy,
                "ipsec_proposal": self.ipsec_proposal, "ike": self.ike_suite, "esp": self.esp_suite}


def engine_policies(config: Config) -> tuple[list[IkePolicy], list[IpsecProposal]]:
    """The IKEv2 policies and IPsec proposals as ikev2d.settings.build_settings
    hands them to the engine: deployed ones only, policies by priority."""
    ra = config.remote_access_vpn
    policies = [p for p in config.ike_policies_in_priority_order() if p.name in ra.ike_policies]
    return policies, [config.ipsec_proposal(n) for n in ra.ipsec_proposals]


def _group(dh: int) -> str:
    try:
        return f"{DhId(dh).name} (group {dh})"
    except ValueError:
        return f"group {dh}"


def _encr(encr_id: int, bits: int | None) -> str:
    try:
        name = EncrId(encr_id).name
    except ValueError:
        name = str(encr_id)
    return f"{name}-{bits}" if bits else name


def _ids(offer: Sequence[Proposal], kind: int) -> list[tuple[int, int | None]]:
    seen: dict[tuple[int, int | None], None] = {}
    for p in offer:
        for t in p.transforms:
            if t.type == kind:
                seen[(t.id, t.key_length)] = None
    return list(seen)


def _why_ike(offer: Sequence[Proposal], policies: Sequence[IkePolicy]) -> str:
    if not policies:
        return "no IKEv2 policy is deployed"
    groups = [g for g, _ in _ids(offer, TransformType.DH)]
    if not any(g in p.dh_groups for p in policies for g in groups):
        return f"no IKEv2 policy offers {' or '.join(_group(g) for g in groups)}"
    encrs = _ids(offer, TransformType.ENCR)
    if not any((e, b or 0) in p.encryption for p in policies for e, b in encrs):
        return f"no IKEv2 policy offers the encryption {' or '.join(_encr(e, b) for e, b in encrs)}"
    prfs = [f for f, _ in _ids(offer, TransformType.PRF)]
    if not any(f in p.prf for p in policies for f in prfs):
        return f"no IKEv2 policy offers the PRF {' or '.join(PrfId(f).name for f in prfs)}"
    integs = [i for i, _ in _ids(offer, TransformType.INTEG)]
    if integs and not any(i in p.integrity for p in policies for i in integs):
        return f"no IKEv2 policy offers the integrity {' or '.join(IntegId(i).name for i in integs)}"
    return "no IKEv2 policy matches one of its IKE proposals as a whole: " + "; ".join(
        _ike_gaps(offer, p) for p in policies)


def _ike_gaps(offer: Sequence[Proposal], policy: IkePolicy) -> str:
    """What one policy lacks of the offer, per kind of transform."""
    gaps = []
    groups = [g for g, _ in _ids(offer, TransformType.DH)]
    if not any(g in policy.dh_groups for g in groups):
        gaps.append("DH groups")
    if not any((e, b or 0) in policy.encryption for e, b in _ids(offer, TransformType.ENCR)):
        gaps.append("encryptions")
    if not any(f in policy.prf for f, _ in _ids(offer, TransformType.PRF)):
        gaps.append("PRFs")
    integs = [i for i, _ in _ids(offer, TransformType.INTEG)]
    if integs and not any(i in policy.integrity for i in integs):
        gaps.append("integrity algorithms")
    if not gaps:
        return f"{policy.name!r} has each kind, but not in one of its proposals"
    return f"{policy.name!r} has none of its {' or '.join(gaps)}"


def _why_esp(offer: Sequence[Proposal], proposals: Sequence[IpsecProposal]) -> str:
    if not proposals:
        return "no IPsec proposal is deployed"
    encrs = _ids(offer, TransformType.ENCR)
    if not any((e, b or 0) in p.encryption for p in proposals for e, b in encrs):
        return f"no IPsec proposal offers the ESP encryption {' or '.join(_encr(e, b) for e, b in encrs)}"
    integs = [i for i, _ in _ids(offer, TransformType.INTEG)]
    if integs and not any(i in p.integrity for p in proposals for i in integs):
        return f"no IPsec proposal offers the ESP integrity {' or '.join(IntegId(i).name for i in integs)}"
    return "no IPsec proposal matches one of its ESP proposals as a whole"


def _why_auth(client: NativeClient, profile: ConnectionProfile) -> str | None:
    if profile.authentication_method != "aaa-only":
        return f"connection profile {profile.name!r} does not authenticate by EAP (aaa-only)"
    if not set(client.eap_methods) & set(profile.eap_methods):
        wanted = " or ".join(f"EAP-{m.name}" for m in client.eap_methods)
        return f"connection profile {profile.name!r} offers no {wanted} (eap_methods)"
    return None


def judge_client(config: Config, client: NativeClient) -> Verdict:
    policies, proposals = engine_policies(config)
    reasons: list[str] = []
    ike = select_ike(parse_offer(client.ike, ProtocolId.IKE), policies)
    if ike is None:
        reasons.append(_why_ike(parse_offer(client.ike, ProtocolId.IKE), policies))
    esp_offer = parse_offer(client.esp, ProtocolId.ESP, in_ike_auth=True)
    esp = select_esp(esp_offer, proposals)  # the first Child SA, in IKE_AUTH
    if esp is None:
        reasons.append(_why_esp(esp_offer, proposals))
    # without an IDr (or with one naming no profile) the default profile serves it
    profile = next((p for p in config.connection_profiles
                    if p.name == config.remote_access_vpn.default_connection_profile), None)
    if profile is not None and (why := _why_auth(client, profile)) is not None:
        reasons.append(why)
    return Verdict(client, tuple(reasons),
                   ike[2].name if ike else None, esp[2].name if esp else None,
                   ike[1].describe() if ike else None, esp[1].describe() if esp else None)


def judge_clients(config: Config, clients: Sequence[NativeClient] = CLIENTS) -> list[Verdict]:
    return [judge_client(config, c) for c in clients]
