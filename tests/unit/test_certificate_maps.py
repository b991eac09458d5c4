"""Certificate maps (FMC Objects > VPN > Certificate Map, RA VPN Advanced >
Certificate Maps; ASA `crypto ca certificate map` / `tunnel-group-map`):
each operator and field on its own, then three profiles chosen by the
client certificate in a full IKE_AUTH, the 717036/717037/717038 lines, and
a certificate no map matches under `require_match`."""

from __future__ import annotations

import datetime as dt
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from ikev2d.conf.errors import ConfigError
from ikev2d.conf.model import CertificateMap, CertificateMapRule
from ikev2d.core import Responder
from ikev2d.events import CertificateMapSearched, IkeSaEstablished, ProfileSelected
from ikev2d.iana import IdType, NotifyType
from ikev2d.pki.certificate_map import dn_text, first_match, rule_matches
from ikev2d.running_config import render_running_config
from ikev2d.settings import build_settings
from ikev2d.syslog.render import records_for
from ikev2d.tasks.profile_select import SelectedBy, select_profile
from ikev2d.wire.payloads import IDi
from lab.initiator import IkeFailure
from lab.pki import LabPki, PrivateKey, make_lab_pki, new_key

from responder_harness import Harness, make_config


def _cert(subject: str, issuer: str = "CN=Lab Root,O=ikev2d lab,C=US", sans: list[x509.GeneralName] | None = None,
          usages: list[x509.ObjectIdentifier] | None = None) -> x509.Certificate:
    key = new_key("ecdsa-p256")
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string(subject))
               .issuer_name(x509.Name.from_rfc4514_string(issuer)).public_key(key.public_key())
               .serial_number(0x4E81).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1)))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return builder.sign(key, hashes.SHA256())


CAROL = _cert("CN=Carol Jones,OU=Engineering,OU=Lab,O=ikev2d lab,C=US",
              sans=[x509.DNSName("carol.eng.example.test"), x509.RFC822Name("carol@example.test")],
              usages=[ExtendedKeyUsageOID.CLIENT_AUTH])


def _rule(field: str, operator: str, value: str, component: str | None = None) -> CertificateMapRule:
    return CertificateMapRule(field, component, operator, value)  # type: ignore[arg-type]


@pytest.mark.parametrize("operator, value, expected", [
    ("eq", "engineering", True),  # case ignored
    ("eq", "Engineer", False),
    ("ne", "Sales", True),
    ("ne", "ENGINEERING", False),
    ("co", "gineer", True),
    ("co", "Sales", False),
    ("nc", "Sales", True),
    ("nc", "gine", False),
])
def test_subject_attribute_operators(operator: str, value: str, expected: bool) -> None:
    assert rule_matches(_rule("subject-name", operator, value, "ou"), CAROL) is expected


def test_a_repeated_attribute_matches_by_any_value_and_differs_only_from_all() -> None:
    assert rule_matches(_rule("subject-name", "eq", "Lab", "ou"), CAROL)
    assert not rule_matches(_rule("subject-name", "ne", "Lab", "ou"), CAROL)


def test_an_absent_attribute_never_equals_and_always_differs() -> None:
    assert not rule_matches(_rule("subject-name", "eq", "x", "uid"), CAROL)
    assert rule_matches(_rule("subject-name", "ne", "x", "uid"), CAROL)
    assert rule_matches(_rule("subject-name", "nc", "x", "uid"), CAROL)


def test_whole_subject_and_issuer_fields() -> None:
    # in the certificate's order, as the ASA prints it (RFC 4514 strings run backwards)
    assert dn_text(CAROL.subject) == "c=US,o=ikev2d lab,ou=Lab,ou=Engineering,cn=Carol Jones"
    assert rule_matches(_rule("subject-name", "co", "ou=engineering"), CAROL)
    assert rule_matches(_rule("subject-name", "eq", "C=us,O=ikev2d lab,OU=Lab,OU=Engineering,CN=carol jones"), CAROL)
    assert rule_matches(_rule("issuer-name", "eq", "Lab Root", "cn"), CAROL)
    assert rule_matches(_rule("issuer-name", "co", "o=ikev2d"), CAROL)
    assert not rule_matches(_rule("issuer-name", "co", "ou=Engineering"), CAROL)


