"""check-config's compliance judgement: the whitepaper's configuration
passes, config/weak.yaml is flagged on exactly its weak lines with the
right findings, and each NSA/CNSA rule holds on its own."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ikev2d.cli import main
from ikev2d.compliance import Finding, Severity, check_compliance
from ikev2d.conf import load_config, parse_config
from ikev2d.conf.locate import SourceMap

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
MINIMAL = Path(__file__).resolve().parent / "data" / "config" / "minimal.yaml"
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<sev>error|warning|info): (?P<subject>.+?):"
                  r" (?P<problem>.+)\. Fix: (?P<fix>.+)$")


def findings_of(path: Path) -> list[Finding]:
    return check_compliance(load_config(path), SourceMap.of_file(path))


def judge_text(text: str) -> list[Finding]:
    return check_compliance(parse_config(text, MINIMAL), SourceMap.of_text(text))


def minimal_with(*edits: tuple[str, str]) -> str:
    text = MINIMAL.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


# A compliant base: IKEv2 only, the whitepaper's suites, no client services.
COMPLIANT = (
    ("      enable_ipsec_ikev2: true",
     "      enable_ipsec_ikev2: true\n      enable_ssl: false"),
    ("      integrity: [SHA256]\n      dh_groups: [14]",
     "      integrity: [SHA512]\n      dh_groups: [15]"),
    ("      esp_hash: [SHA-256]", "      esp_hash: [SHA-512]"),
    ("    - name: ID\n", "    - name: ID\n      key_type: ecdsa-p384\n"),
    ("    address_pools: [POOL]",
     "    address_pools: [POOL]\n    enable_client_services: false\n    group_policy: GP"),
    ("  local_users:", "  group_policies:\n    - name: GP\n      vpn_protocols: [ipsec-ikev2]\n"
                       "  local_users:"),
)


def test_compliant_base_has_no_findings() -> None:
    assert judge_text(minimal_with(*COMPLIANT)) == []


# --- the whitepaper's configuration ---------------------------------------------------


def test_whitepaper_config_passes() -> None:
    findings = findings_of(CONFIG / "ikev2d.yaml")
    assert not [f for f in findings if f.severity is Severity.ERROR]
    # The one remark: its self-signed RSA-2048 identity is below CNSA (a warning:
    # the whitepaper stays out of Suite B on purpose).
    (only,) = findings
    assert only.severity is Severity.WARNING
    assert only.subject == "identity certificate 'VPN-Identity'"
    assert "rsa-2048" in only.problem


def test_radius_example_passes() -> None:
    assert not [f for f in findings_of(CONFIG / "radius.yaml") if f.severity >= Severity.ERROR]


# --- the weak configuration --------------------------------------------------------------

WEAK = CONFIG / "weak.yaml"

# (severity, subject, words of the problem): the findings weak.yaml must give.
WEAK_EXPECTED = {
    (Severity.ERROR, "access interface 'outside'", "Enable SSL"),
    (Severity.ERROR, "IKEv2 policy 'MEDIUM'", "encryption AES (AES-128)"),
    (Severity.ERROR, "IKEv2 policy 'MEDIUM'", "integrity SHA256"),
    (Severity.ERROR, "IKEv2 policy 'MEDIUM'", "DH group 14"),
    (Severity.ERROR, "IKEv2 policy 'LEGACY'", "encryption 3DES"),
    (Severity.ERROR, "IKEv2 policy 'LEGACY'", "integrity SHA (SHA-1)"),
    (Severity.ERROR, "IKEv2 policy 'LEGACY'", "integrity MD5"),
    (Severity.ERROR, "IKEv2 policy 'LEGACY'", "prf SHA (SHA-1)"),
    (Severity.ERROR, "IKEv2 policy 'LEGACY'", "DH group 5"),
    (Severity.ERROR, "IKEv2 policy 'LEGACY'", "DH group 2"),
    (Severity.INFO, "IKEv2 policy 'OLD-DES'", "not used by the RA VPN"),
    (Severity.ERROR, "IKEv2 IPsec proposal 'LEGACY'", "ESP encryption 3DES"),
    (Severity.ERROR, "IKEv2 IPsec proposal 'LEGACY'", "ESP hash SHA-1"),
    (Severity.ERROR, "IKEv2 IPsec proposal 'MEDIUM'", "ESP encryption AES (AES-128)"),
    (Severity.ERROR, "IKEv2 IPsec proposal 'MEDIUM'", "ESP hash SHA-256"),
    (Severity.WARNING, "group policy 'GP-Legacy'", "ssl-client"),
    (Severity.WARNING, "identity certificate 'VPN-Identity'", "rsa-2048"),
    (Severity.WARNING, "connection profile 'Legacy'", "Enable Client Services"),
}


def test_weak_config_gives_exactly_the_expected_findings() -> None:
    findings = findings_of(WEAK)
    assert len(findings) == len(WEAK_EXPECTED)
    for severity, subject, words in WEAK_EXPECTED:
        matching = [f for f in findings
                    if f.severity is severity and f.subject == subject and words in f.problem]
        assert len(matching) == 1, (subject, words, findings)


def test_weak_findings_sit_on_the_lines_marked_weak() -> None:
    lines = WEAK.read_text().splitlines()
    marked = {i + 1 for i, text in enumerate(lines) if "# weak:" in text}
    flagged = {f.line for f in findings_of(WEAK)}
    # Every weak value is flagged, and nothing else is.
    assert flagged == marked


def test_weak_findings_name_what_to_change() -> None:
    by_words = {(f.subject, f.problem.split(":")[0]): f.fix for f in findings_of(WEAK)}
    assert by_words[("IKEv2 policy 'LEGACY'", "encryption 3DES")] == "use AES-256 or AES-GCM-256"
    assert "group 20" in by_words[("IKEv2 policy 'LEGACY'", "DH group 2")]
    ssl = by_words[("access interface 'outside'", "Enable SSL")]
    assert ssl == "set enable_ssl: false and enable_dtls: false"


def test_findings_in_file_order_then_written_order() -> None:
    findings = findings_of(WEAK)
    assert [f.line for f in findings] == sorted(f.line for f in findings)
    same_line = [f.problem for f in findings if f.subject == "IKEv2 policy 'LEGACY'"
                 and f.problem.startswith("integrity")]
    # `integrity: [SHA, MD5]`: reported in the order written.
    assert [p.split(":")[0] for p in same_line] == ["integrity SHA (SHA-1)", "integrity MD5"]


# --- check-config: output and exit codes ---------------------------------------------------


def test_check_config_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(CONFIG / "ikev2d.yaml")]) == 0
    assert main(["check-config", str(WEAK)]) == 2
    assert main(["check-config", str(MINIMAL.parent / "bad_tab.yaml")]) == 1
    # Client services kept: a warning, so compliant unless --strict.
    assert main(["check-config", str(CONFIG / "client-services.yaml")]) == 0
    assert main(["check-config", "--strict", str(CONFIG / "client-services.yaml")]) == 2
    assert main(["check-config", "--syntax-only", str(WEAK)]) == 0
    capsys.readouterr()


def test_check_config_prints_one_line_per_finding(capsys: pytest.CaptureFixture[str]) -> None:
    main(["check-config", str(WEAK)])
    out = capsys.readouterr().out.splitlines()
    *finding_lines, summary = out
    assert len(finding_lines) == len(WEAK_EXPECTED)
    for text in finding_lines:
        match = LINE.match(text)
        assert match, text
        assert match["file"] == str(WEAK)
        source = WEAK.read_text().splitlines()[int(match["line"]) - 1]
        assert "# weak:" in source
    assert summary == (f"{WEAK}: configuration is valid; NOT compliant with the NSA/CNSA"
                       " guidance (14 errors, 3 warnings, 1 info)")


def test_check_config_whitepaper_summary(capsys: pytest.CaptureFixture[str]) -> None:
    path = CONFIG / "ikev2d.yaml"
    main(["check-config", str(path)])
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == (f"{path}: configuration is valid; compliant with the NSA/CNSA"
                       " guidance (1 warning)")


# --- the whitepaper's three listings ----------------------------------------------------------


def test_ssl_and_client_services_flagged_as_the_whitepaper_explains() -> None:
    path = CONFIG / "ssl-and-client-services.yaml"
    findings = {(f.severity, f.subject): f for f in findings_of(path)}
    ssl = findings[(Severity.ERROR, "access interface 'outside'")]
    assert "TLS on 198.18.0.1:443 and DTLS on 198.18.0.1:443" in ssl.problem
    assert "enable_ssl: true" in path.read_text().splitlines()[ssl.line - 1]
    services = findings[(Severity.WARNING, "connection profile 'CCIElab'")]
    assert "once Enable SSL is cleared" in services.problem
    assert "enable_client_services: true" in path.read_text().splitlines()[services.line - 1]


def test_client_services_alone_still_exposes_tls() -> None:
    findings = findings_of(CONFIG / "client-services.yaml")
    assert not [f for f in findings if f.subject.startswith("access interface")]
    (services,) = [f for f in findings if f.subject == "connection profile 'CCIElab'"]
    assert "keeps it listening although Enable SSL is off" in services.problem


# --- FTD defaults are blamed on the object that takes them --------------------------------------


def test_defaults_are_located_and_said() -> None:
    text = MINIMAL.read_text()
    findings = {f.subject: f for f in judge_text(text)}
    lines = text.splitlines()
    ssl = findings["access interface 'outside'"]
    assert "(FTD default for a new access interface)" in ssl.problem
    assert lines[ssl.line - 1].strip() == "- interface: outside"
    services = findings["connection profile 'Lab'"]
    assert "(FTD default)" in services.problem
    assert lines[services.line - 1].strip() == "- name: Lab"
    dflt = [f for s, f in findings.items() if s.startswith("group policy 'DfltGrpPolicy'")]
    assert len(dflt) == 1 and "given by connection profile 'Lab'" in dflt[0].subject
    certificate = findings["identity certificate 'ID'"]
    assert "key_type rsa-2048 (default)" in certificate.problem


# --- one rule at a time ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "severity"),
    [(1, Severity.ERROR), (2, Severity.ERROR), (5, Severity.ERROR), (14, Severity.ERROR),
     (19, Severity.ERROR), (31, Severity.ERROR), (15, None), (16, None), (20, None),
     (21, Severity.INFO)],
)
def test_dh_group_verdicts(group: int, severity: Severity | None) -> None:
    text = minimal_with(*COMPLIANT[:1], ("      integrity: [SHA256]\n      dh_groups: [14]",
                                         f"      integrity: [SHA384]\n      dh_groups: [{group}]"),
                        *COMPLIANT[2:])
    findings = [f for f in judge_text(text) if f.subject == "IKEv2 policy 'P1'"]
    assert [f.severity for f in findings] == ([] if severity is None else [severity])
    if findings:
        assert findings[0].problem.startswith(f"DH group {group}:")


@pytest.mark.parametrize(
    ("encryption", "integrity", "prf", "bad"),
    [
        ("AES-GCM-256", "NULL", "SHA384", []),
        ("AES-256", "SHA384", None, []),
        ("AES-GCM", "NULL", "SHA512", ["encryption AES-GCM (128-bit)"]),
        ("AES-192", "SHA512", None, ["encryption AES-192"]),
        ("DES", "SHA512", None, ["encryption DES"]),
        ("AES-256", "SHA512", "SHA256", ["prf SHA256"]),
        # An unwritten PRF follows the integrity hash: one finding, not two.
        ("AES-256", "SHA1", None, ["integrity SHA (SHA-1)"]),
    ],
)
def test_ike_algorithm_verdicts(encryption: str, integrity: str, prf: str | None,
                                bad: list[str]) -> None:
    written = f"      encryption: [{encryption}]\n      integrity: [{integrity}]\n"
    if prf:
        written += f"      prf: [{prf}]\n"
    text = minimal_with(*COMPLIANT)
    text = text.replace("      encryption: [AES-256]\n      integrity: [SHA512]\n", written, 1)
    findings = [f for f in judge_text(text) if f.subject == "IKEv2 policy 'P1'"]
    assert [f.problem.split(":")[0] for f in findings] == bad
    assert all(f.severity is Severity.ERROR for f in findings)


def test_esp_gcm_with_null_hash_is_compliant() -> None:
    text = minimal_with(*COMPLIANT).replace(
        "      esp_encryption: [AES-256]\n      esp_hash: [SHA-512]",
        "      esp_encryption: [AES-GCM-256]\n      esp_hash: [NULL]")
    assert judge_text(text) == []


def test_ssl_client_in_a_written_group_policy_is_located() -> None:
    text = minimal_with(*COMPLIANT).replace(
        "vpn_protocols: [ipsec-ikev2]", "vpn_protocols: [ipsec-ikev2, ssl-client]")
    (finding,) = judge_text(text)
    assert finding.subject == "group policy 'GP'"
    assert "vpn_protocols" in text.splitlines()[finding.line - 1]


def _certificate_files(tmp_path: Path, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
                       ) -> tuple[Path, Path]:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vpn.example.test")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA384()))
    cert_path, key_path = tmp_path / "server.pem", tmp_path / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.parametrize(("make_key", "flagged"), [
    (lambda: ec.generate_private_key(ec.SECP384R1()), False),
    (lambda: ec.generate_private_key(ec.SECP256R1()), True),
    (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), True),
])
def test_certificate_from_files_is_judged_by_its_key(tmp_path: Path, make_key, flagged: bool
                                                     ) -> None:
    cert_path, key_path = _certificate_files(tmp_path, make_key())
    text = minimal_with(*COMPLIANT).replace(
        "    - name: ID\n      key_type: ecdsa-p384\n",
        f"    - name: ID\n      enrollment: files\n      certificate: {cert_path}\n"
        f"      private_key: {key_path}\n")
    findings = judge_text(text)
    assert bool(findings) is flagged
    if flagged:
        (finding,) = findings
        assert finding.severity is Severity.WARNING
        assert "certificate:" in text.splitlines()[finding.line - 1]