def test_alt_subject_name_and_extended_key_usage() -> None:
    assert rule_matches(_rule("alt-subject-name", "co", "eng.example.test"), CAROL)
    assert rule_matches(_rule("alt-subject-name", "eq", "CAROL@example.test"), CAROL)
    assert rule_matches(_rule("alt-subject-name", "nc", "sales"), CAROL)
    assert not rule_matches(_rule("alt-subject-name", "ne", "carol@example.test"), CAROL)
    assert rule_matches(_rule("extended-key-usage", "co", "clientauth"), CAROL)
    assert rule_matches(_rule("extended-key-usage", "co", "1.3.6.1.5.5.7.3.2"), CAROL)
    assert rule_matches(_rule("extended-key-usage", "nc", "serverauth"), CAROL)
    assert not rule_matches(_rule("extended-key-usage", "nc", "clientauth"), CAROL)
    bare = _cert("CN=bare")  # no SAN, no EKU
    assert not rule_matches(_rule("alt-subject-name", "co", "example"), bare)
    assert not rule_matches(_rule("extended-key-usage", "co", "clientauth"), bare)


def test_every_rule_of_a_map_must_match_and_the_first_mapping_wins() -> None:
    eng_and_sales = CertificateMap("BOTH", (_rule("subject-name", "eq", "Engineering", "ou"),
                                            _rule("subject-name", "eq", "Sales", "ou")))
    eng = CertificateMap("ENG", (_rule("subject-name", "eq", "Engineering", "ou"),
                                 _rule("issuer-name", "eq", "US", "c")))
    lab = CertificateMap("LAB", (_rule("subject-name", "eq", "Lab", "ou"),))
    match = first_match([(eng_and_sales, "Both"), (eng, "Engineering"), (lab, "Lab")], CAROL)
    assert match is not None and (match.certificate_map, match.profile) == ("ENG", "Engineering")
    match = first_match([(lab, "Lab"), (eng, "Engineering")], CAROL)
    assert match is not None and match.profile == "Lab"
    assert first_match([(eng_and_sales, "Both")], CAROL) is None


# --- in IKE_AUTH -----------------------------------------------------------------

MAPS = """  certificate_maps:
    - name: ENG-MAP
      rules:
        - {field: subject-name, component: ou, operator: eq, value: Engineering}
    - name: SALES-MAP
      rules:
        - {field: subject-name, component: ou, operator: co, value: sales}
        - {field: extended-key-usage, operator: co, value: clientauth}
  # FMC: Objects > Local Realm"""


def _config_text(lab_pki: LabPki, require: bool = False) -> dict[str, str]:
    cert_profile = """    authentication:
      method: client-certificate
    identity_certificate: VPN-Identity
    enable_client_services: false
"""
    return {
        "  # FMC: Objects > Local Realm": f"""  trusted_ca_certificates:
    - name: LAB-CA
      certificate: {lab_pki.ca_cert}
""" + MAPS,
        "  default_connection_profile: CCIElab": f"""  default_connection_profile: CCIElab
  certificate_mapping:
    use_configured_rules: true
    require_match: {str(require).lower()}
    mappings:
      - {{certificate_map: ENG-MAP, connection_profile: Engineering}}
      - {{certificate_map: SALES-MAP, connection_profile: Sales}}""",
        "      method: aaa-only ": "      method: client-certificate ",
        "    enable_client_services: false\n\n": f"""    enable_client_services: false
  - name: Sales
    address_pools: [Sales-Pool]
    group_policy: GP-CCIElab
{cert_profile}  - name: Engineering
    address_pools: [Eng-Pool]
    group_policy: GP-CCIElab
{cert_profile}
""",
        "      mask: 255.255.255.0\n\n": """      mask: 255.255.255.0
    - name: Sales-Pool
      range: 198.19.1.10-198.19.1.20
      mask: 255.255.255.0
    - name: Eng-Pool
      range: 198.19.2.10-198.19.2.20
      mask: 255.255.255.0

""",
    }


@pytest.fixture(scope="module")
def lab_pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return make_lab_pki(tmp_path_factory.mktemp("labpki"))


def _harness(tmp_path: Path, pki_dir: Path, lab_pki: LabPki, require: bool = False) -> Harness:
    text = _config_text(lab_pki, require)
    text[f"store: {tmp_path / 'pki'}"] = f"store: {pki_dir}"
    return Harness(Responder(build_settings(make_config(tmp_path, **text))))


def _user(lab_pki: LabPki, name: str, unit: str | None) -> tuple[x509.Certificate, PrivateKey]:
    ident = lab_pki.client_identity(name, org_unit=unit)
    key = serialization.load_pem_private_key(ident.key.read_bytes(), password=None)
    return x509.load_pem_x509_certificate(ident.cert.read_bytes()), key  # type: ignore[return-value]


@pytest.mark.parametrize("unit, profile, subnet", [
    ("Engineering", "Engineering", 2),
    ("Inside Sales", "Sales", 1),
    ("Finance", "CCIElab", 0),  # no map: on to the IKE identities (its IDr names CCIElab)
])
def test_three_profiles_chosen_by_certificate_map(tmp_path: Path, pki_dir: Path, lab_pki: LabPki, unit: str,
                                                  profile: str, subnet: int) -> None:
    h = _harness(tmp_path, pki_dir, lab_pki)
    cert, key = _user(lab_pki, "carol", unit)
    result = h.client(client_certificate=cert, client_key=key).connect()
    assert result.address is not None and result.address.packed[:3] == bytes((198, 19, subnet))
    [selected] = h.events(ProfileSelected)
    assert selected.profile == profile
    assert selected.by == ("requested IDr" if profile == "CCIElab" else "certificate map")
    [search] = h.events(CertificateMapSearched)
    lines = [r.line() for r in records_for(search)]
    ident = f"serial number: {cert.serial_number:X}, subject name: o=ikev2d lab,ou={unit},cn=carol, " \
            "issuer_name: o=ikev2d lab,cn=ikev2d lab CA"
    assert lines[0] == ("%FTD-7-717036: Looking for a tunnel group match based on certificate maps for peer "
                        f"certificate with {ident}.")
    if profile == "CCIElab":
        assert lines[1] == f"%FTD-4-717037: Tunnel group search using certificate maps failed for peer certificate: {ident}."
    else:
        assert lines[1] == f"%FTD-7-717038: Tunnel group match found. Tunnel Group: {profile}, Peer certificate: {ident}."


def test_no_map_matching_under_require_match_is_refused_with_717037(tmp_path: Path, pki_dir: Path,
                                                                    lab_pki: LabPki) -> None:
    h = _harness(tmp_path, pki_dir, lab_pki, require=True)
    cert, key = _user(lab_pki, "carol", "Finance")
    with pytest.raises(IkeFailure) as caught:
        h.client(client_certificate=cert, client_key=key).connect()
    assert caught.value.notify == NotifyType.AUTHENTICATION_FAILED
    assert not h.events(IkeSaEstablished)
    [search] = h.events(CertificateMapSearched)
    assert search.profile is None and "717037" in records_for(search)[1].line()
    # a matching one still gets in
    cert, key = _user(lab_pki, "dave", "Engineering")
    assert h.client(3, client_certificate=cert, client_key=key).connect().address in \
        [IPv4Address(f"198.19.2.{n}") for n in range(10, 21)]


def test_an_eap_client_sends_no_certificate_and_skips_the_maps(tmp_path: Path, pki_dir: Path,
                                                               lab_pki: LabPki) -> None:
    h = _harness(tmp_path, pki_dir, lab_pki, require=True)
    with pytest.raises(IkeFailure):
        h.client().connect()  # EAP on a certificate profile: refused, but not by the maps
    assert not h.events(CertificateMapSearched)


@pytest.mark.parametrize("mapping, rule, message", [
    ("      - {certificate_map: NOPE, connection_profile: Engineering}", None, "certificate map 'NOPE' is not defined"),
    ("      - {certificate_map: SALES-MAP, connection_profile: Nope}", None, "connection profile 'Nope' is not defined"),
    (None, "        - {field: subject-name, component: xx, operator: eq, value: a}", "unknown component 'xx'"),
    (None, "        - {field: subject-name, component: ou, operator: like, value: a}", "unknown operator 'like'"),
    (None, "        - {field: extended-key-usage, operator: eq, value: clientauth}", "co and nc only"),
    (None, "        - {field: extended-key-usage, operator: co, value: frobnicate}", "nor a dotted OID"),
    (None, "        - {field: alt-subject-name, component: cn, operator: co, value: a}", "component applies to"),
])
def test_config_errors_name_the_line(tmp_path: Path, pki_dir: Path, lab_pki: LabPki, mapping: str | None,
                                     rule: str | None, message: str) -> None:
    text = _config_text(lab_pki)
    if mapping is not None:
        sales = "      - {certificate_map: SALES-MAP, connection_profile: Sales}"
        replaced = text["  default_connection_profile: CCIElab"].replace(sales, mapping)
        text["  default_connection_profile: CCIElab"] = replaced if mapping.startswith(sales[:30]) \
            else replaced + "\n" + mapping
    if rule is not None:
        text["  # FMC: Objects > Local Realm"] = text["  # FMC: Objects > Local Realm"].replace(
            "  # FMC: Objects > Local Realm", "    - name: BAD\n      rules:\n" + rule + "\n  # FMC: Objects > Local Realm")
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, **text)
    [issue] = caught.value.issues
    written = (tmp_path / "ikev2d.yaml").read_text().splitlines()
    assert message in issue.problem
    assert (mapping or rule or "").strip()[:30] in written[issue.line - 1] or \
        (rule or mapping or "").split("{")[1].split(",")[0] in written[issue.line - 1]


def test_running_config_shows_the_maps_the_mapping_and_revocation_check(tmp_path: Path, pki_dir: Path,
                                                                         lab_pki: LabPki) -> None:
    text = _config_text(lab_pki)
    text[f"      certificate: {lab_pki.ca_cert}\n"] = (  # applied after the block that adds it
        f"      certificate: {lab_pki.ca_cert}\n      revocation_check: crl none\n"
        "      crl_urls: [http://198.18.0.9/lab.crl]\n      crl_cache_minutes: 30\n")
    config = make_config(tmp_path, **text)
    lines = render_running_config(config).splitlines()
    start = lines.index("crypto ca trustpoint LAB-CA")
    assert lines[start:start + 9] == [
        "crypto ca trustpoint LAB-CA", " enrollment terminal", " validation-usage ipsec-client",
        " revocation-check crl none", " crl configure", "  policy both", "  url 1 http://198.18.0.9/lab.crl",
        "  cache-time 30", "crypto ca certificate map ENG-MAP 10"]
    assert lines[start + 9:start + 13] == [
        " subject-name attr ou eq Engineering", "crypto ca certificate map SALES-MAP 10",
        " subject-name attr ou co sales", " extended-key-usage co clientauth"]
    mapping = lines.index("tunnel-group-map enable rules")
    assert lines[mapping + 1:mapping + 3] == ["tunnel-group-map ENG-MAP 10 Engineering",
                                              "tunnel-group-map SALES-MAP 10 Sales"]
    assert lines[mapping - 1] == " group-alias Engineering enable"  # after the last tunnel group


def test_the_maps_come_before_the_ike_identity_and_only_with_a_certificate(tmp_path: Path, pki_dir: Path,
                                                                          lab_pki: LabPki) -> None:
    settings = _harness(tmp_path, pki_dir, lab_pki).responder.settings
    eng, _ = _user(lab_pki, "carol", "Engineering")
    finance, _ = _user(lab_pki, "carol", "Finance")
    sales_id = IDi(IdType.ID_KEY_ID, b"Sales")
    chosen = select_profile(settings, sales_id, None, eng)
    assert (chosen.profile.name, chosen.by) == ("Engineering", SelectedBy.CERTIFICATE_MAP)
    chosen = select_profile(settings, sales_id, None, finance)  # no map: the IKE identity decides
    assert (chosen.profile.name, chosen.by) == ("Sales", SelectedBy.IKE_ID)
    assert chosen.map_search is not None and chosen.map_search.profile is None
    chosen = select_profile(settings, sales_id, None, None)  # no certificate: no map search
    assert (chosen.profile.name, chosen.map_search) == ("Sales", None)


def test_mappings_are_ignored_without_use_configured_rules(tmp_path: Path, pki_dir: Path, lab_pki: LabPki) -> None:
    text = _config_text(lab_pki)
    text["    use_configured_rules: true"] = "    use_configured_rules: false"
    text[f"store: {tmp_path / 'pki'}"] = f"store: {pki_dir}"
    settings = build_settings(make_config(tmp_path, **text))
    eng, _ = _user(lab_pki, "carol", "Engineering")
    chosen = select_profile(settings, None, None, eng)
    assert (chosen.profile.name, chosen.by, chosen.map_search) == ("CCIElab", SelectedBy.DEFAULT, None)
